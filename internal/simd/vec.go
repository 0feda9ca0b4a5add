package simd

// The pure-Go twins of the vector routines in vec_amd64.s. Each doc comment
// is the reference computation the AVX2 and AVX-512 versions implement; the
// reductions (Dot, Sum) add in another order there, so callers compare them
// with a tolerance.

// AxpyGeneric computes y[i] += alpha·x[i] for i < len(x); len(y) ≥ len(x).
func AxpyGeneric(alpha float32, x, y []float32) {
	y = y[:len(x)]
	for i, v := range x {
		y[i] += alpha * v
	}
}

// ScaleGeneric computes x[i] *= alpha.
func ScaleGeneric(alpha float32, x []float32) {
	for i := range x {
		x[i] *= alpha
	}
}

// AddGeneric computes dst[i] = a[i] + b[i] for i < len(a); len(b), len(dst) ≥ len(a).
func AddGeneric(dst, a, b []float32) {
	dst, b = dst[:len(a)], b[:len(a)]
	for i, v := range a {
		dst[i] = v + b[i]
	}
}

// MulGeneric computes dst[i] = a[i] · b[i] for i < len(a); len(b), len(dst) ≥ len(a).
func MulGeneric(dst, a, b []float32) {
	dst, b = dst[:len(a)], b[:len(a)]
	for i, v := range a {
		dst[i] = v * b[i]
	}
}

// ReLUGeneric computes dst[i] = x[i] if x[i] > 0, else +0 (NaN gives 0), for
// i < len(x); len(dst) ≥ len(x).
func ReLUGeneric(dst, x []float32) {
	dst = dst[:len(x)]
	for i, v := range x {
		if v > 0 {
			dst[i] = v
		} else {
			dst[i] = 0
		}
	}
}

// ReLUBackwardGeneric computes dx[i] = dy[i] if x[i] > 0, else 0, for
// i < len(x); len(dx), len(dy) ≥ len(x).
func ReLUBackwardGeneric(dx, dy, x []float32) {
	dx, dy = dx[:len(x)], dy[:len(x)]
	for i, v := range x {
		if v > 0 {
			dx[i] = dy[i]
		} else {
			dx[i] = 0
		}
	}
}

// DotGeneric returns Σ x[i]·y[i] over i < len(x), summed left to right;
// len(y) ≥ len(x).
func DotGeneric(x, y []float32) float32 {
	y = y[:len(x)]
	var s float32
	for i, v := range x {
		s += v * y[i]
	}
	return s
}

// SumGeneric returns Σ x[i], summed left to right.
func SumGeneric(x []float32) float32 {
	var s float32
	for _, v := range x {
		s += v
	}
	return s
}

// AffineGeneric computes dst[i] = a·x[i] + b for i < len(x); len(dst) ≥ len(x).
// (The SIMD paths fuse the multiply-add: one rounding instead of two.)
func AffineGeneric(a, b float32, dst, x []float32) {
	dst = dst[:len(x)]
	for i, v := range x {
		dst[i] = a*v + b
	}
}

// BNBackwardGeneric computes dst[i] = k·dy[i] + (a·x[i] + b) for
// i < len(dy); len(dst), len(x) ≥ len(dy). (The SIMD paths fuse both
// multiply-adds.)
func BNBackwardGeneric(k, a, b float32, dst, dy, x []float32) {
	dst, x = dst[:len(dy)], x[:len(dy)]
	for i, g := range dy {
		dst[i] = k*g + (a*x[i] + b)
	}
}

// SumSqDevGeneric returns Σ (x[i] − mu)², summed left to right.
func SumSqDevGeneric(mu float32, x []float32) float32 {
	var s float32
	for _, v := range x {
		d := v - mu
		s += d * d
	}
	return s
}

// DotDevGeneric returns Σ g[i]·(x[i] − mu) over i < len(g), summed left to
// right; len(x) ≥ len(g).
func DotDevGeneric(mu float32, g, x []float32) float32 {
	x = x[:len(g)]
	var s float32
	for i, v := range g {
		s += v * (x[i] - mu)
	}
	return s
}
