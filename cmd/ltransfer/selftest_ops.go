package main

import (
	"fmt"
	"math"
	"math/rand"

	"github.com/ltransfer/ltransfer/asm"
	"github.com/ltransfer/ltransfer/kernels"
	"github.com/ltransfer/ltransfer/lap"
)

// The self-tests of the kernels beyond GEMM and the vector kernels:
// convolution (each algorithm), pooling, batch-norm and the LAP scans, each
// on path p against the same computation on the pure-Go path.

// check accumulates the worst error of a self-test, as a fraction of its
// rounding bound, and the first failure.
type check struct {
	worst float64
	bad   string
}

func (c *check) fail(format string, a ...any) {
	if c.bad == "" {
		c.bad = fmt.Sprintf(format, a...)
	}
}

// close compares got with want elementwise: |got − want| ≤ eps·scale[i]
// (scale nil: |want[i]|), NaN only where want is NaN.
func (c *check) close(name string, got, want, scale []float32, eps float64) {
	if len(got) != len(want) {
		c.fail("%s: %d values, oracle %d", name, len(got), len(want))
		return
	}
	for i := range got {
		g, w := float64(got[i]), float64(want[i])
		if math.IsNaN(w) && math.IsNaN(g) {
			continue
		}
		s := math.Abs(w)
		if scale != nil {
			s = float64(scale[i])
		}
		bound := eps*s + 1e-30
		d := math.Abs(g - w)
		if math.IsNaN(d) {
			d = math.Inf(1)
		}
		c.worst = max(c.worst, d/bound)
		if d > bound {
			c.fail("%s[%d] = %v, oracle %v", name, i, got[i], want[i])
		}
	}
}

func absOf(x []float32) []float32 {
	y := make([]float32, len(x))
	for i, v := range x {
		y[i] = float32(math.Abs(float64(v)))
	}
	return y
}

// convSelftestShapes exercise each algorithm: the direct 3×3 kernel (3
// input channels, 16-wide rows, 16 output channels), Winograd (3×3 stride 1
// pad 1, odd planes), im2col (5×3 stride 2) and a pointwise product.
var convSelftestShapes = []kernels.ConvParams{
	{N: 2, C: 3, H: 16, W: 16, K: 16, R: 3, S: 3, StrideH: 1, StrideW: 1, PadH: 1, PadW: 1},
	{N: 2, C: 16, H: 9, W: 7, K: 20, R: 3, S: 3, StrideH: 1, StrideW: 1, PadH: 1, PadW: 1},
	{N: 3, C: 5, H: 11, W: 13, K: 6, R: 5, S: 3, StrideH: 2, StrideW: 1, PadH: 2, PadW: 1},
	{N: 2, C: 8, H: 6, W: 6, K: 12, R: 1, S: 1, StrideH: 1, StrideW: 1},
}

