package nn

import (
	"context"
	"errors"
	"fmt"
	"math"
	"strings"

	"github.com/ltransfer/ltransfer/kernels"
)

// ErrRepairUnsupported reports a network Repair cannot renormalise: one
// with batch normalisation or residual blocks (their BN statistics are
// recomputed instead, RecomputeBNStats), or a layer kind it does not know.
var ErrRepairUnsupported = errors.New("nn: repair needs a plain feed-forward network of linear, convolution, ReLU, pooling and reshaping layers; " +
	"a network with batch normalisation has its BN statistics recomputed at every point instead")

// Repair renormalises the hidden units of p in place so that, on the
// calibration batches, every hidden unit's pre-activation has the mean and
// standard deviation of the same unit of ref (REPAIR, Jordan et al., ICLR
// 2023, for networks without normalisation layers). A hidden unit is an
// output row of a linear layer or an output channel of a convolution other
// than the network's last; its statistics are taken over the batch and the
// spatial positions. Layers are renormalised in network order, each on the
// activations the already renormalised layers before it produce, by scaling
// the unit's weights and bias (z ← s·z + t): with a bias both the mean and
// the deviation are matched, without one (the paper's bias-free MLP) the
// root mean square. A unit that is constant on the batch in p keeps its
// scale and only has its mean matched.
//
// ref must name the same units as p: for a transfer, the permuted source
// point π(θ₁ᵗ) beside the transferred θ₂⁰ + π(θ₁ᵗ − θ₁⁰). The result does not
// depend on the engine's thread count. Statistics are summed in float64 in
// a fixed order.
func Repair(ctx context.Context, e *kernels.Engine, m Model, p, ref *ParamSet, batches []Batch) error {
	want, err := UnitStatistics(ctx, e, m, ref, batches)
	if err != nil {
		return err
	}
	return RepairTo(ctx, e, m, p, want, batches)
}

// UnitStats are the statistics of one layer's hidden units on calibration
// batches, as Repair matches them: Layer is the layer's weight tensor
// (output units on its first axis), Mean and Dev each unit's mean and
// standard deviation (for a bias-free layer, Mean is zero and Dev the root
// mean square).
type UnitStats struct {
	Layer     string
	Mean, Dev []float64
}

// UnitStatistics returns the statistics of every layer Repair renormalises,
// in network order, for parameters p on the batches.
func UnitStatistics(ctx context.Context, e *kernels.Engine, m Model, p *ParamSet, batches []Batch) ([]UnitStats, error) {
	leaves, last, err := repairPlan(m, batches)
	if err != nil {
		return nil, err
	}
	if err := CheckParams(m, p, "parameters"); err != nil {
		return nil, err
	}
	return repairPass(ctx, e, leaves, last, p, batches, nil)
}

// RepairTo is Repair with the reference's statistics given
// (UnitStatistics of the reference on the same batches, or a permutation of
// another network's).
func RepairTo(ctx context.Context, e *kernels.Engine, m Model, p *ParamSet, want []UnitStats, batches []Batch) error {
	leaves, last, err := repairPlan(m, batches)
	if err != nil {
		return err
	}
	if err := CheckParams(m, p, "parameters"); err != nil {
		return err
	}
	_, err = repairPass(ctx, e, leaves, last, p, batches, want)
	return err
}

// repairPlan returns m's layers in order and the index of the last affine
// one (the output layer, never renormalised).
func repairPlan(m Model, batches []Batch) ([]Layer, int, error) {
	leaves, err := modelLeaves(m)
	if err != nil {
		return nil, 0, err
	}
	if len(batches) == 0 {
		return nil, 0, errors.New("nn: repair needs at least one calibration batch")
	}
	last := -1
	for i, l := range leaves {
		if isAffine(l) {
			last = i
		}
	}
	return leaves, last, nil
}

// CanRepair reports whether Repair can renormalise m's parameters.
func CanRepair(m Model) error {
	_, err := modelLeaves(m)
	return err
}

// modelLeaves returns m's layers in network order, or why Repair cannot
// run them one at a time.
func modelLeaves(m Model) ([]Layer, error) {
	lm, ok := m.(*LayerModel)
	if !ok {
		return nil, fmt.Errorf("%w (model %s)", ErrRepairUnsupported, m.Arch())
	}
	leaves, err := repairLeaves(lm.Net())
	if err != nil {
		return nil, fmt.Errorf("%w (model %s)", err, m.Arch())
	}
	return leaves, nil
}

// repairPass runs the batches through the leaves on p. Without want it
// returns every hidden affine layer's statistics; with want it renormalises
// those layers of p to them as it goes.
func repairPass(ctx context.Context, e *kernels.Engine, leaves []Layer, last int, p *ParamSet,
	batches []Batch, want []UnitStats) ([]UnitStats, error) {
	pass := &Pass{E: e, P: p}
	// acts holds every batch's output of the last hidden layer done: only
	// those are kept, each segment of layers up to the next hidden affine
	// layer runs batch by batch on them. Nothing after the last hidden
	// layer needs to run.
	var acts, next []*Tensor
	var stats []UnitStats
	k, from := 0, 0
	for i := 0; i < last; i++ {
		if !isAffine(leaves[i]) {
			continue
		}
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		l := leaves[i]
		next = growList(next, len(batches))
		for b := range batches {
			x := batches[b].X
			if acts != nil {
				x = acts[b]
			}
			for _, seg := range leaves[from : i+1] {
				x = seg.Forward(pass, x)
			}
			next[b] = Ensure(next[b], x.Shape...)
			copy(next[b].Data, x.Data)
		}
		acts, next, from = next, acts, i+1
		wn, bias := affineNames(l)
		st := measureUnits(acts, bias)
		st.Layer = wn
		if want == nil {
			stats = append(stats, st)
			continue
		}
		if k >= len(want) || want[k].Layer != wn || len(want[k].Mean) != len(st.Mean) || len(want[k].Dev) != len(st.Dev) {
			return nil, fmt.Errorf("nn: repair: the reference statistics do not describe layer %s", wn)
		}
		if err := renormalise(l, p, acts, st, want[k]); err != nil {
			return nil, err
		}
		k++
	}
	return stats, nil
}

