package nn

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/ltransfer/ltransfer/kernels"
)

// Finite-difference gradient checks. The layers compute in float32; the
// probe loss L = Σ y·R is accumulated in float64 and differentiated by
// central differences (step h), so the check's own error is about
// |y|·2⁻²⁴·√len/h, far below the tolerance, while a wrong gradient is off
// by O(1).

const gradSeed = 4242

// fdLayer checks every parameter gradient and the input gradient of l at
// up to maxProbe coordinates per tensor.
func fdLayer(t *testing.T, e *kernels.Engine, l Layer, in []int, n int, seed uint64) {
	const h = 1e-2
	t.Helper()
	rng := rand.New(rand.NewPCG(seed, 7))
	t.Logf("seed %d", seed)
	out, err := l.Build(in)
	if err != nil {
		t.Fatal(err)
	}
	p := NewParamSetFor(l.Params())
	l.Init(rng, p)
	g := p.ZerosLike()
	x := NewTensor(append([]int{n}, in...)...)
	for i := range x.Data {
		// Keep inputs away from 0 so ReLU kinks are not crossed.
		v := 0.1 + rng.Float64()
		if rng.IntN(2) == 0 {
			v = -v
		}
		x.Data[i] = float32(v)
	}
	r := make([]float32, n*Numel(out))
	for i := range r {
		r[i] = float32(rng.Float64()*2 - 1)
	}
	probe := func() float64 {
		y := l.Forward(&Pass{E: e, P: p, Train: true}, x)
		var s float64
		for i, v := range y.Data {
			s += float64(v) * float64(r[i])
		}
		return s
	}
	pass := &Pass{E: e, P: p, G: g, Train: true}
	y := l.Forward(pass, x)
	dy := Ensure(nil, y.Shape...)
	copy(dy.Data, r)
	dx := l.Backward(pass, dy, true)
	if dx == nil || len(dx.Data) != len(x.Data) {
		t.Fatalf("input gradient missing or of the wrong size")
	}
	dxCopy := append([]float32(nil), dx.Data...)
	check := func(what string, vals []float32, grad []float32) {
		const maxProbe = 24
		for k := 0; k < min(maxProbe, len(vals)); k++ {
			i := k
			if len(vals) > maxProbe {
				i = rng.IntN(len(vals))
			}
			old := vals[i]
			vals[i] = old + h
			lp := probe()
			vals[i] = old - h
			lm := probe()
			vals[i] = old
			fd := (lp - lm) / (2 * h)
			a := float64(grad[i])
			if math.Abs(a-fd) > 2e-3*math.Max(1, math.Abs(fd)) {
				// A ReLU kink inside [−h, h] spoils the difference: retry
				// with a much smaller step before calling it wrong.
				vals[i] = old + h/64
				lp = probe()
				vals[i] = old - h/64
				lm = probe()
				vals[i] = old
				fd2 := (lp - lm) / (2 * h / 64)
				if math.Abs(a-fd2) <= 1e-2*math.Max(1, math.Abs(fd2)) {
					continue
				}
			}
			if math.Abs(a-fd) > 2e-3*math.Max(1, math.Abs(fd)) {
				t.Errorf("%s[%d]: analytic %.6g, finite difference %.6g", what, i, a, fd)
			}
		}
	}
	for _, name := range g.Names() {
		check("d/d "+name, p.Get(name).Data, g.Get(name).Data)
	}
	check("d/dx", x.Data, dxCopy)
}

func TestGradLinear(t *testing.T) {
	e := kernels.Default()
	fdLayer(t, e, NewLinear("fc", 7, 5, true), []int{7}, 3, gradSeed)
	fdLayer(t, e, NewLinear("fc", 9, 4, false), []int{9}, 2, gradSeed+1)
	fdLayer(t, e, NewLinear("fc", 1, 1, true), []int{1}, 1, gradSeed+2)
}

func TestGradLinearPair(t *testing.T) {
	e := kernels.Default()
	for _, mode := range []int{-1, 1} {
		p := NewLinearPair("l1", "l2", 9, 7, 3)
		p.Mode = mode
		fdLayer(t, e, p, []int{9}, 6, gradSeed+10)
	}
}

// TestLinearPairRoutesAgree runs both routes of LinearPair on the same
// data, at sizes where the automatic choice factors, on every engine.
func TestLinearPairRoutesAgree(t *testing.T) {
	rng := rand.New(rand.NewPCG(gradSeed, 12))
	t.Logf("seed %d", gradSeed)
	const n, in, h, out = 64, 50, 300, 10
	x := NewTensor(n, in)
	dy := NewTensor(n, out)
	for i := range x.Data {
		x.Data[i] = float32(rng.NormFloat64())
	}
	for i := range dy.Data {
		dy.Data[i] = float32(rng.NormFloat64())
	}
	for en, e := range allEngines(t) {
		var outs [2][]*Tensor
		for k, mode := range []int{-1, 1} {
			l := NewLinearPair("a", "b", in, h, out)
			l.Mode = mode
			l.Build([]int{in})
			p := NewParamSetFor(l.Params())
			l.Init(rand.New(rand.NewPCG(1, 2)), p)
			g := p.ZerosLike()
			c := &Pass{E: e, P: p, G: g, Train: true}
			y := l.Forward(c, x).Clone()
			d := dy.Clone()
			dx := l.Backward(c, d, true).Clone()
			outs[k] = []*Tensor{y, dx, g.Get("a.weight"), g.Get("b.weight")}
		}
		if !NewLinearPair("a", "b", in, h, out).useFactored(n) {
			t.Fatalf("cost model does not factor at n=%d", n)
		}
		for i, what := range []string{"y", "dx", "dW1", "dW2"} {
			closeRel(t, en+" "+what, outs[1][i].Data, outs[0][i].Data, 2e-5)
		}
	}
}

