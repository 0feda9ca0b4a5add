package simd

import (
	"fmt"
	"math"
	"math/rand"
	"testing"
)

// vecImpl is one implementation of the vector routines.
type vecImpl struct {
	path         Path
	axpy         func(alpha float32, x, y []float32)
	scale        func(alpha float32, x []float32)
	add, mul     func(dst, a, b []float32)
	relu         func(dst, x []float32)
	reluBackward func(dx, dy, x []float32)
	dot          func(x, y []float32) float32
	sum          func(x []float32) float32
	affine       func(a, b float32, dst, x []float32)
	bnBackward   func(k, a, b float32, dst, dy, x []float32)
	sumSqDev     func(mu float32, x []float32) float32
	dotDev       func(mu float32, g, x []float32) float32
}

var vecImpls = []vecImpl{
	{Generic, AxpyGeneric, ScaleGeneric, AddGeneric, MulGeneric, ReLUGeneric, ReLUBackwardGeneric, DotGeneric, SumGeneric, AffineGeneric, BNBackwardGeneric, SumSqDevGeneric, DotDevGeneric},
	{AVX2, AxpyAVX2, ScaleAVX2, AddAVX2, MulAVX2, ReLUAVX2, ReLUBackwardAVX2, DotAVX2, SumAVX2, AffineAVX2, BNBackwardAVX2, SumSqDevAVX2, DotDevAVX2},
	{AVX512, AxpyAVX512, ScaleAVX512, AddAVX512, MulAVX512, ReLUAVX512, ReLUBackwardAVX512, DotAVX512, SumAVX512, AffineAVX512, BNBackwardAVX512, SumSqDevAVX512, DotDevAVX512},
}

// testSizes straddle every vector width and unroll factor.
var testSizes = []int{0, 1, 2, 3, 7, 8, 9, 15, 16, 17, 31, 32, 33, 63, 64, 65, 127, 128, 129, 255, 1000, 1023}

const guard = 8 // sentinel elements after each output

func randVec(r *rand.Rand, n int) []float32 {
	x := make([]float32, n, n+guard)
	for i := range x {
		x[i] = float32(r.NormFloat64())
		switch r.Intn(16) {
		case 0:
			x[i] = 0
		case 1:
			x[i] = float32(math.Copysign(0, -1))
		}
	}
	return x
}

// withGuard returns a copy of x followed by sentinel elements, sliced to len(x).
func withGuard(x []float32) []float32 {
	y := make([]float32, len(x)+guard)
	copy(y, x)
	for i := len(x); i < len(y); i++ {
		y[i] = 12345
	}
	return y[:len(x)]
}

func checkGuard(t *testing.T, name string, y []float32) {
	t.Helper()
	g := y[len(y) : len(y)+guard]
	for i, v := range g {
		if v != 12345 {
			t.Fatalf("%s wrote past the end: guard[%d] = %v", name, i, v)
		}
	}
}

func sameBits(a, b []float32) int {
	for i := range a {
		if math.Float32bits(a[i]) != math.Float32bits(b[i]) {
			return i
		}
	}
	return -1
}

