package kernels

import (
	"fmt"
	"sync/atomic"
	"testing"
	"time"
)

func TestParallelForCoversEachIndexOnce(t *testing.T) {
	for _, threads := range []int{1, 2, 3, 7} {
		e, err := New(WithThreads(threads))
		if err != nil {
			t.Fatal(err)
		}
		for _, n := range []int{0, 1, 2, 3, 5, 16, 101} {
			hits := make([]int32, n)
			var calls atomic.Int32
			e.ParallelFor(n, func(lo, hi int) {
				calls.Add(1)
				for i := lo; i < hi; i++ {
					atomic.AddInt32(&hits[i], 1)
				}
			})
			for i, h := range hits {
				if h != 1 {
					t.Fatalf("threads=%d n=%d: index %d visited %d times", threads, n, i, h)
				}
			}
			if want := min(n, threads); int(calls.Load()) != want {
				t.Fatalf("threads=%d n=%d: %d chunks, want %d", threads, n, calls.Load(), want)
			}
		}
	}
}

func TestParallelForNested(t *testing.T) {
	e, _ := New(WithThreads(4))
	var total atomic.Int64
	e.ParallelFor(8, func(lo, hi int) {
		for i := lo; i < hi; i++ {
			e.ParallelFor(8, func(lo, hi int) { total.Add(int64(hi - lo)) })
		}
	})
	if total.Load() != 64 {
		t.Fatalf("nested ParallelFor counted %d, want 64", total.Load())
	}
}

func TestParallelForPanicReachesCaller(t *testing.T) {
	e, _ := New(WithThreads(3))
	defer func() {
		if v := recover(); v != "chunk 2" {
			t.Fatalf("recovered %v, want the chunk's panic", v)
		}
	}()
	e.ParallelFor(3, func(lo, hi int) {
		if lo == 2 {
			panic("chunk 2")
		}
	})
	t.Fatal("ParallelFor returned after a panicking chunk")
}

// BenchmarkParallelFor times one fork-join of a near-empty body: the fixed
// cost that every parallel phase of Sgemm pays.
func BenchmarkParallelFor(b *testing.B) {
	for _, threads := range []int{1, 2} {
		e, _ := New(WithThreads(threads))
		b.Run(fmt.Sprintf("threads=%d", threads), func(b *testing.B) {
			var sink atomic.Int64
			for b.Loop() {
				e.ParallelFor(threads, func(lo, hi int) { sink.Add(int64(hi - lo)) })
			}
		})
	}
}

// BenchmarkParallelForWork runs chunks of about 50 µs each: ns/op above
// 50 µs is what a fork-join costs when the workers were busy or idle just
// before (as between the phases of a blocked GEMM).
func BenchmarkParallelForWork(b *testing.B) {
	for _, threads := range []int{1, 2} {
		e, _ := New(WithThreads(threads))
		b.Run(fmt.Sprintf("threads=%d", threads), func(b *testing.B) {
			for b.Loop() {
				e.ParallelFor(threads, func(lo, hi int) {
					t0 := time.Now()
					for time.Since(t0) < 50*time.Microsecond {
					}
				})
			}
		})
	}
}
