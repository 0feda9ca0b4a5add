package transfer

import (
	"context"
	"errors"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ltransfer/ltransfer/kernels"
	"github.com/ltransfer/ltransfer/nn"
)

// stepRecord is everything a transfer streams for one step.
type stepRecord struct {
	params *nn.ParamSet
	perms  Perms
}

func recordSteps(dst *[]stepRecord, mu *sync.Mutex) func(int, *nn.ParamSet, Perms) error {
	return func(s int, p *nn.ParamSet, perms Perms) error {
		mu.Lock()
		defer mu.Unlock()
		*dst = append(*dst, stepRecord{p.Clone(), perms.Clone()})
		return nil
	}
}

func sameParams(a, b *nn.ParamSet) bool {
	if a.Len() != b.Len() {
		return false
	}
	for _, n := range a.Names() {
		x, y := a.Get(n).Data, b.Get(n).Data
		if len(x) != len(y) {
			return false
		}
		for i := range x {
			if x[i] != y[i] {
				return false
			}
		}
	}
	return true
}

// TestRunManyMatchesRun checks that every target of RunMany streams the
// same points and permutations, and reports the same accuracies and
// objectives, as Run on that target alone, for several thread counts and
// worker bounds.
func TestRunManyMatchesRun(t *testing.T) {
	const seed = 7
	t.Logf("seed %d", seed)
	p := newTinyProblem(t)
	traj, err := Linear(p.src0, p.src1, 5, Cosine)
	if err != nil {
		t.Fatal(err)
	}
	inits := []*nn.ParamSet{p.tgt0, p.m.Init(103), p.m.Init(104), p.m.Init(105), p.m.Init(106)}
	for _, mc := range []struct {
		m           Method
		repair, sel bool
	}{{GMT, false, false}, {FGMT, false, false}, {Naive, false, false}, {Oracle, false, false}, {GMT, true, false}, {Naive, true, false},
		{GMT, false, true}, {FGMT, true, true}} {
		method := mc.m
		base := Options{Method: method, NewModel: p.newModel, Source: traj, Train: p.trainSet, Val: p.valSet,
			GradBatches: 2, BatchSize: 32, Seed: seed, Repair: mc.repair, RepairBatches: 2, SelectPerms: mc.sel, SelectBatches: 2}
		// The reference: each target alone, one thread.
		e1, _ := kernels.New(kernels.WithThreads(1))
		want := make([][]stepRecord, len(inits))
		wantRep := make([]*Report, len(inits))
		for i, init := range inits {
			var mu sync.Mutex
			o := base
			o.Engine, o.TargetInit, o.TargetFinal = e1, init, p.tgt1
			o.OnStep = recordSteps(&want[i], &mu)
			if wantRep[i], err = Run(context.Background(), o); err != nil {
				t.Fatalf("%s target %d: %v", method, i, err)
			}
		}
		for _, cfg := range []struct{ threads, workers int }{{1, 0}, {2, 0}, {3, 2}, {4, 1}} {
			e, _ := kernels.New(kernels.WithThreads(cfg.threads))
			o := base
			o.Engine, o.Workers = e, cfg.workers
			got := make([][]stepRecord, len(inits))
			targets := make([]Target, len(inits))
			var mu sync.Mutex
			for i, init := range inits {
				targets[i] = Target{Init: init, Final: p.tgt1, OnStep: recordSteps(&got[i], &mu)}
				if i%2 == 1 { // loaded when it starts
					targets[i] = Target{Load: func(t *Target) error {
						t.Init, t.Final, t.OnStep = init, p.tgt1, recordSteps(&got[i], &mu)
						return nil
					}}
				}
			}
			reps, err := RunMany(context.Background(), o, targets)
			if err != nil {
				t.Fatalf("%s %+v: %v", method, cfg, err)
			}
			for i := range inits {
				if len(got[i]) != len(want[i]) {
					t.Fatalf("%s %+v target %d: %d steps streamed, want %d", method, cfg, i, len(got[i]), len(want[i]))
				}
				for s := range want[i] {
					if !sameParams(got[i][s].params, want[i][s].params) || !got[i][s].perms.Equal(want[i][s].perms) {
						t.Fatalf("%s %+v target %d step %d: point or permutation differs from Run", method, cfg, i, s)
					}
				}
				g, w := reps[i], wantRep[i]
				if g.BestStep != w.BestStep || g.BestValAcc != w.BestValAcc || len(g.Steps) != len(w.Steps) {
					t.Fatalf("%s %+v target %d: best %d %.4f, Run %d %.4f", method, cfg, i, g.BestStep, g.BestValAcc, w.BestStep, w.BestValAcc)
				}
				for s := range w.Steps {
					if g.Steps[s] != w.Steps[s] {
						t.Fatalf("%s %+v target %d: step %+v, Run %+v", method, cfg, i, g.Steps[s], w.Steps[s])
					}
				}
			}
		}
	}
}

