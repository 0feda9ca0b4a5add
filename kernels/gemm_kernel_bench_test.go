package kernels

import (
	"fmt"
	"testing"

	"github.com/ltransfer/ltransfer/asm"
)

// BenchmarkSgemmMicroKernel measures a micro-kernel alone on panels that sit
// in L1/L2: the ceiling the blocked Sgemm can reach on this core.
func BenchmarkSgemmMicroKernel(b *testing.B) {
	for _, p := range asm.Available() {
		kn := kernelFor(p)
		for _, kc := range []int{128, 256, 384} {
			a := make([]float32, kc*kn.mr)
			bb := make([]float32, kc*kn.nr)
			c := make([]float32, kn.mr*kn.nr)
			b.Run(fmt.Sprintf("impl=%s/kc=%d", p, kc), func(b *testing.B) {
				for b.Loop() {
					kn.fn(kc, 1, a, bb, 1, c, kn.nr, kn.mr, kn.nr)
				}
				b.ReportMetric(2*float64(kc*kn.mr*kn.nr)*float64(b.N)/b.Elapsed().Seconds()/1e9, "GFLOP/s")
			})
		}
	}
}

// BenchmarkPackA measures the transposing pack of a 12-row A panel.
func BenchmarkPackA(b *testing.B) {
	const lda, kc = 1024, 256
	a := make([]float32, kc*lda)
	dst := make([]float32, 12*kc)
	for _, c := range [][2]bool{{false, false}, {true, false}, {false, true}} {
		trans, t16 := c[0], c[1]
		b.Run(fmt.Sprintf("trans=%v/t16=%v", trans, t16), func(b *testing.B) {
			for b.Loop() {
				packA(dst, 12, trans, a, lda, 0, 12, 0, kc, t16)
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/(12*kc), "ns/elem")
		})
	}
}

// BenchmarkPackB measures packing a 32-column B panel.
func BenchmarkPackB(b *testing.B) {
	const ldb, kc = 1024, 256
	src := make([]float32, kc*ldb)
	dst := make([]float32, 32*kc)
	for _, c := range [][2]bool{{false, false}, {true, false}, {true, true}} {
		trans, t16 := c[0], c[1]
		b.Run(fmt.Sprintf("trans=%v/t16=%v", trans, t16), func(b *testing.B) {
			for b.Loop() {
				packB(dst, 32, trans, src, ldb, 0, kc, 0, 32, t16)
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/(32*kc), "ns/elem")
		})
	}
}
