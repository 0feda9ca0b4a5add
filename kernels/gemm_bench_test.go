package kernels

import (
	"fmt"
	"math/rand"
	"testing"

	"github.com/ltransfer/ltransfer/asm"
	"gonum.org/v1/gonum/blas"
	"gonum.org/v1/gonum/blas/gonum"
)

// benchShape is one GEMM of the benchmark set: square sizes and the shapes
// ltransfer trains with (batch 128, MNIST 784 inputs, 4096 hidden, 10
// classes, and the weight-gradient products Aᵀ·B).
type benchShape struct {
	transA, transB bool
	m, n, k        int
}

var benchShapes = []benchShape{
	{m: 256, n: 256, k: 256},
	{m: 512, n: 512, k: 512},
	{m: 1024, n: 1024, k: 1024},
	{m: 2048, n: 2048, k: 2048},
	{m: 128, k: 784, n: 4096},
	{m: 128, k: 4096, n: 10},
	{transA: true, m: 4096, k: 128, n: 784},
	{transA: true, m: 784, k: 128, n: 4096},
}

func (s benchShape) name() string {
	t := func(b bool) string {
		if b {
			return "T"
		}
		return "N"
	}
	return fmt.Sprintf("%s%s/m=%d,n=%d,k=%d", t(s.transA), t(s.transB), s.m, s.n, s.k)
}

func (s benchShape) operands() (a []float32, lda int, b []float32, ldb int, c []float32) {
	r := rand.New(rand.NewSource(3))
	rnd := func(n int) []float32 {
		x := make([]float32, n)
		for i := range x {
			x[i] = float32(r.Float64() - 0.5)
		}
		return x
	}
	lda, ldb = s.k, s.n
	if s.transA {
		lda = s.m
	}
	if s.transB {
		ldb = s.k
	}
	return rnd(s.m * s.k), lda, rnd(s.k * s.n), ldb, rnd(s.m * s.n)
}

// BenchmarkSgemm reports GFLOP/s per path, one thread, plus gonum's pure-Go
// Sgemm. Threads: -cpu is ignored; set BENCH threads with the engine below.
func BenchmarkSgemm(b *testing.B) {
	for _, s := range benchShapes {
		a, lda, bb, ldb, c := s.operands()
		flops := 2 * float64(s.m) * float64(s.n) * float64(s.k)
		for _, p := range asm.Available() {
			for _, threads := range []int{1, 2} {
				e, _ := New(WithPath(p), WithThreads(threads))
				b.Run(fmt.Sprintf("impl=%s/threads=%d/%s", p, threads, s.name()), func(b *testing.B) {
					for b.Loop() {
						e.Sgemm(s.transA, s.transB, s.m, s.n, s.k, 1, a, lda, bb, ldb, 0, c, s.n)
					}
					b.ReportMetric(flops*float64(b.N)/b.Elapsed().Seconds()/1e9, "GFLOP/s")
				})
			}
		}
		b.Run("impl=gonum/threads=1/"+s.name(), func(b *testing.B) {
			ta, tb := blas.NoTrans, blas.NoTrans
			if s.transA {
				ta = blas.Trans
			}
			if s.transB {
				tb = blas.Trans
			}
			var impl gonum.Implementation
			for b.Loop() {
				impl.Sgemm(ta, tb, s.m, s.n, s.k, 1, a, lda, bb, ldb, 0, c, s.n)
			}
			b.ReportMetric(flops*float64(b.N)/b.Elapsed().Seconds()/1e9, "GFLOP/s")
		})
	}
}
