package simd

import (
	"fmt"
	"testing"
)

// Path names an implementation in the tests here (package asm owns the
// real one and the dispatch; this package has no notion of a path).
type Path uint8

const (
	Generic Path = iota
	AVX2
	AVX512
)

func (p Path) String() string {
	switch p {
	case Generic:
		return "generic"
	case AVX2:
		return "avx2"
	case AVX512:
		return "avx512"
	}
	return fmt.Sprintf("Path(%d)", uint8(p))
}

// runnable reports whether the routines of path p can run here: the CPU
// has its features (cpuid) and this build has its assembly. Package asm's
// TestPathsMatchCPU fails when dispatch offers a different set, so a path
// the CPU has is never silently left untested.
func runnable(t testing.TB, p Path) bool {
	t.Helper()
	if cpuHas(p) {
		return true
	}
	t.Logf("path %s: not on this CPU/build; skipped", p)
	return false
}
