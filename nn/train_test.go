package nn

import (
	"context"
	"errors"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ltransfer/ltransfer/kernels"
)

func synthData(t *testing.T) (*Data, Model, ModelConfig) {
	t.Helper()
	all := synthSet(500, 4, 11)
	train, val, err := all.Split(0.2, 0)
	if err != nil {
		t.Fatal(err)
	}
	d := &Data{Name: "synth", Train: train, Val: val, Test: synthSet(100, 4, 12), SampleShape: all.SampleShape(), Classes: all.Classes}
	cfg := ModelConfig{Width: 16, Depth: 1, InputShape: all.SampleShape(), NumClasses: 4}
	m, err := NewModel("mlp-relu", cfg)
	if err != nil {
		t.Fatal(err)
	}
	return d, m, cfg
}

func TestTrainLearnsAndRecords(t *testing.T) {
	d, m, cfg := synthData(t)
	dir := filepath.Join(t.TempDir(), "run")
	var steps, ckpts int
	res, err := Train(context.Background(), kernels.Default(), m, d, TrainConfig{
		ModelConfig: cfg, Dataset: "synth", Epochs: 4, BatchSize: 32, Seed: 5,
		Optim: OptimConfig{Name: "sgd", LR: 0.05, Momentum: 0.9}, Schedule: ScheduleConfig{Name: "cosine", WarmupSteps: 3},
		Out: dir, ExtraCheckpoints: []int{2},
		Progress: func(p TrainProgress) {
			switch p.Phase {
			case "train":
				steps++
			case "checkpoint":
				ckpts++
			}
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	spe := (d.Train.Len() + 31) / 32
	if steps != 4*spe || ckpts != 6 {
		t.Errorf("progress saw %d steps and %d checkpoints, want %d and 6", steps, ckpts, 4*spe)
	}
	man, err := ReadManifest(dir)
	if err != nil {
		t.Fatal(err)
	}
	if !man.Complete || len(man.Checkpoints) != 6 || man.Model != "mlp-relu" || man.StepsPerEpoch != spe || len(man.EpochSeconds) != 4 {
		t.Fatalf("manifest %+v", man)
	}
	last := man.Checkpoints[5]
	if last.Step != 4*spe || last.Epoch != 4 || last.ValAcc == nil || *last.ValAcc < 0.85 {
		t.Errorf("last checkpoint %+v (val acc %v), want step %d and val acc ≥ 0.85", last, deref(last.ValAcc), 4*spe)
	}
	if man.Checkpoints[0].TrainAcc != nil || man.Checkpoints[1].Step != 2 {
		t.Errorf("init/extra checkpoints %+v %+v", man.Checkpoints[0], man.Checkpoints[1])
	}
	tr, err := OpenTrajectory(dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	p5, err := tr.At(5)
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range res.Params.Names() {
		if !equalF32(p5.Get(n).Data, res.Params.Get(n).Data) {
			t.Errorf("last checkpoint's %s differs from the returned parameters", n)
		}
	}
	p0, _ := tr.At(0)
	init := m.Init(5)
	for _, n := range init.Names() {
		if !equalF32(p0.Get(n).Data, init.Get(n).Data) {
			t.Errorf("ckpt-0000 %s is not Init(seed)", n)
		}
	}
	// Only the newest optimiser state is kept.
	if ents, _ := filepath.Glob(filepath.Join(dir, "optim-*")); len(ents) != 1 {
		t.Errorf("optimiser state files %v, want one", ents)
	}
	// Evaluate agrees with the recorded validation accuracy.
	ev, err := Evaluate(context.Background(), nil, m, res.Params, d.Val, nil)
	if err != nil || ev.Accuracy != *last.ValAcc || ev.N != d.Val.Len() {
		t.Errorf("Evaluate %+v, %v; recorded %v", ev, err, *last.ValAcc)
	}
	// A second run into the same folder is refused, and so is a resume of a complete run.
	cfg2 := TrainConfig{ModelConfig: cfg, Dataset: "synth", Epochs: 4, BatchSize: 32, Seed: 5, Optim: OptimConfig{Name: "sgd", LR: 0.05, Momentum: 0.9}, Schedule: ScheduleConfig{Name: "cosine", WarmupSteps: 3}, Out: dir}
	if _, err := Train(context.Background(), nil, m, d, cfg2); err == nil || !strings.Contains(err.Error(), "already holds") {
		t.Errorf("second run: %v", err)
	}
	cfg2.Resume = true
	if _, err := Train(context.Background(), nil, m, d, cfg2); err == nil || !strings.Contains(err.Error(), "complete") {
		t.Errorf("resume of a complete run: %v", err)
	}
	cfg2.Seed = 6
	if _, err := Train(context.Background(), nil, m, d, cfg2); err == nil || !strings.Contains(err.Error(), "seed differs") {
		t.Errorf("resume with another seed: %v", err)
	}
	// A non-empty foreign folder is not overwritten.
	foreign := t.TempDir()
	os.WriteFile(filepath.Join(foreign, "x"), []byte("x"), 0o644)
	cfg2.Out, cfg2.Resume = foreign, false
	if _, err := Train(context.Background(), nil, m, d, cfg2); err == nil || !strings.Contains(err.Error(), "not empty") {
		t.Errorf("foreign folder: %v", err)
	}
}

func deref(p *float64) float64 {
	if p == nil {
		return math.NaN()
	}
	return *p
}

// TestTrainResume interrupts a run and resumes it: the result must be
// bit-identical to the uninterrupted run.
func TestTrainResume(t *testing.T) {
	for _, opt := range []OptimConfig{{Name: "sgd", LR: 0.05, Momentum: 0.9, Nesterov: true, WeightDecay: 1e-3}, {Name: "adamw", LR: 0.01, WeightDecay: 0.01}} {
		t.Run(opt.Name, func(t *testing.T) {
			d, m, cfg := synthData(t)
			d.Train = d.Train.WithAugmentation(Augmentation{Pad: 1, Flip: true})
			base := TrainConfig{ModelConfig: cfg, Dataset: "synth", Epochs: 3, BatchSize: 32, Seed: 9, Optim: opt, CheckpointEvery: 5}
			full := base
			full.Out = filepath.Join(t.TempDir(), "full")
			want, err := Train(context.Background(), nil, m, d, full)
			if err != nil {
				t.Fatal(err)
			}
			part := base
			part.Out = filepath.Join(t.TempDir(), "part")
			ctx, cancel := context.WithCancel(context.Background())
			part.Progress = func(p TrainProgress) {
				if p.Phase == "train" && p.Step == 18 {
					cancel()
				}
			}
			if _, err := Train(ctx, nil, m, d, part); !errors.Is(err, context.Canceled) {
				t.Fatalf("interrupted run returned %v, want context.Canceled", err)
			}
			man, _ := ReadManifest(part.Out)
			if man.Complete || man.Checkpoints[len(man.Checkpoints)-1].Step != 15 {
				t.Fatalf("interrupted manifest: complete %v, last step %d", man.Complete, man.Checkpoints[len(man.Checkpoints)-1].Step)
			}
			part.Progress = nil
			part.Resume = true
			got, err := Train(context.Background(), nil, m, d, part)
			if err != nil {
				t.Fatal(err)
			}
			for _, n := range want.Params.Names() {
				if !equalF32(got.Params.Get(n).Data, want.Params.Get(n).Data) {
					t.Errorf("%s differs after resuming", n)
				}
			}
			if len(got.Checkpoints) != len(want.Checkpoints) {
				t.Errorf("%d checkpoints after resume, want %d", len(got.Checkpoints), len(want.Checkpoints))
			}
		})
	}
}

// TestTrainThreadIndependent: the same run on 1 and 2 threads gives the
// same bits.
func TestTrainThreadIndependent(t *testing.T) {
	d, _, cfg := synthData(t)
	// Wide enough that the GEMMs and the optimiser split their work.
	cfg.Width = 4096
	m, err := NewModel("mlp-relu", cfg)
	if err != nil {
		t.Fatal(err)
	}
	var ps []*ParamSet
	for _, th := range []int{1, 2} {
		e, _ := kernels.New(kernels.WithThreads(th))
		res, err := Train(context.Background(), e, m, d, TrainConfig{ModelConfig: cfg, Epochs: 2, BatchSize: 32, Seed: 3,
			Optim: OptimConfig{Name: "sgd", LR: 0.05, Momentum: 0.9}})
		if err != nil {
			t.Fatal(err)
		}
		ps = append(ps, res.Params)
	}
	for _, n := range ps[0].Names() {
		if !equalF32(ps[0].Get(n).Data, ps[1].Get(n).Data) {
			t.Errorf("%s differs between 1 and 2 threads", n)
		}
	}
}

func TestTrainErrors(t *testing.T) {
	d, m, cfg := synthData(t)
	base := TrainConfig{ModelConfig: cfg, Epochs: 1, BatchSize: 16, Optim: OptimConfig{Name: "sgd", LR: 1e6}}
	if _, err := Train(context.Background(), nil, m, d, base); err == nil || !strings.Contains(err.Error(), "loss is") {
		t.Errorf("diverging run: %v", err)
	}
	bad := base
	bad.BatchSize = 0
	if _, err := Train(context.Background(), nil, m, d, bad); err == nil {
		t.Error("batch size 0 accepted")
	}
	bad = base
	bad.Optim.Name = "lbfgs"
	if _, err := Train(context.Background(), nil, m, d, bad); err == nil || !strings.Contains(err.Error(), "lbfgs") {
		t.Errorf("unknown optimiser: %v", err)
	}
	other, _ := NewModel("mlp", ModelConfig{Width: 4, InputShape: []int{5}, NumClasses: 4})
	if _, err := Train(context.Background(), nil, other, d, base); err == nil || !strings.Contains(err.Error(), "shape") {
		t.Errorf("shape mismatch: %v", err)
	}
}

func TestSchedules(t *testing.T) {
	c := ScheduleConfig{Name: "cosine", WarmupSteps: 10}
	if lr := c.LR(1, 0, 10, 110); math.Abs(lr-0.1) > 1e-12 {
		t.Errorf("warm-up step 0: %v", lr)
	}
	if lr := c.LR(1, 9, 10, 110); lr != 1 {
		t.Errorf("end of warm-up: %v", lr)
	}
	if lr := c.LR(1, 60, 10, 110); math.Abs(lr-0.5) > 1e-12 {
		t.Errorf("cosine midpoint: %v", lr)
	}
	if lr := c.LR(1, 110, 10, 110); math.Abs(lr) > 1e-12 {
		t.Errorf("cosine end: %v", lr)
	}
	m := ScheduleConfig{Name: "multistep", Milestones: []int{2, 4}, Gamma: 0.5}
	for step, want := range map[int]float64{0: 1, 19: 1, 20: 0.5, 39: 0.5, 40: 0.25, 100: 0.25} {
		if lr := m.LR(1, step, 10, 200); math.Abs(lr-want) > 1e-12 {
			t.Errorf("multistep step %d: %v, want %v", step, lr, want)
		}
	}
	if lr := (ScheduleConfig{}).LR(0.3, 50, 10, 100); lr != 0.3 {
		t.Errorf("constant: %v", lr)
	}
	for _, bad := range []ScheduleConfig{{Name: "step"}, {Name: "multistep", Milestones: []int{3, 2}}, {WarmupSteps: -1}} {
		if bad.Validate() == nil {
			t.Errorf("%+v accepted", bad)
		}
	}
}

func TestLinearTrajectory(t *testing.T) {
	a, b := NewParamSet(), NewParamSet()
	_ = a.Add("w", &Tensor{Shape: []int{2}, Data: []float32{0, 10}})
	_ = b.Add("w", &Tensor{Shape: []int{2}, Data: []float32{4, 2}})
	for _, tc := range []struct {
		s    InterpSchedule
		want []float64
	}{
		{Uniform, []float64{0, 0.25, 0.5, 0.75, 1}},
		// steps ∝ 1+cos(πt/4): 2, 1+√2/2, 1, 1−√2/2 (sum 5)
		{Cosine, []float64{0, 2.0 / 5, (3 + math.Sqrt2/2) / 5, (4 + math.Sqrt2/2) / 5, 1}},
	} {
		tr, err := NewLinearTrajectory(a, b, 4, tc.s)
		if err != nil {
			t.Fatal(err)
		}
		if tr.Len() != 5 {
			t.Fatalf("Len %d", tr.Len())
		}
		for i, w := range tc.want {
			if l := tr.Lambda(i); math.Abs(l-w) > 1e-12 {
				t.Errorf("%s λ(%d) = %v, want %v", tc.s, i, l, w)
			}
			p, _ := tr.At(i)
			if got, want := p.Get("w").Data[1], float32(10+w*(2-10)); math.Abs(float64(got-want)) > 1e-5 {
				t.Errorf("%s point %d: %v, want %v", tc.s, i, got, want)
			}
		}
		if _, err := tr.At(5); err == nil {
			t.Error("point past the end accepted")
		}
	}
	c := NewParamSet()
	_ = c.Add("w", NewTensor(3))
	if _, err := NewLinearTrajectory(a, c, 4, Uniform); err == nil {
		t.Error("mismatched end points accepted")
	}
	if _, err := NewLinearTrajectory(a, b, 0, Uniform); err == nil {
		t.Error("T = 0 accepted")
	}
}

// TestModelInputErrors checks that bad batches and parameter sets are
// errors, not panics.
func TestModelInputErrors(t *testing.T) {
	m, _ := NewModel("mlp", ModelConfig{Width: 4, InputShape: []int{3}, NumClasses: 2})
	p := m.Init(1)
	x := &Tensor{Shape: []int{2, 3}, Data: make([]float32, 6)}
	for name, tc := range map[string]struct {
		b    Batch
		p    *ParamSet
		want string
	}{
		"label":   {Batch{X: x, Y: []int32{0, 2}}, p, "label 2"},
		"shape":   {Batch{X: &Tensor{Shape: []int{2, 4}, Data: make([]float32, 8)}, Y: []int32{0, 1}}, p, "shape"},
		"empty":   {Batch{X: &Tensor{Shape: []int{0, 3}}, Y: nil}, p, "empty"},
		"noinput": {Batch{Y: []int32{0}}, p, "no inputs"},
		"params":  {Batch{X: x, Y: []int32{0, 1}}, NewParamSet(), "lack"},
	} {
		if _, err := m.Forward(nil, tc.p, tc.b, nil, false); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v, want an error mentioning %q", name, err, tc.want)
		}
	}
	if _, err := NewModel("nope", ModelConfig{}); err == nil || !strings.Contains(err.Error(), "mlp") {
		t.Errorf("unknown model error should list the known ones: %v", err)
	}
	if _, err := NewModel("mlp", ModelConfig{Width: -1}); err == nil {
		t.Error("negative width accepted")
	}
}

// TestInitDistribution checks PyTorch's default bounds: weights and biases
// uniform in ±1/√fan_in, filling the range, mean ≈ 0, reproducible.
func TestInitDistribution(t *testing.T) {
	m, _ := NewModel("mlp-relu", ModelConfig{Width: 256, InputShape: []int{784}, NumClasses: 10})
	p := m.Init(101)
	q := m.Init(101)
	r := m.Init(102)
	for _, pi := range m.State() {
		fan := pi.Shape[len(pi.Shape)-1]
		if len(pi.Shape) == 1 {
			fan = map[string]int{"linear1.bias": 784, "linear2.bias": 256}[pi.Name]
		}
		bound := 1 / math.Sqrt(float64(fan))
		d := p.Get(pi.Name).Data
		var mx, sum, sq float64
		for _, v := range d {
			mx = math.Max(mx, math.Abs(float64(v)))
			sum += float64(v)
			sq += float64(v) * float64(v)
		}
		n := float64(len(d))
		if mx > bound || mx < bound*(1-10/n) {
			t.Errorf("%s: max |w| %v, bound %v", pi.Name, mx, bound)
		}
		if len(d) > 1000 {
			if math.Abs(sum/n) > 4*bound/math.Sqrt(3*n) {
				t.Errorf("%s: mean %v", pi.Name, sum/n)
			}
			if v := sq / n; math.Abs(v-bound*bound/3) > 0.05*bound*bound/3 {
				t.Errorf("%s: variance %v, want %v", pi.Name, v, bound*bound/3)
			}
		}
		if !equalF32(d, q.Get(pi.Name).Data) || equalF32(d, r.Get(pi.Name).Data) {
			t.Errorf("%s: init not reproducible from the seed, or equal across seeds", pi.Name)
		}
	}
}
