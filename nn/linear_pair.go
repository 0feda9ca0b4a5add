package nn

import (
	"fmt"
	"math/rand/v2"
)

// LinearPair is two bias-free Linear layers with nothing between them,
// x → x·W1ᵀ → (x·W1ᵀ)·W2ᵀ, W1 [Hidden, In], W2 [Out, Hidden]: the paper's
// mlp. Its parameters, initialisation and gradients are those of the two
// layers, but a linear map factors: with Out ≪ Hidden it computes
//
//	forward   logits = x·Mᵀ, M = W2·W1               (Out×In, not n×Hidden)
//	backward  T = dyᵀ·x (Out×In), dW1 = W2ᵀ·T, dW2 = T·W1ᵀ, dx = dy·M
//
// which is the same mathematics in another summation order and about
// n/Out times fewer flops than materialising the n×Hidden hidden layer
// (8× for the paper's batch of 128 and 10 classes). Batches smaller than
// the break-even take the layer-by-layer route.
//
// Not safe for concurrent use (see Layer).
type LinearPair struct {
	L1, L2 *Linear
	// Mode forces a route: 0 chooses by cost, 1 always factors, −1 never.
	Mode int

	factored bool
	x        *Tensor
	m        *Tensor // M = W2·W1 [Out, In]
	y, dx    *Tensor
	t, g2t   *Tensor
	seq      *Sequential
}

// NewLinearPair returns the pair name1 (in→hidden) and name2 (hidden→out).
func NewLinearPair(name1, name2 string, in, hidden, out int) *LinearPair {
	l1, l2 := NewLinear(name1, in, hidden, false), NewLinear(name2, hidden, out, false)
	return &LinearPair{L1: l1, L2: l2, seq: NewSequential(l1, l2)}
}

func (l *LinearPair) Build(in []int) ([]int, error) { return l.seq.Build(in) }
func (l *LinearPair) Params() []ParamInfo           { return l.seq.Params() }

// Init initialises exactly as the two Linear layers in sequence.
func (l *LinearPair) Init(rng *rand.Rand, p *ParamSet) { l.seq.Init(rng, p) }

// useFactored compares the flops of the two routes for batch n.
func (l *LinearPair) useFactored(n int) bool {
	switch {
	case l.Mode > 0:
		return true
	case l.Mode < 0:
		return false
	}
	in, h, out := l.L1.In, l.L1.Out, l.L2.Out
	plain := n * h * (in + out)
	fact := out * (h*in + n*in)
	return fact < plain
}

func (l *LinearPair) Forward(c *Pass, x *Tensor) *Tensor {
	n := x.Shape[0]
	l.factored = l.useFactored(n)
	if !l.factored {
		return l.seq.Forward(c, x)
	}
	in, h, out := l.L1.In, l.L1.Out, l.L2.Out
	w1, w2 := c.Param(l.L1.wName).Data, c.Param(l.L2.wName).Data
	l.x = x
	l.m = Ensure(l.m, out, in)
	// M = W2·W1 reads W1 once, in its own layout (faster here than the
	// narrow Mᵀ = W1ᵀ·W2ᵀ).
	c.E.Sgemm(false, false, out, in, h, 1, w2, h, w1, in, 0, l.m.Data, in)
	l.y = Ensure(l.y, n, out)
	c.E.Sgemm(false, true, n, out, in, 1, x.Data, in, l.m.Data, in, 0, l.y.Data, out)
	return l.y
}

func (l *LinearPair) Backward(c *Pass, dy *Tensor, needDx bool) *Tensor {
	if !l.factored {
		return l.seq.Backward(c, dy, needDx)
	}
	n := dy.Shape[0]
	in, h, out := l.L1.In, l.L1.Out, l.L2.Out
	if g1 := c.Grad(l.L1.wName); g1 != nil {
		w1, w2 := c.Param(l.L1.wName).Data, c.Param(l.L2.wName).Data
		g2 := c.Grad(l.L2.wName).Data
		// T = dyᵀ·x [Out, In].
		l.t = Ensure(l.t, out, in)
		c.E.Sgemm(true, false, out, in, n, 1, dy.Data, out, l.x.Data, in, 0, l.t.Data, in)
		// dW1 = W2ᵀ·T: a rank-Out update written once.
		c.E.Sgemm(true, false, h, in, out, 1, w2, h, l.t.Data, in, 0, g1.Data, in)
		// dW2ᵀ = W1·Tᵀ [Hidden, Out] (narrow, W1 read in place), then
		// transposed into dW2 [Out, Hidden].
		l.g2t = Ensure(l.g2t, h, out)
		c.E.Sgemm(false, true, h, out, in, 1, w1, in, l.t.Data, in, 0, l.g2t.Data, out)
		gt := l.g2t.Data
		for j := 0; j < out; j++ {
			row := g2[j*h : (j+1)*h]
			for i := range row {
				row[i] = gt[i*out+j]
			}
		}
	}
	if !needDx {
		return nil
	}
	// dx = dy·M.
	l.dx = Ensure(l.dx, n, in)
	c.E.Sgemm(false, false, n, in, out, 1, dy.Data, out, l.m.Data, in, 0, l.dx.Data, in)
	return l.dx
}

// String names the layer in errors and debugging output.
func (l *LinearPair) String() string {
	return fmt.Sprintf("LinearPair(%s %d→%d, %s →%d)", l.L1.Name, l.L1.In, l.L1.Out, l.L2.Name, l.L2.Out)
}
