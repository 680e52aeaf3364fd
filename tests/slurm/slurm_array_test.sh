#!/usr/bin/env bash
# End-to-end test of scripts/slurm/: a private single-node Slurm (munged + slurmctld + slurmd, all
# in a temp dir, bound to 127.0.0.1 on free ports) renders a manifest as a 4-task job array, and a
# resubmission after deleting two outputs re-renders only those two. Without --tasks the array is capped
# at the cluster's MaxArraySize. The manifest is submitted as a relative path through a link in another folder,
# whose prompts.txt (the one the job must read) differs from the target's. A job whose --chdir folder is gone
# when it starts (Slurm then runs it in /tmp) fails with exit 2 instead of rendering there.
#
# Usage: slurm_array_test.sh GENPLUG PLUGIN_DIR SOURCE_DIR
#        slurm_array_test.sh --bringup-only [SOURCE_DIR]   (Slurm + a trivial 4-task array, no genplug)
#
# Needs root (SlurmUser/SlurmdUser=root) and the Debian packages slurmctld, slurmd, slurm-client,
# munge, openexr (scripts/setup.sh). Without them it exits 77 (CTest: skipped); set
# GENPLUG_SLURM_TEST_REQUIRE=1 to make that a failure. Everything it starts is stopped on exit
# (success, failure, Ctrl-C) and the temp dir is removed; set GENPLUG_SLURM_TEST_KEEP=1 to keep it.
# Exit codes: 0 pass; 1 fail (including "Slurm could not start", with the daemon logs' tails); 77 skipped.
set -uo pipefail

log() { printf '[slurm_array] %s\n' "$*" >&2; }
fail() { log "FAIL: $*"; exit 1; }

BRINGUP_ONLY=0
if [ "${1:-}" = "--bringup-only" ]; then
  BRINGUP_ONLY=1; shift
  SOURCE_DIR=${1:-$(cd "$(dirname "$0")/../.." && pwd)}
else
  [ $# -eq 3 ] || { echo "usage: $0 GENPLUG PLUGIN_DIR SOURCE_DIR | --bringup-only [SOURCE_DIR]" >&2; exit 2; }
  GENPLUG=$(readlink -f "$1"); PLUGIN_DIR=$(readlink -f "$2"); SOURCE_DIR=$(readlink -f "$3")
fi
SUBMIT=$SOURCE_DIR/scripts/slurm/submit.sh

skip() {
  if [ "${GENPLUG_SLURM_TEST_REQUIRE:-0}" = 1 ]; then fail "$*"; fi
  log "SKIPPED: $*"; exit 77
}
[ "$(id -u)" -eq 0 ] || skip "needs root (the test's Slurm runs with SlurmUser=root)"
for tool in munged munge slurmctld slurmd sbatch squeue sinfo scontrol scancel exrheader python3; do
  command -v "$tool" >/dev/null 2>&1 || skip "'$tool' not found; install the packages listed in scripts/setup.sh"
done
if [ "$BRINGUP_ONLY" = 0 ]; then
  [ -x "$GENPLUG" ] || fail "genplug binary '$GENPLUG' not found"
  [ -x "$SUBMIT" ] || fail "'$SUBMIT' not found or not executable"
  "$GENPLUG" run --help 2>&1 | grep -q -- '--shard' || fail "'$GENPLUG run' has no --shard (binary too old)"
fi

# Nothing from an enclosing Slurm job (or a user's defaults) may leak into our private cluster.
for v in $(compgen -e); do
  case $v in SLURM_*|SBATCH_*|SALLOC_*|SRUN_*|SQUEUE_*|SINFO_*|SCONTROL_*) unset "$v";; esac
done

