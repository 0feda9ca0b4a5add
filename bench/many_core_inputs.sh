#!/usr/bin/env bash
# Trains the inputs of bench/many_core.sh into DATA (default /work/perfdata),
# one training at a time on THREADS threads (default 1), skipping finished
# ones: the MNIST MLP pair (10 epochs each, about 50 s), and one-epoch CIFAR-10
# trajectories of Conv8 ×0.25, ResNet-20 ×0.5 and ResNet-20 ×1 (the last on
# 10,000 images). A transfer's cost does not depend on how well its networks
# are trained, so one epoch is enough for the timings.
#
#   bash bench/many_core_inputs.sh
#   DATA=DIR CIFAR=/path/cifar10-jpeg.tar THREADS=2 bash bench/many_core_inputs.sh
set -euo pipefail
cd "$(dirname "$0")/.."
DATA=${DATA:-/work/perfdata}
CIFAR=${CIFAR:-../shared/data/cifar10-jpeg.tar}
THREADS=${THREADS:-1}
mkdir -p "$DATA"
LT=${LT:-}
if [ -z "$LT" ]; then
	go build -o "$DATA/ltransfer" ./cmd/ltransfer
	LT="$DATA/ltransfer"
fi
tr() {
	local out=$1
	shift
	if [ -f "$DATA/$out/manifest.json" ] && grep -q '"complete": *true' "$DATA/$out/manifest.json"; then
		return 0
	fi
	echo "== $out" >&2
	"$LT" train --threads "$THREADS" "$@" --no-test --out "$DATA/$out" --resume
}
tr mlp-101 --model mlp --width 4096 --dataset mnist --epochs 10 --seed 101
tr mlp-102 --model mlp --width 4096 --dataset mnist --epochs 10 --seed 102
c=(--dataset cifar10 --data "$CIFAR" --epochs 1)
tr c8/1 --model conv8 --width-factor 0.25 "${c[@]}" --lr 0.05 --seed 201
tr c8/2 --model conv8 --width-factor 0.25 "${c[@]}" --lr 0.05 --seed 202
tr r05/1 --model resnet20 --width-factor 0.5 "${c[@]}" --lr 0.1 --seed 301
tr r05/2 --model resnet20 --width-factor 0.5 "${c[@]}" --lr 0.1 --seed 302
tr r1/1 --model resnet20 --width-factor 1 "${c[@]}" --limit 10000 --lr 0.1 --seed 401
tr r1/2 --model resnet20 --width-factor 1 "${c[@]}" --limit 10000 --lr 0.1 --seed 402
