package kernels

import (
	"fmt"

	"github.com/ltransfer/ltransfer/asm"
	"github.com/ltransfer/ltransfer/internal/simd"
)

// The elementwise kernels run on the engine's path on the calling goroutine
// (they are memory-bound; callers parallelise over rows or samples). Each
// checks its lengths and panics with a "kernels:" message before writing.

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
	switch e.path {
	case asm.AVX512:
		simd.AxpyAVX512(alpha, x, y)
	case asm.AVX2:
		simd.AxpyAVX2(alpha, x, y)
	default:
		simd.AxpyGeneric(alpha, x, y)
	}
}

// Scale computes x *= alpha.
func (e *Engine) Scale(alpha float32, x []float32) {
	switch e.path {
	case asm.AVX512:
		simd.ScaleAVX512(alpha, x)
	case asm.AVX2:
		simd.ScaleAVX2(alpha, x)
	default:
		simd.ScaleGeneric(alpha, x)
	}
}

// Dot returns Σ x[i]·y[i]. The SIMD paths add in a fixed order of their own,
// so results agree with the generic path to rounding, and are reproducible.
func (e *Engine) Dot(x, y []float32) float32 {
	checkLen("Dot", len(y), len(x))
	switch e.path {
	case asm.AVX512:
		return simd.DotAVX512(x, y)
	case asm.AVX2:
		return simd.DotAVX2(x, y)
	}
	return simd.DotGeneric(x, y)
}

// Sum returns Σ x[i] (fixed summation order per path, as Dot).
func (e *Engine) Sum(x []float32) float32 {
	switch e.path {
	case asm.AVX512:
		return simd.SumAVX512(x)
	case asm.AVX2:
		return simd.SumAVX2(x)
	}
	return simd.SumGeneric(x)
}

// Add computes dst = a + b (dst may alias a or b).
func (e *Engine) Add(dst, a, b []float32) {
	checkLen("Add", len(dst), len(a), len(b))
	switch e.path {
	case asm.AVX512:
		simd.AddAVX512(dst, a, b)
	case asm.AVX2:
		simd.AddAVX2(dst, a, b)
	default:
		simd.AddGeneric(dst, a, b)
	}
}

// Mul computes dst = a ⊙ b (dst may alias a or b).
func (e *Engine) Mul(dst, a, b []float32) {
	checkLen("Mul", len(dst), len(a), len(b))
	switch e.path {
	case asm.AVX512:
		simd.MulAVX512(dst, a, b)
	case asm.AVX2:
		simd.MulAVX2(dst, a, b)
	default:
		simd.MulGeneric(dst, a, b)
	}
}

// ReLU computes dst = max(x, 0), with NaN giving 0 (dst may alias x).
func (e *Engine) ReLU(dst, x []float32) {
	checkLen("ReLU", len(dst), len(x))
	switch e.path {
	case asm.AVX512:
		simd.ReLUAVX512(dst, x)
	case asm.AVX2:
		simd.ReLUAVX2(dst, x)
	default:
		simd.ReLUGeneric(dst, x)
	}
}

// ReLUBackward computes dx = dy where x > 0, else 0 (x is the ReLU input
// or output; dx may alias dy).
func (e *Engine) ReLUBackward(dx, dy, x []float32) {
	checkLen("ReLUBackward", len(dx), len(dy), len(x))
	switch e.path {
	case asm.AVX512:
		simd.ReLUBackwardAVX512(dx, dy, x)
	case asm.AVX2:
		simd.ReLUBackwardAVX2(dx, dy, x)
	default:
		simd.ReLUBackwardGeneric(dx, dy, x)
	}
}

// AddBias adds bias to every row of the rows×len(bias) row-major matrix x
// (the bias step of a dense layer): x[r·len(bias)+j] += bias[j].
func (e *Engine) AddBias(x, bias []float32) {
	n := len(bias)
	if n == 0 {
		if len(x) != 0 {
			panic(fmt.Sprintf("kernels: AddBias empty bias for %d elements", len(x)))
		}
		return
	}
	if len(x)%n != 0 {
		panic(fmt.Sprintf("kernels: AddBias length %d is not a multiple of the bias length %d", len(x), n))
	}
	for r := 0; r < len(x); r += n {
		e.Add(x[r:r+n], x[r:r+n], bias)
	}
}
