//go:build amd64 && !purego

package simd

import "github.com/klauspost/cpuid/v2"

// cpuHas asks cpuid directly, not through Supported, whether this CPU has
// the features of path p: the tests compare the two so that a dispatch bug
// that drops a path fails instead of skipping every test of that path.
func cpuHas(p Path) bool {
	avx2 := cpuid.CPU.Supports(cpuid.AVX, cpuid.AVX2, cpuid.FMA3)
	switch p {
	case Generic:
		return true
	case AVX2:
		return avx2
	case AVX512:
		return avx2 && cpuid.CPU.Supports(cpuid.AVX512F, cpuid.AVX512BW, cpuid.AVX512DQ, cpuid.AVX512VL)
	}
	return false
}
