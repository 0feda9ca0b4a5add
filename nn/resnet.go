package nn

import (
	"fmt"
	"math/rand/v2"
)

func init() {
	RegisterArch("resnet18", newResNet18)
	RegisterArch("resnet20", newResNet20)
}

// ConvNormBlock is the paper's conv → BatchNorm pair (module names
// Name+".conv" and Name+".norm"), convolution without bias.
//
// Not safe for concurrent use (see Layer).
type ConvNormBlock struct {
	Conv *Conv2d
	Norm *BatchNorm2d
}

// NewConvNormBlock returns a bias-free convolution followed by BatchNorm2d.
func NewConvNormBlock(name string, in, out, kernel, stride, pad int) *ConvNormBlock {
	return &ConvNormBlock{Conv: NewConv2d(name+".conv", in, out, kernel, stride, pad, false), Norm: NewBatchNorm2d(name+".norm", out)}
}

func (b *ConvNormBlock) children() []Layer { return []Layer{b.Conv, b.Norm} }

func (b *ConvNormBlock) Build(in []int) ([]int, error) {
	mid, err := b.Conv.Build(in)
	if err != nil {
		return nil, err
	}
	return b.Norm.Build(mid)
}

func (b *ConvNormBlock) Params() []ParamInfo {
	return append(b.Conv.Params(), b.Norm.Params()...)
}

func (b *ConvNormBlock) Init(rng *rand.Rand, p *ParamSet) {
	b.Conv.Init(rng, p)
	b.Norm.Init(rng, p)
}

func (b *ConvNormBlock) Forward(c *Pass, x *Tensor) *Tensor {
	return b.Norm.Forward(c, b.Conv.Forward(c, x))
}

func (b *ConvNormBlock) Backward(c *Pass, dy *Tensor, needDx bool) *Tensor {
	return b.Conv.Backward(c, b.Norm.Backward(c, dy, true), needDx)
}

// BasicBlock is the ResNet basic block of the paper's code:
// out = relu(convnb2(relu(convnb1(x))) + shortcut(x)), with shortcut a
// 1×1 ConvNormBlock (projection) when the stride or the width changes and
// the identity otherwise.
//
// Not safe for concurrent use (see Layer).
type BasicBlock struct {
	Name     string
	ConvNB1  *ConvNormBlock
	ConvNB2  *ConvNormBlock
	Shortcut *ConvNormBlock // nil: identity

	relu1   ReLU
	out     *Tensor
	dsc, dx *Tensor
}

// NewBasicBlock returns a block named name (e.g. "layer2.0") mapping in
// channels to planes with the given stride.
func NewBasicBlock(name string, in, planes, stride int) *BasicBlock {
	b := &BasicBlock{
		Name:    name,
		ConvNB1: NewConvNormBlock(name+".convnb1", in, planes, 3, stride, 1),
		ConvNB2: NewConvNormBlock(name+".convnb2", planes, planes, 3, 1, 1),
	}
	if stride != 1 || in != planes {
		b.Shortcut = NewConvNormBlock(name+".shortcut", in, planes, 1, stride, 0)
	}
	return b
}

func (b *BasicBlock) children() []Layer {
	ls := []Layer{b.ConvNB1, b.ConvNB2}
	if b.Shortcut != nil {
		ls = append(ls, b.Shortcut)
	}
	return ls
}

func (b *BasicBlock) Build(in []int) ([]int, error) {
	h, err := b.ConvNB1.Build(in)
	if err != nil {
		return nil, err
	}
	if _, err := b.relu1.Build(h); err != nil {
		return nil, err
	}
	out, err := b.ConvNB2.Build(h)
	if err != nil {
		return nil, err
	}
	sc := in
	if b.Shortcut != nil {
		if sc, err = b.Shortcut.Build(in); err != nil {
			return nil, err
		}
	}
	if !shapeEq(sc, out) {
		return nil, fmt.Errorf("nn: block %s: shortcut gives %v but the residual branch gives %v", b.Name, sc, out)
	}
	return out, nil
}

func (b *BasicBlock) Params() []ParamInfo {
	var ps []ParamInfo
	for _, l := range b.children() {
		ps = append(ps, l.Params()...)
	}
	return ps
}

func (b *BasicBlock) Init(rng *rand.Rand, p *ParamSet) {
	for _, l := range b.children() {
		l.Init(rng, p)
	}
}

func (b *BasicBlock) Forward(c *Pass, x *Tensor) *Tensor {
	h := b.relu1.Forward(c, b.ConvNB1.Forward(c, x))
	r := b.ConvNB2.Forward(c, h)
	sc := x
	if b.Shortcut != nil {
		sc = b.Shortcut.Forward(c, x)
	}
	b.out = Ensure(b.out, r.Shape...)
	c.E.Add(b.out.Data, r.Data, sc.Data)
	c.E.ReLU(b.out.Data, b.out.Data)
	return b.out
}

