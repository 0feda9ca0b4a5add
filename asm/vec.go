package asm

import (
	"fmt"

	"github.com/ltransfer/ltransfer/internal/simd"
)

// The vector routines, checked and dispatched by path. Each panics with an
// "asm:" message, before writing anything, when a length breaks its
// precondition or p is not Supported; the SIMD paths of the reductions (Dot, Sum, SumSqDev,
// DotDev) add in another fixed order than the left-to-right sum, so their
// results agree with the generic path to a tolerance.

// checkPath panics unless this CPU and build can run path p: calling an
// instruction set the CPU lacks would kill the process.
func checkPath(op string, p Path) {
	if !Supported(p) {
		panic(fmt.Sprintf("asm: %s: path %s is not supported on this CPU/build (available: %v)", op, p, Available()))
	}
}

func needLen(op, name string, got, want int) {
	if got < want {
		panic(fmt.Sprintf("asm: %s: len(%s) = %d, want ≥ %d", op, name, got, want))
	}
}

// Axpy computes y[i] += alpha·x[i] for i < len(x); len(y) ≥ len(x).
func Axpy(p Path, alpha float32, x, y []float32) {
	checkPath("Axpy", p)
	needLen("Axpy", "y", len(y), len(x))
	switch p {
	case AVX512:
		simd.AxpyAVX512(alpha, x, y)
	case AVX2:
		simd.AxpyAVX2(alpha, x, y)
	default:
		simd.AxpyGeneric(alpha, x, y)
	}
}

// Scale computes x[i] *= alpha.
func Scale(p Path, alpha float32, x []float32) {
	checkPath("Scale", p)
	switch p {
	case AVX512:
		simd.ScaleAVX512(alpha, x)
	case AVX2:
		simd.ScaleAVX2(alpha, x)
	default:
		simd.ScaleGeneric(alpha, x)
	}
}

// Add computes dst[i] = a[i] + b[i] for i < len(a); len(b), len(dst) ≥ len(a).
func Add(p Path, dst, a, b []float32) {
	checkPath("Add", p)
	needLen("Add", "b", len(b), len(a))
	needLen("Add", "dst", len(dst), len(a))
	switch p {
	case AVX512:
		simd.AddAVX512(dst, a, b)
	case AVX2:
		simd.AddAVX2(dst, a, b)
	default:
		simd.AddGeneric(dst, a, b)
	}
}

// Mul computes dst[i] = a[i]·b[i] for i < len(a); len(b), len(dst) ≥ len(a).
func Mul(p Path, dst, a, b []float32) {
	checkPath("Mul", p)
	needLen("Mul", "b", len(b), len(a))
	needLen("Mul", "dst", len(dst), len(a))
	switch p {
	case AVX512:
		simd.MulAVX512(dst, a, b)
	case AVX2:
		simd.MulAVX2(dst, a, b)
	default:
		simd.MulGeneric(dst, a, b)
	}
}

// ReLU computes dst[i] = x[i] if x[i] > 0, else +0 (NaN gives 0), for
// i < len(x); len(dst) ≥ len(x).
func ReLU(p Path, dst, x []float32) {
	checkPath("ReLU", p)
	needLen("ReLU", "dst", len(dst), len(x))
	switch p {
	case AVX512:
		simd.ReLUAVX512(dst, x)
	case AVX2:
		simd.ReLUAVX2(dst, x)
	default:
		simd.ReLUGeneric(dst, x)
	}
}

// ReLUBackward computes dx[i] = dy[i] if x[i] > 0, else 0, for i < len(x);
// len(dx), len(dy) ≥ len(x).
func ReLUBackward(p Path, dx, dy, x []float32) {
	checkPath("ReLUBackward", p)
	needLen("ReLUBackward", "dx", len(dx), len(x))
	needLen("ReLUBackward", "dy", len(dy), len(x))
	switch p {
	case AVX512:
		simd.ReLUBackwardAVX512(dx, dy, x)
	case AVX2:
		simd.ReLUBackwardAVX2(dx, dy, x)
	default:
		simd.ReLUBackwardGeneric(dx, dy, x)
	}
}

// Dot returns Σ x[i]·y[i] over i < len(x); len(y) ≥ len(x).
func Dot(p Path, x, y []float32) float32 {
	checkPath("Dot", p)
	needLen("Dot", "y", len(y), len(x))
	switch p {
	case AVX512:
		return simd.DotAVX512(x, y)
	case AVX2:
		return simd.DotAVX2(x, y)
	}
	return simd.DotGeneric(x, y)
}

// Sum returns Σ x[i].
func Sum(p Path, x []float32) float32 {
	checkPath("Sum", p)
	switch p {
	case AVX512:
		return simd.SumAVX512(x)
	case AVX2:
		return simd.SumAVX2(x)
	}
	return simd.SumGeneric(x)
}

// Affine computes dst[i] = a·x[i] + b for i < len(x) (fused on the SIMD
// paths); len(dst) ≥ len(x).
func Affine(p Path, a, b float32, dst, x []float32) {
	checkPath("Affine", p)
	needLen("Affine", "dst", len(dst), len(x))
	switch p {
	case AVX512:
		simd.AffineAVX512(a, b, dst, x)
	case AVX2:
		simd.AffineAVX2(a, b, dst, x)
	default:
		simd.AffineGeneric(a, b, dst, x)
	}
}

// BNBackward computes dst[i] = k·dy[i] + (a·x[i] + b) for i < len(dy)
// (fused on the SIMD paths); len(dst), len(x) ≥ len(dy).
func BNBackward(p Path, k, a, b float32, dst, dy, x []float32) {
	checkPath("BNBackward", p)
	needLen("BNBackward", "dst", len(dst), len(dy))
	needLen("BNBackward", "x", len(x), len(dy))
	switch p {
	case AVX512:
		simd.BNBackwardAVX512(k, a, b, dst, dy, x)
	case AVX2:
		simd.BNBackwardAVX2(k, a, b, dst, dy, x)
	default:
		simd.BNBackwardGeneric(k, a, b, dst, dy, x)
	}
}

// SumSqDev returns Σ (x[i] − mu)².
func SumSqDev(p Path, mu float32, x []float32) float32 {
	checkPath("SumSqDev", p)
	switch p {
	case AVX512:
		return simd.SumSqDevAVX512(mu, x)
	case AVX2:
		return simd.SumSqDevAVX2(mu, x)
	}
	return simd.SumSqDevGeneric(mu, x)
}

// DotDev returns Σ g[i]·(x[i] − mu) over i < len(g); len(x) ≥ len(g).
func DotDev(p Path, mu float32, g, x []float32) float32 {
	checkPath("DotDev", p)
	needLen("DotDev", "x", len(x), len(g))
	switch p {
	case AVX512:
		return simd.DotDevAVX512(mu, g, x)
	case AVX2:
		return simd.DotDevAVX2(mu, g, x)
	}
	return simd.DotDevGeneric(mu, g, x)
}
