package asm

import (
	"fmt"
	"math"
	"math/rand"
	"strings"
	"testing"
)

// vecOps runs every checked vector routine of path p on x, y (read only)
// and writes into d; scalar results are stored after the vector ones.
var vecOps = []struct {
	name string
	run  func(p Path, d, x, y []float32) float32
}{
	{"Axpy", func(p Path, d, x, _ []float32) float32 { Axpy(p, 0.75, x, d); return 0 }},
	{"Scale", func(p Path, d, _, _ []float32) float32 { Scale(p, -1.5, d); return 0 }},
	{"Add", func(p Path, d, x, y []float32) float32 { Add(p, d, x, y); return 0 }},
	{"Mul", func(p Path, d, x, y []float32) float32 { Mul(p, d, x, y); return 0 }},
	{"ReLU", func(p Path, d, x, _ []float32) float32 { ReLU(p, d, x); return 0 }},
	{"ReLUBackward", func(p Path, d, x, y []float32) float32 { ReLUBackward(p, d, y, x); return 0 }},
	{"Affine", func(p Path, d, x, _ []float32) float32 { Affine(p, 1.25, -0.5, d, x); return 0 }},
	{"BNBackward", func(p Path, d, x, y []float32) float32 { BNBackward(p, 0.5, 1.25, -0.5, d, y, x); return 0 }},
	{"Dot", func(p Path, _, x, y []float32) float32 { return Dot(p, x, y) }},
	{"Sum", func(p Path, _, x, _ []float32) float32 { return Sum(p, x) }},
	{"SumSqDev", func(p Path, _, x, _ []float32) float32 { return SumSqDev(p, 0.25, x) }},
	{"DotDev", func(p Path, _, x, y []float32) float32 { return DotDev(p, 0.25, x, y) }},
}

// TestVecDispatchAllPaths: every path of every checked routine against the
// generic path. Elementwise routines match to one rounding (the SIMD paths
// fuse multiply-adds); reductions to the rounding of a sum of n terms.
func TestVecDispatchAllPaths(t *testing.T) {
	const seed = 31
	t.Logf("seed %d", seed)
	r := rand.New(rand.NewSource(seed))
	for _, p := range testPaths(t) {
		for _, n := range []int{0, 1, 7, 8, 9, 15, 16, 17, 31, 32, 33, 63, 64, 65, 100, 1000} {
			x, y, d0 := make([]float32, n), make([]float32, n), make([]float32, n)
			for i := range x {
				x[i], y[i], d0[i] = float32(r.NormFloat64()), float32(r.NormFloat64()), float32(r.NormFloat64())
			}
			for _, op := range vecOps {
				got, want := append([]float32(nil), d0...), append([]float32(nil), d0...)
				g := op.run(p, got, x, y)
				w := op.run(Generic, want, x, y)
				for i := range got {
					if d := math.Abs(float64(got[i] - want[i])); d > 4*0x1p-24*(math.Abs(float64(want[i]))+2) {
						t.Fatalf("%s path %s n=%d: [%d] = %g, generic %g", op.name, p, n, i, got[i], want[i])
					}
				}
				if d := math.Abs(float64(g - w)); d > float64(n+4)*0x1p-22*(math.Abs(float64(w))+float64(n)) {
					t.Fatalf("%s path %s n=%d: %g, generic %g", op.name, p, n, g, w)
				}
			}
		}
	}
}

// TestVecDispatchBadLengthsPanicBeforeWriting: a short output or operand
// panics with an "asm:" message and leaves every output untouched.
func TestVecDispatchBadLengthsPanicBeforeWriting(t *testing.T) {
	const sentinel = float32(-777)
	type call struct {
		name string
		run  func(p Path, out []float32)
	}
	long := make([]float32, 40)
	for i := range long {
		long[i] = float32(i%5) - 2
	}
	short := long[:39]
	calls := []call{
		{"Axpy short y", func(p Path, out []float32) { Axpy(p, 1, long, out[:39]) }},
		{"Add short dst", func(p Path, out []float32) { Add(p, out[:39], long, long) }},
		{"Add short b", func(p Path, out []float32) { Add(p, out, long, short) }},
		{"Mul short dst", func(p Path, out []float32) { Mul(p, out[:1], long, long) }},
		{"Mul short b", func(p Path, out []float32) { Mul(p, out, long, short) }},
		{"ReLU short dst", func(p Path, out []float32) { ReLU(p, out[:39], long) }},
		{"ReLUBackward short dx", func(p Path, out []float32) { ReLUBackward(p, out[:39], long, long) }},
		{"ReLUBackward short dy", func(p Path, out []float32) { ReLUBackward(p, out, short, long) }},
		{"Affine short dst", func(p Path, out []float32) { Affine(p, 1, 2, out[:39], long) }},
		{"BNBackward short dst", func(p Path, out []float32) { BNBackward(p, 1, 2, 3, out[:39], long, long) }},
		{"BNBackward short x", func(p Path, out []float32) { BNBackward(p, 1, 2, 3, out, long, short) }},
		{"Dot short y", func(p Path, out []float32) { out[0] = Dot(p, long, short) }},
		{"DotDev short x", func(p Path, out []float32) { out[0] = DotDev(p, 0, long, short) }},
	}
	for _, p := range testPaths(t) {
		for _, c := range calls {
			t.Run(fmt.Sprintf("%s/%s", p, c.name), func(t *testing.T) {
				// The output lies inside a larger buffer: an overrun would
				// hit the sentinels after it as well.
				buf := make([]float32, 40+64)
				for i := range buf {
					buf[i] = sentinel
				}
				defer func() {
					v := recover()
					if s, ok := v.(string); !ok || !strings.HasPrefix(s, "asm: ") {
						t.Fatalf("recovered %v, want a panic with an \"asm: \" message", v)
					}
					for i, b := range buf {
						if b != sentinel {
							t.Fatalf("buf[%d] = %g written before the panic", i, b)
						}
					}
				}()
				c.run(p, buf[:40])
			})
		}
	}
}

// An unsupported path panics instead of running instructions the CPU
// lacks.
func TestVecDispatchUnsupportedPathPanics(t *testing.T) {
	var missing []Path
	for _, p := range allPaths {
		if !Supported(p) {
			missing = append(missing, p)
		}
	}
	missing = append(missing, Path(99))
	for _, p := range missing {
		func() {
			defer func() {
				if s, _ := recover().(string); !strings.HasPrefix(s, "asm: ") {
					t.Errorf("path %s: recovered %q, want an asm: panic", p, s)
				}
			}()
			Axpy(p, 1, []float32{1}, []float32{2})
		}()
	}
}
