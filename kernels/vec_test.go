package kernels

import (
	"math"
	"math/rand"
	"testing"

	"github.com/ltransfer/ltransfer/asm"
)

// TestVecEveryPath checks the Engine's vector methods on every path against
// the generic engine (the asm tests cover the routines themselves).
func TestVecEveryPath(t *testing.T) {
	const seed = 11
	t.Logf("seed %d", seed)
	ref, _ := New(WithPath(asm.Generic))
	for _, e := range enginesUnderTest(t, 1) {
		r := rand.New(rand.NewSource(seed))
		for _, n := range []int{0, 1, 15, 16, 17, 100, 1023} {
			x, y := make([]float32, n), make([]float32, n)
			for i := range x {
				x[i], y[i] = float32(r.NormFloat64()), float32(r.NormFloat64())
			}
			check := func(name string, f func(e *Engine, d []float32)) {
				got, want := append([]float32(nil), y...), append([]float32(nil), y...)
				f(e, got)
				f(ref, want)
				for i := range got {
					if math.Abs(float64(got[i]-want[i])) > 1e-6*(1+math.Abs(float64(want[i]))) {
						t.Fatalf("path %s %s n=%d: [%d] = %v, generic %v", e.Path(), name, n, i, got[i], want[i])
					}
				}
			}
			check("Axpy", func(e *Engine, d []float32) { e.Axpy(0.5, x, d) })
			check("Scale", func(e *Engine, d []float32) { e.Scale(-2, d) })
			check("Add", func(e *Engine, d []float32) { e.Add(d, x, d) })
			check("Mul", func(e *Engine, d []float32) { e.Mul(d, d, x) })
			check("ReLU", func(e *Engine, d []float32) { e.ReLU(d, x) })
			check("ReLUBackward", func(e *Engine, d []float32) { e.ReLUBackward(d, d, x) })
			if n%4 == 0 && n > 0 {
				check("AddBias", func(e *Engine, d []float32) { e.AddBias(d, x[:4]) })
			}
			var sa, da float64
			for i := range x {
				sa += math.Abs(float64(x[i]))
				da += math.Abs(float64(x[i] * y[i]))
			}
			if d := math.Abs(float64(e.Sum(x) - ref.Sum(x))); d > 1e-6*sa+1e-30 {
				t.Fatalf("path %s Sum n=%d: %v, generic %v", e.Path(), n, e.Sum(x), ref.Sum(x))
			}
			if d := math.Abs(float64(e.Dot(x, y) - ref.Dot(x, y))); d > 1e-6*da+1e-30 {
				t.Fatalf("path %s Dot n=%d: %v, generic %v", e.Path(), n, e.Dot(x, y), ref.Dot(x, y))
			}
		}
		for name, f := range map[string]func(){
			"Axpy":    func() { e.Axpy(1, make([]float32, 3), make([]float32, 4)) },
			"Add":     func() { e.Add(make([]float32, 4), make([]float32, 4), make([]float32, 3)) },
			"AddBias": func() { e.AddBias(make([]float32, 5), make([]float32, 2)) },
		} {
			func() {
				defer func() {
					if recover() == nil {
						t.Fatalf("path %s %s: no panic on mismatched lengths", e.Path(), name)
					}
				}()
				f()
			}()
		}
	}
}
