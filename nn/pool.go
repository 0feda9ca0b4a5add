package nn

import (
	"fmt"
	"math/rand/v2"

	"github.com/ltransfer/ltransfer/kernels"
)

// MaxPool2d is PyTorch's nn.MaxPool2d (ceil_mode False, dilation 1) on
// [N, C, H, W]. Stride 0 means the window size, as in PyTorch.
//
// Not safe for concurrent use (see Layer).
type MaxPool2d struct {
	KH, KW, StrideH, StrideW, PadH, PadW int

	p     kernels.PoolParams
	idx   []int32
	y, dx *Tensor
}

// NewMaxPool2d returns a square max-pool with stride = window.
func NewMaxPool2d(k int) *MaxPool2d { return &MaxPool2d{KH: k, KW: k} }

func buildPool(kind string, in []int, kh, kw, sh, sw, ph, pw int) (kernels.PoolParams, []int, error) {
	if len(in) != 3 {
		return kernels.PoolParams{}, nil, fmt.Errorf("nn: %s expects per-sample input [C H W], got %v", kind, in)
	}
	if sh == 0 {
		sh = kh
	}
	if sw == 0 {
		sw = kw
	}
	p := kernels.PoolParams{N: 1, C: in[0], H: in[1], W: in[2], KH: kh, KW: kw, StrideH: sh, StrideW: sw, PadH: ph, PadW: pw}
	if err := p.Validate(); err != nil {
		return p, nil, fmt.Errorf("nn: %s: %w", kind, err)
	}
	return p, []int{p.C, p.OutH(), p.OutW()}, nil
}

func (l *MaxPool2d) Build(in []int) ([]int, error) {
	p, out, err := buildPool(fmt.Sprintf("MaxPool2d(%d×%d)", l.KH, l.KW), in, l.KH, l.KW, l.StrideH, l.StrideW, l.PadH, l.PadW)
	l.p = p
	return out, err
}

func (l *MaxPool2d) Params() []ParamInfo              { return nil }
func (l *MaxPool2d) Init(rng *rand.Rand, p *ParamSet) {}

func (l *MaxPool2d) Forward(c *Pass, x *Tensor) *Tensor {
	p := l.p
	p.N = x.Shape[0]
	l.y = Ensure(l.y, p.N, p.C, p.OutH(), p.OutW())
	if cap(l.idx) < len(l.y.Data) {
		l.idx = make([]int32, len(l.y.Data))
	}
	l.idx = l.idx[:len(l.y.Data)]
	c.E.MaxPool2D(p, x.Data, l.y.Data, l.idx)
	return l.y
}

func (l *MaxPool2d) Backward(c *Pass, dy *Tensor, needDx bool) *Tensor {
	if !needDx {
		return nil
	}
	p := l.p
	p.N = dy.Shape[0]
	l.dx = Ensure(l.dx, p.N, p.C, p.H, p.W)
	c.E.MaxPool2DBackward(p, dy.Data, l.idx, l.dx.Data)
	return l.dx
}

// AvgPool2d is PyTorch's nn.AvgPool2d (count_include_pad True, ceil_mode
// False). Global (KH = KW = 0) averages the whole remaining plane, which is
// what the ResNets' final F.avg_pool2d does on their standard input sizes.
//
// Not safe for concurrent use (see Layer).
type AvgPool2d struct {
	KH, KW, StrideH, StrideW, PadH, PadW int
	Global                               bool

	p     kernels.PoolParams
	y, dx *Tensor
}

func (l *AvgPool2d) Build(in []int) ([]int, error) {
	kh, kw := l.KH, l.KW
	if l.Global && len(in) == 3 {
		kh, kw = in[1], in[2]
	}
	p, out, err := buildPool(fmt.Sprintf("AvgPool2d(%d×%d)", kh, kw), in, kh, kw, l.StrideH, l.StrideW, l.PadH, l.PadW)
	l.p = p
	return out, err
}

func (l *AvgPool2d) Params() []ParamInfo              { return nil }
func (l *AvgPool2d) Init(rng *rand.Rand, p *ParamSet) {}

func (l *AvgPool2d) Forward(c *Pass, x *Tensor) *Tensor {
	p := l.p
	p.N = x.Shape[0]
	l.y = Ensure(l.y, p.N, p.C, p.OutH(), p.OutW())
	c.E.AvgPool2D(p, x.Data, l.y.Data)
	return l.y
}

func (l *AvgPool2d) Backward(c *Pass, dy *Tensor, needDx bool) *Tensor {
	if !needDx {
		return nil
	}
	p := l.p
	p.N = dy.Shape[0]
	l.dx = Ensure(l.dx, p.N, p.C, p.H, p.W)
	c.E.AvgPool2DBackward(p, dy.Data, l.dx.Data)
	return l.dx
}