func TestGradReLUFlatten(t *testing.T) {
	e := kernels.Default()
	fdLayer(t, e, NewSequential(&ReLU{}, NewLinear("fc", 12, 3, true)), []int{12}, 4, gradSeed+3)
	fdLayer(t, e, NewSequential(&Flatten{}, NewLinear("fc", 12, 3, false), &ReLU{}), []int{3, 2, 2}, 4, gradSeed+4)
}

func TestGradSequentialDeep(t *testing.T) {
	e := kernels.Default()
	net := NewSequential(&Flatten{}, NewLinear("a", 10, 8, true), &ReLU{}, NewLinear("b", 8, 8, true), &ReLU{}, NewLinear("c", 8, 4, true))
	fdLayer(t, e, net, []int{2, 5}, 5, gradSeed+5)
}

// TestGradLoss checks the softmax cross-entropy gradient in float64.
func TestGradLoss(t *testing.T) {
	rng := rand.New(rand.NewPCG(gradSeed, 9))
	n, k := 6, 5
	logits := make([]float32, n*k)
	for i := range logits {
		logits[i] = float32(4 * (rng.Float64()*2 - 1))
	}
	y := make([]int32, n)
	for i := range y {
		y[i] = int32(rng.IntN(k))
	}
	d := make([]float32, n*k)
	SoftmaxCrossEntropy(logits, n, k, y, d)
	for i := range logits {
		const h = 1e-2
		old := logits[i]
		logits[i] = old + h
		lp, _ := SoftmaxCrossEntropy(logits, n, k, y, nil)
		logits[i] = old - h
		lm, _ := SoftmaxCrossEntropy(logits, n, k, y, nil)
		logits[i] = old
		fd := (lp - lm) / (2 * h)
		if math.Abs(float64(d[i])-fd) > 1e-4*math.Max(1e-2, math.Abs(fd)) {
			t.Errorf("dL/dlogit[%d]: analytic %.7g, finite difference %.7g", i, d[i], fd)
		}
	}
}

// TestLossValues checks the loss and accuracy against direct formulas,
// including large logits (no overflow) and ties (first maximum wins).
func TestLossValues(t *testing.T) {
	logits := []float32{1000, 0, -1000, 2, 2, 1}
	loss, correct := SoftmaxCrossEntropy(logits, 2, 3, []int32{0, 1}, nil)
	want := (0 + (math.Log(2*math.Exp(2)+math.Exp(1)) - 2)) / 2
	if math.Abs(loss-want) > 1e-12 {
		t.Errorf("loss %v, want %v", loss, want)
	}
	if correct != 1 {
		t.Errorf("correct %d, want 1 (row 2 ties between classes 0 and 1; the first wins)", correct)
	}
}

// TestGradModels checks whole models (the registry's MLPs) end to end:
// Model.Forward's gradients against finite differences of its loss.
func TestGradModels(t *testing.T) {
	e := kernels.Default()
	for _, tc := range []struct {
		arch string
		cfg  ModelConfig
	}{
		{"mlp", ModelConfig{Width: 6, InputShape: []int{1, 3, 3}, NumClasses: 4}},
		{"mlp-relu", ModelConfig{Width: 5, Depth: 2, InputShape: []int{8}, NumClasses: 3}},
	} {
		t.Run(tc.arch, func(t *testing.T) {
			m, err := NewModel(tc.arch, tc.cfg)
			if err != nil {
				t.Fatal(err)
			}
			p := m.Init(gradSeed)
			rng := rand.New(rand.NewPCG(gradSeed, 11))
			n := 5
			x := NewTensor(append([]int{n}, tc.cfg.InputShape...)...)
			for i := range x.Data {
				x.Data[i] = float32(rng.NormFloat64())
			}
			y := make([]int32, n)
			for i := range y {
				y[i] = int32(rng.IntN(tc.cfg.NumClasses))
			}
			b := Batch{X: x, Y: y}
			g := p.ZerosLike()
			if _, err := m.Forward(e, p, b, g, true); err != nil {
				t.Fatal(err)
			}
			for _, name := range p.Names() {
				vals := p.Get(name).Data
				for k := 0; k < min(12, len(vals)); k++ {
					i := rng.IntN(len(vals))
					const h = 1e-2
					old := vals[i]
					vals[i] = old + h
					rp, _ := m.Forward(e, p, b, nil, false)
					vals[i] = old - h
					rm, _ := m.Forward(e, p, b, nil, false)
					vals[i] = old
					fd := (rp.Loss - rm.Loss) / (2 * h)
					a := float64(g.Get(name).Data[i])
					if math.Abs(a-fd) > 2e-3*math.Max(0.05, math.Abs(fd)) {
						t.Errorf("%s[%d]: analytic %.6g, finite difference %.6g", name, i, a, fd)
					}
				}
			}
		})
	}
}