// selftestConv runs the three passes of every convolution algorithm on p
// and on the pure-Go path (same algorithm) and compares them. The bound is
// the rounding of a sum of as many terms as the pass adds, times the sum of
// the terms' magnitudes (the pass on |inputs|), with room for Winograd's
// transforms, which grow the terms.
func selftestConv(p asm.Path, r *rand.Rand) (c check, err error) {
	for _, algo := range []kernels.ConvAlgo{kernels.ConvIm2col, kernels.ConvWinograd, kernels.ConvDirect} {
		e, err := kernels.New(kernels.WithPath(p), kernels.WithConvAlgo(algo))
		if err != nil {
			return c, err
		}
		o, err := kernels.New(kernels.WithPath(asm.Generic), kernels.WithThreads(1), kernels.WithConvAlgo(algo))
		if err != nil {
			return c, err
		}
		grow := 4.0
		if algo != kernels.ConvIm2col {
			grow = 32
		}
		for _, s := range convSelftestShapes {
			if err := s.Validate(); err != nil {
				return c, err
			}
			x, w, bias := randMatrix(r, s.InputLen()), randMatrix(r, s.WeightLen()), randMatrix(r, s.K)
			dy := randMatrix(r, s.OutputLen())
			name := fmt.Sprintf("conv %s %dx%d c=%d k=%d %dx%d", algo, s.R, s.S, s.C, s.K, s.H, s.W)
			P := s.OutH() * s.OutW()

			y, yo, ys := make([]float32, s.OutputLen()), make([]float32, s.OutputLen()), make([]float32, s.OutputLen())
			e.Conv2D(s, x, w, bias, y)
			o.Conv2D(s, x, w, bias, yo)
			o.Conv2D(s, absOf(x), absOf(w), absOf(bias), ys)
			c.close(name+" y", y, yo, ys, grow*float64(s.C*s.R*s.S+4)*0x1p-24)

			dx, dxo, dxs := make([]float32, s.InputLen()), make([]float32, s.InputLen()), make([]float32, s.InputLen())
			e.Conv2DBackwardData(s, dy, w, dx)
			o.Conv2DBackwardData(s, dy, w, dxo)
			o.Conv2DBackwardData(s, absOf(dy), absOf(w), dxs)
			c.close(name+" dx", dx, dxo, dxs, grow*float64(s.K*s.R*s.S+4)*0x1p-24)

			dw, dwo, dws := make([]float32, s.WeightLen()), make([]float32, s.WeightLen()), make([]float32, s.WeightLen())
			db, dbo, dbs := make([]float32, s.K), make([]float32, s.K), make([]float32, s.K)
			e.Conv2DBackwardWeight(s, x, dy, dw, db)
			o.Conv2DBackwardWeight(s, x, dy, dwo, dbo)
			o.Conv2DBackwardWeight(s, absOf(x), absOf(dy), dws, dbs)
			c.close(name+" dw", dw, dwo, dws, grow*float64(s.N*P+4)*0x1p-24)
			c.close(name+" dbias", db, dbo, dbs, 4*float64(s.N*P+4)*0x1p-24)
		}
	}
	return c, nil
}

// selftestPool compares max pooling (values and argmax exactly, and the
// gradient it routes) and average pooling on p with the pure-Go path.
func selftestPool(p asm.Path, r *rand.Rand) (c check, err error) {
	e, err := kernels.New(kernels.WithPath(p))
	if err != nil {
		return c, err
	}
	o, err := kernels.New(kernels.WithPath(asm.Generic), kernels.WithThreads(1))
	if err != nil {
		return c, err
	}
	for _, s := range []kernels.PoolParams{
		{N: 2, C: 3, H: 8, W: 32, KH: 2, KW: 2, StrideH: 2, StrideW: 2},
		{N: 2, C: 4, H: 7, W: 9, KH: 3, KW: 3, StrideH: 2, StrideW: 2, PadH: 1, PadW: 1},
		{N: 1, C: 2, H: 5, W: 6, KH: 2, KW: 3, StrideH: 1, StrideW: 2},
	} {
		if err := s.Validate(); err != nil {
			return c, err
		}
		x := randMatrix(r, s.InputLen())
		for i := range x {
			switch r.Intn(40) {
			case 0:
				x[i] = float32(math.NaN())
			case 1:
				x[i] = float32(math.Inf(-1))
			case 2:
				x[i] = 0.5 // ties
			}
		}
		dy := randMatrix(r, s.OutputLen())
		name := fmt.Sprintf("pool %dx%d/%d %dx%d", s.KH, s.KW, s.StrideH, s.H, s.W)
		y, yo := make([]float32, s.OutputLen()), make([]float32, s.OutputLen())
		idx, idxo := make([]int32, s.OutputLen()), make([]int32, s.OutputLen())
		e.MaxPool2D(s, x, y, idx)
		o.MaxPool2D(s, x, yo, idxo)
		for i := range y {
			if math.Float32bits(y[i]) != math.Float32bits(yo[i]) || idx[i] != idxo[i] {
				c.fail("%s max[%d] = %v at %d, oracle %v at %d", name, i, y[i], idx[i], yo[i], idxo[i])
				break
			}
		}
		dx, dxo := make([]float32, s.InputLen()), make([]float32, s.InputLen())
		e.MaxPool2DBackward(s, dy, idxo, dx)
		o.MaxPool2DBackward(s, dy, idxo, dxo)
		c.close(name+" max dx", dx, dxo, absOf(dxo), 4*float64(s.KH*s.KW)*0x1p-24)

		xf := randMatrix(r, s.InputLen())
		e.AvgPool2D(s, xf, y)
		o.AvgPool2D(s, xf, yo)
		ys := make([]float32, s.OutputLen())
		o.AvgPool2D(s, absOf(xf), ys)
		c.close(name+" avg y", y, yo, ys, 4*float64(s.KH*s.KW+2)*0x1p-24)
		e.AvgPool2DBackward(s, dy, dx)
		o.AvgPool2DBackward(s, dy, dxo)
		dxs := make([]float32, s.InputLen())
		o.AvgPool2DBackward(s, absOf(dy), dxs)
		c.close(name+" avg dx", dx, dxo, dxs, 4*float64(s.KH*s.KW+2)*0x1p-24)
	}
	return c, nil
}

