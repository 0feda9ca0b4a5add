//go:build linux

package kernels

import (
	"os"
	"runtime"
	"sort"
	"testing"
	"time"

	"github.com/ltransfer/ltransfer/asm"
	"golang.org/x/sys/unix"
	"gonum.org/v1/gonum/blas"
	"gonum.org/v1/gonum/blas/gonum"
)

func threadCPU() time.Duration {
	var ts unix.Timespec
	_ = unix.ClockGettime(unix.CLOCK_THREAD_CPUTIME_ID, &ts)
	return time.Duration(ts.Nano())
}

// TestSgemmTune sweeps the AVX-512 cache blocking on one thread, timed by
// the thread's CPU time (robust to other processes on the machine). It runs
// only with LTRANSFER_TUNE=1 and was used to pick the constants in gemm.go:
//
//	LTRANSFER_TUNE=1 go test ./kernels/ -run SgemmTune -v
func TestSgemmTune(t *testing.T) {
	if os.Getenv("LTRANSFER_TUNE") == "" {
		t.Skip("set LTRANSFER_TUNE=1")
	}
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	saved := kernelAVX512
	defer func() { kernelAVX512 = saved }()
	e, _ := New(WithThreads(1))
	shapes := []benchShape{{m: 1024, n: 1024, k: 1024}, {m: 128, k: 784, n: 4096}, {transA: true, m: 4096, k: 128, n: 784}, {transA: true, m: 784, k: 128, n: 4096}}
	kcs, mcs := []int{128, 192, 256, 320, 384}, []int{96, 192, 288}
	if os.Getenv("LTRANSFER_TUNE") == "small" {
		shapes, kcs, mcs = shapes[1:2], []int{256, 300, 400, 784}, []int{264}
	}
	for _, s := range shapes {
		a, lda, bb, ldb, c := s.operands()
		for _, kc := range kcs {
			for _, mc := range mcs {
				kernelAVX512.kc, kernelAVX512.mc = kc, mc
				var ts []float64
				for r := 0; r < 7; r++ {
					t0 := threadCPU()
					e.Sgemm(s.transA, s.transB, s.m, s.n, s.k, 1, a, lda, bb, ldb, 0, c, s.n)
					ts = append(ts, (threadCPU() - t0).Seconds())
				}
				sort.Float64s(ts)
				t.Logf("%s kc=%d mc=%d: %.1f GFLOP/s", s.name(), kc, mc, 2*float64(s.m*s.n*s.k)/ts[len(ts)/2]/1e9)
			}
		}
	}
}

// TestSgemmVsGonum compares one-thread Sgemm on every path with gonum's
// pure-Go Sgemm, by thread CPU time (LTRANSFER_TUNE=1 only):
//
//	LTRANSFER_TUNE=1 go test ./kernels/ -run SgemmVsGonum -v
func TestSgemmVsGonum(t *testing.T) {
	if os.Getenv("LTRANSFER_TUNE") == "" {
		t.Skip("set LTRANSFER_TUNE=1")
	}
	// gonum's Sgemm runs goroutines: one core for all, timed by the
	// process's CPU time.
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(1))
	procCPU := func() time.Duration {
		var ts unix.Timespec
		_ = unix.ClockGettime(unix.CLOCK_PROCESS_CPUTIME_ID, &ts)
		return time.Duration(ts.Nano())
	}
	for _, s := range []benchShape{{m: 512, n: 512, k: 512}, {m: 1024, n: 1024, k: 1024}} {
		a, lda, bb, ldb, c := s.operands()
		flops := 2 * float64(s.m*s.n*s.k)
		timeIt := func(f func()) float64 {
			var ts []float64
			for r := 0; r < 3; r++ {
				t0 := procCPU()
				f()
				ts = append(ts, (procCPU() - t0).Seconds())
			}
			sort.Float64s(ts)
			return flops / ts[1] / 1e9
		}
		var impl gonum.Implementation
		g := timeIt(func() { impl.Sgemm(blas.NoTrans, blas.NoTrans, s.m, s.n, s.k, 1, a, lda, bb, ldb, 0, c, s.n) })
		t.Logf("%s gonum: %.1f GFLOP/s", s.name(), g)
		for _, p := range asm.Available() {
			e, _ := New(WithPath(p), WithThreads(1))
			o := timeIt(func() { e.Sgemm(false, false, s.m, s.n, s.k, 1, a, lda, bb, ldb, 0, c, s.n) })
			t.Logf("%s %s: %.1f GFLOP/s = %.1f× gonum", s.name(), p, o, o/g)
		}
	}
}

// TestSgemmParallelWork compares the process CPU time of Sgemm on 1 and 2
// threads (LTRANSFER_TUNE=1 only): the work the second thread adds
// (fork-joins, cache misses, and the time a thread spins waiting for the
// other at the end of a phase: idle workers and callers spin for up to 2 ms
// before they block, see pool.go, so this also counts load imbalance).
func TestSgemmParallelWork(t *testing.T) {
	if os.Getenv("LTRANSFER_TUNE") == "" {
		t.Skip("set LTRANSFER_TUNE=1")
	}
	procCPU := func() time.Duration {
		var ts unix.Timespec
		_ = unix.ClockGettime(unix.CLOCK_PROCESS_CPUTIME_ID, &ts)
		return time.Duration(ts.Nano())
	}
	for _, s := range benchShapes {
		a, lda, bb, ldb, c := s.operands()
		cpu := map[int]float64{}
		for _, threads := range []int{1, 2} {
			e, _ := New(WithThreads(threads))
			var ts []float64
			for r := 0; r < 5; r++ {
				t0 := procCPU()
				e.Sgemm(s.transA, s.transB, s.m, s.n, s.k, 1, a, lda, bb, ldb, 0, c, s.n)
				ts = append(ts, (procCPU() - t0).Seconds())
			}
			sort.Float64s(ts)
			cpu[threads] = ts[2]
		}
		t.Logf("%s: CPU time 2 threads / 1 thread = %.3f", s.name(), cpu[2]/cpu[1])
	}
}
