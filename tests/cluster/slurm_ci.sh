#!/usr/bin/env bash
# A real Slurm test of the shipped templates (jobs/slurm/): stands up a
# private single-node Slurm cluster from Debian's packages (slurm_up.sh),
# then
#   1. submits the array of N shards plus the merge with jobs/slurm/submit.sh
#      on a small job, waits, checks every task and the merge ended COMPLETED
#      (the job state, not `sbatch --wait`'s exit code, which is 0 even for a
#      dependent job that was cancelled and never ran), and compares the
#      merged reports with a single-machine run byte for byte;
#   2. the same with the GPU template (a GPU declared to Slurm without a
#      device file; chloe computes on whatever Vulkan adapter it finds);
#   3. submits the array again into a new folder, SIGKILLs one task midway
#      (after it finished some units, before it finished all), checks the
#      merge was cancelled and `chloe merge` exits 2 naming that index,
#      resubmits only that index (submit.sh --indices K), and checks the
#      task resumed (skipped its verified units), the merge ended COMPLETED
#      and the reports equal the single run.
#
#   tests/cluster/slurm_ci.sh CHLOE_BINARY
#
# When the packages are missing or the daemons cannot start, it says so
# loudly and exits 0, or 1 when CHLOE_REQUIRE_SLURM=1 (as .ci/run sets).
# Only the daemons it started are stopped (by PID, on exit); the jobs it
# submitted are cancelled first. CHLOE_KEEP_SLURM_WORK=1 keeps the folder.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
chloe=$(realpath "${1:?usage: slurm_ci.sh CHLOE_BINARY}")
[ -x "$chloe" ] || { echo "slurm test: no chloe binary at $chloe" >&2; exit 2; }
shards=3
# The task killed midway and resubmitted.
victim=1
# sbatch options for this 2-CPU test node (the templates ask for more).
small=(--cpus-per-task=1 --mem=500M --time=00:10:00)
started=$(date +%s.%N)

not_run() {
  {
    echo "!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!"
    echo "!!! SLURM TEST NOT RUN: $*"
    echo "!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!"
  } >&2
  if [ "${CHLOE_REQUIRE_SLURM:-0}" = 1 ]; then
    echo "slurm test: CHLOE_REQUIRE_SLURM=1, so this is a failure" >&2
    exit 1
  fi
  exit 0
}

for tool in munged munge unmunge setpriv slurmctld slurmd sbatch scontrol squeue scancel sinfo; do
  command -v "$tool" >/dev/null 2>&1 ||
    not_run "$tool is not installed (apt-get install slurmctld slurmd slurm-client munge)"
done

