#!/usr/bin/env bash
# scripts/slurm/submit.sh --dry-run without a cluster: the array is sized from the manifest's work items and kept
# within MaxArraySize as `scontrol show config` states it, or Slurm's default 1001 where scontrol fails (off the
# cluster, or no controller), which had ended the script at once with status 1 and no word (set -o pipefail).
# A fake genplug lists the work items and a fake scontrol answers; nothing is submitted.
# Usage: submit_dry_run_test.sh SOURCE_DIR. Exit 0 pass, 1 fail.
set -uo pipefail
SUBMIT=$1/scripts/slurm/submit.sh
D=$(mktemp -d "${TMPDIR:-/tmp}/genplug-submit.XXXXXX") || exit 1  # TMPDIR: the build folder (CTest)
trap 'rm -rf "$D"' EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }

# genplug run M --list: one JSON line per work item ($ITEMS of them).
cat > "$D/genplug" <<'FAKE'
#!/bin/sh
i=0; while [ "$i" -lt "$ITEMS" ]; do echo "{\"index\": $i}"; i=$((i + 1)); done
FAKE
echo '{}' > "$D/m.json"
mkdir "$D/bin"
chmod +x "$D/genplug"

# dry_run SCONTROL_BODY ITEMS: submit.sh's stdout and stderr, the fake scontrol first on PATH.
dry_run() {
  printf '#!/bin/sh\n%s\n' "$1" > "$D/bin/scontrol"
  chmod +x "$D/bin/scontrol"
  ITEMS=$2 PATH="$D/bin:$PATH" "$SUBMIT" --dry-run --genplug "$D/genplug" "$D/m.json" >"$D/out" 2>"$D/err"
}

dry_run 'echo "slurm_load_ctl_conf error: Unable to contact slurm controller" >&2; exit 1' 3 ||
  fail "scontrol failing: exit $?: $(cat "$D/err")"
grep -q -- '--array=0-2 ' "$D/out" || fail "scontrol failing, 3 items: $(cat "$D/out")"

dry_run 'exit 1' 1500 || fail "scontrol failing, 1500 items: exit $?: $(cat "$D/err")"
grep -q -- '--array=0-1000 ' "$D/out" || fail "1500 items without scontrol are not capped at 1001: $(cat "$D/out")"
grep -q 'MaxArraySize=1001' "$D/err" || fail "the cap is not said: $(cat "$D/err")"

dry_run 'echo "MaxArraySize           = 4"' 10 || fail "MaxArraySize 4: exit $?: $(cat "$D/err")"
grep -q -- '--array=0-3 ' "$D/out" || fail "10 items, MaxArraySize 4: $(cat "$D/out")"

dry_run 'echo "MaxArraySize           = 0"' 10
[ $? -eq 1 ] && grep -q 'job arrays are disabled' "$D/err" || fail "MaxArraySize 0 is not refused: $(cat "$D/err")"
echo "PASS: submit.sh --dry-run sizes the array within MaxArraySize, with and without scontrol"
