package kernels

import (
	"fmt"
	"math"

	"github.com/ltransfer/ltransfer/asm"
	"github.com/ltransfer/ltransfer/internal/simd"
)

// BatchNormParams describes 2-D batch normalisation over x [N, C, HW...]
// (PyTorch BatchNorm2d): statistics per channel c over the N·HW elements.
//
// It is a plain value: copy and share it freely.
type BatchNormParams struct {
	N, C, HW int
	Eps      float32 // PyTorch default 1e-5
	// Momentum is the running-statistics update factor (PyTorch default
	// 0.1): running = (1 − Momentum)·running + Momentum·batch, with the
	// unbiased batch variance.
	Momentum float32
}

// Validate reports non-positive sizes, a non-positive eps, or a momentum
// outside [0, 1].
func (p BatchNormParams) Validate() error {
	switch {
	case p.N < 1 || p.C < 1 || p.HW < 1:
		return fmt.Errorf("kernels: batch-norm shape N=%d C=%d spatial=%d: every size must be ≥ 1", p.N, p.C, p.HW)
	case !(p.Eps > 0):
		return fmt.Errorf("kernels: batch-norm eps %g, want > 0", p.Eps)
	case !(p.Momentum >= 0 && p.Momentum <= 1):
		return fmt.Errorf("kernels: batch-norm momentum %g, want in [0, 1]", p.Momentum)
	}
	return nil
}

func (p BatchNormParams) check(op string, xs ...[]float32) {
	if err := p.Validate(); err != nil {
		panic(fmt.Sprintf("%v (in %s)", err, op))
	}
	for _, x := range xs {
		checkConvLen(op, "tensor", len(x), p.N*p.C*p.HW)
	}
}

func checkChan(op string, c int, vs ...[]float32) {
	for _, v := range vs {
		if v != nil {
			checkConvLen(op, "per-channel vector", len(v), c)
		}
	}
}

// BatchNormTrain normalises x with its batch statistics:
// y = gamma·(x − mean)·invstd + beta, invstd = 1/√(var + eps) (biased var),
// writing mean and invstd (per channel, needed by BatchNormBackward) and
// updating runMean/runVar in place when they are non-nil. gamma and beta
// may be nil (affine=False). Sums run per channel in float64 in a fixed
// order, so results are identical for any thread count.
func (e *Engine) BatchNormTrain(p BatchNormParams, x, gamma, beta, y, mean, invstd, runMean, runVar []float32) {
	const op = "BatchNormTrain"
	p.check(op, x, y)
	checkChan(op, p.C, gamma, beta, runMean, runVar)
	checkConvLen(op, "mean", len(mean), p.C)
	checkConvLen(op, "invstd", len(invstd), p.C)
	m := float64(p.N * p.HW)
	e.planes(p.C, func(c int) {
		var s float64
		for n := 0; n < p.N; n++ {
			s += e.planeSum(x[(n*p.C+c)*p.HW : (n*p.C+c+1)*p.HW])
		}
		mu := s / m
		var ss float64
		for n := 0; n < p.N; n++ {
			ss += e.planeSumSqDev(mu, x[(n*p.C+c)*p.HW:(n*p.C+c+1)*p.HW])
		}
		v := ss / m
		is := 1 / math.Sqrt(v+float64(p.Eps))
		mean[c], invstd[c] = float32(mu), float32(is)
		if runMean != nil {
			mom := float64(p.Momentum)
			runMean[c] = float32((1-mom)*float64(runMean[c]) + mom*mu)
		}
		if runVar != nil {
			unbiased := v
			if m > 1 {
				unbiased = ss / (m - 1)
			}
			mom := float64(p.Momentum)
			runVar[c] = float32((1-mom)*float64(runVar[c]) + mom*unbiased)
		}
		p.affine(e.path, c, x, y, gamma, beta, float32(mu), float32(is))
	})
}

// affine writes y = (x − mu)·is·gamma + beta for channel c as one
// scale-and-shift.
func (p BatchNormParams) affine(path asm.Path, c int, x, y, gamma, beta []float32, mu, is float32) {
	g, b := float32(1), float32(0)
	if gamma != nil {
		g = gamma[c]
	}
	if beta != nil {
		b = beta[c]
	}
	scale := g * is
	shift := b - mu*scale
	for n := 0; n < p.N; n++ {
		xs := x[(n*p.C+c)*p.HW : (n*p.C+c+1)*p.HW]
		ys := y[(n*p.C+c)*p.HW : (n*p.C+c+1)*p.HW]
		switch path {
		case asm.AVX512:
			simd.AffineAVX512(scale, shift, ys, xs)
		case asm.AVX2:
			simd.AffineAVX2(scale, shift, ys, xs)
		default:
			for i, v := range xs {
				ys[i] = v*scale + shift
			}
		}
	}
}