SLURM_WORK=$(mktemp -d /tmp/chloe-slurm.XXXXXX)
export SLURM_WORK
# shellcheck source=tests/cluster/slurm_up.sh
source "$here/slurm_up.sh"
submitted=()
cleanup() {
  local rc=$?
  if [ ${#submitted[@]} -gt 0 ]; then
    # Cancel what is still queued or running, and give the steps 5 s to end
    # (slurmd must still be up to stop them).
    scancel "${submitted[@]}" 2>/dev/null || true
    for _ in $(seq 50); do
      [ -z "$(squeue -h 2>/dev/null)" ] && break
      sleep 0.1
    done
  fi
  slurm_down
  if [ "${CHLOE_KEEP_SLURM_WORK:-0}" = 1 ] || [ "$rc" != 0 ]; then
    echo "slurm test: files kept in $SLURM_WORK" >&2
  else
    rm -rf "$SLURM_WORK"
  fi
}
trap cleanup EXIT
slurm_up || not_run "the single-node Slurm cluster did not start (see above)"

export CHLOE="$chloe"
W=$SLURM_WORK
mkdir -p "$W/logs"
passed=0

fail() {
  echo "FAIL slurm test: $*" >&2
  for f in "$W"/logs/*.out; do
    [ -e "$f" ] && { echo "--- $f" >&2; tail -n 15 "$f" >&2; }
  done
  exit 1
}

# Submit through the shipped script; logs land in $W/logs.
submit() {
  local ids
  ids=$(cd "$W/logs" && "$repo/jobs/slurm/submit.sh" "$@" "${small[@]}") ||
    fail "submit.sh $* failed"
  read -r array merge <<<"$ids"
  submitted+=("$array" "$merge")
}

# Wait (at most $1 seconds) until none of the given jobs is queued or running.
wait_gone() {
  local limit=$1
  shift
  local deadline=$((SECONDS + limit)) ids
  ids=$(IFS=,; echo "$*")
  while [ -n "$(squeue -h -j "$ids" 2>/dev/null)" ]; do
    [ "$SECONDS" -lt "$deadline" ] || fail "jobs $ids still queued after $limit s: $(squeue -j "$ids")"
    sleep 0.2
  done
}

# The final states of a job (one line per array task): "STATE EXITCODE".
states() {
  scontrol show job -o "$1" | sed -E 's/.*JobState=([A-Z_]+).*ExitCode=([0-9:]+).*/\1 \2/'
}

# expect_completed WHAT ID TASKS: every one of the job's TASKS ended COMPLETED, exit 0.
expect_completed() {
  local what=$1 id=$2 tasks=$3 all bad
  all=$(states "$id")
  bad=$(grep -v '^COMPLETED 0:0$' <<<"$all" || true)
  [ -z "$bad" ] || fail "$what (job $id) did not end COMPLETED 0:0: $bad"
  [ "$(wc -l <<<"$all")" = "$tasks" ] || fail "$what (job $id): expected $tasks task(s), found: $all"
}

# Job files with absolute data paths, for tasks that start elsewhere.
# job_file NAME PATHS BLOCK_PATHS: tiny.toml with that many stress paths and paths per unit.
job_file() {
  local name=$1 paths=$2 block=$3
  sed -e "s#\"\\.\\./\\.\\./datasets/#\"$repo/datasets/#" -e "s/^paths = .*/paths = $paths/" \
    -e "s/^block_paths = .*/block_paths = $block/" \
    "$repo/tests/cluster/tiny.toml" >"$W/$name.toml"
  echo "$W/$name.toml"
}

# Units under OUT/shards/ that shard I of N wrote (their manifest says so).
units_done() {
  local out=$1 i=$2 n=$3
  { grep -ls "\"shard\": *\"$i/$n\"" "$out"/shards/*/manifest.json 2>/dev/null || true; } | wc -l
}

single_run() {
  local job=$1 out=$2 rc=0
  "$chloe" --quiet run "$job" --out "$out" --backend cpu >"$W/logs/single-$(basename "$out").log" 2>&1 || rc=$?
  [ "$rc" = 0 ] || fail "single run of $job exited $rc"
}

echo "== slurm 1: array of $shards shards + merge vs a single run"
t0=$SECONDS
job=$(job_file tiny 400 100)
single_run "$job" "$W/single"
submit "$job" "$W/out" "$shards"
wait_gone 300 "$array" "$merge"
expect_completed "shard array" "$array" "$shards"
expect_completed "merge" "$merge" 1
python3 "$here/compare_reports.py" "$W/single" "$W/out" || fail "merged reports differ from the single run"
echo "ok   array $array + merge $merge COMPLETED, reports identical ($((SECONDS - t0)) s)"
passed=$((passed + 1))

echo "== slurm 2: the GPU template (--gres=gpu:1, --backend gpu), 2 shards + merge vs a single GPU run"
t0=$SECONDS
job=$(job_file gpu 400 100)
rc=0
"$chloe" --quiet run "$job" --out "$W/single-gpu" --backend gpu >"$W/logs/single-gpu.log" 2>&1 || rc=$?
[ "$rc" = 0 ] || fail "single GPU run exited $rc: $(tail -n 5 "$W/logs/single-gpu.log")"
submit --gpu "$job" "$W/out-gpu" 2
wait_gone 300 "$array" "$merge"
expect_completed "GPU shard array" "$array" 2
expect_completed "merge" "$merge" 1
python3 "$here/compare_reports.py" "$W/single-gpu" "$W/out-gpu" || fail "merged GPU reports differ from the single GPU run"
echo "ok   GPU array $array + merge $merge COMPLETED, reports identical ($((SECONDS - t0)) s)"
passed=$((passed + 1))

echo "== slurm 3: kill task $victim midway, resubmit it, resume, merge"
t0=$SECONDS
# More stress paths: the stress units take long enough to kill a task in them.
job=$(job_file resume 20000 1000)
single_run "$job" "$W/single2"
out=$W/out2
submit "$job" "$out" "$shards"
first=$array first_merge=$merge
log="$W/logs/chloe-shard-${first}_${victim}.out"
# Midway: the task has written at least one verified unit and is still running.
deadline=$((SECONDS + 120))
until [ "$(units_done "$out" "$victim" "$shards")" -ge 1 ]; do
  [ "$SECONDS" -lt "$deadline" ] || fail "task $victim wrote no unit within 120 s"
  sleep 0.05
done
# A real SIGKILL of the task's processes (`scancel --signal=KILL` is a
# cancel: SIGTERM first, then SIGKILL after KillWait).
pids=$({ scontrol listpids "${first}_${victim}" 2>&1 || true; } | awk 'NR > 1 && $1 ~ /^[0-9]+$/ { print $1 }')
if [ -z "$pids" ]; then
  # listpids needs slurmd's step tracking; the task's command line is unique too.
  pids=$(pgrep -f -- "--out $out --backend cpu --shard $victim/$shards" || true)
fi
[ -n "$pids" ] || fail "found no process of task ${first}_${victim}"
# shellcheck disable=SC2086
kill -KILL $pids
done_at_kill=$(units_done "$out" "$victim" "$shards")
wait_gone 300 "$first" "$first_merge"
victim_state=$(states "${first}_${victim}")
case $victim_state in
  COMPLETED*) fail "task $victim finished before the kill landed ($done_at_kill units done); nothing to resume" ;;
esac
merge_state=$(states "$first_merge")
case $merge_state in
  CANCELLED*) ;;
  *) fail "the merge after a killed shard ended '$merge_state', expected CANCELLED (never run)" ;;
esac
rc=0
"$chloe" --quiet merge "$out" >"$W/logs/merge-incomplete.log" 2>&1 || rc=$?
[ "$rc" = 2 ] || fail "chloe merge of an incomplete folder exited $rc, expected 2: $(cat "$W/logs/merge-incomplete.log")"
grep -Eq "resubmit array indices ([0-9]+,)*$victim(,[0-9]+)* of $shards" "$W/logs/merge-incomplete.log" ||
  fail "chloe merge did not name index $victim: $(cat "$W/logs/merge-incomplete.log")"
echo "     task $victim: $victim_state after SIGKILL with $done_at_kill unit(s) done; merge $merge_state; chloe merge exit 2"
submit --indices "$victim" "$job" "$out" "$shards"
wait_gone 300 "$array" "$merge"
expect_completed "resubmitted task $victim" "$array" 1
expect_completed "merge after the resubmit" "$merge" 1
log="$W/logs/chloe-shard-${array}_${victim}.out"
skipped=$(grep -c 'complete and verified, skipped' "$log" || true)
[ "$skipped" -ge 1 ] || fail "the resubmitted task did not skip any verified unit: $(cat "$log")"
python3 "$here/compare_reports.py" "$W/single2" "$out" || fail "resumed reports differ from the single run"
echo "ok   killed task resumed ($skipped skip line(s)), merge $merge COMPLETED, reports identical ($((SECONDS - t0)) s)"
passed=$((passed + 1))

echo "slurm test: $(echo "$(date +%s.%N) - $started" | bc) s in all"
echo "slurm: $passed passed, 0 failed"
