//go:build linux

package kernels

import (
	"fmt"
	"runtime"
	"testing"
	"time"

	"github.com/ltransfer/ltransfer/asm"
	"golang.org/x/sys/unix"
	"gonum.org/v1/gonum/blas"
	"gonum.org/v1/gonum/blas/gonum"
)

func processCPU() time.Duration {
	var ts unix.Timespec
	_ = unix.ClockGettime(unix.CLOCK_PROCESS_CPUTIME_ID, &ts)
	return time.Duration(ts.Nano())
}

// BenchmarkSgemmTune sweeps the AVX-512 cache blocking on one thread; it was
// used to pick the constants in gemm.go:
//
//	go test ./kernels/ -run '^$' -bench SgemmTune
func BenchmarkSgemmTune(b *testing.B) {
	if !asm.Supported(asm.AVX512) {
		b.Skip("no AVX-512 kernel on this CPU/build")
	}
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	saved := kernelAVX512
	defer func() { kernelAVX512 = saved }()
	e, err := New(WithPath(asm.AVX512), WithThreads(1))
	if err != nil {
		b.Fatal(err)
	}
	shapes := []benchShape{{m: 1024, n: 1024, k: 1024}, {m: 128, k: 784, n: 4096}, {transA: true, m: 4096, k: 128, n: 784}, {transA: true, m: 784, k: 128, n: 4096}}
	for _, s := range shapes {
		a, lda, bb, ldb, c := s.operands()
		for _, kc := range []int{128, 192, 256, 320, 384} {
			for _, mc := range []int{96, 192, 288} {
				b.Run(fmt.Sprintf("%s/kc=%d/mc=%d", s.name(), kc, mc), func(b *testing.B) {
					kernelAVX512.kc, kernelAVX512.mc = kc, mc
					defer func() { kernelAVX512 = saved }()
					for b.Loop() {
						e.Sgemm(s.transA, s.transB, s.m, s.n, s.k, 1, a, lda, bb, ldb, 0, c, s.n)
					}
					b.ReportMetric(2*float64(s.m*s.n*s.k)*float64(b.N)/b.Elapsed().Seconds()/1e9, "GFLOP/s")
				})
			}
		}
	}
}

// BenchmarkSgemmVsGonum compares one-thread Sgemm on every path with
// gonum's pure-Go Sgemm. gonum starts goroutines, so this runs with
// GOMAXPROCS=1 (one core for all):
//
//	go test ./kernels/ -run '^$' -bench SgemmVsGonum
func BenchmarkSgemmVsGonum(b *testing.B) {
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(1))
	for _, s := range []benchShape{{m: 512, n: 512, k: 512}, {m: 1024, n: 1024, k: 1024}} {
		a, lda, bb, ldb, c := s.operands()
		flops := 2 * float64(s.m*s.n*s.k)
		b.Run(s.name()+"/impl=gonum", func(b *testing.B) {
			var impl gonum.Implementation
			for b.Loop() {
				impl.Sgemm(blas.NoTrans, blas.NoTrans, s.m, s.n, s.k, 1, a, lda, bb, ldb, 0, c, s.n)
			}
			b.ReportMetric(flops*float64(b.N)/b.Elapsed().Seconds()/1e9, "GFLOP/s")
		})
		for _, p := range asm.Available() {
			b.Run(s.name()+"/impl="+p.String(), func(b *testing.B) {
				e, err := New(WithPath(p), WithThreads(1))
				if err != nil {
					b.Fatal(err)
				}
				for b.Loop() {
					e.Sgemm(false, false, s.m, s.n, s.k, 1, a, lda, bb, ldb, 0, c, s.n)
				}
				b.ReportMetric(flops*float64(b.N)/b.Elapsed().Seconds()/1e9, "GFLOP/s")
			})
		}
	}
}

// BenchmarkSgemmParallelWork reports the process CPU time per product
// (cpu-ns/op) on 1 and 2 threads: the work the second thread adds
// (fork-joins, cache misses, load imbalance and the time waiting goroutines
// spin, see pool.go):
//
//	go test ./kernels/ -run '^$' -bench SgemmParallelWork
func BenchmarkSgemmParallelWork(b *testing.B) {
	for _, s := range benchShapes {
		a, lda, bb, ldb, c := s.operands()
		for _, threads := range []int{1, 2} {
			b.Run(fmt.Sprintf("%s/threads=%d", s.name(), threads), func(b *testing.B) {
				e, err := New(WithThreads(threads), WithSpin(ThroughputSpin))
				if err != nil {
					b.Fatal(err)
				}
				t0 := processCPU()
				for b.Loop() {
					e.Sgemm(s.transA, s.transB, s.m, s.n, s.k, 1, a, lda, bb, ldb, 0, c, s.n)
				}
				b.ReportMetric(float64(processCPU()-t0)/float64(b.N), "cpu-ns/op")
			})
		}
	}
}
