package transfer

import (
	"context"
	"errors"
	"math"
	"testing"

	"github.com/ltransfer/ltransfer/nn"
)

// TestRunDataErrorKinds: a caller tells a bad data set's kind with
// errors.Is: X and Y that disagree are nn.ErrShape, a NaN in X is
// nn.ErrNonFinite.
func TestRunDataErrorKinds(t *testing.T) {
	p := newTinyProblem(t)
	traj, _ := Linear(p.src0, p.src1, 3, Cosine)
	short := &Examples{X: p.trainSet.X, Y: p.trainSet.Y[:len(p.trainSet.Y)-1]}
	nan := &Examples{X: p.trainSet.X.Clone(), Y: p.trainSet.Y}
	nan.X.Data[17] = float32(math.NaN())
	for _, c := range []struct {
		name string
		d    *Examples
		kind error
	}{{"short Y", short, nn.ErrShape}, {"NaN in X", nan, nn.ErrNonFinite}} {
		o := Options{Method: GMT, NewModel: p.newModel, Source: traj, Train: c.d, Val: p.valSet, TargetInit: p.tgt0, BatchSize: 32}
		if _, err := Run(context.Background(), o); !errors.Is(err, c.kind) {
			t.Errorf("%s: %v, want an error wrapping %v", c.name, err, c.kind)
		}
	}
}
