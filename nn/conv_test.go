package nn

import (
	"fmt"
	"math"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/ltransfer/ltransfer/asm"
	"github.com/ltransfer/ltransfer/kernels"
)

// convEngines returns one engine per available kernel path, with 2 threads.
func convEngines(t *testing.T) []*kernels.Engine {
	var es []*kernels.Engine
	for _, p := range asm.Available() {
		e, err := kernels.New(kernels.WithPath(p), kernels.WithThreads(2))
		if err != nil {
			t.Fatal(err)
		}
		es = append(es, e)
	}
	return es
}

// spreadValues fills x with distinct values spaced ≥ gap apart in a random
// order and at least gap/2 away from zero, so that central differences
// with a step below gap/2 never cross a ReLU kink or change a max-pool
// winner.
func spreadValues(rng *rand.Rand, x []float32, gap float64) {
	perm := rng.Perm(len(x))
	for i, j := range perm {
		v := (float64(j) - float64(len(x))/2 + 0.5) * gap
		x[i] = float32(v)
	}
}

// fdCheckLayer checks a layer's parameter and input gradients against
// central differences of L = Σ y·R (accumulated in float64) at up to 24
// coordinates per tensor.
func fdCheckLayer(t *testing.T, e *kernels.Engine, rng *rand.Rand, l Layer, in []int, n int, train bool, smooth bool, eps float64) {
	t.Helper()
	out, err := l.Build(in)
	if err != nil {
		t.Fatal(err)
	}
	state := l.Params()
	p := NewParamSetFor(state)
	l.Init(rng, p)
	g := NewParamSet()
	for _, pi := range state {
		if pi.Buffer {
			continue
		}
		// Perturb every trainable tensor so BN's 1/0 defaults are not special.
		for i := range p.Get(pi.Name).Data {
			p.Get(pi.Name).Data[i] += float32(0.3 * (rng.Float64()*2 - 1))
		}
		_ = g.Add(pi.Name, NewTensor(pi.Shape...))
	}
	x := NewTensor(append([]int{n}, in...)...)
	if smooth {
		spreadValues(rng, x.Data, 0.05)
	} else {
		for i := range x.Data {
			x.Data[i] = float32(rng.Float64()*2 - 1)
		}
	}
	R := make([]float32, n*Numel(out))
	for i := range R {
		R[i] = float32(rng.Float64()*2 - 1)
	}
	loss := func() float64 {
		c := &Pass{E: e, P: p, Train: train}
		y := l.Forward(c, x)
		if len(y.Data) != len(R) {
			t.Fatalf("output has %d values, want %d", len(y.Data), len(R))
		}
		s := 0.0
		for i, v := range y.Data {
			s += float64(v) * float64(R[i])
		}
		return s
	}
	c := &Pass{E: e, P: p, G: g, Train: train}
	y := l.Forward(c, x)
	dy := &Tensor{Shape: append([]int(nil), y.Shape...), Data: append([]float32(nil), R...)}
	dxT := l.Backward(c, dy, true)
	dx := append([]float32(nil), dxT.Data...)
	check := func(name string, v []float32, grad []float32) {
		t.Helper()
		idx := rng.Perm(len(v))
		if len(idx) > 24 {
			idx = idx[:24]
		}
		for _, i := range idx {
			old := v[i]
			vp, vm := old+float32(eps), old-float32(eps)
			v[i] = vp
			lp := loss()
			v[i] = vm
			lm := loss()
			v[i] = old
			fd := (lp - lm) / (float64(vp) - float64(vm))
			got := float64(grad[i])
			if math.Abs(fd-got) > 3e-3+1e-2*math.Abs(fd) {
				t.Errorf("%s[%d]: gradient %.6g, central difference %.6g", name, i, got, fd)
			}
		}
	}
	for _, pi := range state {
		if !pi.Buffer {
			check(pi.Name, p.Get(pi.Name).Data, g.Get(pi.Name).Data)
		}
	}
	check("input", x.Data, dx)
}

func TestConvLayersFiniteDifferences(t *testing.T) {
	const seed = 601
	t.Logf("seed %d", seed)
	cases := []struct {
		name   string
		mk     func() Layer
		in     []int
		n      int
		train  bool
		smooth bool
	}{
		{"conv3x3", func() Layer { return NewConv2d("c", 3, 4, 3, 1, 1, true) }, []int{3, 5, 6}, 2, true, false},
		{"conv3x3s2", func() Layer { return NewConv2d("c", 2, 3, 3, 2, 1, false) }, []int{2, 7, 5}, 3, true, false},
		{"conv1x1", func() Layer { return NewConv2d("c", 5, 3, 1, 1, 0, true) }, []int{5, 3, 3}, 2, true, false},
		{"conv5x5", func() Layer { return NewConv2d("c", 2, 2, 5, 1, 2, true) }, []int{2, 6, 6}, 1, true, false},
		{"maxpool2", func() Layer { return NewMaxPool2d(2) }, []int{3, 6, 5}, 2, true, true},
		{"maxpool3s2p1", func() Layer { return &MaxPool2d{KH: 3, KW: 3, StrideH: 2, StrideW: 2, PadH: 1, PadW: 1} }, []int{2, 7, 7}, 2, true, true},
		{"avgpool2", func() Layer { return &AvgPool2d{KH: 2, KW: 2} }, []int{3, 4, 6}, 2, true, false},
		{"avgpoolGlobal", func() Layer { return &AvgPool2d{Global: true} }, []int{3, 4, 4}, 2, true, false},
		{"batchnormTrain", func() Layer { return NewBatchNorm2d("bn", 3) }, []int{3, 3, 4}, 4, true, false},
		{"batchnormEval", func() Layer { return NewBatchNorm2d("bn", 3) }, []int{3, 3, 4}, 4, false, false},
		{"convnorm", func() Layer { return NewConvNormBlock("b", 2, 3, 3, 2, 1) }, []int{2, 5, 5}, 3, true, false},
		{"basicblockIdentity", func() Layer { return NewBasicBlock("l", 3, 3, 1) }, []int{3, 4, 4}, 2, true, true},
		{"basicblockProjection", func() Layer { return NewBasicBlock("l", 2, 4, 2) }, []int{2, 6, 6}, 2, true, true},
		{"basicblockEval", func() Layer { return NewBasicBlock("l", 2, 4, 2) }, []int{2, 6, 6}, 2, false, true},
		{"reshape", func() Layer {
			return NewSequential(&Reshape{Shape: []int{12, 1, 1}}, NewConv2d("h", 12, 3, 1, 1, 0, true))
		}, []int{3, 2, 2}, 2, true, false},
	}
	for _, e := range convEngines(t) {
		for ci, tc := range cases {
			t.Run(fmt.Sprintf("%s/path=%v", tc.name, e.Path()), func(t *testing.T) {
				rng := rand.New(rand.NewPCG(seed, uint64(ci)))
				eps := 1e-2
				if strings.HasPrefix(tc.name, "basicblock") {
					// Interior ReLUs: a smaller step crosses fewer kinks.
					eps = 1e-3
				}
				fdCheckLayer(t, e, rng, tc.mk(), tc.in, tc.n, tc.train, tc.smooth, eps)
			})
		}
	}
}
