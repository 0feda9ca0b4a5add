package kernels

import (
	"fmt"
	"math"
	"math/rand/v2"
	"strings"
	"testing"
)

var poolShapes = []PoolParams{
	{N: 1, C: 1, H: 1, W: 1, KH: 1, KW: 1, StrideH: 1, StrideW: 1},
	{N: 2, C: 3, H: 8, W: 6, KH: 2, KW: 2, StrideH: 2, StrideW: 2},
	{N: 3, C: 2, H: 9, W: 7, KH: 2, KW: 2, StrideH: 2, StrideW: 2}, // odd: last row/col dropped
	{N: 2, C: 2, H: 7, W: 8, KH: 3, KW: 3, StrideH: 2, StrideW: 2, PadH: 1, PadW: 1},
	{N: 1, C: 4, H: 4, W: 4, KH: 4, KW: 4, StrideH: 4, StrideW: 4},
	{N: 2, C: 3, H: 10, W: 9, KH: 3, KW: 2, StrideH: 1, StrideW: 3, PadH: 1, PadW: 0},
	{N: 5, C: 7, H: 5, W: 5, KH: 5, KW: 5, StrideH: 1, StrideW: 1, PadH: 2, PadW: 2},
	{N: 2, C: 3, H: 6, W: 32, KH: 2, KW: 2, StrideH: 2, StrideW: 2}, // 16 windows per SIMD call
	{N: 1, C: 2, H: 4, W: 70, KH: 2, KW: 2, StrideH: 2, StrideW: 2}, // and a scalar tail
}

// poolRef64 is the direct float64 reference for max and average pooling
// and their gradients for upstream gradient dy.
func poolRef64(p PoolParams, x, dy []float32) (ymax, dxmax, yavg, dxavg []float64) {
	OH, OW := p.OutH(), p.OutW()
	ymax = make([]float64, p.OutputLen())
	yavg = make([]float64, p.OutputLen())
	dxmax = make([]float64, p.InputLen())
	dxavg = make([]float64, p.InputLen())
	for pl := 0; pl < p.N*p.C; pl++ {
		for i := 0; i < OH; i++ {
			for j := 0; j < OW; j++ {
				o := pl*OH*OW + i*OW + j
				best, bi := math.Inf(-1), -1
				s := 0.0
				for r := 0; r < p.KH; r++ {
					for q := 0; q < p.KW; q++ {
						h, w := i*p.StrideH-p.PadH+r, j*p.StrideW-p.PadW+q
						if h < 0 || h >= p.H || w < 0 || w >= p.W {
							continue
						}
						xi := pl*p.H*p.W + h*p.W + w
						s += float64(x[xi])
						if float64(x[xi]) > best {
							best, bi = float64(x[xi]), xi
						}
					}
				}
				ymax[o] = best
				dxmax[bi] += float64(dy[o])
				yavg[o] = s / float64(p.KH*p.KW)
				for r := 0; r < p.KH; r++ {
					for q := 0; q < p.KW; q++ {
						h, w := i*p.StrideH-p.PadH+r, j*p.StrideW-p.PadW+q
						if h >= 0 && h < p.H && w >= 0 && w < p.W {
							dxavg[pl*p.H*p.W+h*p.W+w] += float64(dy[o]) / float64(p.KH*p.KW)
						}
					}
				}
			}
		}
	}
	return
}

