package transfer

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"strings"
	"sync"
	"testing"

	"github.com/ltransfer/ltransfer/kernels"
	"github.com/ltransfer/ltransfer/nn"
)

// blobs is a generated classification problem: classes Gaussian blobs
// in dim dimensions around random centres.
func blobs(seed uint64, n, dim, classes int) *Examples {
	r := rand.New(rand.NewPCG(seed, 3))
	cr := rand.New(rand.NewPCG(99, 4)) // same centres for every split
	centres := make([]float32, classes*dim)
	for i := range centres {
		centres[i] = float32(cr.NormFloat64())
	}
	x := nn.NewTensor(n, dim)
	y := make([]int32, n)
	for i := 0; i < n; i++ {
		c := r.IntN(classes)
		y[i] = int32(c)
		for j := 0; j < dim; j++ {
			x.Data[i*dim+j] = centres[c*dim+j] + 1.5*float32(r.NormFloat64())
		}
	}
	return &Examples{X: x, Y: y}
}

// train runs plain SGD with momentum and returns the final parameters.
func train(t testing.TB, m nn.Model, p *nn.ParamSet, d *Examples, steps, bs int, lr float32, seed uint64) *nn.ParamSet {
	e, _ := kernels.New(kernels.WithThreads(1))
	p = p.Clone()
	g := p.ZerosLike()
	v := p.ZerosLike()
	r := rand.New(rand.NewPCG(seed, 5))
	for s := 0; s < steps; s++ {
		idx := make([]int, bs)
		for i := range idx {
			idx[i] = r.IntN(d.Len())
		}
		if _, err := m.Forward(e, p, d.Batch(idx), g, true); err != nil {
			t.Fatal(err)
		}
		for _, name := range p.Names() {
			pd, gd, vd := p.Get(name).Data, g.Get(name).Data, v.Get(name).Data
			for i := range pd {
				vd[i] = 0.9*vd[i] + gd[i]
				pd[i] -= lr * vd[i]
			}
		}
	}
	return p
}

type tinyProblem struct {
	m                nn.Model
	newModel         func() (nn.Model, error)
	src0, src1       *nn.ParamSet
	tgt0, tgt1       *nn.ParamSet
	trainSet, valSet *Examples
}

func newTinyProblem(t testing.TB) *tinyProblem {
	cfg := nn.ModelConfig{Width: 48, InputShape: []int{20}, NumClasses: 5}
	newModel := func() (nn.Model, error) { return nn.NewModel("mlp", cfg) }
	m, err := newModel()
	if err != nil {
		t.Fatal(err)
	}
	tr, va := blobs(1, 400, 20, 5), blobs(2, 300, 20, 5)
	p := &tinyProblem{m: m, newModel: newModel, trainSet: tr, valSet: va}
	p.src0 = m.Init(101)
	p.tgt0 = m.Init(102)
	p.src1 = train(t, m, p.src0, tr, 60, 32, 0.01, 101)
	p.tgt1 = train(t, m, p.tgt0, tr, 60, 32, 0.01, 102)
	return p
}

