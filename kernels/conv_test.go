package kernels

import (
	"fmt"
	"math"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/ltransfer/ltransfer/asm"
)

// convRef64 is the direct float64 reference: forward, input gradient, weight
// and bias gradients of y = conv(x, w) + b for a given upstream gradient dy.
func convRef64(p ConvParams, x, w, b, dy []float32) (y, dx, dw, db []float64) {
	OH, OW := p.OutH(), p.OutW()
	y = make([]float64, p.OutputLen())
	dx = make([]float64, p.InputLen())
	dw = make([]float64, p.WeightLen())
	db = make([]float64, p.K)
	for n := 0; n < p.N; n++ {
		for k := 0; k < p.K; k++ {
			for i := 0; i < OH; i++ {
				for j := 0; j < OW; j++ {
					yi := ((n*p.K+k)*OH+i)*OW + j
					s := 0.0
					if b != nil {
						s = float64(b[k])
					}
					g := float64(dy[yi])
					db[k] += g
					for c := 0; c < p.C; c++ {
						for r := 0; r < p.R; r++ {
							ih := i*p.StrideH - p.PadH + r
							if ih < 0 || ih >= p.H {
								continue
							}
							for q := 0; q < p.S; q++ {
								iw := j*p.StrideW - p.PadW + q
								if iw < 0 || iw >= p.W {
									continue
								}
								xi := ((n*p.C+c)*p.H+ih)*p.W + iw
								wi := ((k*p.C+c)*p.R+r)*p.S + q
								s += float64(w[wi]) * float64(x[xi])
								dx[xi] += float64(w[wi]) * g
								dw[wi] += float64(x[xi]) * g
							}
						}
					}
					y[yi] = s
				}
			}
		}
	}
	return
}

func randSlice(rng *rand.Rand, n int) []float32 {
	s := make([]float32, n)
	for i := range s {
		s[i] = float32(rng.Float64()*2 - 1)
	}
	return s
}

// guarded returns a slice of n elements inside a larger buffer filled with
// sentinels, and a check that the sentinels survived.
func guarded(n int, fill float32) ([]float32, func(t *testing.T, name string)) {
	const pad = 17
	buf := make([]float32, n+2*pad)
	for i := range buf {
		buf[i] = fill
	}
	sentinel := float32(-12345.5)
	for i := 0; i < pad; i++ {
		buf[i] = sentinel
		buf[n+pad+i] = sentinel
	}
	return buf[pad : pad+n : pad+n], func(t *testing.T, name string) {
		t.Helper()
		for i := 0; i < pad; i++ {
			if buf[i] != sentinel || buf[n+pad+i] != sentinel {
				t.Fatalf("%s: guard element overwritten", name)
			}
		}
	}
}

// checkClose compares got against the float64 reference with a tolerance
// relative to the reference's scale (sum of |terms| is not tracked, so we
// use the max-magnitude of the reference plus an absolute floor scaled by
// the reduction length).
func checkClose(t *testing.T, name string, got []float32, want []float64, terms int) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%s: length %d, want %d", name, len(got), len(want))
	}
	scale := 0.0
	for _, v := range want {
		scale = max(scale, math.Abs(v))
	}
	tol := 1e-5*scale + 2e-6*math.Sqrt(float64(terms))*max(1, scale)
	for i := range got {
		g := float64(got[i])
		if math.IsNaN(g) || math.Abs(g-want[i]) > tol {
			t.Fatalf("%s[%d] = %g, want %g (tol %g)", name, i, g, want[i], tol)
		}
	}
}

