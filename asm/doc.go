// Package asm holds the generated assembly of ltransfer, its Go declarations,
// a pure-Go twin of every routine and the run-time dispatch that picks one
// code path at start-up.
//
// Every file *_amd64.s here is written by a generator program under gen/
// (run `go generate ./asm/`); never edit one by hand. Each assembly routine
// has a Go twin with the same signature whose doc comment states the
// reference computation and its preconditions; the twin is the oracle the
// tests compare against and the code that runs with -tags purego or on
// other architectures.
//
// The path is chosen once, at start-up: the best one the CPU supports, or the
// one named by the environment variable LTRANSFER_KERNELS (generic, avx2 or
// avx512). Packages above asm never read a mutable flag: they ask for the
// routines of a Path and tests iterate over Available().
package asm
