package kernels

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/ltransfer/ltransfer/asm"
)

func TestBatchNormAgainstFloat64(t *testing.T) {
	const seed = 503
	t.Logf("seed %d", seed)
	for si, p := range []BatchNormParams{
		{N: 1, C: 1, HW: 1, Eps: 1e-5, Momentum: 0.1},
		{N: 2, C: 3, HW: 5, Eps: 1e-5, Momentum: 0.1},
		{N: 7, C: 5, HW: 9, Eps: 1e-3, Momentum: 0.3},
		{N: 1, C: 17, HW: 64, Eps: 1e-5, Momentum: 0},
	} {
		rng := rand.New(rand.NewPCG(seed, uint64(si)))
		x := randSlice(rng, p.N*p.C*p.HW)
		for i := range x {
			x[i] = 3*x[i] + 0.5 // non-zero mean
		}
		dy := randSlice(rng, len(x))
		gamma := randSlice(rng, p.C)
		beta := randSlice(rng, p.C)
		rm0 := randSlice(rng, p.C)
		rv0 := randSlice(rng, p.C)
		for i := range rv0 {
			rv0[i] = 1 + rv0[i]*rv0[i]
		}
		// float64 reference.
		M := float64(p.N * p.HW)
		yr := make([]float64, len(x))
		dxr := make([]float64, len(x))
		yev := make([]float64, len(x))
		dgr, dbr, rmr, rvr := make([]float64, p.C), make([]float64, p.C), make([]float64, p.C), make([]float64, p.C)
		for c := 0; c < p.C; c++ {
			at := func(n, i int) int { return (n*p.C+c)*p.HW + i }
			mu, v := 0.0, 0.0
			for n := 0; n < p.N; n++ {
				for i := 0; i < p.HW; i++ {
					mu += float64(x[at(n, i)])
				}
			}
			mu /= M
			for n := 0; n < p.N; n++ {
				for i := 0; i < p.HW; i++ {
					d := float64(x[at(n, i)]) - mu
					v += d * d
				}
			}
			ub := v / max(M-1, 1)
			v /= M
			is := 1 / math.Sqrt(v+float64(p.Eps))
			mom := float64(p.Momentum)
			rmr[c] = (1-mom)*float64(rm0[c]) + mom*mu
			rvr[c] = (1-mom)*float64(rv0[c]) + mom*ub
			var sdy, sdyx float64
			for n := 0; n < p.N; n++ {
				for i := 0; i < p.HW; i++ {
					xh := (float64(x[at(n, i)]) - mu) * is
					yr[at(n, i)] = float64(gamma[c])*xh + float64(beta[c])
					sdy += float64(dy[at(n, i)])
					sdyx += float64(dy[at(n, i)]) * xh
					yev[at(n, i)] = float64(gamma[c])*(float64(x[at(n, i)])-float64(rm0[c]))/math.Sqrt(float64(rv0[c])+float64(p.Eps)) + float64(beta[c])
				}
			}
			dbr[c], dgr[c] = sdy, sdyx
			for n := 0; n < p.N; n++ {
				for i := 0; i < p.HW; i++ {
					xh := (float64(x[at(n, i)]) - mu) * is
					dxr[at(n, i)] = float64(gamma[c]) * is / M * (M*float64(dy[at(n, i)]) - sdy - xh*sdyx)
				}
			}
		}
		// Bit-identical across thread counts of one path (the SIMD paths
		// sum in their own order, so paths agree only to rounding).
		first := map[asm.Path][][]float32{}
		for _, e := range engines(t, 1, 2, 3) {
			t.Run(fmt.Sprintf("%+v/path=%v/threads=%d", p, e.Path(), e.Threads()), func(t *testing.T) {
				y := make([]float32, len(x))
				mean, invstd := make([]float32, p.C), make([]float32, p.C)
				rm, rv := append([]float32(nil), rm0...), append([]float32(nil), rv0...)
				e.BatchNormTrain(p, x, gamma, beta, y, mean, invstd, rm, rv)
				checkClose(t, "y", y, yr, 1)
				checkClose(t, "running mean", rm, rmr, 1)
				checkClose(t, "running var", rv, rvr, 1)
				dx := make([]float32, len(x))
				dg, db := make([]float32, p.C), make([]float32, p.C)
				e.BatchNormBackward(p, x, dy, gamma, mean, invstd, dx, dg, db)
				checkClose(t, "dx", dx, dxr, p.N*p.HW)
				checkClose(t, "dgamma", dg, dgr, p.N*p.HW)
				checkClose(t, "dbeta", db, dbr, p.N*p.HW)
				ye := make([]float32, len(x))
				e.BatchNormEval(p, x, gamma, beta, rm0, rv0, ye)
				checkClose(t, "eval y", ye, yev, 1)
				got := [][]float32{y, rm, rv, dx, dg, db, ye}
				f, ok := first[e.Path()]
				if !ok {
					for _, g := range got {
						f = append(f, append([]float32(nil), g...))
					}
					first[e.Path()] = f
					return
				}
				for i := range got {
					for j := range got[i] {
						if math.Float32bits(got[i][j]) != math.Float32bits(f[i][j]) {
							t.Fatalf("output %d element %d differs from the %v engine with other threads", i, j, e.Path())
						}
					}
				}
			})
		}
	}
}
