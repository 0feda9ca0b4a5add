#!/bin/sh
# Side by side: the paper's MNIST MLP (W=4096, SGD lr 0.01 momentum 0.9,
# batch 128, validation every epoch) trained by PyTorch 1.13 and by
# `ltransfer train`, same thread count, same run; prints per-epoch wall
# times and the ratio ours/PyTorch (lower is better; the bar is ≤ 0.8).
# Usage: bench/nn_peer.sh [EPOCHS=1] [THREADS=2] [ROUNDS=1]
# Env: NN_PEER_LOADER=tensors|paper|both (default both);
#      NN_PEER_ROUTES="factored plain" (ours: mlp's default factored products,
#      and --no-factor, which materialises the hidden layer as PyTorch does).
set -eu
cd "$(dirname "$0")/.."
epochs=${1:-1}
threads=${2:-2}
rounds=${3:-1}
loaders=${NN_PEER_LOADER:-both}
[ "$loaders" = both ] && loaders="tensors paper"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
go build -o "$tmp/ltransfer" ./cmd/ltransfer
data=${LTRANSFER_MNIST:-$(go env GOMODCACHE)/github.com/petar/!go!m!n!i!s!t@v0.0.0-20150320212226-2fbe10d0fa63/data}
mean() { python3 -c 'import json,sys; d=json.loads(sys.argv[1]); t=d["epoch_seconds"]; print("%.2f" % (sum(t)/len(t)))' "$1"; }
r=0
while [ "$r" -lt "$rounds" ]; do
	r=$((r + 1))
	os=""
	for route in ${NN_PEER_ROUTES:-factored plain}; do
		rm -rf "$tmp/run"
		flag=""
		[ "$route" = plain ] && flag="--no-factor"
		ours=$(GOMAXPROCS=$threads "$tmp/ltransfer" train --model mlp --width 4096 --dataset mnist --data "$data" $flag \
			--epochs "$epochs" --lr 0.01 --batch 128 --seed 101 --threads "$threads" --out "$tmp/run" --json 2>/dev/null)
		echo "round $r ours($route): $ours"
		os="$os $route=$(mean "$ours")"
	done
	for l in $loaders; do
		peer=$(OMP_NUM_THREADS=$threads /usr/bin/python3 bench/nn_peer.py --data "$data" --epochs "$epochs" --threads "$threads" --loader "$l")
		p=$(mean "$peer")
		echo "round $r pytorch($l): $peer"
		for o in $os; do
			python3 -c "import sys; r,o=sys.argv[1].split('='); o=float(o); p=float(sys.argv[2]); print('round %s threads %s: ours(%s) %.2f s/epoch, pytorch(%s) %.2f s/epoch, ratio ours/pytorch %.3f' % (sys.argv[3], sys.argv[5], r, o, sys.argv[4], p, o/p))" "$o" "$p" "$r" "$l" "$threads"
		done
	done
done
