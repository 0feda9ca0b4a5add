// Package simd holds ltransfer's generated AVX2 and AVX-512 assembly
// (*_amd64.s, written by the programs in gen/ through `go generate ./asm/`),
// its Go declarations (*_amd64_stubs.go), and the pure-Go twin of every
// routine (…Generic), whose doc comment is the reference loop.
//
// Nothing here checks lengths or CPU features: calling a routine with short
// slices writes out of bounds, and calling an ISA the CPU lacks faults.
// Callers (packages asm, kernels and lap) validate first; asm exports the
// checked versions. Without assembly (other GOARCH, -tags purego) the
// AVX2/AVX-512 names forward to the twins so that callers compile, and
// asm.Supported reports those paths unavailable.
package simd