func TestRunMethods(t *testing.T) {
	const seed = 5
	t.Logf("seed %d", seed)
	p := newTinyProblem(t)
	traj, err := Linear(p.src0, p.src1, 6, Cosine)
	if err != nil {
		t.Fatal(err)
	}
	best := map[Method]float64{}
	var gmtPerms Perms
	for _, method := range []Method{Naive, GMT, FGMT, Oracle} {
		for _, threads := range []int{1, 2} {
			e, _ := kernels.New(kernels.WithThreads(threads))
			var phases []string
			steps := 0
			rep, err := Run(context.Background(), Options{
				Method: method, NewModel: p.newModel, Source: traj, TargetInit: p.tgt0, TargetFinal: p.tgt1,
				Train: p.trainSet, Val: p.valSet, GradBatches: 2, BatchSize: 64, Seed: seed, Engine: e,
				Progress: func(pr Progress) { phases = append(phases, pr.Phase) },
				OnStep:   func(s int, _ *nn.ParamSet, _ Perms) error { steps++; return nil },
				KeepBest: true,
			})
			if err != nil {
				t.Fatalf("%s: %v", method, err)
			}
			if len(rep.Steps) != 7 || steps != 7 || rep.BestParams == nil || rep.BestStep < 1 {
				t.Fatalf("%s: %d steps reported, %d streamed, best step %d", method, len(rep.Steps), steps, rep.BestStep)
			}
			if threads == 1 {
				best[method] = rep.BestValAcc
				if method == GMT {
					gmtPerms = rep.Perms
				}
			} else if rep.BestValAcc != best[method] || (method == GMT && !rep.Perms.Equal(gmtPerms)) {
				t.Fatalf("%s: 2 threads gave best accuracy %v, 1 thread %v", method, rep.BestValAcc, best[method])
			}
			if method == GMT && (rep.LAPCalls == 0 || !strings.Contains(strings.Join(phases, ","), "gradients")) {
				t.Fatalf("GMT made %d LAP calls, phases %v", rep.LAPCalls, phases)
			}
			b, _ := json.Marshal(rep)
			var fields map[string]any
			_ = json.Unmarshal(b, &fields)
			for _, f := range []string{"method", "steps", "best_step", "best_val_acc", "timings_s"} {
				if _, ok := fields[f]; !ok {
					t.Fatalf("report.json lacks %q: %s", f, b)
				}
			}
			tm := fields["timings_s"].(map[string]any)
			for _, f := range []string{"gradients", "cost_matrices", "lap", "eval", "total"} {
				if _, ok := tm[f]; !ok {
					t.Fatalf("timings_s lacks %q: %s", f, b)
				}
			}
		}
	}
	t.Logf("best val acc: %v", best)
	if best[GMT] <= best[Naive]+0.05 || best[FGMT] <= best[Naive]+0.05 {
		t.Errorf("GMT %.3f / FGMT %.3f do not beat naive %.3f", best[GMT], best[FGMT], best[Naive])
	}
	if best[Oracle] <= best[Naive] {
		t.Errorf("oracle %.3f does not beat naive %.3f", best[Oracle], best[Naive])
	}
}

func TestRunBadInputs(t *testing.T) {
	p := newTinyProblem(t)
	traj, _ := Linear(p.src0, p.src1, 2, Uniform)
	base := Options{Method: GMT, NewModel: p.newModel, Source: traj, TargetInit: p.tgt0, Train: p.trainSet, Val: p.valSet, BatchSize: 16}
	nan := p.tgt0.Clone()
	nan.Get("linear1.weight").Data[5] = float32(zero() / zero())
	wrong := nn.NewParamSet()
	_ = wrong.Add("linear1.weight", nn.NewTensor(48, 21))
	_ = wrong.Add("linear2.weight", nn.NewTensor(5, 48))
	cases := []struct {
		name string
		edit func(o *Options)
		want string
	}{
		{"method", func(o *Options) { o.Method = "magic" }, "unknown method"},
		{"NaN init", func(o *Options) { o.TargetInit = nan }, `target initialisation tensor "linear1.weight" has a non-finite value`},
		{"shape", func(o *Options) { o.TargetInit = wrong }, `tensor "linear1.weight" has shape`},
		{"oracle without target", func(o *Options) { o.Method = Oracle }, "oracle needs the trained target"},
		{"no train data", func(o *Options) { o.Train = nil }, "data set is empty"},
		{"spec mismatch", func(o *Options) {
			o.Spec, _ = ParseSpec([]byte(`{"tensors": [{"name": "linear1.weight", "axes": ["P", null]}]}`))
		}, `tensor "linear2.weight" is not covered`},
	}
	for _, c := range cases {
		o := base
		c.edit(&o)
		_, err := Run(context.Background(), o)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: error %v, want it to contain %q", c.name, err, c.want)
		}
	}
	if _, err := Linear(p.src0, wrong, 3, Cosine); err == nil {
		t.Error("Linear accepted mismatched endpoints")
	}
	if _, err := Lambdas(0, Cosine); err == nil {
		t.Error("Lambdas accepted T=0")
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := Run(ctx, base); err == nil {
		t.Error("Run ignored a cancelled context")
	}
}

func TestLambdas(t *testing.T) {
	l, _ := Lambdas(4, Uniform)
	for i, v := range []float64{0, 0.25, 0.5, 0.75, 1} {
		if !relClose(l[i], v, 1e-12) {
			t.Fatalf("uniform λ %v", l)
		}
	}
	c, _ := Lambdas(10, Cosine)
	for i := 1; i < len(c); i++ {
		if c[i] <= c[i-1] {
			t.Fatalf("cosine λ not increasing: %v", c)
		}
	}
	// Steps shrink along the cosine schedule.
	if c[1]-c[0] <= c[10]-c[9] || c[10] != 1 {
		t.Fatalf("cosine λ %v", c)
	}
}

