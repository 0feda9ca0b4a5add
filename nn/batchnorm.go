package nn

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"

	"github.com/ltransfer/ltransfer/kernels"
)

// BatchNorm2d is PyTorch's nn.BatchNorm2d (affine, track_running_stats) on
// [N, C, H, W], with state Name+".weight", ".bias", ".running_mean",
// ".running_var" and ".num_batches_tracked" (an I64 scalar in checkpoints).
//
// Training mode normalises with batch statistics and updates the running
// statistics in the pass's parameter set; evaluation mode uses the running
// statistics.
//
// Not safe for concurrent use (see Layer).
type BatchNorm2d struct {
	Name     string
	C        int
	Eps      float32 // 0 means PyTorch's 1e-5
	Momentum float32 // 0 means PyTorch's 0.1

	// cumulative makes the running statistics an exact average over the
	// batches seen since num_batches_tracked was zero (PyTorch's
	// momentum=None); set while recomputing statistics.
	cumulative bool

	hw                  int
	trainFwd            bool
	x                   *Tensor
	mean, invstd        []float32
	y, dx               *Tensor
	wN, bN, rm, rv, nbt string
}

// NewBatchNorm2d returns a BatchNorm2d with PyTorch's defaults.
func NewBatchNorm2d(name string, c int) *BatchNorm2d {
	return &BatchNorm2d{Name: name, C: c}
}

func (l *BatchNorm2d) Build(in []int) ([]int, error) {
	if len(in) != 3 || in[0] != l.C {
		return nil, fmt.Errorf("nn: layer %s expects input [%d H W], got per-sample shape %v", l.Name, l.C, in)
	}
	l.hw = in[1] * in[2]
	l.wN, l.bN = l.Name+".weight", l.Name+".bias"
	l.rm, l.rv, l.nbt = l.Name+".running_mean", l.Name+".running_var", l.Name+".num_batches_tracked"
	return append([]int(nil), in...), nil
}

func (l *BatchNorm2d) Params() []ParamInfo {
	return []ParamInfo{
		{Name: l.wN, Shape: []int{l.C}},
		{Name: l.bN, Shape: []int{l.C}},
		{Name: l.rm, Shape: []int{l.C}, Buffer: true},
		{Name: l.rv, Shape: []int{l.C}, Buffer: true},
		{Name: l.nbt, Shape: []int{}, Buffer: true, Int64: true},
	}
}

// Init sets PyTorch's defaults: weight 1, bias 0, running mean 0, running
// variance 1, no batches tracked. It draws nothing from rng.
func (l *BatchNorm2d) Init(rng *rand.Rand, p *ParamSet) {
	fill(p.Get(l.wN).Data, 1)
	fill(p.Get(l.bN).Data, 0)
	resetBN(l, p)
}

func resetBN(l *BatchNorm2d, p *ParamSet) {
	fill(p.Get(l.rm).Data, 0)
	fill(p.Get(l.rv).Data, 1)
	fill(p.Get(l.nbt).Data, 0)
}

func fill(x []float32, v float32) {
	for i := range x {
		x[i] = v
	}
}

func (l *BatchNorm2d) kparams(n int) kernels.BatchNormParams {
	eps, mom := l.Eps, l.Momentum
	if eps == 0 {
		eps = 1e-5
	}
	if mom == 0 {
		mom = 0.1
	}
	return kernels.BatchNormParams{N: n, C: l.C, HW: l.hw, Eps: eps, Momentum: mom}
}

func (l *BatchNorm2d) Forward(c *Pass, x *Tensor) *Tensor {
	p := l.kparams(x.Shape[0])
	l.x = x
	l.y = Ensure(l.y, x.Shape...)
	g, b := c.Param(l.wN).Data, c.Param(l.bN).Data
	rm, rv := c.Param(l.rm).Data, c.Param(l.rv).Data
	l.trainFwd = c.Train
	if !c.Train {
		c.E.BatchNormEval(p, x.Data, g, b, rm, rv, l.y.Data)
		return l.y
	}
	nbt := c.Param(l.nbt)
	if l.cumulative {
		p.Momentum = float32(1 / (float64(nbt.Data[0]) + 1))
	}
	if cap(l.mean) < l.C {
		l.mean, l.invstd = make([]float32, l.C), make([]float32, l.C)
	}
	c.E.BatchNormTrain(p, x.Data, g, b, l.y.Data, l.mean, l.invstd, rm, rv)
	nbt.Data[0]++
	return l.y
}

