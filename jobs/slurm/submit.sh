#!/usr/bin/env bash
# Queue a chloe job as a Slurm array of N shards plus the merge that runs
# when every shard succeeded; prints "ARRAY_ID MERGE_ID".
#
#   jobs/slurm/submit.sh [--gpu] [--indices LIST] JOB OUT N [SBATCH_OPTION...]
#
# --indices 2,5 resubmits only those shards (the list `chloe merge` prints
# when units are missing) with a new merge. Extra arguments go to both sbatch
# calls (e.g. --partition=long --cpus-per-task=16). The merge is cancelled,
# not left pending, when a shard fails (--kill-on-invalid-dep=yes).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
array=chloe-array.sbatch
indices=
while [ $# -gt 0 ]; do
  case $1 in
    --gpu) array=chloe-array-gpu.sbatch; shift ;;
    --indices) indices=${2:?--indices needs a list like 2,5}; shift 2 ;;
    *) break ;;
  esac
done
if [ $# -lt 3 ]; then
  echo "usage: $0 [--gpu] [--indices LIST] JOB OUT N [SBATCH_OPTION...]" >&2
  exit 2
fi
job=$1 out=$2 n=$3
shift 3
case $n in '' | *[!0-9]* | 0) echo "$0: N must be a positive integer, got '$n'" >&2; exit 2 ;; esac
# Absolute paths: the tasks may start in another working directory.
job=$(realpath "$job") out=$(realpath -m "$out")
arr=$(sbatch --parsable --array="${indices:-0-$((n - 1))}" "$@" "$here/$array" "$job" "$out" "$n") &&
  merge=$(sbatch --parsable --dependency="afterok:${arr%%;*}" --kill-on-invalid-dep=yes "$@" "$here/chloe-merge.sbatch" "$out") &&
  echo "${arr%%;*} ${merge%%;*}"
