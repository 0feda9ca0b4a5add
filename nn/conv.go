package nn

import (
	"fmt"
	"math"
	"math/rand/v2"

	"github.com/ltransfer/ltransfer/kernels"
)

// Conv2d is PyTorch's nn.Conv2d (groups 1, dilation 1): input [N, In, H, W],
// weight [Out, In, KH, KW] named Name+".weight", optional bias [Out] named
// Name+".bias".
//
// Not safe for concurrent use (see Layer).
type Conv2d struct {
	Name             string
	In, Out          int
	KH, KW           int
	StrideH, StrideW int
	PadH, PadW       int
	Bias             bool

	wName, bName string
	p            kernels.ConvParams // per-sample (N = 1) geometry, fixed by Build
	x            *Tensor
	y, dx        *Tensor
}

// NewConv2d returns a square-kernel convolution layer named name (the
// module path, e.g. "convs.0").
func NewConv2d(name string, in, out, kernel, stride, pad int, bias bool) *Conv2d {
	return &Conv2d{Name: name, In: in, Out: out, KH: kernel, KW: kernel, StrideH: stride, StrideW: stride,
		PadH: pad, PadW: pad, Bias: bias, wName: name + ".weight", bName: name + ".bias"}
}

func (l *Conv2d) Build(in []int) ([]int, error) {
	if len(in) != 3 || in[0] != l.In {
		return nil, fmt.Errorf("nn: layer %s expects input [%d H W], got per-sample shape %v", l.Name, l.In, in)
	}
	if l.wName == "" {
		l.wName, l.bName = l.Name+".weight", l.Name+".bias"
	}
	l.p = kernels.ConvParams{N: 1, C: l.In, H: in[1], W: in[2], K: l.Out, R: l.KH, S: l.KW,
		StrideH: l.StrideH, StrideW: l.StrideW, PadH: l.PadH, PadW: l.PadW}
	if err := l.p.Validate(); err != nil {
		return nil, fmt.Errorf("nn: layer %s: %w", l.Name, err)
	}
	return []int{l.Out, l.p.OutH(), l.p.OutW()}, nil
}

func (l *Conv2d) Params() []ParamInfo {
	ps := []ParamInfo{{Name: l.wName, Shape: []int{l.Out, l.In, l.KH, l.KW}}}
	if l.Bias {
		ps = append(ps, ParamInfo{Name: l.bName, Shape: []int{l.Out}})
	}
	return ps
}

// Init draws PyTorch's defaults: kaiming_uniform_(a=√5) for the weight,
// U(±1/√fanIn) for the bias, fanIn = In·KH·KW.
func (l *Conv2d) Init(rng *rand.Rand, p *ParamSet) {
	fanIn := l.In * l.KH * l.KW
	KaimingUniformInit(rng, p.Get(l.wName), fanIn)
	if l.Bias {
		UniformInit(rng, p.Get(l.bName), 1/math.Sqrt(float64(fanIn)))
	}
}

func (l *Conv2d) params(n int) kernels.ConvParams {
	p := l.p
	p.N = n
	return p
}

func (l *Conv2d) Forward(c *Pass, x *Tensor) *Tensor {
	p := l.params(x.Shape[0])
	l.x = x
	l.y = Ensure(l.y, p.N, p.K, p.OutH(), p.OutW())
	var b []float32
	if l.Bias {
		b = c.Param(l.bName).Data
	}
	c.E.Conv2D(p, x.Data, c.Param(l.wName).Data, b, l.y.Data)
	return l.y
}

func (l *Conv2d) Backward(c *Pass, dy *Tensor, needDx bool) *Tensor {
	p := l.params(dy.Shape[0])
	if gw := c.Grad(l.wName); gw != nil {
		var gb []float32
		if l.Bias {
			gb = c.Grad(l.bName).Data
		}
		c.E.Conv2DBackwardWeight(p, l.x.Data, dy.Data, gw.Data, gb)
	}
	if !needDx {
		return nil
	}
	l.dx = Ensure(l.dx, l.x.Shape...)
	c.E.Conv2DBackwardData(p, dy.Data, c.Param(l.wName).Data, l.dx.Data)
	return l.dx
}

// Reshape views each sample with a new per-sample shape of the same size
// (PyTorch's out.view(N, …)), without copying.
//
// Not safe for concurrent use (see Layer).
type Reshape struct {
	Shape []int

	in    []int
	y, dx Tensor
}

func (r *Reshape) Build(in []int) ([]int, error) {
	if Numel(in) != Numel(r.Shape) {
		return nil, fmt.Errorf("nn: cannot view per-sample shape %v as %v", in, r.Shape)
	}
	r.in = append([]int(nil), in...)
	return append([]int(nil), r.Shape...), nil
}
func (r *Reshape) Params() []ParamInfo              { return nil }
func (r *Reshape) Init(rng *rand.Rand, p *ParamSet) {}

func (r *Reshape) Forward(c *Pass, x *Tensor) *Tensor {
	return view(&r.y, x.Data, append([]int{x.Shape[0]}, r.Shape...)...)
}

func (r *Reshape) Backward(c *Pass, dy *Tensor, needDx bool) *Tensor {
	if !needDx {
		return nil
	}
	return view(&r.dx, dy.Data, append([]int{dy.Shape[0]}, r.in...)...)
}
