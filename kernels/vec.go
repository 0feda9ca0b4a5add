package kernels

import "fmt"

func checkLen(op string, want int, ls ...int) {
	for _, l := range ls {
		if l != want {
			panic(fmt.Sprintf("kernels: %s length mismatch %d vs %d", op, l, want))
		}
	}
}

// Axpy computes y += alpha·x.
func (e *Engine) Axpy(alpha float32, x, y []float32) {
	checkLen("Axpy", len(y), len(x))
	for i, v := range x {
		y[i] += alpha * v
	}
}

// Scale computes x *= alpha.
func (e *Engine) Scale(alpha float32, x []float32) {
	for i := range x {
		x[i] *= alpha
	}
}

// Dot returns Σ x[i]·y[i].
func (e *Engine) Dot(x, y []float32) float32 {
	checkLen("Dot", len(y), len(x))
	var s float32
	for i, v := range x {
		s += v * y[i]
	}
	return s
}

// Sum returns Σ x[i].
func (e *Engine) Sum(x []float32) float32 {
	var s float32
	for _, v := range x {
		s += v
	}
	return s
}

// Add computes dst = a + b.
func (e *Engine) Add(dst, a, b []float32) {
	checkLen("Add", len(dst), len(a), len(b))
	for i := range dst {
		dst[i] = a[i] + b[i]
	}
}

// Mul computes dst = a ⊙ b.
func (e *Engine) Mul(dst, a, b []float32) {
	checkLen("Mul", len(dst), len(a), len(b))
	for i := range dst {
		dst[i] = a[i] * b[i]
	}
}

// ReLU computes dst = max(x, 0) (dst may alias x).
func (e *Engine) ReLU(dst, x []float32) {
	checkLen("ReLU", len(dst), len(x))
	for i, v := range x {
		if v > 0 {
			dst[i] = v
		} else {
			dst[i] = 0
		}
	}
}

// ReLUBackward computes dx = dy where x > 0, else 0 (x is the ReLU input
// or output; dx may alias dy).
func (e *Engine) ReLUBackward(dx, dy, x []float32) {
	checkLen("ReLUBackward", len(dx), len(dy), len(x))
	for i, v := range x {
		if v > 0 {
			dx[i] = dy[i]
		} else {
			dx[i] = 0
		}
	}
}