# A run killed with SIGKILL (e.g. by a CTest timeout) cannot clean up: stop what such a run left
# behind, found by its temp dir whose owner pid is gone and by SLURM_CONF in the processes' environment.
stale_sweep() {
  local d owner conf p pids
  for d in /tmp/genplug-slurm.*; do
    [ -d "$d" ] && [ -f "$d/owner.pid" ] || continue
    owner=$(cat "$d/owner.pid" 2>/dev/null)
    [[ $owner =~ ^[0-9]+$ ]] && kill -0 "$owner" 2>/dev/null && continue
    conf=$d/slurm.conf; pids=
    for p in /proc/[0-9]*; do
      p=${p#/proc/}
      { tr '\0' '\n' < /proc/$p/environ; } 2>/dev/null | grep -qxF "SLURM_CONF=$conf" && pids="$pids $p"
    done
    [ -s "$d/munge/munged.pid" ] && pids="$pids $(cat "$d/munge/munged.pid")"
    log "removing stale test cluster $d (owner pid $owner gone)${pids:+, killing$pids}"
    [ -n "$pids" ] && kill -KILL $pids 2>/dev/null
    rm -rf "$d"
  done
}
stale_sweep

T0=$(date +%s)
# munged wants every component of its socket path executable by all: the dir is 755, the key 0400.
D=$(mktemp -d /tmp/genplug-slurm.XXXXXX) || fail "mktemp"
chmod 755 "$D"
echo $$ > "$D/owner.pid"
CONF=$D/slurm.conf
export SLURM_CONF=$CONF

# Every process of this test's cluster (daemons, slurmstepd, job scripts) inherits SLURM_CONF=$CONF:
# after the pid-file kills, anything still carrying it in its environment is ours and is killed too.
our_pids() {
  local p
  for p in /proc/[0-9]*; do
    p=${p#/proc/}
    [ "$p" = $$ ] && continue
    { tr '\0' '\n' < /proc/$p/environ; } 2>/dev/null | grep -qxF "SLURM_CONF=$CONF" && echo "$p"
  done
}
stop_pidfile() {  # stop_pidfile FILE NAME: SIGTERM, wait up to 10 s, then SIGKILL
  local f=$1 pid i
  [ -s "$f" ] || return 0
  pid=$(cat "$f" 2>/dev/null) || return 0
  [[ $pid =~ ^[0-9]+$ ]] || return 0
  kill -0 "$pid" 2>/dev/null || return 0
  kill -TERM "$pid" 2>/dev/null
  for i in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || return 0; sleep 0.2; done
  log "$2 (pid $pid) ignored SIGTERM; killing"
  kill -KILL "$pid" 2>/dev/null
}
cleanup() {
  local rc=$? p left i
  trap - EXIT INT TERM HUP
  [ -n "${WATCHDOG:-}" ] && kill "$WATCHDOG" 2>/dev/null
  log "stopping the test cluster (exit $rc)"
  if [ -s "$D/slurmctld.pid" ] && kill -0 "$(cat "$D/slurmctld.pid")" 2>/dev/null; then
    timeout 10 scancel --quiet --user=root >/dev/null 2>&1
    for i in $(seq 1 25); do
      [ -z "$(timeout 5 squeue -h -o %i 2>/dev/null)" ] && break; sleep 0.2
    done
  fi
  stop_pidfile "$D/slurmd.pid" slurmd
  stop_pidfile "$D/slurmctld.pid" slurmctld
  left=$(our_pids)
  if [ -n "$left" ]; then
    log "killing leftover processes of this cluster: $(echo $left)"
    kill -KILL $left 2>/dev/null
  fi
  stop_pidfile "$D/munge/munged.pid" munged
  if [ "${GENPLUG_SLURM_TEST_KEEP:-0}" = 1 ]; then log "kept $D"; else rm -rf "$D"; fi
  exit $rc
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
trap 'exit 129' HUP
# Fail by ourselves (and clean up) before CTest's TIMEOUT would SIGKILL us: a watchdog sends SIGTERM.
LIMIT=${GENPLUG_SLURM_TEST_TIMEOUT:-900}
( trap 'kill $sp 2>/dev/null; exit 0' TERM
  sleep "$LIMIT" & sp=$!; wait $sp || exit 0
  log "FAIL: overall time limit of $LIMIT s reached"; kill -TERM $$ ) >/dev/null &
WATCHDOG=$!

daemon_logs() {
  local f
  for f in "$D/munge/munged.log" "$D/slurmctld.log" "$D/slurmd.log"; do
    [ -f "$f" ] || { log "($f: not written)"; continue; }
    log "---- last lines of $f"; tail -n 25 "$f" >&2
  done
}
slurm_fail() { log "FAIL: Slurm could not start: $*"; daemon_logs; exit 1; }

# ---- munge ------------------------------------------------------------------------------------
mkdir -m 755 "$D/munge"
MUNGE_SOCK=$D/munge/munge.sock
head -c 1024 /dev/urandom > "$D/munge/munge.key" && chmod 400 "$D/munge/munge.key"
env -u SLURM_CONF munged --socket="$MUNGE_SOCK" --key-file="$D/munge/munge.key" --pid-file="$D/munge/munged.pid" \
  --log-file="$D/munge/munged.log" --seed-file="$D/munge/munged.seed" --num-threads=2 \
  || slurm_fail "munged exited with $?"
munge -S "$MUNGE_SOCK" -n 2>/dev/null | unmunge -S "$MUNGE_SOCK" >/dev/null 2>&1 \
  || slurm_fail "munge credential round trip failed"

# ---- slurm.conf -------------------------------------------------------------------------------
NODE=$(hostname -s)
CPUS=$(nproc)
port_free() {  # no socket on it (ss, from iproute2), or at least no listener on 127.0.0.1 (bash /dev/tcp)
  if command -v ss >/dev/null 2>&1; then ! ss -Htan 2>/dev/null | awk '{print $4}' | grep -qE "[:.]$1\$"
  else ! (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; fi
}
PORT=
for i in $(seq 0 40); do
  p=$(( 20000 + ( ($$ + i * 97) % 20000 ) * 2 ))  # an even port in [20000, 60000), +1 also ours
  if port_free "$p" && port_free $((p + 1)); then PORT=$p; break; fi
done
[ -n "$PORT" ] || slurm_fail "no free port pair found"
mkdir -p "$D/state" "$D/spool" "$D/tmp"
cat > "$CONF" <<EOF
# Written by tests/slurm/slurm_array_test.sh for a private single-node cluster in $D
ClusterName=genplugtest
SlurmctldHost=$NODE(127.0.0.1)
SlurmctldPort=$PORT
SlurmdPort=$((PORT + 1))
CommunicationParameters=NoCtldInAddrAny,NoInAddrAny
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
AuthInfo=socket=$MUNGE_SOCK
StateSaveLocation=$D/state
SlurmdSpoolDir=$D/spool
TmpFS=$D/tmp
SlurmctldPidFile=$D/slurmctld.pid
SlurmdPidFile=$D/slurmd.pid
SlurmctldLogFile=$D/slurmctld.log
SlurmdLogFile=$D/slurmd.log
SlurmctldDebug=info
SlurmdDebug=info
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
MpiDefault=none
SwitchType=switch/none
SchedulerType=sched/builtin
ReturnToService=2
MailProg=/bin/true
MinJobAge=600
MaxArraySize=6
NodeName=$NODE NodeAddr=127.0.0.1 NodeHostname=$NODE CPUs=$CPUS State=UNKNOWN
PartitionName=test Nodes=$NODE Default=YES MaxTime=INFINITE State=UP
EOF

# ---- daemons ----------------------------------------------------------------------------------
slurmctld -c -f "$CONF" || slurm_fail "slurmctld exited with $?"
slurmd -f "$CONF" -N "$NODE" || slurm_fail "slurmd exited with $?"
state=
for i in $(seq 1 120); do  # up to 60 s
  state=$(timeout 5 sinfo -h -n "$NODE" -o %T 2>/dev/null | head -n 1)
  [ "$state" = idle ] && break
  for f in slurmctld slurmd; do
    if [ -s "$D/$f.pid" ] && ! kill -0 "$(cat "$D/$f.pid")" 2>/dev/null; then slurm_fail "$f died"; fi
  done
  sleep 0.5
done
[ "$state" = idle ] || slurm_fail "node $NODE not idle after 60 s (sinfo state '${state:-none}')"
log "Slurm up in $(( $(date +%s) - T0 )) s: node $NODE, $CPUS CPUs, ports $PORT/$((PORT + 1)), $D"

# wait_job ID SECONDS [STATE CODE]: until the (array) job has left squeue; then every task must have ended
# in STATE with exit code CODE (default COMPLETED, 0; scontrol still knows finished jobs for MinJobAge seconds).
wait_job() {
  local id=$1 limit=$2 state=${3:-COMPLETED} code=${4:-0} t0=$SECONDS out
  while :; do
    out=$(timeout 10 squeue -h -j "$id" -o '%i %T' 2>/dev/null)
    [ -z "$out" ] && break
    if [ $((SECONDS - t0)) -ge "$limit" ]; then
      log "job $id still queued/running after $limit s:"; echo "$out" >&2
      daemon_logs; return 1
    fi
    sleep 1
  done
  out=$(scontrol -o show job "$id" 2>&1) || { log "scontrol show job $id: $out"; return 1; }
  if echo "$out" | grep -v "JobState=$state .*ExitCode=$code:0" | grep -q .; then
    log "job $id: not every task ended $state with exit code $code:"
    echo "$out" | awk '{ for (i = 1; i <= NF; i++) if ($i ~ /^(ArrayJobId|ArrayTaskId|JobState|ExitCode)=/) printf "  %s", $i; print "" }' >&2
    return 1
  fi
  log "job $id done after $((SECONDS - t0)) s, $(echo "$out" | grep -c .) task(s), all $state, exit $code"
}

# ---- smoke: a trivial 4-task array ------------------------------------------------------------
mkdir -p "$D/smoke"
jid=$(sbatch --parsable --chdir="$D/smoke" --output="$D/smoke/%A_%a.log" --array=0-3 \
  --wrap 'echo $SLURM_ARRAY_TASK_ID > out_$SLURM_ARRAY_TASK_ID' 2>&1) || fail "sbatch (smoke): $jid"
jid=${jid%%;*}
wait_job "$jid" 60 || fail "smoke array job $jid"
for t in 0 1 2 3; do
  [ "$(cat "$D/smoke/out_$t" 2>/dev/null)" = "$t" ] || fail "smoke array task $t wrote no out_$t"
done
log "smoke array job $jid: 4 tasks ok"
if [ "$BRINGUP_ONLY" = 1 ]; then
  log "PASS (bring-up only) in $(( $(date +%s) - T0 )) s"; exit 0
fi

# ---- the real test ----------------------------------------------------------------------------
export GENPLUG_PLUGIN_PATH=$PLUGIN_DIR
# The manifest as users name it: mlink/m.json, a link to target/m.json. Its prompts.file resolves beside the
# link (genplug run mlink/m.json); the target's folder holds another prompts.txt, which the farm must not read.
mkdir -p "$D/target" "$D/mlink"
M=$D/mlink/m.json
python3 - "$SOURCE_DIR/samples/default.json" "$D/target/m.json" <<'EOF' || fail "cannot write the manifest"
import json, sys
src = json.load(open(sys.argv[1]))
m = {k: src[k] for k in ("model", "scheduler", "posenc", "exr")}
m["jobs"] = [{"prompts": {"file": "prompts.txt"}, "width": 64, "height": 64, "steps": 2,
              "seeds": {"from": 1, "count": 8}, "output": "img_{seed}.exr"}]
json.dump(m, open(sys.argv[2], "w"), indent=2)
EOF
ln -s ../target/m.json "$M"
echo 'a lighthouse' > "$D/mlink/prompts.txt"
echo 'an old prompt' > "$D/target/prompts.txt"
OUTS=(); for s in 1 2 3 4 5 6 7 8; do OUTS+=("img_$s.exr"); done

items=$("$GENPLUG" run "$M" --list 2>"$D/list.err" | grep -c '^[[:space:]]*{')
[ "$items" = 8 ] || { cat "$D/list.err" >&2; fail "genplug run --list: $items work items, expected 8"; }

mkdir -p "$D/local" "$D/farm" "$D/logs"
t=$SECONDS
(cd "$D/local" && timeout 300 "$GENPLUG" run "$M" --progress none) > "$D/logs/local.log" 2>&1 \
  || { tail -n 30 "$D/logs/local.log" >&2; fail "local reference run exited with $?"; }
log "local reference: 8 images in $((SECONDS - t)) s"

attr_of() {  # attr_of NAME EXR: a string attribute of an EXR, or nothing
  exrheader "$2" 2>/dev/null | sed -n "s/^${1//./\\.}"'[^:]*:[[:space:]]*"\{0,1\}\([^"]*\)"\{0,1\}[[:space:]]*$/\1/p' |
    head -n 1
}
hash_of() { attr_of genplug.pixels.hash "$1"; }
declare -A LOCAL_HASH
for o in "${OUTS[@]}"; do
  [ -f "$D/local/$o" ] || fail "local reference did not write $o"
  h=$(hash_of "$D/local/$o"); [ -n "$h" ] || fail "local/$o has no genplug.pixels.hash attribute"
  LOCAL_HASH[$o]=$h
done
check_farm() {  # check_farm OUTPUT...: each exists in farm/ with the local pixel hash
  local o h
  for o in "$@"; do
    [ -f "$D/farm/$o" ] || fail "farm/$o missing"
    h=$(hash_of "$D/farm/$o"); [ -n "$h" ] || fail "farm/$o has no genplug.pixels.hash attribute"
    [ "$h" = "${LOCAL_HASH[$o]}" ] || fail "farm/$o pixel hash $h differs from local ${LOCAL_HASH[$o]}"
    h=$(attr_of genplug.prompt "$D/farm/$o")
    [ "$h" = 'a lighthouse' ] || fail "farm/$o has prompt '$h', not mlink/prompts.txt's 'a lighthouse'"
  done
}
submit() {  # submit RUN: submit.sh --tasks 4 in mlink/ (the manifest relative, a link), wait; logs/RUN-%A_%a.log
  local out
  out=$(cd "$D/mlink" && "$SUBMIT" --tasks 4 --genplug "$GENPLUG" --chdir="$D/farm" \
        --output="$D/logs/$1-%A_%a.log" m.json 2>"$D/logs/$1-submit.err") \
    || { cat "$D/logs/$1-submit.err" >&2; fail "submit.sh ($1) failed"; }
  [[ $out =~ ^[0-9]+$ ]] || { cat "$D/logs/$1-submit.err" >&2; fail "submit.sh ($1) printed '$out', not a job id"; }
  JOB=$out
  wait_job "$JOB" 300 || { tail -n 20 "$D"/logs/"$1"-*_*.log >&2; fail "$1 array job $JOB"; }
  local n; n=$(ls "$D"/logs/"$1"-"$JOB"_*.log 2>/dev/null | wc -l)
  [ "$n" = 4 ] || fail "$1: $n task logs, expected 4"
}
events() {  # events RUN EVENT: the outputs named by EVENT lines in RUN's task logs, sorted
  cat "$D"/logs/"$1"-"$JOB"_*.log | grep -E "\"event\"[[:space:]]*:[[:space:]]*\"$2\"" \
    | sed -n 's/.*"output"[[:space:]]*:[[:space:]]*"\([^"]*\)".*/\1/p' | xargs -r -n1 basename | sort
}

# Without --tasks, one task per item, but no more than MaxArraySize=6 allows (indices 0-5).
dry=$("$SUBMIT" --dry-run --genplug "$GENPLUG" "$M" 2>"$D/logs/dry.err") || { cat "$D/logs/dry.err" >&2; fail "submit.sh --dry-run failed"; }
[[ $dry == *"--array=0-5 "* ]] || fail "submit.sh --dry-run for 8 items and MaxArraySize=6 gave: $dry"
grep -q "MaxArraySize=6" "$D/logs/dry.err" || fail "submit.sh did not say it capped the tasks: $(cat "$D/logs/dry.err")"

t=$SECONDS
submit run1
check_farm "${OUTS[@]}"
[ "$(events run1 item_done | wc -l)" = 8 ] || fail "run1: expected 8 item_done events, got: $(events run1 item_done | xargs)"
log "run1 (array job $JOB): 8 images equal to local, in $((SECONDS - t)) s"

# Resume: delete two, resubmit; only those two are rendered again, the six others stay untouched.
DELETED=(img_3.exr img_6.exr)
KEPT=(img_1.exr img_2.exr img_4.exr img_5.exr img_7.exr img_8.exr)
rm -f "$D/farm/${DELETED[0]}" "$D/farm/${DELETED[1]}"
declare -A MTIME
for o in "${KEPT[@]}"; do MTIME[$o]=$(stat -c '%Y %y' "$D/farm/$o"); done
t=$SECONDS
submit run2
check_farm "${OUTS[@]}"
for o in "${KEPT[@]}"; do
  [ "$(stat -c '%Y %y' "$D/farm/$o")" = "${MTIME[$o]}" ] || fail "run2 touched farm/$o (mtime changed)"
done
want_skipped=$(printf '%s\n' "${KEPT[@]}" | sort); got_skipped=$(events run2 skipped)
[ "$got_skipped" = "$want_skipped" ] || fail "run2 skipped: '$(echo $got_skipped)', expected '$(echo $want_skipped)'"
want_done=$(printf '%s\n' "${DELETED[@]}" | sort); got_done=$(events run2 item_done)
[ "$got_done" = "$want_done" ] || fail "run2 rendered: '$(echo $got_done)', expected '$(echo $want_done)'"
log "run2 (array job $JOB): re-rendered $(echo $got_done), skipped 6 untouched, in $((SECONDS - t)) s"

# A --chdir folder that exists at submission but not when the task starts: slurmstepd runs the task in /tmp
# then, where relative outputs would land unseen with exit 0. The job script must fail with exit 2 instead.
mkdir -p "$D/vanish"
JOB=$("$SUBMIT" --tasks 1 --genplug "$GENPLUG" --chdir="$D/vanish" --hold \
      --output="$D/logs/vanish-%A_%a.log" "$M" 2>"$D/logs/vanish-submit.err")
if ! [[ $JOB =~ ^[0-9]+$ ]]; then
  cat "$D/logs/vanish-submit.err" >&2; fail "submit.sh (vanishing --chdir) printed '$JOB', not a job id"
fi
rmdir "$D/vanish"
timeout 10 scontrol release "$JOB" || fail "scontrol release $JOB"
wait_job "$JOB" 120 FAILED 2 || { cat "$D"/logs/vanish-*.log >&2; fail "job $JOB in a vanished --chdir"; }
grep -q "not in $D/vanish" "$D"/logs/vanish-"$JOB"_0.log ||
  fail "job $JOB in a vanished --chdir: no word of it in its log: $(cat "$D"/logs/vanish-"$JOB"_0.log)"
log "job $JOB whose --chdir vanished failed with exit 2, rendering nothing"

log "PASS in $(( $(date +%s) - T0 )) s: 8-item manifest (through a link) as a 4-task array equals the local run" \
    "pixel for pixel; resume re-renders only missing outputs; a task outside its --chdir fails with exit 2"
exit 0