// TestRunManyBoundsModels checks that no more models exist than Workers,
// whatever the thread count.
func TestRunManyBoundsModels(t *testing.T) {
	p := newTinyProblem(t)
	traj, _ := Linear(p.src0, p.src1, 4, Cosine)
	for _, workers := range []int{1, 2} {
		var made atomic.Int32
		e, _ := kernels.New(kernels.WithThreads(4))
		o := Options{Method: GMT, Source: traj, Train: p.trainSet, Val: p.valSet, BatchSize: 32, Seed: 1, Engine: e, Workers: workers,
			NewModel: func() (nn.Model, error) { made.Add(1); return p.newModel() }}
		targets := []Target{{Init: p.tgt0}, {Init: p.m.Init(103)}, {Init: p.m.Init(104)}}
		if _, err := RunMany(context.Background(), o, targets); err != nil {
			t.Fatal(err)
		}
		if n := made.Load(); n > int32(workers) || n < 1 {
			t.Errorf("Workers %d: %d models made", workers, n)
		}
	}
}

// panicModel panics in Forward after a number of calls.
type panicModel struct {
	nn.Model
	calls *atomic.Int32
	after int32
}

func (m panicModel) Forward(e *kernels.Engine, p *nn.ParamSet, b nn.Batch, g *nn.ParamSet, train bool) (nn.Result, error) {
	if m.calls.Add(1) > m.after {
		panic("model exploded")
	}
	return m.Model.Forward(e, p, b, g, train)
}

// TestRunRecoversPanics checks that a panic in the caller's model, in a
// gradient worker or a background evaluation, comes back as an error.
func TestRunRecoversPanics(t *testing.T) {
	p := newTinyProblem(t)
	traj, _ := Linear(p.src0, p.src1, 4, Cosine)
	for _, after := range []int32{0, 3, 9} {
		var calls atomic.Int32
		e, _ := kernels.New(kernels.WithThreads(2))
		o := Options{Method: GMT, Source: traj, Train: p.trainSet, Val: p.valSet, BatchSize: 32, Seed: 1, Engine: e, TargetInit: p.tgt0,
			NewModel: func() (nn.Model, error) {
				m, err := p.newModel()
				return panicModel{m, &calls, after}, err
			}}
		_, err := Run(context.Background(), o)
		var pe *PanicError
		if !errors.As(err, &pe) || !strings.Contains(err.Error(), "model exploded") {
			t.Fatalf("panic after %d calls: got %v, want a *PanicError", after, err)
		}
	}
	// A panicking callback too.
	o := Options{Method: Naive, NewModel: p.newModel, Source: traj, Val: p.valSet, TargetInit: p.tgt0,
		OnStep: func(int, *nn.ParamSet, Perms) error { panic("callback exploded") }}
	if _, err := Run(context.Background(), o); err == nil || !strings.Contains(err.Error(), "callback exploded") {
		t.Fatalf("panicking OnStep: got %v", err)
	}
}

func TestRunManyBadTargets(t *testing.T) {
	p := newTinyProblem(t)
	traj, _ := Linear(p.src0, p.src1, 3, Cosine)
	o := Options{Method: GMT, NewModel: p.newModel, Source: traj, Train: p.trainSet, BatchSize: 32}
	if _, err := RunMany(context.Background(), o, nil); err == nil {
		t.Error("no targets: no error")
	}
	bad := p.tgt0.Clone()
	bad.Get(bad.Names()[0]).Data[3] = float32(nan())
	_, err := RunMany(context.Background(), o, []Target{{Init: p.tgt0}, {Init: bad}})
	var te *TargetError
	if !errors.As(err, &te) || te.Target != 1 || !strings.Contains(err.Error(), "non-finite") {
		t.Errorf("NaN in target 1: got %v", err)
	}
	o2 := o
	o2.TargetInit = p.tgt0
	if _, err := RunMany(context.Background(), o2, []Target{{Init: p.tgt0}}); err == nil {
		t.Error("Options.TargetInit with RunMany: no error")
	}
}

func nan() float64 { var z float64; return z / z }

