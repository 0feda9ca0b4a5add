package nn

import (
	"fmt"
	"math"
	"strings"

	"github.com/ltransfer/ltransfer/internal/hugemem"
	"github.com/ltransfer/ltransfer/kernels"
)

// OptimConfig configures an optimiser; zero fields take PyTorch's defaults.
type OptimConfig struct {
	// Name is "sgd" or "adamw".
	Name string  `json:"name"`
	LR   float64 `json:"lr"`
	// SGD: momentum, dampening, weight decay (L2, added to the gradient)
	// and Nesterov momentum, exactly as torch.optim.SGD.
	Momentum    float64 `json:"momentum,omitempty"`
	Dampening   float64 `json:"dampening,omitempty"`
	WeightDecay float64 `json:"weight_decay,omitempty"`
	Nesterov    bool    `json:"nesterov,omitempty"`
	// AdamW: betas (default 0.9, 0.999) and eps (default 1e-8); for AdamW
	// WeightDecay is decoupled (PyTorch's AdamW default is 0.01; here it is
	// taken literally, so set it).
	Beta1 float64 `json:"beta1,omitempty"`
	Beta2 float64 `json:"beta2,omitempty"`
	Eps   float64 `json:"eps,omitempty"`
}

// Optimizer updates parameters from gradients. Entries the model marks as
// buffers are never touched.
//
// An Optimizer holds its state (momentum, moments, step count) and is not
// safe for concurrent use: one per training run.
type Optimizer interface {
	// Step applies one update with learning rate lr.
	Step(e *kernels.Engine, p, g *ParamSet, lr float64)
	// State returns the optimiser state (momentum buffers, moments, step
	// count) as a parameter set, for checkpointing; LoadState restores it.
	State() *ParamSet
	LoadState(s *ParamSet) error
}

// NewOptimizer builds the optimiser of cfg for a model's state entries.
func NewOptimizer(cfg OptimConfig, state []ParamInfo) (Optimizer, error) {
	if cfg.LR < 0 || math.IsNaN(cfg.LR) || math.IsInf(cfg.LR, 0) {
		return nil, fmt.Errorf("nn: learning rate %v, want a finite value ≥ 0", cfg.LR)
	}
	for _, f := range []struct {
		name string
		v    float64
	}{{"momentum", cfg.Momentum}, {"dampening", cfg.Dampening}, {"weight decay", cfg.WeightDecay}, {"beta1", cfg.Beta1}, {"beta2", cfg.Beta2}, {"eps", cfg.Eps}} {
		if math.IsNaN(f.v) || math.IsInf(f.v, 0) {
			return nil, fmt.Errorf("nn: optimiser %s %v, want a finite value", f.name, f.v)
		}
	}
	var names []string
	var shapes [][]int
	for _, pi := range state {
		if !pi.Buffer {
			names = append(names, pi.Name)
			shapes = append(shapes, pi.Shape)
		}
	}
	switch strings.ToLower(cfg.Name) {
	case "sgd", "":
		if cfg.Momentum < 0 || cfg.WeightDecay < 0 || cfg.Dampening < 0 {
			return nil, fmt.Errorf("nn: sgd: momentum %v, dampening %v and weight decay %v must be ≥ 0", cfg.Momentum, cfg.Dampening, cfg.WeightDecay)
		}
		if cfg.Nesterov && (cfg.Momentum <= 0 || cfg.Dampening != 0) {
			return nil, fmt.Errorf("nn: sgd: nesterov momentum requires a momentum > 0 and zero dampening")
		}
		o := &SGD{cfg: cfg, names: names}
		if cfg.Momentum != 0 {
			o.buf = make([][]float32, len(names))
			for i, s := range shapes {
				o.buf[i] = hugemem.Float32s(Numel(s))
			}
			o.shapes = shapes
		}
		return o, nil
	case "adamw":
		if cfg.Beta1 == 0 {
			cfg.Beta1 = 0.9
		}
		if cfg.Beta2 == 0 {
			cfg.Beta2 = 0.999
		}
		if cfg.Eps == 0 {
			cfg.Eps = 1e-8
		}
		if cfg.Beta1 < 0 || cfg.Beta1 >= 1 || cfg.Beta2 < 0 || cfg.Beta2 >= 1 || cfg.Eps <= 0 || cfg.WeightDecay < 0 {
			return nil, fmt.Errorf("nn: adamw: betas (%v, %v) must lie in [0, 1), eps %v > 0, weight decay %v ≥ 0", cfg.Beta1, cfg.Beta2, cfg.Eps, cfg.WeightDecay)
		}
		o := &AdamW{cfg: cfg, names: names, shapes: shapes}
		o.m = make([][]float32, len(names))
		o.v = make([][]float32, len(names))
		for i, s := range shapes {
			o.m[i] = hugemem.Float32s(Numel(s))
			o.v[i] = hugemem.Float32s(Numel(s))
		}
		return o, nil
	}
	return nil, fmt.Errorf("nn: unknown optimiser %q (want sgd or adamw)", cfg.Name)
}

