//go:build amd64 && !purego

package lap

import (
	"github.com/klauspost/cpuid/v2"
	"github.com/ltransfer/ltransfer/asm"
)

// cpuPaths asks cpuid directly, not asm, which paths this CPU can run.
func cpuPaths() []asm.Path {
	ps := []asm.Path{asm.Generic}
	if cpuid.CPU.Supports(cpuid.AVX, cpuid.AVX2, cpuid.FMA3) {
		ps = append(ps, asm.AVX2)
		if cpuid.CPU.Supports(cpuid.AVX512F, cpuid.AVX512BW, cpuid.AVX512DQ, cpuid.AVX512VL) {
			ps = append(ps, asm.AVX512)
		}
	}
	return ps
}