var convShapes = []ConvParams{
	{N: 1, C: 1, H: 1, W: 1, K: 1, R: 1, S: 1, StrideH: 1, StrideW: 1},
	{N: 2, C: 3, H: 7, W: 5, K: 4, R: 3, S: 3, StrideH: 1, StrideW: 1, PadH: 1, PadW: 1},
	{N: 3, C: 5, H: 9, W: 11, K: 6, R: 3, S: 3, StrideH: 2, StrideW: 2, PadH: 1, PadW: 1},
	{N: 2, C: 8, H: 6, W: 6, K: 5, R: 1, S: 1, StrideH: 1, StrideW: 1},
	{N: 3, C: 4, H: 7, W: 7, K: 3, R: 1, S: 1, StrideH: 2, StrideW: 2},
	{N: 1, C: 3, H: 13, W: 10, K: 7, R: 5, S: 5, StrideH: 1, StrideW: 1, PadH: 2, PadW: 2},
	{N: 2, C: 2, H: 8, W: 9, K: 3, R: 5, S: 3, StrideH: 2, StrideW: 1, PadH: 0, PadW: 1},
	{N: 5, C: 3, H: 4, W: 4, K: 9, R: 3, S: 3, StrideH: 1, StrideW: 1, PadH: 1, PadW: 1},
	{N: 2, C: 3, H: 5, W: 32, K: 32, R: 3, S: 3, StrideH: 1, StrideW: 1, PadH: 1, PadW: 1}, // the direct 3×3 kernel
	{N: 1, C: 1, H: 16, W: 16, K: 16, R: 3, S: 3, StrideH: 1, StrideW: 1, PadH: 1, PadW: 1},
	{N: 1, C: 17, H: 33, W: 31, K: 5, R: 3, S: 3, StrideH: 1, StrideW: 1, PadH: 1, PadW: 1},
	{N: 4, C: 20, H: 2, W: 3, K: 3, R: 2, S: 2, StrideH: 1, StrideW: 1, PadH: 1, PadW: 1},
	{N: 3, C: 2, H: 5, W: 5, K: 2, R: 3, S: 3, StrideH: 3, StrideW: 2, PadH: 2, PadW: 2},
	// Many small images: multi-image tiles.
	{N: 37, C: 6, H: 4, W: 4, K: 5, R: 3, S: 3, StrideH: 1, StrideW: 1, PadH: 1, PadW: 1},
	// Winograd F(2×2, 3×3) shapes (3×3 stride 1 pad 1, C, K ≥ 8): odd and
	// even sizes, 1×1 images, batch 1, several tile blocks.
	{N: 3, C: 9, H: 7, W: 5, K: 10, R: 3, S: 3, StrideH: 1, StrideW: 1, PadH: 1, PadW: 1},
	{N: 1, C: 16, H: 1, W: 1, K: 8, R: 3, S: 3, StrideH: 1, StrideW: 1, PadH: 1, PadW: 1},
	{N: 2, C: 8, H: 11, W: 12, K: 12, R: 3, S: 3, StrideH: 1, StrideW: 1, PadH: 1, PadW: 1},
	{N: 70, C: 8, H: 8, W: 7, K: 9, R: 3, S: 3, StrideH: 1, StrideW: 1, PadH: 1, PadW: 1},
	// Large P: several tiles per image (crs = 9 → 2048-column tiles).
	{N: 2, C: 1, H: 50, W: 47, K: 3, R: 3, S: 3, StrideH: 1, StrideW: 1, PadH: 1, PadW: 1},
}

func (p ConvParams) String() string {
	return fmt.Sprintf("N=%d,C=%d,H=%d,W=%d,K=%d,k=%dx%d,s=%dx%d,p=%dx%d", p.N, p.C, p.H, p.W, p.K, p.R, p.S, p.StrideH, p.StrideW, p.PadH, p.PadW)
}

func engines(t testing.TB, threads ...int) []*Engine {
	var es []*Engine
	for _, path := range asm.Available() {
		for _, th := range threads {
			e, err := New(WithPath(path), WithThreads(th))
			if err != nil {
				t.Fatal(err)
			}
			es = append(es, e)
		}
	}
	return es
}

