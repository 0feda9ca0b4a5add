#!/usr/bin/env bash
# bench/slurm_bar.sh: 8 MNIST targets (paper MLP, W=4096; GMT, T=10, full
# data) as a 2-task Slurm job array with 1 thread per task, against one
# 2-thread many-target process on the same targets; the same results are
# required and the time ratio is printed (the bar: array ≤ 1.1× process).
#
# Starts a single-node Slurm cluster on this host with
# deploy/slurm/cluster.sh (root; installs slurm-wlm and munge when missing)
# and stops it on exit. Run it on a quiet machine: both sides use every
# core. REPS rounds (default 2) alternate the two sides; the ratio is the
# best array time over the best process time. The array's time runs from
# submission to the summary its last task writes. W=1024 bash
# bench/slurm_bar.sh for a quicker run.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
name="slurm bar"
source "$root/deploy/slurm/cluster.sh"
W=${W:-4096}
TASKS=2

say "source: MLP W=$W, 1 epoch on MNIST"
"$lt" train --model mlp --width "$W" --epochs 1 --seed 101 --no-test --threads 2 --data "$mnist" \
  --out "$tmp/work/src" >"$tmp/log/train.log" 2>&1
export LTRANSFER=$lt SOURCE=$tmp/work/src DATA=$mnist TARGETS=8 TARGET_SEED=1000 METHOD=gmt STEPS=10 LIMIT=0
cluster_start
say "load average before: $(cut -d' ' -f1-3 /proc/loadavg)"

# REPS rounds, each a one-process run then the array, alternating so that
# both sides see the same machine; the ratio is best array / best process.
ones=() arrs=()
for ((r = 1; r <= ${REPS:-2}; r++)); do
  tr=$(date +%s.%N)
  env -u SLURM_ARRAY_TASK_ID -u JOB_COMPLETION_INDEX THREADS=2 OUT="$tmp/work/one$r" bash "$sbatch_script" \
    >"$tmp/log/one$r.log" 2>&1
  ones+=("$(since "$tr")")
  say "round $r: one process, 2 threads, 8 targets: ${ones[-1]} s (load $(cut -d' ' -f1-3 /proc/loadavg))"
  sleep 2

  out=$tmp/work/array$r
  ta=$(date +%s.%N)
  jid=$(submit "$out" "$TASKS")
  jobs_submitted+=("$jid")
  # The array is done when its last task has written the summary: watched
  # with stat every 50 ms, since polling Slurm (squeue) costs ~17 ms of CPU
  # a call, taken from the tasks on a machine this small. Slurm's own
  # bookkeeping of the tasks' end follows, untimed.
  for ((k = 0; ; k++)); do
    [ -f "$out/summary.json" ] && break
    if ((k % 40 == 39)) && job_done "$jid"; then
      [ -f "$out/summary.json" ] && break
      echo "the array ended without a summary"; exit 1
    fi
    ((k < 36000)) || { echo "job $jid still running after 30 min"; exit 1; }
    sleep 0.05
  done
  arrs+=("$(since "$ta")")
  wait_job "$jid" 120
  for ((t = 0; t < TASKS; t++)); do
    s=$(task_state "$jid" "$t")
    [ "$s" = COMPLETED ] || { echo "task $t: $s"; exit 1; }
  done
  say "round $r: Slurm array, $TASKS tasks × 1 thread, 8 targets: ${arrs[-1]} s, submission to the summary written (load $(cut -d' ' -f1-3 /proc/loadavg))"
  same_as_reference "$out" "$tmp/work/one1"
  sleep 2
done
best() { printf '%s\n' "$@" | sort -g | head -n 1; }
one=$(best "${ones[@]}") arr=$(best "${arrs[@]}")
ratio=$(awk -v a="$arr" -v b="$one" 'BEGIN{printf "%.3f", a/b}')
rss=$(grep -ho '"peak_rss_mb": [0-9.]*' "$tmp"/work/array1/target-*/report.json | awk '{ if ($2 > m) m = $2 } END { printf "%.0f", m }')
say "process ${ones[*]} s, array ${arrs[*]} s: best array / best process = $arr / $one = $ratio (bar ≤ 1.1); peak RSS of an array task ${rss} MB"
awk -v r="$ratio" 'BEGIN{exit !(r <= 1.1)}' || { say "above the bar"; exit 2; }
