#!/usr/bin/env bash
# submit.sh: render a genplug manifest on Slurm as a job array (docs/farm.md).
#
#   submit.sh [--tasks N] [--max-running M] [--genplug PATH] [--force] [--set PATH=VALUE]...
#             [--dry-run] [sbatch options...] MANIFEST
#
# Counts the manifest's work items (`genplug run MANIFEST --list`, one JSON line each), submits
# genplug-array.sbatch (beside this script, or $GENPLUG_SBATCH_SCRIPT) as
# `sbatch --array=0-(T-1)[%M] [sbatch options] genplug-array.sbatch --genplug PATH MANIFEST`
# with T = min(N, work items, MaxArraySize) tasks (default: one task per work item), and prints the job id on
# stdout. MaxArraySize is the cluster's (`scontrol show config`; Slurm's default 1001 where scontrol cannot say).
# Each array task renders the items i with i mod T == its index. Relative output paths are relative
# to the job's working folder: the submitting folder, or DIR with --chdir=DIR.
#   --tasks N         at most N array tasks
#   --max-running M   at most M tasks at a time (sbatch --array=...%M)
#   --genplug PATH    the genplug program (default: $GENPLUG, else `genplug` on PATH); made absolute
#   --force           genplug run --force: re-render outputs that are already up to date
#   --set PATH=VALUE  genplug run --set (repeatable); also applies when counting the work items
#   --dry-run         print the sbatch command instead of running it
# Every other argument before MANIFEST goes to sbatch (e.g. --partition=gpu --gres=gpu:1
# --chdir=/shared/out --time=1:00:00); MANIFEST is the last argument.
# Resubmitting the same command resumes: finished outputs are skipped by genplug.
# Exit codes: 0 submitted; 1 sbatch or genplug --list failed; 2 bad command line or no work items.
set -euo pipefail
me=submit.sh
die() { echo "$me: $2" >&2; exit "$1"; }

tasks='' max_running='' dry_run=0 genplug=${GENPLUG:-genplug}
sbatch_args=() genplug_args=()
[ $# -gt 0 ] || die 2 "usage: $me [--tasks N] [--max-running M] [--genplug PATH] [--force] [--set PATH=VALUE]... [--dry-run] [sbatch options...] MANIFEST"
while [ $# -gt 1 ]; do
  case $1 in
    --tasks) [ $# -gt 2 ] || die 2 "--tasks needs a value"; tasks=$2; shift 2;;
    --tasks=*) tasks=${1#*=}; shift;;
    --max-running) [ $# -gt 2 ] || die 2 "--max-running needs a value"; max_running=$2; shift 2;;
    --max-running=*) max_running=${1#*=}; shift;;
    --genplug) [ $# -gt 2 ] || die 2 "--genplug needs a value"; genplug=$2; shift 2;;
    --genplug=*) genplug=${1#*=}; shift;;
    --force|-f) genplug_args+=(--force); shift;;
    --set) [ $# -gt 2 ] || die 2 "--set needs PATH=VALUE"; genplug_args+=(--set "$2"); shift 2;;
    --set=*) genplug_args+=(--set "${1#*=}"); shift;;
    --dry-run) dry_run=1; shift;;
    --array|--array=*|-a) die 2 "do not pass --array: the array is sized from the manifest (use --tasks)";;
    *) sbatch_args+=("$1"); shift;;
  esac
done
manifest=$1
case $manifest in -*) die 2 "the last argument must be the manifest, not '$manifest'";; esac
[[ -z $tasks || $tasks =~ ^[1-9][0-9]*$ ]] || die 2 "--tasks must be a positive integer, not '$tasks'"
[[ -z $max_running || $max_running =~ ^[1-9][0-9]*$ ]] || die 2 "--max-running must be a positive integer, not '$max_running'"
[ -f "$manifest" ] || die 2 "manifest '$manifest' not found"
manifest=$(readlink -f "$manifest")
if [[ $genplug == */* ]]; then
  [ -x "$genplug" ] || die 2 "genplug program '$genplug' not found or not executable"
  genplug=$(readlink -f "$genplug")
else
  resolved=$(command -v "$genplug") || die 2 "'$genplug' not on PATH (give --genplug PATH or set GENPLUG)"
  genplug=$(readlink -f "$resolved")
fi
script=${GENPLUG_SBATCH_SCRIPT:-$(dirname "$(readlink -f "$0")")/genplug-array.sbatch}
[ -f "$script" ] || die 2 "job script '$script' not found"
if [ "$dry_run" = 0 ]; then
  command -v sbatch >/dev/null 2>&1 || die 1 "sbatch not found: is this a Slurm submit host? (Debian: apt-get install slurm-client)"
fi

# Count the work items of the whole manifest; inside a Slurm array task, --list would list only that
# task's shard, so hide the array variables.
list_err=$(mktemp); trap 'rm -f "$list_err"' EXIT
set +e
list=$(env -u SLURM_ARRAY_TASK_ID -u SLURM_ARRAY_TASK_MIN -u SLURM_ARRAY_TASK_MAX -u SLURM_ARRAY_TASK_COUNT \
  "$genplug" run "$manifest" "${genplug_args[@]}" --list 2>"$list_err")
rc=$?
set -e
[ $rc -eq 0 ] || { cat "$list_err" >&2; die 1 "'$genplug run $manifest ${genplug_args[*]} --list' failed with exit code $rc"; }
items=$(printf '%s\n' "$list" | grep -c '^[[:space:]]*{' || true)
[ "$items" -gt 0 ] || die 2 "manifest '$manifest' has no work items: nothing to submit"
n=${tasks:-$items}
[ "$n" -le "$items" ] || n=$items
# Array indices must stay below the cluster's MaxArraySize: more items than that share the tasks.
# No scontrol, or no controller to ask (a --dry-run off the cluster): Slurm's default (pipefail would end here).
max_array=$( { scontrol show config 2>/dev/null || true; } | sed -n 's/^MaxArraySize *= *\([0-9][0-9]*\).*/\1/p')
max_array=${max_array:-1001}
[ "$max_array" -gt 0 ] || die 1 "this cluster has MaxArraySize=0: job arrays are disabled"
if [ "$n" -gt "$max_array" ]; then
  echo "$me: $n tasks would exceed the cluster's MaxArraySize=$max_array: using $max_array tasks" >&2
  n=$max_array
fi
array="0-$((n - 1))${max_running:+%$max_running}"

cmd=(sbatch --parsable "--array=$array" "${sbatch_args[@]}" "$script" --genplug "$genplug" "$manifest" "${genplug_args[@]}")
echo "$me: $items work items in $n array tasks: ${cmd[*]}" >&2
if [ "$dry_run" = 1 ]; then printf '%q ' "${cmd[@]}"; echo; exit 0; fi
out=$("${cmd[@]}") || die 1 "sbatch failed (exit code $?)"
job=${out%%;*}
[[ $job =~ ^[0-9]+$ ]] || die 1 "sbatch printed '$out', not a job id"
echo "$job"
