package transfer

import (
	"context"
	"errors"
	"math"
	"math/rand/v2"
	"slices"
	"sync"
	"testing"

	"github.com/ltransfer/ltransfer/kernels"
	"github.com/ltransfer/ltransfer/nn"
)

// TestRunSameForAnyThreadCount checks that one transfer of a model with
// convolutions and batch norm (a narrow ResNet-20) streams the same points
// and permutations, and reports the same accuracies and objectives, on 1, 2
// and 3 threads (also with SelectPerms), with the workspaces bounded to one model and with other
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
	data := noiseExamples(seed, 64, []int{3, 16, 16}, 4)
	src0 := m.Init(1)
	src1 := train(t, m, src0, data, 3, 8, 0.05, 1)
	traj, err := Linear(src0, src1, 4, Cosine)
	if err != nil {
		t.Fatal(err)
	}
	// GMT with SelectPerms as well: its endpoint scoring recomputes BN
	// statistics and sums batch losses, concurrently.
	for _, mc := range []struct {
		method Method
		sel    bool
	}{{GMT, false}, {FGMT, false}, {GMT, true}} {
		method := mc.method
		var want []stepRecord
		var wantRep *Report
		// The last two change the evaluation slices: accuracies must not move.
		for _, c := range []struct{ threads, workers, evalBatch int }{{1, 0, 16}, {2, 0, 16}, {3, 0, 16}, {2, 1, 16}, {2, 0, 5}, {1, 0, 64}} {
			e, _ := kernels.New(kernels.WithThreads(c.threads))
			var got []stepRecord
			var mu sync.Mutex
			rep, err := Run(context.Background(), Options{Method: method, NewModel: newModel, Source: traj, TargetInit: m.Init(2),
				Train: data, Val: data, GradBatches: 2, BatchSize: 8, EvalBatch: c.evalBatch, BNBatches: 2, Seed: seed,
				Engine: e, Workers: c.workers, OnStep: recordSteps(&got, &mu), KeepBest: true, KeepBestLogits: true,
				SelectPerms: mc.sel, SelectBatches: 2})
			if err != nil {
				t.Fatalf("%s %+v: %v", method, c, err)
			}
			// The kept logits are those of the best point, BN statistics
			// recomputed, in the evaluation's slices.
			if l := logitsIn(t, m, rep.BestParams, data, c.evalBatch); !slices.Equal(rep.BestLogits, l) {
				t.Fatalf("%s %+v: the kept logits are not the best point's (%d values, want %d)", method, c, len(rep.BestLogits), len(l))
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
			if c.evalBatch == 16 && !slices.Equal(rep.BestLogits, wantRep.BestLogits) {
				t.Fatalf("%s %+v: kept logits differ from 1 thread's", method, c)
			}
		}
	}
}

// TestRunRepair: with Options.Repair a Conv4 transfer keeps the method's
// permutations, streams renormalised points (other than the plain run's),
// and gives the same bits on 1 and 2 threads; a model with BN is refused
// before any work.
func TestRunRepair(t *testing.T) {
	const seed = 5
	cfg := nn.ModelConfig{WidthFactor: 1.0 / 16, InputShape: []int{3, 32, 32}, NumClasses: 4}
	newModel := func() (nn.Model, error) { return nn.NewModel("conv4", cfg) }
	m, err := newModel()
	if err != nil {
		t.Fatal(err)
	}
	data := noiseExamples(seed, 48, []int{3, 32, 32}, 4)
	src0 := m.Init(1)
	src1 := train(t, m, src0, data, 3, 8, 0.05, 1)
	traj, err := Linear(src0, src1, 3, Cosine)
	if err != nil {
		t.Fatal(err)
	}
	run := func(threads int, repair bool) ([]stepRecord, *Report) {
		e, _ := kernels.New(kernels.WithThreads(threads))
		var got []stepRecord
		var mu sync.Mutex
		rep, err := Run(context.Background(), Options{Method: GMT, NewModel: newModel, Source: traj, TargetInit: m.Init(2),
			Train: data, Val: data, BatchSize: 8, Seed: seed, Engine: e, Repair: repair, RepairBatches: 2,
			OnStep: recordSteps(&got, &mu)})
		if err != nil {
			t.Fatal(err)
		}
		return got, rep
	}
	plain, _ := run(1, false)
	rep1, rep := run(1, true)
	rep2, _ := run(2, true)
	if !rep.Repair {
		t.Error("report does not record the repair")
	}
	for s := range plain {
		if !rep1[s].perms.Equal(plain[s].perms) {
			t.Fatalf("step %d: repair changed the permutation", s)
		}
		if same := sameParams(rep1[s].params, plain[s].params); same != (s == 0) {
			t.Fatalf("step %d: repaired point equal to the plain one: %v", s, same)
		}
		if !sameParams(rep1[s].params, rep2[s].params) {
			t.Fatalf("step %d: repaired point differs between 1 and 2 threads", s)
		}
	}
	bn := func() (nn.Model, error) { return nn.NewModel("resnet20", cfg) }
	rm, _ := bn()
	rtraj, err := Linear(rm.Init(1), rm.Init(3), 1, Cosine)
	if err != nil {
		t.Fatal(err)
	}
	_, err = Run(context.Background(), Options{Method: Naive, NewModel: bn, Source: rtraj, TargetInit: rm.Init(2), Train: data, Repair: true})
	if !errors.Is(err, nn.ErrRepairUnsupported) {
		t.Fatalf("repair of a ResNet: %v", err)
	}
}

