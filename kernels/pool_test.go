package kernels

import (
	"sync/atomic"
	"testing"
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
