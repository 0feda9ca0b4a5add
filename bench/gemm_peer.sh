#!/bin/sh
# Side-by-side SGEMM benchmark against OpenBLAS (numpy), 1 and 2 threads.
# Usage: bench/gemm_peer.sh [--threads 1,2] [--rounds 5] [--shapes square|project|all] [--only 1024x1024] [--clock wall|cpu]
set -eu
cd "$(dirname "$0")/.."
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
go build -o "$tmp/ltransfer" ./cmd/ltransfer
exec /usr/bin/python3 bench/gemm_peer.py --bin "$tmp/ltransfer" "$@"