// TestPermutedUnitStats: the unit statistics of π(θ) are θ's permuted, the
// shortcut Repair takes to compute the source's statistics once per point.
func TestPermutedUnitStats(t *testing.T) {
	cfg := nn.ModelConfig{WidthFactor: 1.0 / 8, InputShape: []int{3, 32, 32}, NumClasses: 4}
	m, err := nn.NewModel("conv4", cfg)
	if err != nil {
		t.Fatal(err)
	}
	spec, err := BuiltinSpec("conv4", m.State())
	if err != nil {
		t.Fatal(err)
	}
	theta := m.Init(1)
	sizes, err := spec.Validate(theta)
	if err != nil {
		t.Fatal(err)
	}
	r := rand.New(rand.NewPCG(3, 1))
	perms := Perms{}
	for g, n := range sizes {
		perms[g] = r.Perm(n)
	}
	c := &common{spec: spec}
	zeros := theta.ZerosLike()
	permuted := c.transferred(theta, zeros, zeros, perms)
	x := nn.NewTensor(6, 3, 32, 32)
	for i := range x.Data {
		x.Data[i] = float32(r.NormFloat64())
	}
	batches := []nn.Batch{{X: x, Y: make([]int32, 6)}}
	e, _ := kernels.New(kernels.WithThreads(1))
	st, err := nn.UnitStatistics(context.Background(), e, m, theta, batches)
	if err != nil {
		t.Fatal(err)
	}
	want, err := nn.UnitStatistics(context.Background(), e, m, permuted, batches)
	if err != nil {
		t.Fatal(err)
	}
	got := c.permutedStats(st, perms)
	for k := range want {
		for i := range want[k].Mean {
			dm, dd := got[k].Mean[i]-want[k].Mean[i], got[k].Dev[i]-want[k].Dev[i]
			if math.Abs(dm) > 1e-5*(1+math.Abs(want[k].Mean[i])) || math.Abs(dd) > 1e-5*(1+want[k].Dev[i]) {
				t.Fatalf("%s unit %d: permuted (%g, %g), of the permuted network (%g, %g)",
					want[k].Layer, i, got[k].Mean[i], got[k].Dev[i], want[k].Mean[i], want[k].Dev[i])
			}
		}
	}
}

// noiseExamples returns n standard-normal samples of the given shape with
// labels cycling through the classes.
func noiseExamples(seed uint64, n int, shape []int, classes int) *Examples {
	r := rand.New(rand.NewPCG(seed, 1))
	data := &Examples{X: nn.NewTensor(append([]int{n}, shape...)...), Y: make([]int32, n), Classes: classes}
	for i := range data.X.Data {
		data.X.Data[i] = float32(r.NormFloat64())
	}
	for i := range data.Y {
		data.Y[i] = int32(i % classes)
	}
	return data
}
