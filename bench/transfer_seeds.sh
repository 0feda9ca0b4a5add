#!/bin/sh
# Accuracy over seed pairs on the paper's MNIST setting (mlp W=4096, 10 epochs
# SGD lr 0.01 m 0.9 batch 128; linear trajectory T=10 cosine; 1 gradient batch
# of 128): trains source/target for each pair and runs the four methods.
# Usage: bench/transfer_seeds.sh [PAIRS="201:202 301:302"] [THREADS=16]
# Payload as in bench/transfer_device.sh (.cache/transfer-device), or set
# LT=path/to/ltransfer and MNIST=folder.
set -u
D=.cache/transfer-device
B=${LT:-$D/ltransfer}
M=${MNIST:-$D/mnist}
pairs=${1:-201:202 301:302}
th=${2:-16}
OUT=${OUT:-/tmp/out}
mkdir -p "$OUT"
for p in $pairs; do
  s=${p%%:*}; t=${p##*:}
  for seed in $s $t; do
    [ -f /tmp/tr$seed/manifest.json ] || GOMAXPROCS=$th $B train --model mlp --width 4096 --epochs 10 --seed $seed --threads $th --data $M --no-test --out /tmp/tr$seed --json 2>/dev/null
  done
  for m in gmt fgmt naive oracle; do
    GOMAXPROCS=$th $B transfer --source /tmp/tr$s --target-init /tmp/tr$t/ckpt-0000.safetensors --target /tmp/tr$t --method $m --threads $th \
      --data $M --out /tmp/x-$s-$m --force --json 2>/dev/null > /tmp/r.json
    cat /tmp/r.json >> "$OUT/seeds.jsonl"
    echo "$s->$t $m: $(python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); print("best %.4f (step %d) final %.4f total %.2f s" % (d["best_val_acc"], d["best_step"], d["steps"][-1]["val_acc"], d["timings_s"]["total"]))' /tmp/r.json)"
  done
done
