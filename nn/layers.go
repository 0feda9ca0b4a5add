package nn

import (
	"fmt"
	"math"
	"math/rand/v2"

	"github.com/ltransfer/ltransfer/internal/hugemem"
	"github.com/ltransfer/ltransfer/kernels"
)

// Pass carries what one forward (and backward) pass through a network
// needs: the engine, the parameters, where to write gradients, and the mode.
// Layers read their parameters by full state_dict name.
//
// A Pass belongs to one forward/backward call on one goroutine.
type Pass struct {
	E *kernels.Engine
	P *ParamSet
	// G receives parameter gradients; nil for a forward-only pass.
	G *ParamSet
	// Train selects training-mode behaviour (BN batch statistics and
	// running-statistic updates written into P).
	Train bool
}

// Param returns the named parameter; a missing name is a programmer error
// (models validate parameter sets before a pass).
func (c *Pass) Param(name string) *Tensor {
	t := c.P.Get(name)
	if t == nil {
		panic(fmt.Sprintf("nn: parameter %q missing from the parameter set", name))
	}
	return t
}

// Grad returns the gradient tensor for name, or nil when the pass computes
// no gradients.
func (c *Pass) Grad(name string) *Tensor {
	if c.G == nil {
		return nil
	}
	t := c.G.Get(name)
	if t == nil {
		panic(fmt.Sprintf("nn: gradient %q missing from the gradient set", name))
	}
	return t
}

// Layer is one differentiable stage of a network. Tensors passed between
// layers have the batch as their first axis; shapes given to Build are per
// sample (without the batch axis). A layer owns its output and input-gradient
// workspaces, which grow to the largest batch seen and are reused, so
// steady-state training allocates nothing. A layer is not safe for
// concurrent use.
//
// Composite layers (Sequential, residual blocks) implement Layer by calling
// their children, so new layer kinds (convolution, pooling, batch-norm) are
// added in their own files without changing this one.
type Layer interface {
	// Build fixes the per-sample input shape and returns the per-sample
	// output shape. It is called once, before any other method.
	Build(in []int) ([]int, error)
	// Params lists the layer's state entries with their full names, in
	// PyTorch state_dict order.
	Params() []ParamInfo
	// Init writes PyTorch-default initial values into the layer's entries
	// of p, drawing from rng.
	Init(rng *rand.Rand, p *ParamSet)
	// Forward returns the output for x. The result is owned by the layer
	// and valid until its next Forward; the layer may keep x for Backward,
	// so neither the layer nor the caller may modify x until then (ReLU,
	// for one, uses its output as the mask of its backward pass).
	Forward(c *Pass, x *Tensor) *Tensor
	// Backward takes the gradient of the loss with respect to the output
	// of the last Forward (the layer may overwrite dy), overwrites the
	// gradients of its parameters in c.G, and returns the gradient with
	// respect to the input, or nil when needDx is false (the first layer
	// of a network skips that work).
	Backward(c *Pass, dy *Tensor, needDx bool) *Tensor
}

// Ensure returns t reshaped to shape (batch first), reusing t's storage
// when it is large enough; t may be nil. Contents are unspecified.
func Ensure(t *Tensor, shape ...int) *Tensor {
	if t == nil {
		t = &Tensor{}
	}
	n := Numel(shape)
	if cap(t.Data) < n {
		t.Data = hugemem.Float32s(n)
	}
	t.Data = t.Data[:n]
	t.Shape = append(t.Shape[:0], shape...)
	return t
}

// view returns a tensor header sharing data with a new shape.
func view(dst *Tensor, data []float32, shape ...int) *Tensor {
	if dst == nil {
		dst = &Tensor{}
	}
	dst.Data = data
	dst.Shape = append(dst.Shape[:0], shape...)
	return dst
}

// UniformInit fills t with U(−bound, bound) draws from rng.
func UniformInit(rng *rand.Rand, t *Tensor, bound float64) {
	for i := range t.Data {
		t.Data[i] = float32((2*rng.Float64() - 1) * bound)
	}
}

// KaimingUniformInit fills a weight as PyTorch's default for Linear and
// Conv layers does: kaiming_uniform_(a=√5), i.e. U(−1/√fanIn, 1/√fanIn).
func KaimingUniformInit(rng *rand.Rand, t *Tensor, fanIn int) {
	// gain = √(2/(1+a²)) = √(1/3); bound = √3·gain/√fanIn = 1/√fanIn.
	UniformInit(rng, t, 1/math.Sqrt(float64(fanIn)))
}