// BatchNormEval normalises x with running statistics:
// y = gamma·(x − runMean)/√(runVar + eps) + beta.
func (e *Engine) BatchNormEval(p BatchNormParams, x, gamma, beta, runMean, runVar, y []float32) {
	const op = "BatchNormEval"
	p.check(op, x, y)
	checkChan(op, p.C, gamma, beta)
	checkConvLen(op, "running mean", len(runMean), p.C)
	checkConvLen(op, "running var", len(runVar), p.C)
	e.planes(p.C, func(c int) {
		is := float32(1 / math.Sqrt(float64(runVar[c])+float64(p.Eps)))
		p.affine(e.path, c, x, y, gamma, beta, runMean[c], is)
	})
}

// BatchNormBackward computes, for a training-mode forward with saved mean
// and invstd, with x̂ = (x − mean)·invstd and M = N·HW:
//
//	dbeta = Σ dy,  dgamma = Σ dy·x̂,
//	dx = gamma·invstd/M · (M·dy − dbeta − x̂·dgamma)
//
// dgamma/dbeta may be nil (not wanted), gamma nil means 1, dx nil skips the
// input gradient; dx may alias dy.
func (e *Engine) BatchNormBackward(p BatchNormParams, x, dy, gamma, mean, invstd, dx, dgamma, dbeta []float32) {
	const op = "BatchNormBackward"
	p.check(op, x, dy)
	if dx != nil {
		checkConvLen(op, "dx", len(dx), len(x))
	}
	checkChan(op, p.C, gamma, dgamma, dbeta)
	checkConvLen(op, "mean", len(mean), p.C)
	checkConvLen(op, "invstd", len(invstd), p.C)
	m := float64(p.N * p.HW)
	e.planes(p.C, func(c int) {
		mu, is := float64(mean[c]), float64(invstd[c])
		var sdy, sdyx float64
		for n := 0; n < p.N; n++ {
			xs := x[(n*p.C+c)*p.HW : (n*p.C+c+1)*p.HW]
			ds := dy[(n*p.C+c)*p.HW : (n*p.C+c+1)*p.HW]
			a, b := e.planeSumDotDev(float32(mu), ds, xs)
			sdy += float64(a)
			sdyx += float64(b)
		}
		sdyx *= is
		if dbeta != nil {
			dbeta[c] = float32(sdy)
		}
		if dgamma != nil {
			dgamma[c] = float32(sdyx)
		}
		if dx == nil {
			return
		}
		g := 1.0
		if gamma != nil {
			g = float64(gamma[c])
		}
		// dx = k·dy + a·x + b with k = g·is, a = −g·is²·sdyx/M,
		// b = −k·sdy/M − a·mu.
		k := g * is
		a := -g * is * is * sdyx / m
		b := -k*sdy/m - a*mu
		k32, a32, b32 := float32(k), float32(a), float32(b)
		for n := 0; n < p.N; n++ {
			xs := x[(n*p.C+c)*p.HW : (n*p.C+c+1)*p.HW]
			ds := dy[(n*p.C+c)*p.HW : (n*p.C+c+1)*p.HW]
			dxs := dx[(n*p.C+c)*p.HW : (n*p.C+c+1)*p.HW]
			switch e.path {
			case asm.AVX512:
				simd.BNBackwardAVX512(k32, a32, b32, dxs, ds, xs)
			case asm.AVX2:
				simd.BNBackwardAVX2(k32, a32, b32, dxs, ds, xs)
			default:
				for i, v := range xs {
					dxs[i] = k32*ds[i] + a32*v + b32
				}
			}
		}
	})
}

// planeSum is Σ x of one plane: summed in float32 (left to right on the
// generic path, in the SIMD kernels' fixed order otherwise), widened for the
// float64 sum over planes.
func (e *Engine) planeSum(x []float32) float64 {
	switch e.path {
	case asm.AVX512:
		return float64(simd.SumAVX512(x))
	case asm.AVX2:
		return float64(simd.SumAVX2(x))
	}
	var s float32
	for _, v := range x {
		s += v
	}
	return float64(s)
}

// planeSumSqDev is Σ (x − mu)² of one plane: in float64 per element on the
// generic path (the oracle), in float32 per plane on the SIMD paths.
func (e *Engine) planeSumSqDev(mu float64, x []float32) float64 {
	switch e.path {
	case asm.AVX512:
		return float64(simd.SumSqDevAVX512(float32(mu), x))
	case asm.AVX2:
		return float64(simd.SumSqDevAVX2(float32(mu), x))
	}
	var ss float64
	for _, v := range x {
		d := float64(v) - mu
		ss += d * d
	}
	return ss
}

// planeSumDotDev returns Σ g and Σ g·(x − mu) of one plane, in float32.
func (e *Engine) planeSumDotDev(mu float32, g, x []float32) (a, b float32) {
	switch e.path {
	case asm.AVX512:
		return simd.SumAVX512(g), simd.DotDevAVX512(mu, g, x)
	case asm.AVX2:
		return simd.SumAVX2(g), simd.DotDevAVX2(mu, g, x)
	}
	x = x[:len(g)]
	for i, v := range g {
		a += v
		b += v * (x[i] - mu)
	}
	return a, b
}
