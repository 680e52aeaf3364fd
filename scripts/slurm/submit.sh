#!/usr/bin/env bash
# submit.sh: render a genplug manifest on Slurm as a job array (docs/farm.md).
#
#   submit.sh [--tasks N] [--max-running M] [--genplug PATH] [--force] [--set PATH=VALUE]...
#             [--dry-run] [sbatch options...] MANIFEST
#
# Counts the manifest's work items (`genplug run MANIFEST --list`, one JSON line each, in the job's working
# folder), submits genplug-array.sbatch (beside this script, or $GENPLUG_SBATCH_SCRIPT) as
# `sbatch --array=0-(T-1)[%M] [sbatch options] genplug-array.sbatch --genplug PATH --workdir DIR MANIFEST`
# with T = min(N, work items, MaxArraySize) tasks (default: one task per work item), and prints the job id on
# stdout. MaxArraySize is the cluster's (`scontrol show config`; Slurm's default 1001 where scontrol cannot say).
# Each array task renders the items i with i mod T == its index. Relative output paths are relative
# to the job's working folder DIR: the submitting folder, or the folder of --chdir=DIR (-D DIR), which must
# exist; a task that Slurm starts elsewhere (it falls back to /tmp when it cannot enter DIR) fails with exit 2.
#   --tasks N         at most N array tasks (N < 10^9)
#   --max-running M   at most M tasks at a time (sbatch --array=...%M; M < 10^9)
#   --genplug PATH    the genplug program (default: $GENPLUG, else `genplug` on PATH); made absolute
#   --force           genplug run --force: re-render outputs that are already up to date
#   --set PATH=VALUE  genplug run --set (repeatable); also applies when counting the work items
#   --dry-run         print the sbatch command instead of running it
# Every other argument before MANIFEST goes to sbatch (e.g. --partition=gpu --gres=gpu:1
# --chdir=/shared/out --time=1:00:00) except --array (-a), in any form sbatch would take; MANIFEST is the last
# argument, made absolute without resolving links (relative paths in it are relative to where it is named).
# Resubmitting the same command resumes: finished outputs are skipped by genplug.
# Exit codes: 0 submitted; 1 sbatch or genplug --list failed; 2 bad command line or no work items.
set -euo pipefail
me=submit.sh
die() { echo "$me: $2" >&2; exit "$1"; }
no_array() { die 2 "do not pass --array ('$1'): the array is sized from the manifest (use --tasks)"; }
set_chdir() { [ -n "$1" ] || die 2 "--chdir (-D) needs a folder"; chdir=$1; }
# At most 9 digits: a longer number would overflow [ -le ] and $(( )) ("integer expression expected").
positive() { [[ $2 =~ ^[1-9][0-9]{0,8}$ ]] || die 2 "$1 must be a positive integer below 10^9, not '$2'"; }

tasks='' max_running='' dry_run=0 genplug=${GENPLUG:-genplug} chdir=''
sbatch_args=() genplug_args=()
usage="$me [--tasks N] [--max-running M] [--genplug PATH] [--force] [--set PATH=VALUE]... [--dry-run]"
[ $# -gt 0 ] || die 2 "usage: $usage [sbatch options...] MANIFEST"
while [ $# -gt 1 ]; do
  case $1 in
    --tasks) [ $# -gt 2 ] || die 2 "--tasks needs a value"; positive --tasks "$2"; tasks=$2; shift 2;;
    --tasks=*) positive --tasks "${1#*=}"; tasks=${1#*=}; shift;;
    --max-running) [ $# -gt 2 ] || die 2 "--max-running needs a value"; positive "$1" "$2"; max_running=$2; shift 2;;
    --max-running=*) positive --max-running "${1#*=}"; max_running=${1#*=}; shift;;
    --genplug) [ $# -gt 2 ] || die 2 "--genplug needs a value"; genplug=$2; shift 2;;
    --genplug=*) genplug=${1#*=}; shift;;
    --force|-f) genplug_args+=(--force); shift;;
    --set) [ $# -gt 2 ] || die 2 "--set needs PATH=VALUE"; genplug_args+=(--set "$2"); shift 2;;
    --set=*) genplug_args+=(--set "${1#*=}"); shift;;
    --dry-run) dry_run=1; shift;;
    # sbatch (getopt_long) takes any unique prefix of a long option: --ar is --array, --ch is --chdir.
    --ar*) no_array "$1";;
    --ch=*|--chd=*|--chdi=*|--chdir=*) set_chdir "${1#*=}"; sbatch_args+=("$1"); shift;;
    --ch|--chd|--chdi|--chdir)
      [ $# -gt 2 ] || die 2 "$1 needs a folder"; set_chdir "$2"; sbatch_args+=("$1" "$2"); shift 2;;
    --*) sbatch_args+=("$1"); shift;;
    -?*)
      # A cluster of short options, read as getopt does (-Ha5 is -H -a 5, -vD DIR is -v -D DIR): sbatch's
      # -s -v -H -O -W -Q -h -V take no argument, -k an optional one (the rest of the word), the others one.
      word=$1 rest=${1#-} value_next=''
      sbatch_args+=("$1"); shift
      while [ -n "$rest" ]; do
        c=${rest:0:1} rest=${rest:1}
        case $c in
          [svHOWQhV]) continue;;
          a) no_array "$word";;
          k) ;;
          D) if [ -n "$rest" ]; then set_chdir "$rest"; else value_next=D; fi;;
          *) [ -n "$rest" ] || value_next=$c;;
        esac
        break
      done
      if [ -n "$value_next" ]; then  # -X VALUE: the next word is the value, never the manifest
        [ $# -gt 1 ] || die 2 "'$word' needs a value before the manifest"
        [ "$value_next" != D ] || set_chdir "$1"
        sbatch_args+=("$1"); shift
      fi;;
    *) sbatch_args+=("$1"); shift;;
  esac