// NewRand returns the package's seeded generator (PCG), used for
// initialisation, shuffling and augmentation.
func NewRand(seed int64, stream uint64) *rand.Rand {
	return rand.New(rand.NewPCG(uint64(seed), 0x9e3779b97f4a7c15^stream))
}

func perSample(x *Tensor) int {
	if len(x.Shape) == 0 || x.Shape[0] == 0 {
		return 0
	}
	return len(x.Data) / x.Shape[0]
}

func shapeEq(a, b []int) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// ---------------------------------------------------------------- Linear

// Linear is y = x·Wᵀ + b with W [Out, In] and b [Out] (PyTorch nn.Linear),
// named Name+".weight" and Name+".bias".
//
// Not safe for concurrent use (see Layer).
type Linear struct {
	Name    string
	In, Out int
	Bias    bool

	wName, bName string
	x            *Tensor
	y, dx        *Tensor
}

// NewLinear returns a Linear layer named name (the module path, e.g. "linear1").
func NewLinear(name string, in, out int, bias bool) *Linear {
	return &Linear{Name: name, In: in, Out: out, Bias: bias, wName: name + ".weight", bName: name + ".bias"}
}

func (l *Linear) Build(in []int) ([]int, error) {
	if len(in) != 1 || in[0] != l.In {
		return nil, fmt.Errorf("nn: layer %s expects %d input features, got per-sample shape %v", l.Name, l.In, in)
	}
	return []int{l.Out}, nil
}

func (l *Linear) Params() []ParamInfo {
	ps := []ParamInfo{{Name: l.wName, Shape: []int{l.Out, l.In}}}
	if l.Bias {
		ps = append(ps, ParamInfo{Name: l.bName, Shape: []int{l.Out}})
	}
	return ps
}

func (l *Linear) Init(rng *rand.Rand, p *ParamSet) {
	KaimingUniformInit(rng, p.Get(l.wName), l.In)
	if l.Bias {
		UniformInit(rng, p.Get(l.bName), 1/math.Sqrt(float64(l.In)))
	}
}

func (l *Linear) Forward(c *Pass, x *Tensor) *Tensor {
	n := x.Shape[0]
	w := c.Param(l.wName)
	l.x = x
	l.y = Ensure(l.y, n, l.Out)
	beta := float32(0)
	if l.Bias {
		b := c.Param(l.bName).Data
		for i := 0; i < n; i++ {
			copy(l.y.Data[i*l.Out:(i+1)*l.Out], b)
		}
		beta = 1
	}
	c.E.Sgemm(false, true, n, l.Out, l.In, 1, x.Data, l.In, w.Data, l.In, beta, l.y.Data, l.Out)
	return l.y
}

func (l *Linear) Backward(c *Pass, dy *Tensor, needDx bool) *Tensor {
	n := dy.Shape[0]
	if gw := c.Grad(l.wName); gw != nil {
		c.E.Sgemm(true, false, l.Out, l.In, n, 1, dy.Data, l.Out, l.x.Data, l.In, 0, gw.Data, l.In)
		if l.Bias {
			gb := c.Grad(l.bName).Data
			clear(gb)
			for i := 0; i < n; i++ {
				c.E.Axpy(1, dy.Data[i*l.Out:(i+1)*l.Out], gb)
			}
		}
	}
	if !needDx {
		return nil
	}
	w := c.Param(l.wName)
	l.dx = Ensure(l.dx, n, l.In)
	c.E.Sgemm(false, false, n, l.In, l.Out, 1, dy.Data, l.Out, w.Data, l.In, 0, l.dx.Data, l.In)
	if len(l.x.Shape) != 2 {
		l.dx.Shape = append(l.dx.Shape[:0], l.x.Shape...)
	}
	return l.dx
}

// ---------------------------------------------------------------- ReLU

// ReLU is y = max(x, 0), elementwise, any shape.
//
// Not safe for concurrent use (see Layer).
type ReLU struct {
	y *Tensor
}

func (r *ReLU) Build(in []int) ([]int, error)    { return append([]int(nil), in...), nil }
func (r *ReLU) Params() []ParamInfo              { return nil }
func (r *ReLU) Init(rng *rand.Rand, p *ParamSet) {}

