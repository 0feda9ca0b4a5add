package asm

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/ltransfer/ltransfer/internal/simd"
)

var lapSizes = []int{0, 16, 32, 48, 64, 80, 128, 256, 1008, 1024}

// lapInputs builds a row of costs, duals and distances full of ties (small
// integers), with scanned (NaN) and unreached (+Inf) distances, free and
// assigned columns, and a sentinel tail past n that must not change.
func lapInputs(r *rand.Rand, n int) (c, v, d []float64, y, pred []int) {
	const tail = 16
	c, v, d = make([]float64, n+tail), make([]float64, n+tail), make([]float64, n+tail)
	y, pred = make([]int, n+tail), make([]int, n+tail)
	for j := range c {
		c[j] = float64(r.IntN(8))
		if r.IntN(3) == 0 {
			c[j] += r.Float64()
		}
		v[j] = float64(r.IntN(4) - 2)
		switch r.IntN(5) {
		case 0:
			d[j] = math.NaN()
		case 1:
			d[j] = math.Inf(1)
		default:
			d[j] = float64(r.IntN(10) - 3)
		}
		if r.IntN(20) == 0 {
			c[j] = math.Inf(1)
		}
		y[j] = r.IntN(4) - 1
		pred[j] = -7
	}
	return
}

func lapSameBits(a, b []float64) bool {
	for i := range a {
		if math.Float64bits(a[i]) != math.Float64bits(b[i]) {
			return false
		}
	}
	return true
}

