package asm

import (
	"strings"

	"github.com/klauspost/cpuid/v2"
)

// CPUDescription is a one-line description of the CPU and the SIMD features
// that matter to ltransfer, for self-tests and reports.
func CPUDescription() string {
	var f []string
	for _, x := range []struct {
		id   cpuid.FeatureID
		name string
	}{{cpuid.AVX2, "avx2"}, {cpuid.FMA3, "fma"}, {cpuid.AVX512F, "avx512f"}, {cpuid.AVX512BW, "avx512bw"},
		{cpuid.AVX512DQ, "avx512dq"}, {cpuid.AVX512VL, "avx512vl"}, {cpuid.AVX512BF16, "avx512bf16"}, {cpuid.AVX512VNNI, "avx512vnni"}} {
		if cpuid.CPU.Supports(x.id) {
			f = append(f, x.name)
		}
	}
	return cpuid.CPU.BrandName + " [" + strings.Join(f, " ") + "]"
}
