#!/usr/bin/env bash
# scripts/slurm/ without a cluster. submit.sh --dry-run: the array is sized from the manifest's work items and kept
# within MaxArraySize as `scontrol show config` states it, or Slurm's default 1001 where scontrol fails (off the
# cluster, or no controller), which had ended the script at once with status 1 and no word (set -o pipefail); a
# manifest named through a link stays the link; --chdir is checked and becomes the job's --workdir; every form of
# --array that sbatch would take is refused; numbers too long for [ ] are refused with a message.
# genplug-array.sbatch run directly as an array task (SLURM_ARRAY_* set here): GENPLUG_MANIFEST with genplug run
# options, --genplug=PATH, a genplug that cannot run, a working folder that is not --workdir.
# Both scripts are checked for "${a[@]}" of a possibly empty array (set -u fails on it in bash <= 4.3).
# A fake genplug lists the work items and a fake scontrol answers; nothing is submitted.
# Usage: submit_dry_run_test.sh SOURCE_DIR. Exit 0 pass, 1 fail.
# shellcheck disable=SC2015  # fail exits: `A && B || fail` means "unless A and B, fail"
set -uo pipefail
SUBMIT=$1/scripts/slurm/submit.sh
JOB=$1/scripts/slurm/genplug-array.sbatch
D=$(mktemp -d "${TMPDIR:-/tmp}/genplug-submit.XXXXXX") || exit 1  # TMPDIR: the build folder (CTest)
trap 'rm -rf "$D"' EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }

# genplug run M --list: one JSON line per work item ($ITEMS of them); its folder and arguments go to $D/call.
cat > "$D/genplug" <<'FAKE'
#!/bin/sh
[ -z "${CALL:-}" ] || { pwd -P; printf '%s\n' "$@"; } > "$CALL"
i=0; while [ "$i" -lt "$ITEMS" ]; do echo "{\"index\": $i}"; i=$((i + 1)); done
FAKE
# What the job script executes: its folder and arguments, on stdout.
printf '#!/bin/sh\npwd -P\nprintf "%%s\\n" "$@"\n' > "$D/echo-genplug"
echo '{}' > "$D/m.json"
mkdir "$D/bin"
chmod +x "$D/genplug" "$D/echo-genplug"

