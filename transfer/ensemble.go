package transfer

import (
	"context"
	"errors"
	"fmt"
	"math"

	"github.com/ltransfer/ltransfer/kernels"
	"github.com/ltransfer/ltransfer/nn"
)

// EnsembleReport describes an ensemble of networks on a data set.
type EnsembleReport struct {
	Members int `json:"members"`
	// Accuracy is that of the mean of the members' softmax outputs.
	Accuracy float64 `json:"acc"`
	// MemberAccuracy is each member's own accuracy.
	MemberAccuracy []float64 `json:"member_acc"`
	// Disagreement is the fraction of examples on which two members'
	// predictions differ, averaged over all pairs of members.
	Disagreement float64 `json:"disagreement"`
	N            int     `json:"n"`
}

// Ensemble evaluates the ensemble of members (parameter sets of the model
// newModel builds) on data in evaluation mode, batch examples at a time.
func Ensemble(ctx context.Context, e *kernels.Engine, newModel func() (nn.Model, error), members []*nn.ParamSet, data nn.Dataset, batch int) (*EnsembleReport, error) {
	if len(members) == 0 {
		return nil, errors.New("transfer: an ensemble needs at least one member")
	}
	if err := checkData(data, "ensemble evaluation"); err != nil {
		return nil, err
	}
	if batch < 1 {
		batch = 250
	}
	if e == nil {
		e = kernels.Default()
	}
	m, err := newModel()
	if err != nil {
		return nil, err
	}
	t := newTally(len(members), data.NumClasses())
	logits := make([][]float32, len(members))
	err = inBatches(ctx, data, batch, func(b nn.Batch) (err error) {
		for j, p := range members {
			if logits[j], err = nn.Logits(e, m, p, b); err != nil {
				return fmt.Errorf("transfer: ensemble member %d: %w", j, err)
			}
		}
		return t.add(logits, b.Y)
	})
	if err != nil {
		return nil, err
	}
	return t.report(), nil
}

// inBatches calls f with the examples of data in order, batch at a time.
func inBatches(ctx context.Context, data nn.Dataset, batch int, f func(nn.Batch) error) error {
	for lo := 0; lo < data.Len(); lo += batch {
		if err := ctx.Err(); err != nil {
			return err
		}
		idx := make([]int, 0, batch)
		for i := lo; i < min(lo+batch, data.Len()); i++ {
			idx = append(idx, i)
		}
		if err := f(gather(data, idx, nil)); err != nil {
			return err
		}
	}
	return nil
}

// EnsembleOfLogits scores an ensemble from its members' logits on the
// examples labelled labels (each member's len(labels) × classes,
// row-major, as Report.BestLogits holds them): the same report as
// Ensemble gives for the members whose logits these are, without a
// forward pass.
func EnsembleOfLogits(members [][]float32, labels []int32, classes int) (*EnsembleReport, error) {
	if len(members) == 0 {
		return nil, errors.New("transfer: an ensemble needs at least one member")
	}
	if len(labels) == 0 || classes < 1 {
		return nil, fmt.Errorf("transfer: ensemble of %d examples of %d classes", len(labels), classes)
	}
	for i, y := range labels {
		if y < 0 || int(y) >= classes {
			return nil, fmt.Errorf("transfer: label %d of example %d outside [0, %d)", y, i, classes)
		}
	}
	t := newTally(len(members), classes)
	if err := t.add(members, labels); err != nil {
		return nil, err
	}
	return t.report(), nil
}

// tally accumulates an ensemble's counts over batches of examples.
type tally struct {
	classes, n    int
	correct       int
	memberCorrect []int
	disagree      int64
	probs         []float64
	pred          []int
}

func newTally(members, classes int) *tally {
	return &tally{classes: classes, memberCorrect: make([]int, members), pred: make([]int, members)}
}

// add counts the examples labelled y, given each member's logits on them.
func (t *tally) add(logits [][]float32, y []int32) error {
	n, classes, k := len(y), t.classes, len(logits)
	for j, l := range logits {
		if len(l) != n*classes {
			return fmt.Errorf("transfer: ensemble member %d has %d outputs for %d examples of %d classes", j, len(l), n, classes)
		}
	}
	if cap(t.probs) < classes {
		t.probs = make([]float64, classes)
	}
	probs := t.probs[:classes]
	for i := 0; i < n; i++ {
		clear(probs)
		for j, l := range logits {
			row := l[i*classes : (i+1)*classes]
			mx, arg := row[0], 0
			for c, v := range row {
				if v > mx {
					mx, arg = v, c
				}
			}
			var z float64
			for _, v := range row {
				z += math.Exp(float64(v - mx))
			}
			for c, v := range row {
				probs[c] += math.Exp(float64(v-mx)) / z
			}
			t.pred[j] = arg
			if int32(arg) == y[i] {
				t.memberCorrect[j]++
			}
		}
		arg := 0
		for c := 1; c < classes; c++ {
			if probs[c] > probs[arg] {
				arg = c
			}
		}
		if int32(arg) == y[i] {
			t.correct++
		}
		for a := 0; a < k; a++ {
			for c := a + 1; c < k; c++ {
				if t.pred[a] != t.pred[c] {
					t.disagree++
				}
			}
		}
	}
	t.n += n
	return nil
}

func (t *tally) report() *EnsembleReport {
	k := len(t.memberCorrect)
	rep := &EnsembleReport{Members: k, MemberAccuracy: make([]float64, k), N: t.n}
	if t.n == 0 {
		return rep
	}
	rep.Accuracy = float64(t.correct) / float64(t.n)
	for j, c := range t.memberCorrect {
		rep.MemberAccuracy[j] = float64(c) / float64(t.n)
	}
	if k > 1 {
		rep.Disagreement = float64(t.disagree) / (float64(k*(k-1)/2) * float64(t.n))
	}
	return rep
}

// Logits returns the logits of p (parameters of m) on data in evaluation
// mode, data.Len() × classes row-major, batch examples at a time.
func Logits(ctx context.Context, e *kernels.Engine, m nn.Model, p *nn.ParamSet, data nn.Dataset, batch int) ([]float32, error) {
	if err := checkData(data, "logits"); err != nil {
		return nil, err
	}
	if batch < 1 {
		batch = 250
	}
	out := make([]float32, 0, data.Len()*data.NumClasses())
	err := inBatches(ctx, data, batch, func(b nn.Batch) error {
		l, err := nn.Logits(e, m, p, b)
		out = append(out, l...)
		return err
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}
