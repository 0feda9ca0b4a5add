package lap

import (
	"context"
	"errors"
	"math"
	"sync/atomic"
	"testing"
	"time"
)

// cancelAfter is a context whose Err turns to context.Canceled after its
// first `after` calls: it cancels a solve at a known check.
type cancelAfter struct {
	context.Context
	after int32
	calls atomic.Int32
}

func (c *cancelAfter) Err() error {
	if c.calls.Add(1) > c.after {
		return context.Canceled
	}
	return nil
}

func TestCancelledSolveWrapsContextError(t *testing.T) {
	const n = 256
	cost := benchMatrix("uniform", n)
	c32 := make([]float32, len(cost))
	for i, v := range cost {
		c32[i] = float32(v)
	}
	for _, s := range solvers(t) {
		for _, after := range []int32{0, 1} {
			ctx := &cancelAfter{Context: context.Background(), after: after}
			r, err := s.SolveFloat64Context(ctx, n, n, cost, nil)
			if !errors.Is(err, context.Canceled) || r != nil {
				t.Errorf("%v: cancelled after %d checks: result %v, error %v; want errors.Is(err, context.Canceled)", s.Path(), after, r, err)
			}
			ctx = &cancelAfter{Context: context.Background(), after: after}
			if _, err := s.SolveFloat32Context(ctx, n, n, c32, nil); !errors.Is(err, context.Canceled) {
				t.Errorf("%v float32: cancelled after %d checks: error %v", s.Path(), after, err)
			}
		}
		ctx, cancel := context.WithTimeout(context.Background(), time.Nanosecond)
		<-ctx.Done()
		_, err := s.SolveFloat64Context(ctx, n, n, cost, nil)
		cancel()
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("%v: past deadline: error %v", s.Path(), err)
		}
		// The solver is still usable after an abandoned solve.
		if _, err := s.SolveFloat64(n, n, cost, nil); err != nil {
			t.Errorf("%v: solve after a cancelled one: %v", s.Path(), err)
		}
	}
}

func TestInfeasibleIsErrInfeasible(t *testing.T) {
	inf := math.Inf(1)
	// Row 1 has only forbidden pairs; and a square problem whose rows all
	// want column 0 only.
	for _, c := range []struct {
		n, m int
		cost []float64
	}{
		{2, 3, []float64{1, 2, 3, inf, inf, inf}},
		{2, 2, []float64{1, inf, 2, inf}},
	} {
		for _, s := range solvers(t) {
			_, err := s.SolveFloat64(c.n, c.m, c.cost, nil)
			if !errors.Is(err, ErrInfeasible) {
				t.Errorf("%v %d×%d %v: error %v, want ErrInfeasible", s.Path(), c.n, c.m, c.cost, err)
			}
		}
	}
	// Bad input is not "infeasible".
	if _, err := SolveFloat64(2, 2, []float64{1, math.NaN(), 2, 3}, nil); err == nil || errors.Is(err, ErrInfeasible) {
		t.Errorf("NaN cost: error %v, want a non-ErrInfeasible error", err)
	}
}