// parallelRange runs fn over [0, n) on the engine's worker pool in
// 16-aligned chunks, one per thread; elementwise updates are memory-bound
// and the chunks disjoint, so results do not depend on the split.
func parallelRange(e *kernels.Engine, n int, fn func(lo, hi int)) {
	if serial(e, n) {
		fn(0, n)
		return
	}
	const align = 16
	blocks := (n + align - 1) / align
	e.ParallelFor(blocks, func(lo, hi int) { fn(lo*align, min(hi*align, n)) })
}

// serial reports whether an elementwise update of n values runs on the
// calling goroutine (callers then avoid building a closure).
func serial(e *kernels.Engine, n int) bool { return e.Threads() <= 1 || n < 1<<16 }

// SGD is torch.optim.SGD: with d = g + wd·p, the momentum buffer is
// b = d on the first step and b = μ·b + (1−dampening)·d afterwards; the
// update is p −= lr·(d + μ·b) with Nesterov, p −= lr·b without, and
// p −= lr·d without momentum. Arithmetic is float32 in PyTorch's order.
//
// Not safe for concurrent use (see Optimizer).
type SGD struct {
	cfg    OptimConfig
	names  []string
	shapes [][]int
	buf    [][]float32
	steps  int
}

// Step applies one SGD update.
func (o *SGD) Step(e *kernels.Engine, p, g *ParamSet, lr float64) {
	mu := float32(o.cfg.Momentum)
	damp := 1 - float32(o.cfg.Dampening)
	wd := float32(o.cfg.WeightDecay)
	nest := o.cfg.Nesterov
	first := o.steps == 0
	flr := float32(lr)
	for k, name := range o.names {
		w, gr := p.Get(name).Data, g.Get(name).Data
		if len(w) != len(gr) {
			panic(fmt.Sprintf("nn: sgd: %q has %d values, gradient %d", name, len(w), len(gr)))
		}
		if o.buf == nil {
			if serial(e, len(w)) {
				sgdPlain(w, gr, wd, flr)
				continue
			}
			parallelRange(e, len(w), func(lo, hi int) { sgdPlain(w[lo:hi], gr[lo:hi], wd, flr) })
			continue
		}
		b := o.buf[k]
		if serial(e, len(w)) {
			sgdUpdate(w, gr, b, mu, damp, wd, flr, nest, first)
			continue
		}
		parallelRange(e, len(w), func(lo, hi int) {
			sgdUpdate(w[lo:hi], gr[lo:hi], b[lo:hi], mu, damp, wd, flr, nest, first)
		})
	}
	o.steps++
}

func sgdPlain(w, gr []float32, wd, lr float32) {
	gr = gr[:len(w)]
	for i := range w {
		d := gr[i]
		if wd != 0 {
			d += wd * w[i]
		}
		w[i] -= lr * d
	}
}

func sgdUpdate(w, gr, b []float32, mu, damp, wd, lr float32, nest, first bool) {
	gr, b = gr[:len(w)], b[:len(w)]
	switch {
	case first:
		for i := range w {
			d := gr[i]
			if wd != 0 {
				d += wd * w[i]
			}
			b[i] = d
			if nest {
				d += mu * d
			}
			w[i] -= lr * d
		}
	case wd == 0 && !nest && damp == 1:
		// The common case (the paper's recipe), one pass.
		for i := range w {
			bi := mu*b[i] + gr[i]
			b[i] = bi
			w[i] -= lr * bi
		}
	default:
		for i := range w {
			d := gr[i]
			if wd != 0 {
				d += wd * w[i]
			}
			bi := mu*b[i] + damp*d
			b[i] = bi
			if nest {
				d += mu * bi
			} else {
				d = bi
			}
			w[i] -= lr * d
		}
	}
}

// State returns the momentum buffers ("<name>.momentum_buffer") and the
// step count ("step").
func (o *SGD) State() *ParamSet {
	s := NewParamSet()
	_ = s.Add("step", &Tensor{Shape: []int{}, Data: []float32{float32(o.steps)}})
	for k, name := range o.names {
		if o.buf != nil {
			_ = s.Add(name+".momentum_buffer", &Tensor{Shape: append([]int(nil), o.shapes[k]...), Data: o.buf[k]})
		}
	}
	return s
}

