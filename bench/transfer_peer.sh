#!/bin/sh
# Side by side: one GMT and one FGMT transfer on the paper's MNIST setting
# (mlp W=4096, linear trajectory T=10 cosine, 1 gradient batch of 128) by
# `ltransfer transfer` and by the PyTorch/scipy peer bench/transfer_peer.py,
# same thread count, same run; prints each one's JSON, wall times, peak RSS
# and the ratio ours/peer (lower is better; the bar is ≤ 0.1).
# Usage: bench/transfer_peer.sh SOURCE_DIR TARGET_DIR [THREADS=2] [METHODS="gmt fgmt"]
# SOURCE_DIR and TARGET_DIR are trajectory folders from `ltransfer train`
# (or `ltransfer demo`'s cache: train-…-s101 and train-…-s102).
# PEER_ARGS=--paper-loop makes the peer re-solve each step's unchanged
# assignment problem as the paper's coordinate descent does (see the peer).
set -eu
src=$1
tgt=$2
threads=${3:-2}
methods=${4:-gmt fgmt}
cd "$(dirname "$0")/.."
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
go build -o "$tmp/ltransfer" ./cmd/ltransfer
data=${LTRANSFER_MNIST:-$(go env GOMODCACHE)/github.com/petar/!go!m!n!i!s!t@v0.0.0-20150320212226-2fbe10d0fa63/data}
last=$(ls "$src"/ckpt-*.safetensors | sort | tail -1)
field() { /usr/bin/python3 -c 'import json,sys; d=json.loads(sys.argv[1]); print(d["timings_s"]["total"] if sys.argv[2]=="total" else d[sys.argv[2]])' "$1" "$2"; }
for m in $methods; do
	ours=$(GOMAXPROCS=$threads /usr/bin/time -f "%M" -o "$tmp/rss" "$tmp/ltransfer" transfer --source "$src" --target-init "$tgt/ckpt-0000.safetensors" \
		--method "$m" --steps 10 --spacing cosine --gm-batches 1 --threads "$threads" --data "$data" --out "$tmp/out-$m" --json 2>/dev/null)
	ours_rss=$(($(cat "$tmp/rss") / 1024))
	peer=$(OMP_NUM_THREADS=$threads /usr/bin/time -f "%M" -o "$tmp/rss" /usr/bin/python3 bench/transfer_peer.py --source-init "$src/ckpt-0000.safetensors" \
		--source-final "$last" --target-init "$tgt/ckpt-0000.safetensors" --data "$data" --method "$m" --threads "$threads" ${PEER_ARGS:-})
	peer_rss=$(($(cat "$tmp/rss") / 1024))
	o=$(field "$ours" total)
	p=$(field "$peer" total)
	echo "$m ours: $ours"
	echo "$m peer: $peer"
	/usr/bin/python3 -c 'import sys; o,p=float(sys.argv[2]),float(sys.argv[3]); print("%s threads=%s: ours %.2f s (best val acc %.4f, peak RSS %s MB), peer %.2f s (best val acc %.4f, peak RSS %s MB), ratio ours/peer %.3f" % (sys.argv[1], sys.argv[4], o, float(sys.argv[5]), sys.argv[6], p, float(sys.argv[7]), sys.argv[8], o/p))' \
		"$m" "$o" "$p" "$threads" "$(field "$ours" best_val_acc)" "$ours_rss" "$(field "$peer" best_val_acc)" "$peer_rss"
done
