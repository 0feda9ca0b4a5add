#!/bin/sh
# Side by side, same run: PyTorch 1.13 CPU (oneDNN) and ltransfer on every
# Conv8 layer shape (forward; backward = input + weight + bias gradients)
# and a whole Conv8 training step (forward + backward, no optimiser) at
# width 1 and 0.25 and a ResNet-20 step, batch 128, for 1 and 2 threads.
# Each item is measured back to back in the order PyTorch, ours, ours, PyTorch, and each side
# reports its fastest repetition, so that load from other processes on a
# shared machine hits both alike. Prints a markdown table with the ratio
# PyTorch ms / ours ms (higher is better; the bar: ≥ 1.0 for the step,
# ≥ 0.8 per layer).
# Usage: bench/conv_peer.sh [THREADS="1 2"] [FILTER=""]
#   FILTER is a substring of the item names (e.g. "Step" or "c=64,k=64").
# Env: LTRANSFER_BENCH_BATCH (default 128), CONV_PEER_REPS (default 3),
#   CONV_PEER_WIDTH (default 1): width factor of the layer shapes (the
#   first layer keeps 3 inputs; the step items always run both widths).
set -eu
cd "$(dirname "$0")/.."
threads=${1:-"1 2"}
filter=${2:-}
reps=${CONV_PEER_REPS:-3}
batch=${LTRANSFER_BENCH_BATCH:-128}
width=${CONV_PEER_WIDTH:-1}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
go test -c -o "$tmp/bench.test" ./bench/
items=""
for c in "3,64,32" "64,64,32" "64,128,16" "128,128,16" "128,256,8" "256,256,8" "256,512,4" "512,512,4"; do
	set -- $(echo "$c" | tr , ' ')
	set -- $(python3 -c "import sys; c, k, w = int(sys.argv[1]), int(sys.argv[2]), float(sys.argv[4]); print(c if c == 3 else int(c * w), int(k * w), sys.argv[3])" "$1" "$2" "$3" "$width")
	for pass in fwd bwd; do items="$items Conv8Layer/threads=T/c=$1,k=$2,hw=$3/$pass"; done
done
items="$items Conv8Step/threads=T/width=1 Conv8Step/threads=T/width=0.25 ResNet20Step/threads=T"
peer() {
	OMP_NUM_THREADS=$1 /usr/bin/python3 bench/conv_peer.py --threads "$1" --batch "$batch" --reps "$reps" --width "$width" --only "$2" >>"$tmp/peer.jsonl"
}
ours() {
	# The Go benchmark's sub-benchmark pattern: one level per '/'.
	pat=$(echo "Benchmark$2" | sed 's/^/^/; s/\//$\/^/g; s/$/$/')
	LTRANSFER_BENCH_THREADS=$1 LTRANSFER_BENCH_BATCH=$batch LTRANSFER_BENCH_WIDTH=$width GOMAXPROCS=$1 "$tmp/bench.test" -test.run XXX \
		-test.bench "$pat" -test.benchtime "${reps}x" -test.count 1 >>"$tmp/ours.txt"
}
for t in $threads; do
	for it in $items; do
		name=$(echo "$it" | sed "s/threads=T/threads=$t/")
		case "$name" in *"$filter"*) ;; *) continue ;; esac
		peer "$t" "$name"
		ours "$t" "$name"
		ours "$t" "$name"
		peer "$t" "$name"
	done
done
python3 - "$tmp/peer.jsonl" "$tmp/ours.txt" <<'PY'
import json, re, sys
peer, ours, order = {}, {}, []
for line in open(sys.argv[1]):
    d = json.loads(line)
    if d["name"] not in peer:
        order.append(d["name"])
    peer[d["name"]] = min(peer.get(d["name"], 1e30), d["ms"])
for line in open(sys.argv[2]):
    m = re.match(r"Benchmark(\S+?)(-\d+)?\s+\d+\s.*?([\d.]+) ms-min", line)
    if m:
        ours[m.group(1)] = min(ours.get(m.group(1), 1e30), float(m.group(3)))
print("| benchmark | PyTorch ms | ours ms | PyTorch/ours |")
print("| --- | ---: | ---: | ---: |")
for name in order:
    p, o = peer[name], ours.get(name)
    if o is None:
        print("| %s | %.1f | – | – |" % (name, p))
    else:
        print("| %s | %.1f | %.1f | %.2f |" % (name, p, o, p / o))
PY
