// Package asm chooses the code path of ltransfer's numerical routines and
// exports the routines that are safe to call from outside: checked,
// dispatching versions of the vector kernels (Axpy, Dot, ReLU, …) and of the
// linear-assignment scans (LapScan, LapMin2, LapExpand, LapCheck). Each
// takes a Path, validates its lengths and the path, and panics with an
// "asm:" message before it writes anything; then it runs the AVX-512, AVX2
// or pure-Go routine.
//
// The raw AVX2 and AVX-512 entry points, their declarations and their
// pure-Go twins live in internal/simd: they check nothing and are not API.
// Package kernels and lap call them behind their own validated APIs. Every
// file *_amd64.s there is written by a generator program under gen/ (run
// `go generate ./asm/`); never edit one by hand. Each assembly routine has
// a Go twin with the same signature whose doc comment states the reference
// computation and its preconditions; the twin is the oracle the tests
// compare against and the code that runs with -tags purego or on other
// architectures.
//
// The path is chosen once, at start-up: the best one the CPU supports, or
// the one named by the environment variable LTRANSFER_KERNELS (generic,
// avx2 or avx512); SelectionError reports a request that could not be
// honoured. Packages above asm never read a mutable flag: they ask for the
// routines of a Path and tests iterate over Available(). All functions here
// may be called from any number of goroutines.
package asm