func (r *ReLU) Forward(c *Pass, x *Tensor) *Tensor {
	r.y = Ensure(r.y, x.Shape...)
	y, xd := r.y.Data, x.Data
	if parts := reluParts(c, len(y)); parts > 1 {
		// Elementwise: the same result for any split.
		c.E.ParallelFor(parts, func(lo, hi int) {
			lo, hi = lo*len(y)/parts, hi*len(y)/parts
			c.E.ReLU(y[lo:hi], xd[lo:hi])
		})
	} else {
		c.E.ReLU(y, xd)
	}
	return r.y
}

// reluMinChunk is the fewest elements per thread worth a hand-off.
const reluMinChunk = 1 << 15

// reluParts is the number of chunks a ReLU of n elements is split into
// (1: run it on the calling goroutine, with no closure to allocate).
func reluParts(c *Pass, n int) int {
	return max(1, min(c.E.Threads(), n/reluMinChunk))
}

func (r *ReLU) Backward(c *Pass, dy *Tensor, needDx bool) *Tensor {
	if !needDx {
		return nil
	}
	// y > 0 exactly where x > 0, so the output serves as the mask; dy is
	// ours to overwrite.
	d, y := dy.Data, r.y.Data
	if parts := reluParts(c, len(d)); parts > 1 {
		c.E.ParallelFor(parts, func(lo, hi int) {
			lo, hi = lo*len(d)/parts, hi*len(d)/parts
			c.E.ReLUBackward(d[lo:hi], d[lo:hi], y[lo:hi])
		})
	} else {
		c.E.ReLUBackward(d, d, y)
	}
	return dy
}

// ---------------------------------------------------------------- Flatten

// Flatten reshapes [N, d1, d2, …] to [N, d1·d2·…] without copying.
//
// Not safe for concurrent use (see Layer).
type Flatten struct {
	y, dx   Tensor
	inShape []int
}

func (f *Flatten) Build(in []int) ([]int, error)    { return []int{Numel(in)}, nil }
func (f *Flatten) Params() []ParamInfo              { return nil }
func (f *Flatten) Init(rng *rand.Rand, p *ParamSet) {}

func (f *Flatten) Forward(c *Pass, x *Tensor) *Tensor {
	f.inShape = append(f.inShape[:0], x.Shape...)
	return view(&f.y, x.Data, x.Shape[0], perSample(x))
}

func (f *Flatten) Backward(c *Pass, dy *Tensor, needDx bool) *Tensor {
	if !needDx {
		return nil
	}
	return view(&f.dx, dy.Data, f.inShape...)
}

// ---------------------------------------------------------------- Sequential

// Sequential runs its layers in order (PyTorch nn.Sequential); it is itself
// a Layer, so sequences nest.
//
// Not safe for concurrent use (see Layer).
type Sequential struct {
	Layers []Layer

	// first is the index of the first layer with parameters: layers
	// before it need no input gradient unless the caller asks for one.
	first int
}

// NewSequential returns a Sequential of the given layers.
func NewSequential(layers ...Layer) *Sequential { return &Sequential{Layers: layers} }

func (s *Sequential) Build(in []int) ([]int, error) {
	cur := append([]int(nil), in...)
	s.first = len(s.Layers)
	for i, l := range s.Layers {
		out, err := l.Build(cur)
		if err != nil {
			return nil, err
		}
		cur = out
		if s.first == len(s.Layers) && len(l.Params()) > 0 {
			s.first = i
		}
	}
	return cur, nil
}

func (s *Sequential) Params() []ParamInfo {
	var ps []ParamInfo
	for _, l := range s.Layers {
		ps = append(ps, l.Params()...)
	}
	return ps
}

func (s *Sequential) Init(rng *rand.Rand, p *ParamSet) {
	for _, l := range s.Layers {
		l.Init(rng, p)
	}
}

func (s *Sequential) Forward(c *Pass, x *Tensor) *Tensor {
	for _, l := range s.Layers {
		x = l.Forward(c, x)
	}
	return x
}

func (s *Sequential) Backward(c *Pass, dy *Tensor, needDx bool) *Tensor {
	for i := len(s.Layers) - 1; i >= 0; i-- {
		if !needDx && i <= s.first {
			if i == s.first {
				s.Layers[i].Backward(c, dy, false)
			}
			return nil
		}
		dy = s.Layers[i].Backward(c, dy, true)
	}
	return dy
}
