package kernels

import (
	"slices"
	"testing"

	"github.com/ltransfer/ltransfer/asm"
)

// TestPathsMatchCPU fails when the CPU has a path that asm does not offer:
// the tests here run every path in asm.Available(), so a path dropped by a
// dispatch bug would otherwise go untested without a word.
func TestPathsMatchCPU(t *testing.T) {
	if got, want := asm.Available(), cpuPaths(); !slices.Equal(got, want) {
		t.Fatalf("asm.Available() = %v, cpuid says %v (%s)", got, want, asm.CPUDescription())
	}
}
