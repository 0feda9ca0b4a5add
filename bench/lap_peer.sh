#!/bin/sh
# Side-by-side LAP benchmark against scipy (see lap_peer.py), one thread each.
# Usage: bench/lap_peer.sh [lap_peer.py flags, e.g. --sizes 1024,4096 --reps 3]
set -e
cd "$(dirname "$0")/.."
bin=$(mktemp -d)/ltransfer
trap 'rm -rf "$(dirname "$bin")"' EXIT
go build -o "$bin" ./cmd/ltransfer
export GOMAXPROCS=1 OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 MKL_NUM_THREADS=1
/usr/bin/python3 bench/lap_peer.py "$bin" "$@"