func TestConv2DAgainstFloat64(t *testing.T) {
	const seed = 501
	t.Logf("seed %d", seed)
	for si, p := range convShapes {
		rng := rand.New(rand.NewPCG(seed, uint64(si)))
		x := randSlice(rng, p.InputLen())
		w := randSlice(rng, p.WeightLen())
		b := randSlice(rng, p.K)
		dy := randSlice(rng, p.OutputLen())
		x0, w0, dy0 := append([]float32(nil), x...), append([]float32(nil), w...), append([]float32(nil), dy...)
		yr, dxr, dwr, dbr := convRef64(p, x, w, b, dy)
		crs := p.C * p.R * p.S
		algos := []int{1}
		if p.directOK() {
			algos = append(algos, 3)
		}
		if p.winogradOK() {
			algos = append(algos, 2)
		}
		for _, algo := range algos {
			var first [4][]float32
			for _, e := range engines(t, 1, 2, 3) {
				t.Run(fmt.Sprintf("%v/algo=%d/path=%v/threads=%d", p, algo, e.Path(), e.Threads()), func(t *testing.T) {
					e := e.withConv(ConvAlgo(algo))
					nan := float32(math.NaN())
					y, chkY := guarded(p.OutputLen(), nan)
					e.Conv2D(p, x, w, b, y)
					chkY(t, "y")
					checkClose(t, "y", y, yr, crs)
					dx, chkDx := guarded(p.InputLen(), nan)
					e.Conv2DBackwardData(p, dy, w, dx)
					chkDx(t, "dx")
					checkClose(t, "dx", dx, dxr, p.K*p.R*p.S)
					dw, chkDw := guarded(p.WeightLen(), nan)
					db, chkDb := guarded(p.K, nan)
					e.Conv2DBackwardWeight(p, x, dy, dw, db)
					chkDw(t, "dw")
					chkDb(t, "db")
					P := p.OutH() * p.OutW()
					checkClose(t, "dw", dw, dwr, p.N*P)
					checkClose(t, "db", db, dbr, p.N*P)
					// No bias: y must not include one; dbias nil is allowed.
					y2 := make([]float32, p.OutputLen())
					e.Conv2D(p, x, w, nil, y2)
					for i := range y2 {
						if d := math.Abs(float64(y2[i]+b[(i/P)%p.K]) - float64(y[i])); d > 1e-4*(1+math.Abs(float64(y[i]))) {
							t.Fatalf("y without bias [%d] = %g, with %g, bias %g", i, y2[i], y[i], b[(i/P)%p.K])
						}
					}
					e.Conv2DBackwardWeight(p, x, dy, dw, nil)
					for i, v := range x {
						if v != x0[i] {
							t.Fatal("x modified")
						}
					}
					for i, v := range w {
						if v != w0[i] {
							t.Fatal("w modified")
						}
					}
					for i, v := range dy {
						if v != dy0[i] {
							t.Fatal("dy modified")
						}
					}
					// Bit-identical across thread counts on one path.
					got := [4][]float32{y, dx, dw, db}
					if e.Threads() == 1 {
						for i := range got {
							first[i] = append([]float32(nil), got[i]...)
						}
						return
					}
					for i := range got {
						for j := range got[i] {
							if math.Float32bits(got[i][j]) != math.Float32bits(first[i][j]) {
								t.Fatalf("output %d element %d differs between 1 and %d threads: %g vs %g", i, j, e.Threads(), got[i][j], first[i][j])
							}
						}
					}
				})
			}
		}
	}
}

func TestConvParamsValidate(t *testing.T) {
	ok := ConvParams{N: 1, C: 1, H: 3, W: 3, K: 1, R: 3, S: 3, StrideH: 1, StrideW: 1}
	if err := ok.Validate(); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		mod  func(*ConvParams)
		want string
	}{
		{func(p *ConvParams) { p.N = 0 }, "input shape"},
		{func(p *ConvParams) { p.K = 0 }, "output channels"},
		{func(p *ConvParams) { p.R = 0 }, "kernel"},
		{func(p *ConvParams) { p.StrideW = 0 }, "stride"},
		{func(p *ConvParams) { p.PadH = -1 }, "padding"},
		{func(p *ConvParams) { p.H = 2 }, "larger than the padded input"},
	} {
		p := ok
		tc.mod(&p)
		err := p.Validate()
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%v: error %v, want one mentioning %q", p, err, tc.want)
		}
	}
}

