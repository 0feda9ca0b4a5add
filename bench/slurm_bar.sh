#!/usr/bin/env bash
# bench/slurm_bar.sh: 8 MNIST targets (paper MLP, W=4096; GMT, T=10, full
# data) as a 2-task Slurm job array with 1 thread per task, against one
# 2-thread many-target process on the same targets; the same results are
# required and the time ratio is printed (the bar: array ≤ 1.1× process).
#
# Starts a single-node Slurm cluster on this host with
# deploy/slurm/cluster.sh (root; installs slurm-wlm and munge when missing)
# and stops it on exit. Run it on a quiet machine: both sides use every
# core. W=1024 bash bench/slurm_bar.sh for a quicker run.
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

tr=$(date +%s.%N)
env -u SLURM_ARRAY_TASK_ID -u JOB_COMPLETION_INDEX THREADS=2 OUT="$tmp/work/one" bash "$sbatch_script" \
  >"$tmp/log/one.log" 2>&1
one=$(since "$tr")
say "one process, 2 threads, 8 targets: $one s (load $(cut -d' ' -f1-3 /proc/loadavg))"

ta=$(date +%s.%N)
jid=$(submit "$tmp/work/array" "$TASKS")
jobs_submitted+=("$jid")
wait_job "$jid" 1800
arr=$(since "$ta")
for ((t = 0; t < TASKS; t++)); do
  s=$(task_state "$jid" "$t")
  [ "$s" = COMPLETED ] || { echo "task $t: $s"; exit 1; }
done
say "Slurm array, $TASKS tasks × 1 thread, 8 targets: $arr s, submit to last task done (load $(cut -d' ' -f1-3 /proc/loadavg))"
same_as_reference "$tmp/work/array"
ratio=$(awk -v a="$arr" -v b="$one" 'BEGIN{printf "%.3f", a/b}')
rss=$(grep -ho '"peak_rss_mb": [0-9.]*' "$tmp"/work/array/target-*/report.json | awk '{ if ($2 > m) m = $2 } END { printf "%.0f", m }')
say "array / process = $ratio (bar ≤ 1.1); peak RSS of an array task ${rss} MB"
awk -v r="$ratio" 'BEGIN{exit !(r <= 1.1)}' || { say "above the bar"; exit 2; }