// growList returns l with n entries (new ones nil).
func growList(l []*Tensor, n int) []*Tensor {
	if len(l) < n {
		l = append(l, make([]*Tensor, n-len(l))...)
	}
	return l
}

// measureUnits returns the per-unit statistics of layer outputs [N, C, …].
func measureUnits(acts []*Tensor, bias bool) UnitStats {
	c := acts[0].Shape[1]
	sum, sq := make([]float64, c), make([]float64, c)
	n := 0
	for _, a := range acts {
		inner := len(a.Data) / (a.Shape[0] * c)
		n += a.Shape[0] * inner
		for s := 0; s < a.Shape[0]; s++ {
			for ch := 0; ch < c; ch++ {
				su, q := moments(a.Data[(s*c+ch)*inner : (s*c+ch+1)*inner])
				sum[ch] += su
				sq[ch] += q
			}
		}
	}
	st := UnitStats{Mean: make([]float64, c), Dev: make([]float64, c)}
	for ch := range sum {
		mu := sum[ch] / float64(n)
		ms := sq[ch] / float64(n)
		if bias {
			st.Mean[ch] = mu
			st.Dev[ch] = math.Sqrt(max(0, ms-mu*mu))
		} else {
			st.Dev[ch] = math.Sqrt(ms)
		}
	}
	return st
}

// moments returns Σv and Σv² in float64, in four interleaved partial sums.
func moments(x []float32) (sum, sq float64) {
	var s0, s1, s2, s3, q0, q1, q2, q3 float64
	i := 0
	for ; i+4 <= len(x); i += 4 {
		a, b, c, d := float64(x[i]), float64(x[i+1]), float64(x[i+2]), float64(x[i+3])
		s0, s1, s2, s3 = s0+a, s1+b, s2+c, s3+d
		q0, q1, q2, q3 = q0+a*a, q1+b*b, q2+c*c, q3+d*d
	}
	for ; i < len(x); i++ {
		a := float64(x[i])
		s0, q0 = s0+a, q0+a*a
	}
	return (s0 + s1) + (s2 + s3), (q0 + q1) + (q2 + q3)
}

// renormalise maps layer l's units from statistics got to want, in p and
// in the layer's outputs acts.
func renormalise(l Layer, p *ParamSet, acts []*Tensor, got, want UnitStats) error {
	w, b := affineParams(l, p)
	c := len(got.Mean)
	rows := len(w.Data) / c
	scale, shift := make([]float32, c), make([]float32, c)
	for ch := 0; ch < c; ch++ {
		s := 1.0
		if got.Dev[ch] > 1e-12*(1+math.Abs(got.Mean[ch])) {
			s = want.Dev[ch] / got.Dev[ch]
		}
		t := 0.0
		if b != nil {
			t = want.Mean[ch] - s*got.Mean[ch]
		}
		if math.IsNaN(s) || math.IsInf(s, 0) || math.IsNaN(t) || math.IsInf(t, 0) {
			return fmt.Errorf("nn: repair: unit %d of %s has non-finite statistics", ch, want.Layer)
		}
		scale[ch], shift[ch] = float32(s), float32(t)
		for i := ch * rows; i < (ch+1)*rows; i++ {
			w.Data[i] *= scale[ch]
		}
		if b != nil {
			b.Data[ch] = scale[ch]*b.Data[ch] + shift[ch]
		}
	}
	for _, a := range acts {
		inner := len(a.Data) / (a.Shape[0] * c)
		for s := 0; s < a.Shape[0]; s++ {
			for ch := 0; ch < c; ch++ {
				seg := a.Data[(s*c+ch)*inner : (s*c+ch+1)*inner]
				for i := range seg {
					seg[i] = scale[ch]*seg[i] + shift[ch]
				}
			}
		}
	}
	return nil
}

// repairLeaves flattens a network into the layers Repair can run one at a
// time.
func repairLeaves(l Layer) ([]Layer, error) {
	switch v := l.(type) {
	case *Sequential:
		var out []Layer
		for _, c := range v.Layers {
			ls, err := repairLeaves(c)
			if err != nil {
				return nil, err
			}
			out = append(out, ls...)
		}
		return out, nil
	case *LinearPair:
		return []Layer{v.L1, v.L2}, nil
	case *Linear, *Conv2d, *ReLU, *MaxPool2d, *AvgPool2d, *Flatten, *Reshape:
		return []Layer{l}, nil
	}
	return nil, ErrRepairUnsupported
}

func isAffine(l Layer) bool {
	switch l.(type) {
	case *Linear, *Conv2d:
		return true
	}
	return false
}

// affineNames returns an affine layer's weight name and whether it has a
// bias.
func affineNames(l Layer) (string, bool) {
	switch v := l.(type) {
	case *Linear:
		return v.Name + ".weight", v.Bias
	case *Conv2d:
		return v.Name + ".weight", v.Bias
	}
	return "", false
}

// affineParams returns an affine layer's weight (output units first) and
// bias (nil without one) in p.
func affineParams(l Layer, p *ParamSet) (w, b *Tensor) {
	wn, bias := affineNames(l)
	w = p.Get(wn)
	if bias {
		b = p.Get(strings.TrimSuffix(wn, ".weight") + ".bias")
	}
	return w, b
}