func TestVecMatchesTwin(t *testing.T) {
	const seed = 20260127
	t.Logf("seed %d", seed)
	for _, im := range vecImpls {
		if !runnable(t, im.path) {
			continue
		}
		t.Run(im.path.String(), func(t *testing.T) {
			r := rand.New(rand.NewSource(seed))
			for _, n := range testSizes {
				t.Run(fmt.Sprintf("N=%d", n), func(t *testing.T) {
					x, y := randVec(r, n), randVec(r, n)
					if n > 0 {
						x[0] = float32(math.NaN())
					}
					alpha := float32(r.NormFloat64())

					elementwise := func(name string, f, g func(dst []float32)) {
						got, want := withGuard(y), append([]float32(nil), y...)
						f(got)
						g(want)
						checkGuard(t, name, got)
						if i := sameBits(got, want); i >= 0 {
							t.Fatalf("%s[%d] = %v, twin gives %v", name, i, got[i], want[i])
						}
					}
					// Axpy and Scale are single FMA/mul per element: FMA rounds once,
					// the twin twice, so compare them with a tolerance instead.
					{
						got, want := withGuard(y), append([]float32(nil), y...)
						im.axpy(alpha, x, got)
						AxpyGeneric(alpha, x, want)
						checkGuard(t, "axpy", got)
						for i := range got {
							if !close32(got[i], want[i], 1e-6, 1e-6) {
								t.Fatalf("axpy[%d] = %v, twin gives %v", i, got[i], want[i])
							}
						}
					}
					elementwise("scale", func(d []float32) { im.scale(alpha, d) }, func(d []float32) { ScaleGeneric(alpha, d) })
					elementwise("add", func(d []float32) { im.add(d, x, y) }, func(d []float32) { AddGeneric(d, x, y) })
					elementwise("mul", func(d []float32) { im.mul(d, x, y) }, func(d []float32) { MulGeneric(d, x, y) })
					elementwise("relu", func(d []float32) { im.relu(d, x) }, func(d []float32) { ReLUGeneric(d, x) })
					elementwise("relu in place", func(d []float32) { im.relu(d, d) }, func(d []float32) { ReLUGeneric(d, d) })
					elementwise("reluBackward", func(d []float32) { im.reluBackward(d, y, x) }, func(d []float32) { ReLUBackwardGeneric(d, y, x) })

					xs := append([]float32(nil), x[min(n, 1):]...) // no NaN
					ys := y[min(n, 1):]
					var dw, sw, sabs, dabs float64
					for i, v := range xs {
						dw += float64(v) * float64(ys[i])
						dabs += math.Abs(float64(v) * float64(ys[i]))
						sw += float64(v)
						sabs += math.Abs(float64(v))
					}
					if got := im.dot(xs, ys); !closeSum(got, dw, dabs, len(xs)) {
						t.Fatalf("dot = %v, want %v", got, dw)
					}
					if got := im.sum(xs); !closeSum(got, sw, sabs, len(xs)) {
						t.Fatalf("sum = %v, want %v", got, sw)
					}
					// Batch-norm helpers: fused multiply-adds (one rounding)
					// against the twin's two, and sums in another order.
					beta := float32(r.NormFloat64())
					{
						got, want := withGuard(ys), append([]float32(nil), ys...)
						im.affine(alpha, beta, got, xs)
						AffineGeneric(alpha, beta, want, xs)
						checkGuard(t, "affine", got)
						for i := range xs {
							a := float64(alpha)*float64(xs[i]) + float64(beta)
							if !close32(got[i], want[i], 1e-6, 1e-6) || !close32(got[i], float32(a), 1e-6, 1e-6) {
								t.Fatalf("affine[%d] = %v, twin %v, float64 %v", i, got[i], want[i], a)
							}
						}
						k := float32(r.NormFloat64())
						got, want = withGuard(ys), append([]float32(nil), ys...)
						im.bnBackward(k, alpha, beta, got, ys, xs)
						BNBackwardGeneric(k, alpha, beta, want, ys, xs)
						checkGuard(t, "bnBackward", got)
						for i := range ys {
							a := float64(k)*float64(ys[i]) + float64(alpha)*float64(xs[i]) + float64(beta)
							if !close32(got[i], float32(a), 1e-6, 1e-5) {
								t.Fatalf("bnBackward[%d] = %v, twin %v, float64 %v", i, got[i], want[i], a)
							}
						}
						mu := float32(r.NormFloat64())
						var ssw, ssabs, ddw, ddabs float64
						for i, v := range xs {
							d := float64(v - mu)
							ssw += d * d
							ssabs += d * d
							ddw += float64(ys[i]) * d
							ddabs += math.Abs(float64(ys[i]) * d)
						}
						if got := im.sumSqDev(mu, xs); !closeSum(got, ssw, ssabs, 2*len(xs)) {
							t.Fatalf("sumSqDev = %v, want %v", got, ssw)
						}
						if got := im.dotDev(mu, ys, xs); !closeSum(got, ddw, ddabs, 2*len(xs)) {
							t.Fatalf("dotDev = %v, want %v", got, ddw)
						}
					}
					if n > 0 && !math.IsNaN(float64(im.sum(x))) {
						t.Fatalf("sum of a vector holding NaN is not NaN")
					}
				})
			}
		})
	}
}

func close32(a, b float32, rel, abs float64) bool {
	if a != a || b != b {
		return a != a && b != b
	}
	d := math.Abs(float64(a) - float64(b))
	return d <= abs+rel*math.Max(math.Abs(float64(a)), math.Abs(float64(b)))
}

// closeSum accepts the float32 rounding error of an n-term sum in any order.
func closeSum(got float32, want, absSum float64, n int) bool {
	return math.Abs(float64(got)-want) <= 2*float64(n+1)*0x1p-24*absSum+1e-30
}
