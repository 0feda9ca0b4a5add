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
	k := len(members)
	classes := data.NumClasses()
	rep := &EnsembleReport{Members: k, MemberAccuracy: make([]float64, k), N: data.Len()}
	var correct int
	memberCorrect := make([]int, k)
	var disagree int64
	pred := make([]int, k)
	for lo := 0; lo < data.Len(); lo += batch {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		idx := make([]int, 0, batch)
		for i := lo; i < min(lo+batch, data.Len()); i++ {
			idx = append(idx, i)
		}
		b := gather(data, idx, nil)
		n := len(idx)
		probs := make([]float64, n*classes)
		preds := make([][]int, k)
		for j, p := range members {
			logits, err := nn.Logits(e, m, p, b)
			if err != nil {
				return nil, fmt.Errorf("transfer: ensemble member %d: %w", j, err)
			}
			if len(logits) != n*classes {
				return nil, fmt.Errorf("transfer: ensemble member %d has %d outputs per example, the data %d classes", j, len(logits)/n, classes)
			}
			preds[j] = make([]int, n)
			for i := 0; i < n; i++ {
				row := logits[i*classes : (i+1)*classes]
				mx := row[0]
				arg := 0
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
					probs[i*classes+c] += math.Exp(float64(v-mx)) / z
				}
				preds[j][i] = arg
				if int32(arg) == b.Y[i] {
					memberCorrect[j]++
				}
			}
		}
		for i := 0; i < n; i++ {
			arg := 0
			for c := 1; c < classes; c++ {
				if probs[i*classes+c] > probs[i*classes+arg] {
					arg = c
				}
			}
			if int32(arg) == b.Y[i] {
				correct++
			}
			for j := range pred {
				pred[j] = preds[j][i]
			}
			for a := 0; a < k; a++ {
				for c := a + 1; c < k; c++ {
					if pred[a] != pred[c] {
						disagree++
					}
				}
			}
		}
	}
	rep.Accuracy = float64(correct) / float64(rep.N)
	for j := range memberCorrect {
		rep.MemberAccuracy[j] = float64(memberCorrect[j]) / float64(rep.N)
	}
	if k > 1 {
		rep.Disagreement = float64(disagree) / (float64(k*(k-1)/2) * float64(rep.N))
	}
	return rep, nil
}
