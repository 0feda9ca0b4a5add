package nn

import (
	"context"
	"fmt"

	"github.com/ltransfer/ltransfer/kernels"
)

// EvalBatch is the batch size Evaluate uses: large enough for efficient
// GEMMs, small enough for a few MB of activations.
const EvalBatch = 500

// EvalResult summarises a model on a dataset.
//
// It is a plain value.
type EvalResult struct {
	Accuracy float64 // fraction in [0, 1]
	Loss     float64 // mean cross-entropy per sample
	N        int
}

// Evaluate runs m with parameters p over the whole dataset in evaluation
// mode, in batches of EvalBatch. progress, if non-nil, is called after
// every batch with the number of samples done and the total.
func Evaluate(ctx context.Context, e *kernels.Engine, m Model, p *ParamSet, data Dataset, progress func(done, total int)) (EvalResult, error) {
	return EvaluateBatch(ctx, e, m, p, data, EvalBatch, progress)
}

// EvaluateBatch is Evaluate with a chosen batch size (smaller batches bound
// the activation memory of large conv nets; results do not depend on it
// beyond rounding).
func EvaluateBatch(ctx context.Context, e *kernels.Engine, m Model, p *ParamSet, data Dataset, batch int, progress func(done, total int)) (EvalResult, error) {
	if err := CheckParams(m, p, "parameters"); err != nil {
		return EvalResult{}, err
	}
	if batch < 1 {
		return EvalResult{}, fmt.Errorf("nn: evaluation batch size %d, want ≥ 1", batch)
	}
	l := &Loader{Data: data, BatchSize: batch}
	it, err := l.Epoch(ctx, 0, 0)
	if err != nil {
		return EvalResult{}, err
	}
	defer it.Close()
	var r EvalResult
	var lossSum float64
	for {
		b, _, ok := it.Next()
		if !ok {
			break
		}
		if err := ctx.Err(); err != nil {
			return EvalResult{}, err
		}
		res, err := m.Forward(e, p, b, nil, false)
		if err != nil {
			return EvalResult{}, err
		}
		r.N += res.N
		r.Accuracy += float64(res.Correct)
		lossSum += res.Loss * float64(res.N)
		if progress != nil {
			progress(r.N, data.Len())
		}
	}
	if err := ctx.Err(); err != nil {
		return EvalResult{}, err
	}
	if r.N > 0 {
		r.Accuracy /= float64(r.N)
		r.Loss = lossSum / float64(r.N)
	}
	return r, nil
}