// LoadState restores State's output.
func (o *SGD) LoadState(s *ParamSet) error {
	st := s.Get("step")
	if st == nil || len(st.Data) != 1 {
		return fmt.Errorf("nn: sgd state lacks its step count")
	}
	for k, name := range o.names {
		if o.buf == nil {
			break
		}
		t := s.Get(name + ".momentum_buffer")
		if t == nil || len(t.Data) != len(o.buf[k]) {
			return fmt.Errorf("nn: sgd state: momentum buffer of %q missing or of the wrong size", name)
		}
		copy(o.buf[k], t.Data)
	}
	o.steps = int(st.Data[0])
	return nil
}

// AdamW is torch.optim.AdamW (amsgrad off): p ← p·(1 − lr·wd), then
// m ← β₁m + (1−β₁)g, v ← β₂v + (1−β₂)g², and
// p ← p − lr/(1−β₁ᵗ) · m / (√v/√(1−β₂ᵗ) + eps).
//
// Not safe for concurrent use (see Optimizer).
type AdamW struct {
	cfg    OptimConfig
	names  []string
	shapes [][]int
	m, v   [][]float32
	steps  int
}

// Step applies one AdamW update.
func (o *AdamW) Step(e *kernels.Engine, p, g *ParamSet, lr float64) {
	o.steps++
	b1, b2 := float32(o.cfg.Beta1), float32(o.cfg.Beta2)
	decay := float32(1 - lr*o.cfg.WeightDecay)
	bc1 := 1 - math.Pow(o.cfg.Beta1, float64(o.steps))
	bc2 := 1 - math.Pow(o.cfg.Beta2, float64(o.steps))
	stepSize := float32(lr / bc1)
	bc2s := float32(math.Sqrt(bc2))
	eps := float32(o.cfg.Eps)
	for k, name := range o.names {
		w, gr := p.Get(name).Data, g.Get(name).Data
		m, v := o.m[k], o.v[k]
		if serial(e, len(w)) {
			adamwUpdate(w, gr, m, v, b1, b2, decay, stepSize, bc2s, eps)
			continue
		}
		parallelRange(e, len(w), func(lo, hi int) {
			adamwUpdate(w[lo:hi], gr[lo:hi], m[lo:hi], v[lo:hi], b1, b2, decay, stepSize, bc2s, eps)
		})
	}
}

func adamwUpdate(w, gr, m, v []float32, b1, b2, decay, stepSize, bc2s, eps float32) {
	gr, m, v = gr[:len(w)], m[:len(w)], v[:len(w)]
	for i := range w {
		wi := w[i] * decay
		gi := gr[i]
		mi := m[i]*b1 + (1-b1)*gi
		vi := v[i]*b2 + (1-b2)*gi*gi
		m[i], v[i] = mi, vi
		denom := float32(math.Sqrt(float64(vi)))/bc2s + eps
		w[i] = wi - stepSize*(mi/denom)
	}
}

// State returns the moments ("<name>.exp_avg", "<name>.exp_avg_sq") and
// the step count ("step").
func (o *AdamW) State() *ParamSet {
	s := NewParamSet()
	_ = s.Add("step", &Tensor{Shape: []int{}, Data: []float32{float32(o.steps)}})
	for k, name := range o.names {
		_ = s.Add(name+".exp_avg", &Tensor{Shape: append([]int(nil), o.shapes[k]...), Data: o.m[k]})
		_ = s.Add(name+".exp_avg_sq", &Tensor{Shape: append([]int(nil), o.shapes[k]...), Data: o.v[k]})
	}
	return s
}

// LoadState restores State's output.
func (o *AdamW) LoadState(s *ParamSet) error {
	st := s.Get("step")
	if st == nil || len(st.Data) != 1 {
		return fmt.Errorf("nn: adamw state lacks its step count")
	}
	for k, name := range o.names {
		m, v := s.Get(name+".exp_avg"), s.Get(name+".exp_avg_sq")
		if m == nil || v == nil || len(m.Data) != len(o.m[k]) || len(v.Data) != len(o.v[k]) {
			return fmt.Errorf("nn: adamw state: moments of %q missing or of the wrong size", name)
		}
		copy(o.m[k], m.Data)
		copy(o.v[k], v.Data)
	}
	o.steps = int(st.Data[0])
	return nil
}