# dry_run SCONTROL_BODY ITEMS [submit.sh arguments before the manifest] [-- MANIFEST]: submit.sh's stdout and
# stderr, the fake scontrol first on PATH; run in $D (or $RUN_IN).
dry_run() {
  local body=$1 items=$2 manifest=$D/m.json args=()
  shift 2
  while [ $# -gt 0 ]; do
    if [ "$1" = -- ]; then manifest=$2; break; fi
    args+=("$1"); shift
  done
  printf '#!/bin/sh\n%s\n' "$body" > "$D/bin/scontrol"
  chmod +x "$D/bin/scontrol"
  (cd "${RUN_IN:-$D}" && ITEMS=$items CALL=$D/call PATH="$D/bin:$PATH" \
     "$SUBMIT" --dry-run --genplug "$D/genplug" ${args[@]+"${args[@]}"} "$manifest") >"$D/out" 2>"$D/err"
}
NO_CONTROLLER='echo "slurm_load_ctl_conf error: Unable to contact slurm controller" >&2; exit 1'

dry_run "$NO_CONTROLLER" 3 || fail "scontrol failing: exit $?: $(cat "$D/err")"
grep -q -- '--array=0-2 ' "$D/out" || fail "scontrol failing, 3 items: $(cat "$D/out")"

dry_run 'exit 1' 1500 || fail "scontrol failing, 1500 items: exit $?: $(cat "$D/err")"
grep -q -- '--array=0-1000 ' "$D/out" || fail "1500 items without scontrol are not capped at 1001: $(cat "$D/out")"
grep -q 'MaxArraySize=1001' "$D/err" || fail "the cap is not said: $(cat "$D/err")"

dry_run 'echo "MaxArraySize           = 4"' 10 || fail "MaxArraySize 4: exit $?: $(cat "$D/err")"
grep -q -- '--array=0-3 ' "$D/out" || fail "10 items, MaxArraySize 4: $(cat "$D/out")"

dry_run 'echo "MaxArraySize           = 0"' 10
[ $? -eq 1 ] && grep -q 'job arrays are disabled' "$D/err" || fail "MaxArraySize 0 is not refused: $(cat "$D/err")"

# More digits than [ ] and $(( )) hold: no cap (Slurm's own limit is 4000001), and no shell error.
dry_run 'echo "MaxArraySize           = 99999999999999999999"' 10 || fail "MaxArraySize of 20 digits: exit $?"
grep -q -- '--array=0-9 ' "$D/out" || fail "10 items, MaxArraySize of 20 digits: $(cat "$D/out")"
grep -q 'integer expression' "$D/err" && fail "MaxArraySize of 20 digits: $(cat "$D/err")"
# A leading zero is decimal to scontrol, not octal.
dry_run 'echo "MaxArraySize           = 010"' 20 || fail "MaxArraySize 010: exit $?: $(cat "$D/err")"
grep -q -- '--array=0-9 ' "$D/out" || fail "20 items, MaxArraySize 010: $(cat "$D/out")"

# expect_refused WHAT MESSAGE_RE SUBMIT_ARGS...: exit 2, the message, no shell error, nothing printed.
expect_refused() {
  local what=$1 re=$2
  shift 2
  dry_run "$NO_CONTROLLER" 3 "$@"
  local rc=$?
  [ $rc -eq 2 ] || fail "$what: exit $rc, expected 2: $(cat "$D/err")"
  grep -qE -- "$re" "$D/err" || fail "$what: no '$re' in: $(cat "$D/err")"
  ! grep -qE 'integer expression|unbound variable|syntax error' "$D/err" || fail "$what: $(cat "$D/err")"
  [ ! -s "$D/out" ] || fail "$what: printed a command: $(cat "$D/out")"
}
for n in 99999999999999999999 1000000000 0 07 -1 x ''; do
  expect_refused "--tasks $n" "--tasks must be a positive integer" --tasks "$n"
  expect_refused "--max-running=$n" "--max-running must be a positive integer" "--max-running=$n"
done

# --array in any form sbatch (getopt_long) takes: unique prefixes of --array, -a in a cluster of flags.
for a in -a5 -a --array=0-3 --arr=3 --arra --ar=1 -Ha5 -vQa1 -array -sOWa2; do
  expect_refused "$a" "do not pass --array" "$a" 4
done
# ... but not an option's value: -J takes the next word, -k the rest of its own.
for a in '-J -a5' -ka1 '--comment=--array' -Ja1; do
  # shellcheck disable=SC2086  # split on purpose
  dry_run "$NO_CONTROLLER" 3 $a || fail "'$a' refused: $(cat "$D/err")"
done

# The manifest named through a link, relative to the submitting folder: the job gets the link's absolute path,
# not its target's (prompts.file, plugin_path resolve beside the path genplug is given).
mkdir -p "$D/A" "$D/B"
echo '{}' > "$D/B/real.json"; echo 'prompt A' > "$D/A/prompts.txt"; echo 'prompt B' > "$D/B/prompts.txt"
ln -s ../B/real.json "$D/A/shots.json"
RUN_IN=$D/A dry_run "$NO_CONTROLLER" 3 -- shots.json || fail "linked manifest: exit $?: $(cat "$D/err")"
grep -q " $D/A/shots.json\$" <(sed 's/ *$//' "$D/out") ||
  fail "linked manifest not kept as $D/A/shots.json: $(cat "$D/out")"
grep -q 'real.json' "$D/out" && fail "linked manifest submitted as its target: $(cat "$D/out")"
sed -n 3p "$D/call" | grep -qx "$D/A/shots.json" || fail "--list was not given the link: $(cat "$D/call")"

# --chdir: must exist; relative to the submitting folder; the job script gets it as --workdir, and the work items
# are counted there. Without --chdir, --workdir is the submitting folder.
mkdir -p "$D/out-dir"
for c in --chdir=out-dir '--chdir out-dir' '-D out-dir' -Dout-dir '-vD out-dir' --ch=out-dir '--chd out-dir'; do
  # shellcheck disable=SC2086  # split on purpose
  dry_run "$NO_CONTROLLER" 3 $c || fail "'$c': exit $?: $(cat "$D/err")"
  grep -q -- "--workdir $D/out-dir " "$D/out" || fail "'$c': no --workdir $D/out-dir: $(cat "$D/out")"
  [ "$(head -n 1 "$D/call")" = "$(cd "$D/out-dir" && pwd -P)" ] || fail "'$c': --list ran in $(head -n 1 "$D/call")"
done
dry_run "$NO_CONTROLLER" 3 || fail "no --chdir: exit $?"
grep -q -- "--workdir $D " "$D/out" || fail "no --chdir: --workdir is not the submitting folder: $(cat "$D/out")"
for c in --chdir=gone '-D gone' -Dgone '--ch gone' --chdir=; do
  # shellcheck disable=SC2086  # split on purpose
  expect_refused "'$c'" "--chdir" $c
done
expect_refused "-D before the manifest" "needs a value" -D

# ---- genplug-array.sbatch as an array task, run directly --------------------------------------------------------
# job [VAR=VALUE...] -- ARGS...: the job script in $D/out-dir as task 1 of 4; stdout in $D/out, stderr in $D/err.
job() {
  local vars=()
  while [ "$1" != -- ]; do vars+=("$1"); shift; done
  shift
  (cd "$D/out-dir" && env -u GENPLUG -u GENPLUG_MANIFEST -u GENPLUG_WORKDIR SLURM_ARRAY_TASK_ID=1 \
     SLURM_ARRAY_TASK_COUNT=4 ${vars[@]+"${vars[@]}"} bash "$JOB" "$@") >"$D/out" 2>"$D/err"
}
# expect_run WHAT ARGV...: exit 0 and genplug run ARGV... executed in $D/out-dir.
expect_run() {
  local what=$1; shift
  [ "$(cat "$D/out")" = "$(cd "$D/out-dir" && pwd -P; printf '%s\n' run "$@")" ] ||
    fail "job script, $what: executed $(tr '\n' ' ' < "$D/out"), expected run $*: $(cat "$D/err")"
}
job GENPLUG_MANIFEST=/m.json -- --genplug "$D/echo-genplug" --set jobs.0.steps=3 ||
  fail "GENPLUG_MANIFEST --set: exit $?: $(cat "$D/err")"
expect_run "GENPLUG_MANIFEST and --set" /m.json --progress jsonl --set jobs.0.steps=3
job GENPLUG_MANIFEST=/m.json GENPLUG="$D/echo-genplug" -- --force || fail "GENPLUG_MANIFEST --force: exit $?"
expect_run "GENPLUG_MANIFEST and --force" /m.json --progress jsonl --force
job GENPLUG_MANIFEST=/stale.json -- --genplug="$D/echo-genplug" /m.json -f || fail "--genplug=PATH: exit $?"
expect_run "--genplug=PATH, a manifest argument over GENPLUG_MANIFEST" /m.json --progress jsonl -f
job -- --genplug "$D/echo-genplug" --force; [ $? -eq 2 ] && grep -q 'no manifest' "$D/err" ||
  fail "no manifest, an option first: $(cat "$D/err")"
# A program that cannot run is exit 2 with a word, not exec's 126 or 127.
for g in "--genplug=$D/nonesuch" "--genplug=$D/m.json" "--genplug=$D" "--genplug=nonesuch-genplug"; do
  job -- "$g" /m.json; rc=$?
  [ $rc -eq 2 ] && grep -q 'not found or not executable' "$D/err" || fail "job script $g: exit $rc: $(cat "$D/err")"
done
job GENPLUG=nonesuch-genplug -- /m.json; rc=$?
[ $rc -eq 2 ] && grep -q 'not found or not executable' "$D/err" || fail "job script GENPLUG=nonesuch: exit $rc"
# --workdir (GENPLUG_WORKDIR): the task must run there, compared as physical paths (a link to it is it).
ln -s out-dir "$D/out-link"
job -- --genplug "$D/echo-genplug" --workdir "$D/out-link" /m.json || fail "--workdir through a link: exit $?"
expect_run "--workdir through a link" /m.json --progress jsonl
for w in "--workdir=$D/gone" "--workdir=$D" "--workdir=$D/A"; do
  job -- --genplug "$D/echo-genplug" "$w" /m.json; rc=$?
  [ $rc -eq 2 ] && grep -q "not in ${w#*=}" "$D/err" && [ ! -s "$D/out" ] ||
    fail "job script $w: exit $rc: $(cat "$D/out" "$D/err")"
done
job GENPLUG_WORKDIR="$D/gone" -- --genplug "$D/echo-genplug" /m.json; rc=$?
[ $rc -eq 2 ] && grep -q 'cannot be entered' "$D/err" || fail "GENPLUG_WORKDIR gone: exit $rc: $(cat "$D/err")"

# bash <= 4.3 (CentOS 7) fails on "${a[@]}" of an empty array under set -u: every array that starts empty is
# expanded as ${a[@]+"${a[@]}"} (and ${a[*]-}).
for s in "$SUBMIT" "$JOB" "$0"; do
  while read -r a; do
    left=$(sed "s/\${$a\[@\]+\"\${$a\[@\]}\"}//g" "$s" | grep -nE "\"\\\$\{$a\[@\]\}\"|\\\$\{$a\[\*\]\}")
    [ -z "$left" ] || fail "$(basename "$s"): '$a' may be empty, expanded without the \${a[@]+...} idiom: $left"
  done < <(grep -oE '\b[a-z_]+=\(\)' "$s" | sed 's/=()//' | sort -u)
done
echo "PASS: submit.sh --dry-run sizes the array within MaxArraySize, keeps a linked manifest, checks --chdir, refuses" \
     "--array and long numbers; genplug-array.sbatch takes GENPLUG_MANIFEST, --genplug=, checks program and folder"