func TestPoolingAgainstFloat64(t *testing.T) {
	const seed = 502
	t.Logf("seed %d", seed)
	for si, p := range poolShapes {
		rng := rand.New(rand.NewPCG(seed, uint64(si)))
		x := randSlice(rng, p.InputLen())
		dy := randSlice(rng, p.OutputLen())
		ymr, dxmr, yar, dxar := poolRef64(p, x, dy)
		var first [][]float32
		for _, e := range engines(t, 1, 2, 3) {
			t.Run(fmt.Sprintf("%+v/path=%v/threads=%d", p, e.Path(), e.Threads()), func(t *testing.T) {
				nan := float32(math.NaN())
				y, chk1 := guarded(p.OutputLen(), nan)
				idx := make([]int32, p.OutputLen())
				e.MaxPool2D(p, x, y, idx)
				chk1(t, "max y")
				checkClose(t, "max y", y, ymr, 1)
				dx, chk2 := guarded(p.InputLen(), nan)
				e.MaxPool2DBackward(p, dy, idx, dx)
				chk2(t, "max dx")
				checkClose(t, "max dx", dx, dxmr, p.KH*p.KW)
				ya, chk3 := guarded(p.OutputLen(), nan)
				e.AvgPool2D(p, x, ya)
				chk3(t, "avg y")
				checkClose(t, "avg y", ya, yar, p.KH*p.KW)
				dxa, chk4 := guarded(p.InputLen(), nan)
				e.AvgPool2DBackward(p, dy, dxa)
				chk4(t, "avg dx")
				checkClose(t, "avg dx", dxa, dxar, p.KH*p.KW)
				got := [][]float32{y, dx, ya, dxa}
				if first == nil {
					for _, g := range got {
						first = append(first, append([]float32(nil), g...))
					}
					return
				}
				for i := range got {
					for j := range got[i] {
						if math.Float32bits(got[i][j]) != math.Float32bits(first[i][j]) {
							t.Fatalf("output %d element %d differs from the first engine's", i, j)
						}
					}
				}
			})
		}
	}
}

func TestMaxPoolNaN(t *testing.T) {
	for _, e := range engines(t, 1) {
		for _, p := range []PoolParams{
			{N: 1, C: 1, H: 2, W: 4, KH: 2, KW: 2, StrideH: 2, StrideW: 2},
			{N: 1, C: 1, H: 2, W: 4, KH: 2, KW: 2, StrideH: 2, StrideW: 1},
			{N: 1, C: 1, H: 2, W: 32, KH: 2, KW: 2, StrideH: 2, StrideW: 2},
		} {
			nan := float32(math.NaN())
			x := make([]float32, 2*p.W)
			for i := range x {
				x[i] = float32(i % 9)
			}
			// Window 0 holds 6 (below, right) as its maximum; the last window a NaN.
			x[0], x[1], x[p.W], x[p.W+1] = 1, 2, 5, 6
			x[p.W-1] = nan
			y := make([]float32, p.OutputLen())
			e.MaxPool2D(p, x, y, make([]int32, len(y)))
			if y[0] != 6 || !math.IsNaN(float64(y[len(y)-1])) {
				t.Errorf("path %v %+v: max-pool of a window holding NaN gave %v, want NaN to propagate and 6 elsewhere", e.Path(), p, y)
			}
		}
	}
}

func TestPoolParamsValidate(t *testing.T) {
	for _, tc := range []struct {
		p    PoolParams
		want string
	}{
		{PoolParams{N: 1, C: 1, H: 0, W: 1, KH: 1, KW: 1, StrideH: 1, StrideW: 1}, "input shape"},
		{PoolParams{N: 1, C: 1, H: 4, W: 4, KH: 0, KW: 1, StrideH: 1, StrideW: 1}, "window"},
		{PoolParams{N: 1, C: 1, H: 4, W: 4, KH: 2, KW: 2, StrideH: 0, StrideW: 1}, "stride"},
		{PoolParams{N: 1, C: 1, H: 4, W: 4, KH: 2, KW: 2, StrideH: 1, StrideW: 1, PadH: 2}, "padding"},
		{PoolParams{N: 1, C: 1, H: 3, W: 3, KH: 4, KW: 4, StrideH: 1, StrideW: 1}, "larger than the padded input"},
	} {
		err := tc.p.Validate()
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%+v: error %v, want one mentioning %q", tc.p, err, tc.want)
		}
	}
}