// TestRunRejectsInconsistentExamples checks that a data set whose X and Y
// disagree, or with out-of-range labels, is refused before any work.
func TestRunRejectsInconsistentExamples(t *testing.T) {
	p := newTinyProblem(t)
	traj, _ := Linear(p.src0, p.src1, 3, Cosine)
	short := &Examples{X: p.trainSet.X, Y: p.trainSet.Y[:len(p.trainSet.Y)-1]}
	badLabel := &Examples{X: p.trainSet.X, Y: append([]int32(nil), p.trainSet.Y...), Classes: 5}
	badLabel.Y[7] = 5
	negLabel := &Examples{X: p.trainSet.X, Y: append([]int32(nil), p.trainSet.Y...)}
	negLabel.Y[2] = -1
	badData := &Examples{X: &nn.Tensor{Shape: []int{400, 20}, Data: make([]float32, 10)}, Y: p.trainSet.Y}
	for name, d := range map[string]*Examples{"short Y": short, "label 5 of 5": badLabel, "label -1": negLabel, "data size": badData} {
		for _, asVal := range []bool{false, true} {
			o := Options{Method: GMT, NewModel: p.newModel, Source: traj, Train: p.trainSet, Val: p.valSet, TargetInit: p.tgt0, BatchSize: 32}
			if asVal {
				o.Val = d
			} else {
				o.Train = d
			}
			if _, err := Run(context.Background(), o); err == nil {
				t.Errorf("%s (val %v): no error", name, asVal)
			}
		}
	}
}

// TestProgressCountsWithinPhase checks that the gradient phase reports
// each finished gradient mini-batch: GMT's step s has s pairs, FGMT's one,
// each of GradBatches batches.
func TestProgressCountsWithinPhase(t *testing.T) {
	p := newTinyProblem(t)
	traj, _ := Linear(p.src0, p.src1, 4, Cosine)
	for _, c := range []struct {
		m Method
		k int
	}{{GMT, 1}, {GMT, 2}, {FGMT, 3}} {
		var last = map[int]int{}
		var maxDone = map[int]int{}
		want := func(s int) int {
			if c.m == FGMT {
				return c.k
			}
			return s * c.k
		}
		o := Options{Method: c.m, NewModel: p.newModel, Source: traj, Train: p.trainSet, Val: p.valSet, TargetInit: p.tgt0, BatchSize: 32,
			GradBatches: c.k,
			Progress: func(pr Progress) {
				if pr.Phase == "gradients" {
					if pr.Done > last[pr.Step]+1 || pr.Total != want(pr.Step) {
						t.Errorf("%s k=%d step %d: gradients %d/%d after %d", c.m, c.k, pr.Step, pr.Done, pr.Total, last[pr.Step])
					}
					last[pr.Step] = pr.Done
					maxDone[pr.Step] = max(maxDone[pr.Step], pr.Done)
				}
			}}
		if _, err := Run(context.Background(), o); err != nil {
			t.Fatal(err)
		}
		for s := 1; s <= 4; s++ {
			if maxDone[s] != want(s) {
				t.Errorf("%s k=%d step %d: gradients counted to %d, want %d", c.m, c.k, s, maxDone[s], want(s))
			}
		}
	}
}

// TestRunManyCancel checks that cancelling stops every target with the
// context's error and leaves no goroutine of the transfer running.
func TestRunManyCancel(t *testing.T) {
	p := newTinyProblem(t)
	traj, _ := Linear(p.src0, p.src1, 8, Cosine)
	before := runtime.NumGoroutine()
	ctx, cancel := context.WithCancel(context.Background())
	e, _ := kernels.New(kernels.WithThreads(2))
	steps := atomic.Int32{}
	o := Options{Method: GMT, NewModel: p.newModel, Source: traj, Train: p.trainSet, Val: p.valSet, BatchSize: 32, Engine: e,
		Progress: func(pr Progress) {
			if pr.Phase == "step" && steps.Add(1) == 3 {
				cancel()
			}
		}}
	targets := []Target{{Init: p.tgt0}, {Init: p.m.Init(103)}, {Init: p.m.Init(104)}}
	_, err := RunMany(ctx, o, targets)
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled RunMany: got %v, want context.Canceled", err)
	}
	for i := 0; i < 100 && runtime.NumGoroutine() > before+2; i++ {
		time.Sleep(10 * time.Millisecond)
	}
	if n := runtime.NumGoroutine(); n > before+2 {
		t.Errorf("%d goroutines before, %d after the cancelled run", before, n)
	}
}