// selftestBatchNorm compares training, evaluation and backward batch-norm
// on p with the pure-Go path. Statistics are float64 sums in a fixed order
// in both; the SIMD paths fuse the multiply-adds of the elementwise parts,
// so outputs agree to a few roundings of their magnitudes.
func selftestBatchNorm(p asm.Path, r *rand.Rand) (c check, err error) {
	e, err := kernels.New(kernels.WithPath(p))
	if err != nil {
		return c, err
	}
	o, err := kernels.New(kernels.WithPath(asm.Generic), kernels.WithThreads(1))
	if err != nil {
		return c, err
	}
	for _, s := range []kernels.BatchNormParams{
		{N: 4, C: 5, HW: 37, Eps: 1e-5, Momentum: 0.1},
		{N: 3, C: 2, HW: 64, Eps: 1e-5, Momentum: 0.1},
		{N: 8, C: 3, HW: 1, Eps: 1e-3, Momentum: 0.5},
	} {
		if err := s.Validate(); err != nil {
			return c, err
		}
		n := s.N * s.C * s.HW
		M := float64(s.N * s.HW)
		x, dy := randMatrix(r, n), randMatrix(r, n)
		for i := range x {
			x[i] = 3*x[i] + 1.5 // off-centre, so the mean matters
		}
		gamma, beta := randMatrix(r, s.C), randMatrix(r, s.C)
		name := fmt.Sprintf("batchnorm n=%d c=%d hw=%d", s.N, s.C, s.HW)
		type out struct{ y, mean, invstd, rm, rv, dx, dg, db, ye []float32 }
		run := func(k *kernels.Engine) out {
			u := out{y: make([]float32, n), mean: make([]float32, s.C), invstd: make([]float32, s.C),
				rm: make([]float32, s.C), rv: make([]float32, s.C), dx: make([]float32, n),
				dg: make([]float32, s.C), db: make([]float32, s.C), ye: make([]float32, n)}
			for i := range u.rv {
				u.rv[i] = 1
			}
			k.BatchNormTrain(s, x, gamma, beta, u.y, u.mean, u.invstd, u.rm, u.rv)
			k.BatchNormBackward(s, x, dy, gamma, u.mean, u.invstd, u.dx, u.dg, u.db)
			k.BatchNormEval(s, x, gamma, beta, u.rm, u.rv, u.ye)
			return u
		}
		g, w := run(e), run(o)
		eps := 16 * 0x1p-24
		// Outputs are O(|gamma|·|x̂| + |beta|) and gradients sums of M
		// terms: bound each by its scale.
		ys := make([]float32, n)
		for i := range ys {
			ch := (i / s.HW) % s.C
			ys[i] = float32(math.Abs(float64(gamma[ch]))*4 + math.Abs(float64(beta[ch])) + math.Abs(float64(w.y[i])))
		}
		c.close(name+" y", g.y, w.y, ys, eps)
		c.close(name+" eval y", g.ye, w.ye, ys, eps)
		c.close(name+" mean", g.mean, w.mean, nil, eps)
		c.close(name+" invstd", g.invstd, w.invstd, nil, eps)
		c.close(name+" running mean", g.rm, w.rm, nil, eps)
		c.close(name+" running var", g.rv, w.rv, nil, eps)
		sc := make([]float32, s.C)
		for ch := range sc {
			sc[ch] = float32(4 * M)
		}
		c.close(name+" dgamma", g.dg, w.dg, sc, eps*(M+4))
		c.close(name+" dbeta", g.db, w.db, sc, eps*(M+4))
		dxs := make([]float32, n)
		for i := range dxs {
			ch := (i / s.HW) % s.C
			dxs[i] = float32(math.Abs(float64(gamma[ch]*w.invstd[ch])) * 8)
		}
		c.close(name+" dx", g.dx, w.dx, dxs, eps*8)
	}
	return c, nil
}