// TestRunBatchNormModel runs GMT and the oracle on a tiny ResNet-20 (BN
// statistics recomputed at every point, residual-tied groups) on random
// data: it must run, keep the inputs unchanged and report sane values.
func TestRunBatchNormModel(t *testing.T) {
	const seed = 3
	t.Logf("seed %d", seed)
	cfg := nn.ModelConfig{WidthFactor: 1.0 / 16, InputShape: []int{3, 32, 32}, NumClasses: 4}
	newModel := func() (nn.Model, error) { return nn.NewModel("resnet20", cfg) }
	m, err := newModel()
	if err != nil {
		t.Skipf("resnet20 not available: %v", err)
	}
	data := noiseExamples(seed, 48, []int{3, 32, 32}, 4)
	src0, tgt0 := m.Init(1), m.Init(2)
	src1 := train(t, m, src0, data, 3, 8, 0.05, 1)
	tgt1 := train(t, m, tgt0, data, 3, 8, 0.05, 2)
	keep := tgt0.Clone()
	traj, _ := Linear(src0, src1, 2, Cosine)
	for _, method := range []Method{GMT, Oracle} {
		rep, err := Run(context.Background(), Options{Method: method, NewModel: newModel, Source: traj, TargetInit: tgt0, TargetFinal: tgt1,
			Train: data, Val: data, BatchSize: 8, EvalBatch: 16, BNBatches: 2, Seed: seed})
		if err != nil {
			t.Fatalf("%s: %v", method, err)
		}
		if len(rep.Steps) != 3 || rep.BestValAcc < 0 || rep.BestValAcc > 1 {
			t.Fatalf("%s: report %+v", method, rep)
		}
	}
	for _, name := range keep.Names() {
		for i, v := range keep.Get(name).Data {
			if tgt0.Get(name).Data[i] != v {
				t.Fatalf("Run modified the target initialisation (%s)", name)
			}
		}
	}
}

// TestRunPlantedPermutation transfers a trajectory onto a target whose
// initialisation is a planted permutation of the source's. Gradient
// matching cannot tell apart units whose gradients vanish at every point
// (dead ReLUs), so GMT must find the planted permutation for at least 80 %
// of each group's units and reach the source's final accuracy, whether
// each step's search starts from the previous permutations or
// (FreshStart, the paper's code) from the identity; the fresh starts must
// cost more assignment problems.
func TestRunPlantedPermutation(t *testing.T) {
	const seed = 9
	cfg := nn.ModelConfig{Width: 24, Depth: 3, InputShape: []int{20}, NumClasses: 5}
	newModel := func() (nn.Model, error) { return nn.NewModel("mlp-relu", cfg) }
	m, err := newModel()
	if err != nil {
		t.Fatal(err)
	}
	trainSet, valSet := blobs(1, 400, 20, 5), blobs(2, 300, 20, 5)
	src0 := m.Init(101)
	src1 := train(t, m, src0, trainSet, 60, 32, 0.05, 101)
	e, _ := kernels.New(kernels.WithThreads(1))
	all := make([]int, valSet.Len())
	for i := range all {
		all[i] = i
	}
	res, err := m.Forward(e, src1, valSet.Batch(all), nil, false)
	if err != nil {
		t.Fatal(err)
	}
	srcAcc := float64(res.Correct) / float64(len(all))
	spec, err := BuiltinSpec("mlp-relu", m.State())
	if err != nil {
		t.Fatal(err)
	}
	sizes, err := spec.Validate(src0)
	if err != nil {
		t.Fatal(err)
	}
	planted := RandomPerms(sizes, seed)
	tgt0, err := Apply(spec, src0, planted)
	if err != nil {
		t.Fatal(err)
	}
	traj, err := Linear(src0, src1, 5, Cosine)
	if err != nil {
		t.Fatal(err)
	}
	calls := map[bool]int{}
	for _, v := range []struct{ fresh, normalize, tensors bool }{{false, false, false}, {true, false, false}, {false, true, false}, {false, false, true}} {
		rep, err := Run(context.Background(), Options{
			Method: GMT, NewModel: newModel, Source: traj, TargetInit: tgt0,
			Train: trainSet, Val: valSet, GradBatches: 2, BatchSize: 64, Seed: seed, Engine: e,
			FreshStart: v.fresh, Match: MatchOptions{Normalize: v.normalize, NormalizeTensors: v.tensors},
		})
		if err != nil {
			t.Fatal(err)
		}
		for g, want := range planted {
			same := 0
			for i := range want {
				if want[i] == rep.Perms[g][i] {
					same++
				}
			}
			if 5*same < 4*len(want) {
				t.Errorf("%+v: group %s: %d of %d units as planted", v, g, same, len(want))
			}
		}
		if last := rep.Steps[len(rep.Steps)-1].ValAcc; last < srcAcc-0.02 {
			t.Errorf("%+v: transferred accuracy %.3f, source %.3f", v, last, srcAcc)
		}
		want := map[[2]bool]string{{false, false}: "", {true, false}: "pair", {false, true}: "tensor"}[[2]bool{v.normalize, v.tensors}]
		if rep.Normalize != want {
			t.Errorf("%+v: report says normalize %q, want %q", v, rep.Normalize, want)
		}
		if !v.normalize && !v.tensors {
			calls[v.fresh] = rep.LAPCalls
		}
	}
	if calls[true] <= calls[false] {
		t.Errorf("fresh starts made %d assignment calls, warm starts %d: FreshStart had no effect", calls[true], calls[false])
	}
}