func TestConv2DPanicsBeforeWriting(t *testing.T) {
	p := ConvParams{N: 1, C: 2, H: 4, W: 4, K: 3, R: 3, S: 3, StrideH: 1, StrideW: 1, PadH: 1, PadW: 1}
	y := make([]float32, p.OutputLen())
	for i := range y {
		y[i] = 7
	}
	func() {
		defer func() {
			r := recover()
			if r == nil || !strings.Contains(fmt.Sprint(r), "kernels: Conv2D: w has") {
				t.Errorf("panic %v, want a kernels: length message", r)
			}
		}()
		Default().Conv2D(p, make([]float32, p.InputLen()), make([]float32, p.WeightLen()-1), nil, y)
	}()
	for _, v := range y {
		if v != 7 {
			t.Fatal("y written before the panic")
		}
	}
}

// Random 3×3 stride-1 pad-1 shapes: Winograd against the im2col path (and
// both against the float64 reference), every kernel path, 2 threads.
func TestConvWinogradRandomShapes(t *testing.T) {
	const seed = 504
	t.Logf("seed %d", seed)
	rng := rand.New(rand.NewPCG(seed, 0))
	// The planes of the conv nets (4…32 wide: the narrow-plane gather, the
	// row-segment output kernels for 16 and ≥ 32 wide), 34 and 64 wide
	// (16-tile groups across and within tile rows), then random shapes.
	fixed := []ConvParams{
		{N: 3, C: 5, H: 4, W: 4, K: 6}, {N: 9, C: 3, H: 4, W: 4, K: 5}, {N: 2, C: 4, H: 8, W: 8, K: 5}, {N: 2, C: 3, H: 16, W: 16, K: 7},
		{N: 2, C: 3, H: 32, W: 32, K: 4}, {N: 1, C: 2, H: 6, W: 34, K: 3}, {N: 1, C: 2, H: 4, W: 64, K: 3},
		{N: 2, C: 3, H: 15, W: 16, K: 2},
	}
	for i := 0; i < len(fixed)+25; i++ {
		p := ConvParams{N: 1 + rng.IntN(3), C: 1 + rng.IntN(20), H: 1 + rng.IntN(13), W: 1 + rng.IntN(13), K: 1 + rng.IntN(20)}
		if i < len(fixed) {
			p = fixed[i]
		}
		p.R, p.S, p.StrideH, p.StrideW, p.PadH, p.PadW = 3, 3, 1, 1, 1, 1
		x, w, b := randSlice(rng, p.InputLen()), randSlice(rng, p.WeightLen()), randSlice(rng, p.K)
		dy := randSlice(rng, p.OutputLen())
		yr, dxr, dwr, dbr := convRef64(p, x, w, b, dy)
		P := p.OutH() * p.OutW()
		for _, e := range engines(t, 2) {
			for _, algo := range []int{1, 2} {
				e := e.withConv(ConvAlgo(algo))
				y, dx, dw, db := make([]float32, p.OutputLen()), make([]float32, p.InputLen()), make([]float32, p.WeightLen()), make([]float32, p.K)
				e.Conv2D(p, x, w, b, y)
				e.Conv2DBackwardData(p, dy, w, dx)
				e.Conv2DBackwardWeight(p, x, dy, dw, db)
				name := fmt.Sprintf("%v/algo=%d/path=%v", p, algo, e.Path())
				checkClose(t, name+" y", y, yr, p.C*9)
				checkClose(t, name+" dx", dx, dxr, p.K*9)
				checkClose(t, name+" dw", dw, dwr, p.N*P)
				checkClose(t, name+" db", db, dbr, p.N*P)
			}
		}
	}
}