func lapSameInts(a, b []int) bool {
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func TestLapScanPaths(t *testing.T) {
	for _, p := range testPaths(t) {
		for _, n := range lapSizes {
			for rep := 0; rep < 4; rep++ {
				seed := uint64(1000*n + rep)
				r := rand.New(rand.NewPCG(seed, 3))
				c, v, d, y, pred := lapInputs(r, n)
				d2, pred2 := append([]float64(nil), d...), append([]int(nil), pred...)
				d0, pred0 := append([]float64(nil), d...), append([]int(nil), pred...)
				c0, v0, y0 := append([]float64(nil), c...), append([]float64(nil), v...), append([]int(nil), y...)
				off := float64(r.IntN(5)) - 2
				var want, got LapMins
				simd.LapScanGeneric(c[:n], v, d, y, pred, off, 42, &want.Val, &want.Idx, &want.Val2, &want.Idx2)
				LapScan(p, c[:n], v, d2, y, pred2, off, 42, &got)
				name := fmt.Sprintf("%s/N=%d/seed=%d", p, n, seed)
				if !lapSameBits(d, d2) || !lapSameInts(pred, pred2) {
					t.Fatalf("%s: d or pred differ from the twin", name)
				}
				if !lapSameBits(want.Val[:], got.Val[:]) || !lapSameInts(want.Idx[:], got.Idx[:]) ||
					!lapSameBits(want.Val2[:], got.Val2[:]) || !lapSameInts(want.Idx2[:], got.Idx2[:]) {
					t.Fatalf("%s: lane minima differ:\nwant %+v\ngot  %+v", name, want, got)
				}
				if !lapSameBits(c, c0) || !lapSameBits(v, v0) || !lapSameInts(y, y0) {
					t.Fatalf("%s: read-only input changed", name)
				}
				for j := n; j < len(d); j++ {
					if pred[j] != -7 || math.Float64bits(d2[j]) != math.Float64bits(d[j]) {
						t.Fatalf("%s: wrote past n at %d", name, j)
					}
				}
				// The float32 variant against its twin.
				c32 := make([]float32, len(c))
				for j := range c {
					c32[j] = float32(c[j])
				}
				d3, d4 := append([]float64(nil), d0...), append([]float64(nil), d0...)
				p3, p4 := append([]int(nil), pred0...), append([]int(nil), pred0...)
				var w32, g32 LapMins
				simd.LapScanF32Generic(c32[:n], v, d3, y, p3, off, 42, &w32.Val, &w32.Idx, &w32.Val2, &w32.Idx2)
				LapScanF32(p, c32[:n], v, d4, y, p4, off, 42, &g32)
				if !lapSameBits(d3, d4) || !lapSameInts(p3, p4) || w32 != g32 {
					t.Fatalf("%s: float32 kernel differs from its twin", name)
				}
				// A direct check of the reference semantics on lane 0.
				if n > 0 {
					bv, bj := math.Inf(1), -1
					for j := 0; j < n; j += LapLanes {
						if d[j] < bv {
							bv, bj = d[j], j
						}
					}
					if bj != got.Idx[0] {
						t.Fatalf("%s: lane 0 minimum at %d, want %d", name, got.Idx[0], bj)
					}
				}
			}
		}
	}
}

func TestLapMin2Paths(t *testing.T) {
	for _, p := range testPaths(t) {
		for _, n := range lapSizes {
			for rep := 0; rep < 4; rep++ {
				seed := uint64(1000*n + rep)
				r := rand.New(rand.NewPCG(seed, 4))
				c, v, _, _, _ := lapInputs(r, n)
				var want, got LapMins
				simd.LapMin2Generic(c[:n], v, &want.Val, &want.Idx, &want.Val2, &want.Idx2)
				LapMin2(p, c[:n], v, &got)
				name := fmt.Sprintf("%s/N=%d/seed=%d", p, n, seed)
				if !lapSameBits(want.Val[:], got.Val[:]) || !lapSameInts(want.Idx[:], got.Idx[:]) ||
					!lapSameBits(want.Val2[:], got.Val2[:]) || !lapSameInts(want.Idx2[:], got.Idx2[:]) {
					t.Fatalf("%s: lane minima differ:\nwant %+v\ngot  %+v", name, want, got)
				}
				c32 := make([]float32, len(c))
				for j := range c {
					c32[j] = float32(c[j])
				}
				var w32, g32 LapMins
				simd.LapMin2F32Generic(c32[:n], v, &w32.Val, &w32.Idx, &w32.Val2, &w32.Idx2)
				LapMin2F32(p, c32[:n], v, &g32)
				if w32 != g32 {
					t.Fatalf("%s: float32 kernel differs from its twin", name)
				}
				for l := 0; l < LapLanes && n > 0; l++ {
					if got.Idx[l] < 0 || got.Idx2[l] < 0 && n > LapLanes {
						continue
					}
					if got.Val[l] > got.Val2[l] {
						t.Fatalf("%s: lane %d first minimum %v > second %v", name, l, got.Val[l], got.Val2[l])
					}
				}
			}
		}
	}
}

func TestLapExpandPaths(t *testing.T) {
	for _, p := range testPaths(t) {
		for _, n := range lapSizes {
			for rep := 0; rep < 4; rep++ {
				seed := uint64(1000*n + rep)
				r := rand.New(rand.NewPCG(seed, 5))
				c, v, d, _, pred := lapInputs(r, n)
				d2, pred2 := append([]float64(nil), d...), append([]int(nil), pred...)
				d0, pred0 := append([]float64(nil), d...), append([]int(nil), pred...)
				off, tau := float64(r.IntN(5))-2, float64(r.IntN(6))+1
				imp, cand := make([]int, n+LapLanes), make([]int, n+LapLanes)
				imp2, cand2 := make([]int, n+LapLanes), make([]int, n+LapLanes)
				ni, nc := simd.LapExpandGeneric(c[:n], v, d, pred, off, 9, tau, imp, cand)
				ni2, nc2 := LapExpand(p, c[:n], v, d2, pred2, off, 9, tau, imp2, cand2)
				name := fmt.Sprintf("%s/N=%d/seed=%d", p, n, seed)
				if ni != ni2 || nc != nc2 || !lapSameInts(imp[:ni], imp2[:ni]) || !lapSameInts(cand[:nc], cand2[:nc]) {
					t.Fatalf("%s: emitted (%d %v, %d %v), twin (%d %v, %d %v)", name, ni2, imp2[:ni2], nc2, cand2[:nc2], ni, imp[:ni], nc, cand[:nc])
				}
				if !lapSameBits(d, d2) || !lapSameInts(pred, pred2) {
					t.Fatalf("%s: d or pred differ from the twin", name)
				}
				c32 := make([]float32, len(c))
				for j := range c {
					c32[j] = float32(c[j])
				}
				d3, d4 := append([]float64(nil), d0...), append([]float64(nil), d0...)
				p3, p4 := append([]int(nil), pred0...), append([]int(nil), pred0...)
				ni3, nc3 := simd.LapExpandF32Generic(c32[:n], v, d3, p3, off, 9, tau, imp, cand)
				ni4, nc4 := LapExpandF32(p, c32[:n], v, d4, p4, off, 9, tau, imp2, cand2)
				if ni3 != ni4 || nc3 != nc4 || !lapSameInts(imp[:ni3], imp2[:ni3]) || !lapSameInts(cand[:nc3], cand2[:nc3]) ||
					!lapSameBits(d3, d4) || !lapSameInts(p3, p4) {
					t.Fatalf("%s: float32 kernel differs from its twin", name)
				}
				if n > 0 && rep == 0 && (ni == 0 || nc == 0) {
					t.Fatalf("%s: test data selected nothing (ni=%d nc=%d)", name, ni, nc)
				}
			}
		}
	}
}

func TestLapCheckPaths(t *testing.T) {
	r := rand.New(rand.NewPCG(11, 5))
	bad := []float64{math.NaN(), math.Inf(1), math.Inf(-1), 1e10, -1e10}
	for _, p := range testPaths(t) {
		for _, n := range lapSizes {
			x := make([]float64, n)
			for j := range x {
				x[j] = 2*r.Float64() - 1
			}
			if got := LapCheck(p, x, 5); got != n {
				t.Fatalf("%s/N=%d: clean input flagged at %d", p, n, got)
			}
			for rep := 0; rep < 20 && n > 0; rep++ {
				j, k := r.IntN(n), r.IntN(n)
				y := append([]float64(nil), x...)
				y[j], y[k] = bad[rep%len(bad)], bad[(rep+1)%len(bad)]
				want := simd.LapCheckGeneric(y, 5)
				if want != min(j, k) {
					t.Fatalf("twin: got %d, want %d", want, min(j, k))
				}
				if got := LapCheck(p, y, 5); got != want {
					t.Fatalf("%s/N=%d: first bad entry %d, twin %d", p, n, got, want)
				}
				y32 := make([]float32, n)
				for q := range y {
					y32[q] = float32(y[q])
				}
				if got, want := LapCheckF32(p, y32, 5), simd.LapCheckF32Generic(y32, 5); got != want || got != min(j, k) {
					t.Fatalf("%s/N=%d: float32: first bad entry %d, twin %d, want %d", p, n, got, want, min(j, k))
				}
			}
		}
	}
}

func TestLapPanicsBeforeWriting(t *testing.T) {
	d := []float64{1, 2, 3}
	defer func() {
		if recover() == nil {
			t.Fatal("LapScan accepted len(c) = 3")
		}
		if d[0] != 1 {
			t.Fatal("LapScan wrote before panicking")
		}
	}()
	var out LapMins
	LapScan(Generic, make([]float64, 3), make([]float64, 3), d, make([]int, 3), make([]int, 3), 0, 0, &out)
}

func BenchmarkLapScan(b *testing.B) {
	for _, n := range []int{1024, 4096} {
		for _, p := range testPaths(b) {
			b.Run(fmt.Sprintf("impl=%s/N=%d", p, n), func(b *testing.B) {
				r := rand.New(rand.NewPCG(1, 1))
				c, v, d, y, pred := lapInputs(r, n)
				for j := range d {
					d[j] = math.Inf(1)
				}
				var out LapMins
				b.SetBytes(int64(8 * n))
				for b.Loop() {
					LapScan(p, c[:n], v, d, y, pred, 0, 1, &out)
				}
			})
		}
	}
}
