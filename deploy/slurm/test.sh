#!/usr/bin/env bash
# deploy/slurm/test.sh: ltransfer shards on a real single-node Slurm cluster
# (run by .ci/run).
#
# deploy/slurm/cluster.sh installs Debian's slurm-wlm and munge when
# missing and starts munged, slurmctld and slurmd on this host in a
# temporary folder. Then, on a small MNIST case (MLP W=1024, 4 targets):
#   1. deploy/slurm/transfer-array.sbatch runs once outside Slurm, as one
#      process over every target (the reference);
#   2. it runs as `sbatch --array=0-1`; the gathered result must be
#      identical to the reference;
#   3. it runs again, task 1's ltransfer is killed with SIGKILL in the
#      middle of a target, the task is requeued, and the result must still
#      be identical.
# Every daemon it started is stopped by pid on exit, and the folder removed.
# Needs root (or password-less sudo).
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
name="slurm test"
source "$root/deploy/slurm/cluster.sh"

say "source: MLP W=1024, 1 epoch on 6000 MNIST images"
"$lt" train --model mlp --width 1024 --epochs 1 --limit 6000 --seed 101 --no-test --threads 2 --data "$mnist" \
  --out "$tmp/work/src" >"$tmp/log/train.log" 2>&1
export LTRANSFER=$lt SOURCE=$tmp/work/src DATA=$mnist TARGETS=4 TARGET_SEED=1000 METHOD=gmt STEPS=10 LIMIT=6000

say "reference: one process, every target, 2 threads"
tr=$(date +%s.%N)
env -u SLURM_ARRAY_TASK_ID -u JOB_COMPLETION_INDEX THREADS=2 OUT="$tmp/work/one" bash "$sbatch_script" \
  >"$tmp/log/one.log" 2>&1
say "reference done in $(since "$tr") s"

cluster_start

# --- 2. the array ----------------------------------------------------------------
ta=$(date +%s.%N)
jid=$(submit "$tmp/work/array" 2)
jobs_submitted+=("$jid")
say "submitted job array $jid (2 tasks, 1 CPU each)"
wait_job "$jid" 240
for t in 0 1; do
  s=$(task_state "$jid" "$t")
  [ "$s" = COMPLETED ] || { echo "task $t: $s"; cat "$tmp"/log/*-"${jid}_$t".log; exit 1; }
done
say "array done in $(since "$ta") s"
same_as_reference "$tmp/work/array"
ltransfer_summary=$("$lt" summary --out "$tmp/work/gathered" "$tmp/work/array" 2>&1) ||
  { echo "$ltransfer_summary"; exit 1; }
diff <(grep -v '^time per target' "$tmp/work/one/summary.md") <(grep -v '^time per target' "$tmp/work/gathered/summary.md") ||
  { echo "ltransfer summary differs from the reference"; exit 1; }

# --- 3. kill -9 of a task in the middle of a target, then requeue ------------------
tk=$(date +%s.%N)
jid=$(submit "$tmp/work/killed" 2)
jobs_submitted+=("$jid")
say "submitted job array $jid; waiting for task 1 to be inside target-001"
part=$tmp/work/killed/.target-001.partial
victim=""
end=$(($(date +%s) + 120))
while [ -z "$victim" ]; do
  [ "$(date +%s)" -lt "$end" ] || { echo "task 1 never reached target-001's second point"; exit 1; }
  if [ -f "$part/ckpt-0002.safetensors" ]; then
    # The ltransfer process of task 1 of this job, by its environment.
    # (Shell built-ins only: the scan must be quick on a busy machine.)
    for p in /proc/[0-9]*; do
      [ "$p/exe" -ef "$lt" ] 2>/dev/null || continue
      mapfile -d '' env <"$p/environ" 2>/dev/null || continue
      if [[ " ${env[*]} " == *" SLURM_ARRAY_JOB_ID=$jid "* && " ${env[*]} " == *" SLURM_ARRAY_TASK_ID=1 "* ]]; then
        victim=${p#/proc/}
      fi
    done
  fi
  job_done "$jid" && [ -z "$victim" ] && { echo "job $jid ended before task 1 could be killed"; exit 1; }
  sleep 0.05
done
kill -KILL "$victim"
say "killed task 1's ltransfer (pid $victim) with SIGKILL; $(ls "$part" | grep -c '^ckpt-') points of target-001 were written"
for _ in $(seq 1 100); do
  s=$(task_state "$jid" 1)
  [ "$s" = FAILED ] && break
  sleep 0.1
done
[ "$s" = FAILED ] || { echo "task 1 is $s after the kill, want FAILED"; exit 1; }
[ ! -e "$tmp/work/killed/target-001" ] || { echo "target-001 finished although its task was killed"; exit 1; }
# slurmd revokes a killed job's credential with a time stamp in whole
# seconds, and refuses a relaunch of the same job id whose credential is
# not newer ("Job credential revoked"): a requeue within the same second
# as the kill fails. Wait past it, and requeue again should Slurm still
# refuse (a requeued task's failure is Slurm's, not ltransfer's: the
# results are checked byte for byte below either way).
for try in 1 2 3; do
  sleep 2
  scontrol requeue "${jid}_1"
  # Slurm holds a requeued job back (BeginTime) for a while; start it now.
  scontrol update JobId="${jid}_1" StartTime=now
  say "requeued task 1 (try $try): $(squeue -h -j "${jid}_1" -o '%T %r')"
  wait_job "$jid" 240
  [ "$(task_state "$jid" 1)" = COMPLETED ] && break
  grep -q "credential revoked" "$tmp/log/slurmctld.log" 2>/dev/null || break
done
for t in 0 1; do
  s=$(task_state "$jid" "$t")
  [ "$s" = COMPLETED ] || { echo "task $t: $s"; cat "$tmp"/log/*-"${jid}_$t".log; exit 1; }
done
say "killed and requeued array done in $(since "$tk") s"
same_as_reference "$tmp/work/killed"
[ ! -e "$part" ] || { echo "the partial folder of the killed target is still there"; exit 1; }

say "passed: $(since "$t1") s without packages"