// TestRandomBaseline checks that the random baseline streams one fixed
// permutation, drawn from the seed, that is not the identity.
func TestRandomBaseline(t *testing.T) {
	p := newTinyProblem(t)
	traj, _ := Linear(p.src0, p.src1, 3, Cosine)
	var seen []Perms
	o := Options{Method: Random, NewModel: p.newModel, Source: traj, Val: p.valSet, TargetInit: p.tgt0, Seed: 9,
		OnStep: func(_ int, _ *nn.ParamSet, perms Perms) error { seen = append(seen, perms.Clone()); return nil }}
	rep, err := Run(context.Background(), o)
	if err != nil {
		t.Fatal(err)
	}
	sizes, _ := specSizes(t, p)
	want := RandomPerms(sizes, 9)
	if want.Equal(Identity(sizes)) || !rep.Perms.Equal(want) {
		t.Fatalf("random baseline used %v", rep.Perms)
	}
	for s, q := range seen {
		if !q.Equal(want) {
			t.Fatalf("step %d: permutation changed", s)
		}
	}
}

// specSizes returns the group sizes of the tiny problem's MLP.
func specSizes(t *testing.T, p *tinyProblem) (map[string]int, *Spec) {
	t.Helper()
	spec, err := BuiltinSpec(p.m.Arch(), p.m.State())
	if err != nil {
		t.Fatal(err)
	}
	sizes, err := spec.Validate(p.tgt0)
	if err != nil {
		t.Fatal(err)
	}
	return sizes, spec
}

// TestSegments checks the paper code's permutation segments: the first
// segment is the plain transfer, every later point is its segment's base
// plus the permuted source update since the segment's start, and the base
// is the previous segment's last (or, branching, best) point.
func TestSegments(t *testing.T) {
	p := newTinyProblem(t)
	traj, _ := Linear(p.src0, p.src1, 9, Cosine)
	_, spec := specSizes(t, p)
	// Seeds whose runs have a best point before a segment's start, so that
	// branching at the best point is seen to differ from the last point.
	seeds := map[Method]uint64{GMT: 4, FGMT: 3}
	for _, method := range []Method{GMT, FGMT} {
		for _, branch := range []bool{false, true} {
			run := func(segments int) ([]stepRecord, *Report) {
				var got []stepRecord
				var mu sync.Mutex
				o := Options{Method: method, NewModel: p.newModel, Source: traj, Train: p.trainSet, Val: p.valSet, TargetInit: p.tgt0,
					BatchSize: 32, Seed: seeds[method], Segments: segments, BranchAtBest: branch && segments > 1, OnStep: recordSteps(&got, &mu)}
				rep, err := Run(context.Background(), o)
				if err != nil {
					t.Fatalf("%s %d segments: %v", method, segments, err)
				}
				return got, rep
			}
			plain, _ := run(1)
			seg, rep := run(3)
			if rep.Segments != 3 || rep.BranchAtBest != branch {
				t.Errorf("report says %d segments, branch %v", rep.Segments, rep.BranchAtBest)
			}
			for s := 0; s <= 3; s++ {
				if !sameParams(seg[s].params, plain[s].params) {
					t.Fatalf("%s: step %d of the first segment differs from the plain transfer", method, s)
				}
			}
			best := func(upto int) int { // best step among 1…upto, as the run saw it
				b := 1
				for s := 2; s <= upto; s++ {
					if rep.Steps[s].ValAcc > rep.Steps[b].ValAcc {
						b = s
					}
				}
				return b
			}
			branched := false
			for _, start := range []int{3, 6} {
				base := seg[start].params
				if branch {
					base = seg[best(start)].params
					branched = branched || best(start) != start
				}
				from, _ := traj.At(start)
				for s := start + 1; s <= start+3; s++ {
					theta, _ := traj.At(s)
					d, err := Apply(spec, diff(theta, from), seg[s].perms)
					if err != nil {
						t.Fatal(err)
					}
					for _, name := range d.Names() {
						x, y, b := seg[s].params.Get(name).Data, d.Get(name).Data, base.Get(name).Data
						for i := range x {
							if diff := x[i] - b[i] - y[i]; diff > 1e-5 || diff < -1e-5 {
								t.Fatalf("%s branch %v step %d: %s[%d] = %g, base + π(Δ) = %g", method, branch, s, name, i, x[i], b[i]+y[i])
							}
						}
					}
				}
			}
			if branch && !branched {
				t.Fatalf("%s: the best point was always the last one; choose another seed", method)
			}
		}
	}
	bad := []Options{
		{Method: GMT, Segments: 4},                     // 9 steps
		{Method: Naive, Segments: 2},                   // not a matching method
		{Method: GMT, Segments: 1, BranchAtBest: true}, // nothing to branch
	}
	for _, o := range bad {
		o.NewModel, o.Source, o.Train, o.Val, o.TargetInit, o.BatchSize = p.newModel, traj, p.trainSet, p.valSet, p.tgt0, 32
		if _, err := Run(context.Background(), o); err == nil {
			t.Errorf("%s with %d segments, branch %v: no error", o.Method, o.Segments, o.BranchAtBest)
		}
	}
}
