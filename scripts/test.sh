#!/usr/bin/env bash
# The project's test command (README.md): every package, race detector on,
# every kernel path (the tests iterate the available paths themselves), and
# the pure-Go build of the numerical packages, and the embedding example (its
# own module, as a service that imports ltransfer).
set -euo pipefail
cd "$(dirname "$0")/.."
go test -race -count=1 ./...
go test -count=1 -tags purego ./asm/ ./internal/simd/ ./kernels/ ./lap/
(cd examples/embed && go vet ./... && go test -race -count=1 ./...)
