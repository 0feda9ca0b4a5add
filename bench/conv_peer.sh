#!/bin/sh
# Side by side, same run: PyTorch 1.13 CPU (oneDNN) and ltransfer on every
# Conv8 layer shape (forward; backward = input + weight + bias gradients)
# and a whole Conv8 training step at width 1 and 0.25, batch 128, for 1 and
# 2 threads. Prints a markdown table with the ratio PyTorch ms / ours ms
# (higher is better; the bar is ≥ 1.0 for the step, ≥ 0.8 per layer).
# Usage: bench/conv_peer.sh [THREADS="1 2"] [FILTER=""]
#   FILTER is a substring of the names (e.g. "Step" or "c=64,k=64").
# Env: LTRANSFER_BENCH_BATCH (default 128), CONV_PEER_REPS (default 5).
set -eu
cd "$(dirname "$0")/.."
threads=${1:-"1 2"}
filter=${2:-}
reps=${CONV_PEER_REPS:-5}
batch=${LTRANSFER_BENCH_BATCH:-128}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
go test -c -o "$tmp/bench.test" ./bench/
for t in $threads; do
	OMP_NUM_THREADS=$t /usr/bin/python3 bench/conv_peer.py --threads "$t" --batch "$batch" --reps "$reps" --only "$filter" >>"$tmp/peer.jsonl"
	LTRANSFER_BENCH_THREADS=$t LTRANSFER_BENCH_BATCH=$batch GOMAXPROCS=$t "$tmp/bench.test" -test.run XXX \
		-test.bench "Conv8(Layer|Step)" -test.benchtime "${reps}x" -test.count 1 >>"$tmp/ours.txt"
done
python3 - "$tmp/peer.jsonl" "$tmp/ours.txt" "$filter" <<'PY'
import json, re, sys
peer = {}
for line in open(sys.argv[1]):
    d = json.loads(line)
    peer[d["name"]] = d["ms"]
ours = {}
for line in open(sys.argv[2]):
    m = re.match(r"Benchmark(\S+?)(-\d+)?\s+\d+\s+([\d.]+) ns/op", line)
    if m:
        ours[m.group(1)] = float(m.group(3)) / 1e6
print("| benchmark | PyTorch ms | ours ms | PyTorch/ours |")
print("| --- | ---: | ---: | ---: |")
for name, p in peer.items():
    if sys.argv[3] and sys.argv[3] not in name:
        continue
    o = ours.get(name)
    if o is None:
        print("| %s | %.1f | – | – |" % (name, p))
    else:
        print("| %s | %.1f | %.1f | %.2f |" % (name, p, o, p / o))
PY