// augmenting wraps a data set with a stand-in training augmentation: a
// sample drawn with a generator gets noise from it. It counts those draws.
type augmenting struct {
	*Examples
	mu    sync.Mutex
	draws int
}

func (a *augmenting) Sample(i int, x []float32, aug *rand.Rand) int32 {
	y := a.Examples.Sample(i, x, nil)
	if aug != nil {
		for j := range x {
			x[j] += float32(aug.NormFloat64())
		}
		a.mu.Lock()
		a.draws++
		a.mu.Unlock()
	}
	return y
}

// TestRunGradAugment: GradAugment draws exactly the gradient batches with
// augmentation (not the BN or validation batches), changes what GMT
// matches, and stays deterministic and independent of the thread count.
func TestRunGradAugment(t *testing.T) {
	p := newTinyProblem(t)
	traj, err := Linear(p.src0, p.src1, 4, Cosine)
	if err != nil {
		t.Fatal(err)
	}
	const gm, bs = 2, 32
	type result struct {
		objs  []float64
		perms Perms
		draws int
	}
	run := func(augment bool, threads int) (result, *Report) {
		d := &augmenting{Examples: p.trainSet}
		e, _ := kernels.New(kernels.WithThreads(threads))
		rep, err := Run(context.Background(), Options{
			Method: GMT, NewModel: p.newModel, Source: traj, TargetInit: p.tgt0,
			Train: d, Val: p.valSet, GradBatches: gm, BatchSize: bs, Seed: 3, Engine: e, GradAugment: augment,
		})
		if err != nil {
			t.Fatal(err)
		}
		r := result{perms: rep.Perms, draws: d.draws}
		for _, s := range rep.Steps {
			r.objs = append(r.objs, s.Objective)
		}
		return r, rep
	}
	plain, prep := run(false, 1)
	aug1, arep := run(true, 1)
	aug2, _ := run(true, 2)
	if plain.draws != 0 {
		t.Errorf("without GradAugment %d samples were augmented", plain.draws)
	}
	// GMT takes gradients at points 0 … T−1, gm batches of bs each.
	if want := (traj.Len() - 1) * gm * bs; aug1.draws != want {
		t.Errorf("GradAugment augmented %d samples, want %d (the gradient batches only)", aug1.draws, want)
	}
	if fmt.Sprint(aug1.objs) == fmt.Sprint(plain.objs) {
		t.Errorf("GradAugment left the objectives unchanged: %v", aug1.objs)
	}
	if fmt.Sprint(aug1.objs) != fmt.Sprint(aug2.objs) || !aug1.perms.Equal(aug2.perms) {
		t.Errorf("GradAugment: 1 thread gave objectives %v, 2 threads %v", aug1.objs, aug2.objs)
	}
	b, _ := json.Marshal(arep)
	if !strings.Contains(string(b), `"gm_augment":true`) {
		t.Errorf("report.json does not record gm_augment: %s", b)
	}
	if b, _ := json.Marshal(prep); strings.Contains(string(b), "gm_augment") {
		t.Errorf("report.json records gm_augment without it: %s", b)
	}
	// Naive takes no gradients: nothing is augmented, nothing recorded.
	d := &augmenting{Examples: p.trainSet}
	rep, err := Run(context.Background(), Options{Method: Naive, NewModel: p.newModel, Source: traj, TargetInit: p.tgt0,
		Train: d, Val: p.valSet, GradBatches: gm, BatchSize: bs, GradAugment: true})
	if err != nil {
		t.Fatal(err)
	}
	if b, _ := json.Marshal(rep); d.draws != 0 || strings.Contains(string(b), "gm_augment") {
		t.Errorf("naive with GradAugment: %d samples augmented, report %s", d.draws, b)
	}
}