// selftestLap compares the LAP scans of p with the pure-Go scans exactly
// (they compare and subtract in the same order), on rows full of ties with
// scanned (NaN) and unreached (+Inf) columns, and solves a few problems on
// p and on the pure-Go path: the optimal cost must be the same.
func selftestLap(p asm.Path, r *rand.Rand) (c check, err error) {
	for _, n := range []int{16, 48, 256, 1024} {
		cost, v, d := make([]float64, n), make([]float64, n), make([]float64, n)
		y, pred := make([]int, n), make([]int, n)
		for j := 0; j < n; j++ {
			cost[j], v[j] = float64(r.Intn(8)), float64(r.Intn(4))
			switch r.Intn(6) {
			case 0:
				d[j] = math.NaN()
			case 1:
				d[j] = math.Inf(1)
			default:
				d[j] = float64(r.Intn(10))
			}
			y[j] = r.Intn(3) - 1
			pred[j] = -1
		}
		name := fmt.Sprintf("lap n=%d", n)
		dg, pg := append([]float64(nil), d...), append([]int(nil), pred...)
		do, po := append([]float64(nil), d...), append([]int(nil), pred...)
		var mg, mo asm.LapMins
		asm.LapScan(p, cost, v, dg, y, pg, 0.5, 7, &mg)
		asm.LapScan(asm.Generic, cost, v, do, y, po, 0.5, 7, &mo)
		if mg != mo {
			c.fail("%s scan minima %v, oracle %v", name, mg, mo)
		}
		for j := range dg {
			if math.Float64bits(dg[j]) != math.Float64bits(do[j]) || pg[j] != po[j] {
				c.fail("%s scan d[%d] = %v (pred %d), oracle %v (pred %d)", name, j, dg[j], pg[j], do[j], po[j])
				break
			}
		}
		asm.LapMin2(p, cost, v, &mg)
		asm.LapMin2(asm.Generic, cost, v, &mo)
		if mg != mo {
			c.fail("%s min2 %v, oracle %v", name, mg, mo)
		}
		ig, cg := make([]int, n+asm.LapLanes), make([]int, n+asm.LapLanes)
		io, co := make([]int, n+asm.LapLanes), make([]int, n+asm.LapLanes)
		dg, pg = append([]float64(nil), d...), append([]int(nil), pred...)
		do, po = append([]float64(nil), d...), append([]int(nil), pred...)
		nig, ncg := asm.LapExpand(p, cost, v, dg, pg, 0.5, 3, 2, ig, cg)
		nio, nco := asm.LapExpand(asm.Generic, cost, v, do, po, 0.5, 3, 2, io, co)
		if nig != nio || ncg != nco || fmt.Sprint(ig[:nig], cg[:ncg]) != fmt.Sprint(io[:nio], co[:nco]) {
			c.fail("%s expand: %d improved, %d candidates; oracle %d, %d", name, nig, ncg, nio, nco)
		}
		x := append([]float64(nil), cost...)
		x[r.Intn(n)] = math.Inf(1)
		if g, o := asm.LapCheck(p, x, 100), asm.LapCheck(asm.Generic, x, 100); g != o {
			c.fail("%s check: first bad entry %d, oracle %d", name, g, o)
		}
	}
	s, err := lap.NewSolver(p)
	if err != nil {
		return c, err
	}
	so, err := lap.NewSolver(asm.Generic)
	if err != nil {
		return c, err
	}
	for _, sz := range [][2]int{{50, 50}, {64, 100}, {300, 300}} {
		cost := make([]float64, sz[0]*sz[1])
		for i := range cost {
			cost[i] = float64(r.Intn(100))
		}
		g, err := s.SolveFloat64(sz[0], sz[1], cost, nil)
		if err != nil {
			return c, err
		}
		o, err := so.SolveFloat64(sz[0], sz[1], cost, nil)
		if err != nil {
			return c, err
		}
		if g.Objective != o.Objective {
			c.fail("lap solve %d×%d: cost %v, oracle %v", sz[0], sz[1], g.Objective, o.Objective)
		}
	}
	return c, nil
}