func (b *BasicBlock) Backward(c *Pass, dy *Tensor, needDx bool) *Tensor {
	// Through the final ReLU (in place: dy is ours to overwrite).
	c.E.ReLUBackward(dy.Data, dy.Data, b.out.Data)
	// The residual branch may overwrite its dy, so the shortcut gets a copy.
	b.dsc = Ensure(b.dsc, dy.Shape...)
	copy(b.dsc.Data, dy.Data)
	dh := b.ConvNB2.Backward(c, dy, true)
	dh = b.relu1.Backward(c, dh, true)
	dx1 := b.ConvNB1.Backward(c, dh, needDx)
	var dsc *Tensor
	if b.Shortcut != nil {
		dsc = b.Shortcut.Backward(c, b.dsc, needDx)
	} else {
		dsc = b.dsc
	}
	if !needDx {
		return nil
	}
	b.dx = Ensure(b.dx, dx1.Shape...)
	c.E.Add(b.dx.Data, dx1.Data, dsc.Data)
	return b.dx
}

// resnetInput checks a ResNet input shape: [C H W] with H = W ≥ 8.
func resnetInput(arch string, cfg ModelConfig) ([]int, error) {
	in := cfg.InputShape
	if in == nil {
		in = []int{3, 32, 32}
	}
	if len(in) != 3 || in[1] < 8 || in[2] < 8 {
		return nil, fmt.Errorf("nn: model %s needs an image input [C H W] with H, W ≥ 8, got %v", arch, in)
	}
	return in, nil
}

func widthOf(arch string, cfg ModelConfig, base int) (int, error) {
	f := cfg.WidthFactor
	if f == 0 {
		f = 1
	}
	w := int(float64(base) * f) // int() truncation, as the paper's code
	if w < 1 {
		return 0, fmt.Errorf("nn: model %s: width factor %g leaves %d channels of %d", arch, f, w, base)
	}
	return w, nil
}

// newResNet18 is the paper's ResNet-18 (BasicBlock, [2 2 2 2], projection
// shortcuts). On inputs up to 32×32 the stem is a 3×3 stride-1 convolution
// without max-pool (the paper's CIFAR setting); up to 127 pixels a 3×3 stem
// followed by a 3×3 stride-2 max-pool (its 64/84-pixel setting); from 128
// pixels the ImageNet stem, 7×7 stride 2 and the max-pool. The head is a
// global average pool (the paper's avg_pool2d(4) on 32×32, 7 on 224×224)
// and linear [classes, 512·width].
//
// With a width factor every stage is scaled, the stem included (the
// paper's code keeps a 64-channel stem, which adds a shortcut to
// layer1.0 for factors ≠ 1; both agree at width 1).
func newResNet18(cfg ModelConfig) (Model, error) {
	const arch = "resnet18"
	in, err := resnetInput(arch, cfg)
	if err != nil {
		return nil, err
	}
	k := orDefault(cfg.NumClasses, 10)
	var widths [4]int
	for i, base := range []int{64, 128, 256, 512} {
		if widths[i], err = widthOf(arch, cfg, base); err != nil {
			return nil, err
		}
	}
	var layers []Layer
	switch size := min(in[1], in[2]); {
	case size <= 32:
		layers = append(layers, NewConvNormBlock("convnb1", in[0], widths[0], 3, 1, 1), &ReLU{})
	case size < 128:
		layers = append(layers, NewConvNormBlock("convnb1", in[0], widths[0], 3, 1, 1), &ReLU{},
			&MaxPool2d{KH: 3, KW: 3, StrideH: 2, StrideW: 2, PadH: 1, PadW: 1})
	default:
		layers = append(layers, NewConvNormBlock("convnb1", in[0], widths[0], 7, 2, 3), &ReLU{},
			&MaxPool2d{KH: 3, KW: 3, StrideH: 2, StrideW: 2, PadH: 1, PadW: 1})
	}
	prev := widths[0]
	for s, w := range widths {
		for b := 0; b < 2; b++ {
			stride := 1
			if b == 0 && s > 0 {
				stride = 2
			}
			layers = append(layers, NewBasicBlock(fmt.Sprintf("layer%d.%d", s+1, b), prev, w, stride))
			prev = w
		}
	}
	layers = append(layers, &AvgPool2d{Global: true}, &Flatten{}, NewLinear("linear", prev, k, true))
	return NewLayerModel(arch, in, k, NewSequential(layers...))
}

// newResNet20 is the CIFAR ResNet-20 of He et al. (3 stages of 3 basic
// blocks, 16/32/64 channels times the width factor) with the paper's
// module names and projection shortcuts: convnb1, layer1.0 … layer3.2,
// global average pool, linear.
func newResNet20(cfg ModelConfig) (Model, error) {
	const arch = "resnet20"
	in, err := resnetInput(arch, cfg)
	if err != nil {
		return nil, err
	}
	k := orDefault(cfg.NumClasses, 10)
	var widths [3]int
	for i, base := range []int{16, 32, 64} {
		if widths[i], err = widthOf(arch, cfg, base); err != nil {
			return nil, err
		}
	}
	layers := []Layer{NewConvNormBlock("convnb1", in[0], widths[0], 3, 1, 1), &ReLU{}}
	prev := widths[0]
	for s, w := range widths {
		for b := 0; b < 3; b++ {
			stride := 1
			if b == 0 && s > 0 {
				stride = 2
			}
			layers = append(layers, NewBasicBlock(fmt.Sprintf("layer%d.%d", s+1, b), prev, w, stride))
			prev = w
		}
	}
	layers = append(layers, &AvgPool2d{Global: true}, &Flatten{}, NewLinear("linear", prev, k, true))
	return NewLayerModel(arch, in, k, NewSequential(layers...))
}
