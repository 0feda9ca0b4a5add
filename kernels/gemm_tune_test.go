package kernels

import (
	"fmt"
	"os"
	"testing"
)

// BenchmarkSgemmTune sweeps the AVX-512 cache blocking (only with
// LTRANSFER_TUNE=1; used to pick the constants in gemm.go).
func BenchmarkSgemmTune(b *testing.B) {
	if os.Getenv("LTRANSFER_TUNE") == "" {
		b.Skip("set LTRANSFER_TUNE=1")
	}
	saved := kernelAVX512
	defer func() { kernelAVX512 = saved }()
	e, _ := New(WithThreads(1))
	for _, s := range []benchShape{{m: 1024, n: 1024, k: 1024}, {m: 128, k: 784, n: 4096}, {transA: true, m: 4096, k: 128, n: 784}} {
		a, lda, bb, ldb, c := s.operands()
		for _, kc := range []int{128, 192, 256, 384} {
			for _, mc := range []int{96, 192, 384} {
				kernelAVX512.kc, kernelAVX512.mc = kc, mc
				b.Run(fmt.Sprintf("kc=%d,mc=%d/%s", kc, mc, s.name()), func(b *testing.B) {
					for b.Loop() {
						e.Sgemm(s.transA, s.transB, s.m, s.n, s.k, 1, a, lda, bb, ldb, 0, c, s.n)
					}
					b.ReportMetric(2*float64(s.m*s.n*s.k)*float64(b.N)/b.Elapsed().Seconds()/1e9, "GFLOP/s")
				})
			}
		}
	}
}