func (l *BatchNorm2d) Backward(c *Pass, dy *Tensor, needDx bool) *Tensor {
	p := l.kparams(dy.Shape[0])
	g := c.Param(l.wN).Data
	var dg, db []float32
	if t := c.Grad(l.wN); t != nil {
		dg, db = t.Data, c.Grad(l.bN).Data
	}
	var dx []float32
	if needDx {
		l.dx = Ensure(l.dx, dy.Shape...)
		dx = l.dx.Data
	}
	if l.trainFwd {
		c.E.BatchNormBackward(p, l.x.Data, dy.Data, g, l.mean, l.invstd, dx, dg, db)
	} else {
		// Evaluation mode is a fixed per-channel affine map; its statistics
		// are constants.
		rm, rv := c.Param(l.rm).Data, c.Param(l.rv).Data
		mean, invstd := make([]float32, l.C), make([]float32, l.C)
		for ch := range mean {
			mean[ch] = rm[ch]
			invstd[ch] = float32(1 / math.Sqrt(float64(rv[ch])+float64(p.Eps)))
		}
		bnEvalBackward(p, l.x.Data, dy.Data, g, mean, invstd, dx, dg, db)
	}
	if !needDx {
		return nil
	}
	return l.dx
}

func bnEvalBackward(p kernels.BatchNormParams, x, dy, g, mean, invstd, dx, dg, db []float32) {
	for ch := 0; ch < p.C; ch++ {
		var sdy, sdyx float64
		k := g[ch] * invstd[ch]
		for n := 0; n < p.N; n++ {
			off := (n*p.C + ch) * p.HW
			for i := off; i < off+p.HW; i++ {
				sdy += float64(dy[i])
				sdyx += float64(dy[i]) * float64(x[i]-mean[ch]) * float64(invstd[ch])
				if dx != nil {
					dx[i] = k * dy[i]
				}
			}
		}
		if dg != nil {
			dg[ch], db[ch] = float32(sdyx), float32(sdy)
		}
	}
}

// BatchNorms lists the BatchNorm2d layers inside l (through Sequential and
// the composite layers of this package), in network order.
func BatchNorms(l Layer) []*BatchNorm2d {
	var out []*BatchNorm2d
	var walk func(Layer)
	walk = func(l Layer) {
		switch v := l.(type) {
		case *BatchNorm2d:
			out = append(out, v)
		case *Sequential:
			for _, c := range v.Layers {
				walk(c)
			}
		case interface{ children() []Layer }:
			for _, c := range v.children() {
				walk(c)
			}
		}
	}
	walk(l)
	return out
}

// ResetBNStats sets every BN running mean to 0, running variance to 1 and
// num_batches_tracked to 0 in p (PyTorch's reset_running_stats).
func ResetBNStats(m Model, p *ParamSet) error {
	lm, ok := m.(*LayerModel)
	if !ok {
		return fmt.Errorf("nn: model %s has no layers to reset BN statistics in", m.Arch())
	}
	if err := CheckParams(m, p, "parameters"); err != nil {
		return err
	}
	for _, bn := range BatchNorms(lm.Net()) {
		resetBN(bn, p)
	}
	return nil
}

// RecomputeBNStats resets the BN running statistics in p and recomputes
// them from data: every batch from next (until it returns false) is run
// forward in training mode, with the running statistics the exact average
// of the per-batch statistics (PyTorch's momentum=None, as the "reset BN
// stats" step of weight matching and trajectory transfer does). The
// trainable parameters are unchanged. It returns the number of batches used;
// zero batches is an error. A model without BN layers is left unchanged.
func RecomputeBNStats(ctx context.Context, e *kernels.Engine, m Model, p *ParamSet, next func() (Batch, bool)) (int, error) {
	lm, ok := m.(*LayerModel)
	if !ok {
		return 0, fmt.Errorf("nn: model %s has no layers to recompute BN statistics in", m.Arch())
	}
	bns := BatchNorms(lm.Net())
	if len(bns) == 0 {
		return 0, nil
	}
	if err := ResetBNStats(m, p); err != nil {
		return 0, err
	}
	for _, bn := range bns {
		bn.cumulative = true
	}
	defer func() {
		for _, bn := range bns {
			bn.cumulative = false
		}
	}()
	n := 0
	for {
		if err := ctx.Err(); err != nil {
			return n, err
		}
		b, ok := next()
		if !ok {
			break
		}
		if _, err := m.Forward(e, p, b, nil, true); err != nil {
			return n, fmt.Errorf("nn: recomputing BN statistics, batch %d: %w", n, err)
		}
		n++
	}
	if n == 0 {
		return 0, fmt.Errorf("nn: recomputing BN statistics of model %s: no batches", m.Arch())
	}
	return n, nil
}
