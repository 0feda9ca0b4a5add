package transfer

import (
	"context"
	"math/rand/v2"
	"sync"
	"testing"

	"github.com/ltransfer/ltransfer/kernels"
	"github.com/ltransfer/ltransfer/nn"
)

// TestRunSameForAnyThreadCount checks that one transfer of a model with
// convolutions and batch norm (a narrow ResNet-20) streams the same points
// and permutations, and reports the same accuracies and objectives, on 1, 2
// and 3 threads, with the workspaces bounded to one model and with other
// evaluation slices: gradients of several pairs, BN statistics and
// evaluation slices are computed concurrently, and none of it may change a
// bit of the result.
func TestRunSameForAnyThreadCount(t *testing.T) {
	const seed = 11
	t.Logf("seed %d", seed)
	cfg := nn.ModelConfig{WidthFactor: 1.0 / 16, InputShape: []int{3, 16, 16}, NumClasses: 4}
	newModel := func() (nn.Model, error) { return nn.NewModel("resnet20", cfg) }
	m, err := newModel()
	if err != nil {
		t.Fatal(err)
	}
	r := rand.New(rand.NewPCG(seed, 1))
	data := &Examples{X: nn.NewTensor(64, 3, 16, 16), Y: make([]int32, 64), Classes: 4}
	for i := range data.X.Data {
		data.X.Data[i] = float32(r.NormFloat64())
	}
	for i := range data.Y {
		data.Y[i] = int32(i % 4)
	}
	src0 := m.Init(1)
	src1 := train(t, m, src0, data, 3, 8, 0.05, 1)
	traj, err := Linear(src0, src1, 4, Cosine)
	if err != nil {
		t.Fatal(err)
	}
	for _, method := range []Method{GMT, FGMT} {
		var want []stepRecord
		var wantRep *Report
		// The last two change the evaluation slices: accuracies must not move.
		for _, c := range []struct{ threads, workers, evalBatch int }{{1, 0, 16}, {2, 0, 16}, {3, 0, 16}, {2, 1, 16}, {2, 0, 5}, {1, 0, 64}} {
			e, _ := kernels.New(kernels.WithThreads(c.threads))
			var got []stepRecord
			var mu sync.Mutex
			rep, err := Run(context.Background(), Options{Method: method, NewModel: newModel, Source: traj, TargetInit: m.Init(2),
				Train: data, Val: data, GradBatches: 2, BatchSize: 8, EvalBatch: c.evalBatch, BNBatches: 2, Seed: seed,
				Engine: e, Workers: c.workers, OnStep: recordSteps(&got, &mu)})
			if err != nil {
				t.Fatalf("%s %+v: %v", method, c, err)
			}
			if want == nil {
				want, wantRep = got, rep
				continue
			}
			if len(got) != len(want) {
				t.Fatalf("%s %+v: %d steps, 1 thread %d", method, c, len(got), len(want))
			}
			for s := range want {
				if !sameParams(got[s].params, want[s].params) || !got[s].perms.Equal(want[s].perms) {
					t.Fatalf("%s %+v step %d: point or permutation differs from 1 thread", method, c, s)
				}
				if rep.Steps[s] != wantRep.Steps[s] {
					t.Fatalf("%s %+v: step %+v, 1 thread %+v", method, c, rep.Steps[s], wantRep.Steps[s])
				}
			}
		}
	}
}
