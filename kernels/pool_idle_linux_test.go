//go:build linux

package kernels

import (
	"runtime"
	"syscall"
	"testing"
	"time"
)

func rusageCPU(t testing.TB) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		t.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// TestIdleWorkersParkWithoutSpin: after parallel calls on an engine with
// WithSpin(0), the pool's goroutines park, so a process that then sits idle
// uses (next to) no CPU. With the old fixed 20 ms spin, the 50 ms window
// below used about 20 ms of CPU per worker.
func TestIdleWorkersParkWithoutSpin(t *testing.T) {
	if runtime.GOMAXPROCS(0) < 2 {
		t.Skip("needs GOMAXPROCS ≥ 2 for the pool to start workers")
	}
	e, err := New(WithThreads(4), WithSpin(0))
	if err != nil {
		t.Fatal(err)
	}
	sink := make([]float64, 4)
	for range 10 {
		e.ParallelFor(4, func(lo, hi int) {
			for i := lo; i < hi; i++ {
				for k := 0; k < 1000; k++ {
					sink[i] += float64(k)
				}
			}
		})
		time.Sleep(time.Millisecond)
	}
	// The helpers of the last call finish their chunks before ParallelFor
	// returns; give them a moment to reach their park.
	time.Sleep(5 * time.Millisecond)
	before := rusageCPU(t)
	time.Sleep(50 * time.Millisecond)
	used := rusageCPU(t) - before
	t.Logf("CPU used in 50 ms idle after the calls: %v", used)
	// Not a speed bar: 5 ms allows for the runtime's own timers and the
	// test framework; a single spinning worker would use ~50 ms.
	if used > 5*time.Millisecond {
		t.Fatalf("idle process used %v of CPU in 50 ms: pool goroutines still spin with WithSpin(0)", used)
	}
}

// BenchmarkParallelForSpin: short calls a little apart, by spin: wall time
// and process CPU time per call (cpu-ns/op), the price of spinning:
//
//	go test ./kernels/ -run '^$' -bench ParallelForSpin
func BenchmarkParallelForSpin(b *testing.B) {
	for _, spin := range []time.Duration{0, DefaultSpin, ThroughputSpin} {
		for _, gap := range []time.Duration{0, 100 * time.Microsecond, 5 * time.Millisecond} {
			b.Run("spin="+spin.String()+"/gap="+gap.String(), func(b *testing.B) {
				e, err := New(WithThreads(2), WithSpin(spin))
				if err != nil {
					b.Fatal(err)
				}
				sink := make([]float64, 2)
				t0 := rusageCPU(b)
				for b.Loop() {
					e.ParallelFor(2, func(lo, hi int) {
						for i := lo; i < hi; i++ {
							for k := 0; k < 10000; k++ {
								sink[i] += float64(k)
							}
						}
					})
					if gap > 0 {
						time.Sleep(gap)
					}
				}
				b.ReportMetric(float64(rusageCPU(b)-t0)/float64(b.N), "cpu-ns/op")
			})
		}
	}
}