done
manifest=$1
case $manifest in -*) die 2 "the last argument must be the manifest, not '$manifest'";; esac
[ -f "$manifest" ] || die 2 "manifest '$manifest' not found"
# Absolute, but links kept: genplug resolves prompts.file and plugin_path beside the path it is given, so
# a link must stay a link (the user ran `genplug run LINK` beside its prompts, not beside its target).
[[ $manifest == /* ]] || manifest=$PWD/$manifest
# The job's working folder, where relative outputs land. sbatch makes a relative --chdir absolute from here;
# a batch step that cannot enter it runs in /tmp instead, so the job script checks it (--workdir).
workdir=${chdir:-$PWD}
[[ $workdir == /* ]] || workdir=$PWD/$workdir
if [ ! -d "$workdir" ] || [ ! -x "$workdir" ]; then die 2 "--chdir folder '$chdir' not found or cannot be entered"; fi
if [[ $genplug == */* ]]; then
  if [ ! -x "$genplug" ] || [ -d "$genplug" ]; then die 2 "genplug program '$genplug' not found or not executable"; fi
  genplug=$(readlink -f "$genplug")
else
  resolved=$(command -v "$genplug") || die 2 "'$genplug' not on PATH (give --genplug PATH or set GENPLUG)"
  genplug=$(readlink -f "$resolved")
fi
script=${GENPLUG_SBATCH_SCRIPT:-$(dirname "$(readlink -f "$0")")/genplug-array.sbatch}
[ -f "$script" ] || die 2 "job script '$script' not found"
if [ "$dry_run" = 0 ]; then
  command -v sbatch >/dev/null 2>&1 ||
    die 1 "sbatch not found: is this a Slurm submit host? (Debian: apt-get install slurm-client)"
fi

# Count the work items of the whole manifest, in the job's working folder (outputs resolve from there);
# inside a Slurm array task, --list would list only that task's shard, so hide the array variables.
# ${a[@]+"${a[@]}"}: an empty array under set -u is an error in bash <= 4.3 (CentOS 7 login nodes).
list_err=$(mktemp); trap 'rm -f "$list_err"' EXIT
set +e
list=$(cd "$workdir" && env -u SLURM_ARRAY_TASK_ID -u SLURM_ARRAY_TASK_MIN -u SLURM_ARRAY_TASK_MAX \
  -u SLURM_ARRAY_TASK_COUNT "$genplug" run "$manifest" ${genplug_args[@]+"${genplug_args[@]}"} --list 2>"$list_err")
rc=$?
set -e
if [ $rc -ne 0 ]; then
  cat "$list_err" >&2; die 1 "'$genplug run $manifest ${genplug_args[*]-} --list' failed with exit code $rc"
fi
items=$(printf '%s\n' "$list" | grep -c '^[[:space:]]*{' || true)
[ "$items" -gt 0 ] || die 2 "manifest '$manifest' has no work items: nothing to submit"
n=${tasks:-$items}
[ "$n" -le "$items" ] || n=$items
# Array indices must stay below the cluster's MaxArraySize: more items than that share the tasks.
# No scontrol, or no controller to ask (a --dry-run off the cluster): Slurm's default (pipefail would end here).
max_array=$( { scontrol show config 2>/dev/null || true; } |
  sed -n 's/^MaxArraySize *= *\([0-9][0-9]*\).*/\1/p')
max_array=${max_array:-1001}
# Slurm's own limit is 4000001: more digits than 9 cannot cap anything; 10# reads "0100" as 100, not octal.
if [ "${#max_array}" -gt 9 ]; then max_array=999999999; else max_array=$((10#$max_array)); fi
[ "$max_array" -gt 0 ] || die 1 "this cluster has MaxArraySize=0: job arrays are disabled"
if [ "$n" -gt "$max_array" ]; then
  echo "$me: $n tasks would exceed the cluster's MaxArraySize=$max_array: using $max_array tasks" >&2
  n=$max_array
fi
array="0-$((n - 1))${max_running:+%$max_running}"

cmd=(sbatch --parsable "--array=$array" ${sbatch_args[@]+"${sbatch_args[@]}"} "$script" --genplug "$genplug"
     --workdir "$workdir" "$manifest" ${genplug_args[@]+"${genplug_args[@]}"})
echo "$me: $items work items in $n array tasks: ${cmd[*]}" >&2
if [ "$dry_run" = 1 ]; then printf '%q ' "${cmd[@]}"; echo; exit 0; fi
out=$("${cmd[@]}") || die 1 "sbatch failed (exit code $?)"
job=${out%%;*}
[[ $job =~ ^[0-9]+$ ]] || die 1 "sbatch printed '$out', not a job id"
echo "$job"
