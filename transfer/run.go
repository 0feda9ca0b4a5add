package transfer

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"strings"
	"sync"
	"time"

	"github.com/ltransfer/ltransfer/kernels"
	"github.com/ltransfer/ltransfer/nn"
)

// Method is a transfer method.
type Method string

const (
	// GMT is gradient matching along the trajectory (the paper's
	// Algorithm 1): at step s every earlier point t < s contributes a
	// gradient pair recomputed with the current permutation.
	GMT Method = "gmt"
	// FGMT (fast GMT) keeps the earlier pairs and adds only the newest.
	FGMT Method = "fgmt"
	// Naive adds the source's updates unpermuted (π = identity).
	Naive Method = "naive"
	// Oracle matches the target's own (final − init) against the source's.
	Oracle Method = "oracle"
)

// matchesGradients reports whether the method takes gradients (GMT, FGMT).
func (m Method) matchesGradients() bool { return m == GMT || m == FGMT }

// ParseMethod parses a method name.
func ParseMethod(s string) (Method, error) {
	switch Method(strings.ToLower(s)) {
	case GMT, FGMT, Naive, Oracle:
		return Method(strings.ToLower(s)), nil
	}
	return "", fmt.Errorf("transfer: unknown method %q (want gmt, fgmt, naive or oracle)", s)
}

// Examples is an in-memory labelled data set (an nn.Dataset): X is
// N×features or N×C×H×W, already normalised.
type Examples struct {
	X       *nn.Tensor
	Y       []int32
	Classes int // 0: max label + 1
}

// Len is the number of examples.
func (d *Examples) Len() int {
	if d == nil || d.X == nil {
		return 0
	}
	return len(d.Y)
}

// SampleShape is X's shape without the leading N.
func (d *Examples) SampleShape() []int { return d.X.Shape[1:] }

// NumClasses is Classes or max label + 1.
func (d *Examples) NumClasses() int {
	if d.Classes > 0 {
		return d.Classes
	}
	c := 0
	for _, y := range d.Y {
		c = max(c, int(y)+1)
	}
	return c
}

// Sample copies example i into x.
func (d *Examples) Sample(i int, x []float32, _ *rand.Rand) int32 {
	per := len(d.X.Data) / len(d.Y)
	copy(x, d.X.Data[i*per:(i+1)*per])
	return d.Y[i]
}

// Batch gathers the examples at idx into one batch.
func (d *Examples) Batch(idx []int) nn.Batch { return gather(d, idx, nil) }

// gather builds a batch of the samples idx of d, augmented (where d has
// augmentation) with draws from aug, or as they are when aug is nil.
func gather(d nn.Dataset, idx []int, aug *rand.Rand) nn.Batch {
	shape := d.SampleShape()
	per := nn.Numel(shape)
	x := &nn.Tensor{Shape: append([]int{len(idx)}, shape...), Data: make([]float32, len(idx)*per)}
	y := make([]int32, len(idx))
	for i, j := range idx {
		y[i] = d.Sample(j, x.Data[i*per:(i+1)*per], aug)
	}
	return nn.Batch{X: x, Y: y}
}

func checkData(d nn.Dataset, what string) error {
	if d == nil || d.Len() == 0 {
		return fmt.Errorf("transfer: %s data set is empty", what)
	}
	if nn.Numel(d.SampleShape()) <= 0 {
		return fmt.Errorf("transfer: %s data has sample shape %v", what, d.SampleShape())
	}
	return nil
}

// Progress reports where a transfer is; Done counts up to Total within
// Phase ("gradients", "matching", "eval", "step").
type Progress struct {
	Phase       string
	Step, Steps int
	Done, Total int
}

// Options configures Run. Zero values take the documented defaults.
type Options struct {
	Method Method
	// NewModel builds the architecture; one model is made per worker.
	NewModel func() (nn.Model, error)
	// Spec is the permutation spec (nil: BuiltinSpec of the model).
	Spec *Spec
	// Source is the source trajectory θ₁⁰ … θ₁ᵀ.
	Source Trajectory
	// TargetInit is θ₂⁰.
	TargetInit *nn.ParamSet
	// TargetFinal is the trained target (Oracle only); TargetStart is the
	// target's own initialisation for the oracle (default TargetInit).
	TargetFinal, TargetStart *nn.ParamSet
	// Train supplies the gradient mini-batches; Val is evaluated at every
	// step (nil: no evaluation, accuracies reported as 0).
	Train, Val nn.Dataset
	// BNBatches training batches recompute the BN statistics of every
	// transferred point of a model with BN (default 10).
	BNBatches int
	// GradBatches mini-batches of BatchSize per gradient pair (default 1
	// and 128). The batches of point t are drawn once from Seed and t.
	GradBatches, BatchSize int
	// GradAugment applies Train's training augmentation (CIFAR-10's pad-4
	// crop and flip, see nn.DataConfig) to the gradient batches, as the
	// paper's code does by drawing them from its training loader. The
	// augmentation of point t's batches is fixed by Seed and t, so GMT's
	// recomputed gradients still see the same images. Without it, and
	// always for the BN batches, the samples are taken as they are.
	GradAugment bool
	// EvalBatch is the evaluation batch size (default 1000).
	EvalBatch int
	// Seed fixes batches and the matching order.
	Seed uint64
	// Match tunes weight matching (its Seed defaults to Seed).
	Match MatchOptions
	// FreshStart starts each GMT/FGMT step's coordinate descent from the
	// identity, as the paper's code does (wm_use_prev_perm = false),
	// instead of from the previous step's permutations. The gradients of
	// the step are still taken at the point the previous permutations
	// transferred.
	FreshStart bool
	// Engine runs the kernels (nil: kernels.Default()); its thread count
	// bounds the concurrency of the whole transfer.
	Engine *kernels.Engine
	// Progress, if set, is called from the calling goroutine.
	Progress func(Progress)
	// OnStep, if set, receives every transferred point θ₂ˢ (s = 0 … T)
	// with the permutations used; the set must not be kept.
	OnStep func(step int, params *nn.ParamSet, perms Perms) error
	// KeepBest keeps a copy of the best point in Report.BestParams.
	KeepBest bool
}

// StepReport is one point of the transferred trajectory.
type StepReport struct {
	Step      int     `json:"step"`
	ValAcc    float64 `json:"val_acc"`
	Objective float64 `json:"objective"`
}

// Timings are wall-clock seconds per phase. The evaluation of a point
// overlaps the next step's matching, so the phases can sum to more than
// Total.
type Timings struct {
	Gradients    float64 `json:"gradients"`
	CostMatrices float64 `json:"cost_matrices"`
	LAP          float64 `json:"lap"`
	Eval         float64 `json:"eval"`
	Total        float64 `json:"total"`
}

// Report is the result of a transfer.
type Report struct {
	Method     Method       `json:"method"`
	Steps      []StepReport `json:"steps"`
	BestStep   int          `json:"best_step"`
	BestValAcc float64      `json:"best_val_acc"`
	Timings    Timings      `json:"timings_s"`
	LAPCalls   int          `json:"lap_calls"`
	Threads    int          `json:"threads"`
	// Normalize names the objective's normalisation: "pair", "tensor"
	// (MatchOptions.Normalize, NormalizeTensors) or empty for none.
	Normalize string `json:"normalize,omitempty"`
	// GradAugment is Options.GradAugment for GMT and FGMT (the methods
	// that take gradients).
	GradAugment bool `json:"gm_augment,omitempty"`
	// Perms are the permutations of the last step.
	Perms Perms `json:"-"`
	// BestParams is θ₂ at BestStep (with Options.KeepBest).
	BestParams *nn.ParamSet `json:"-"`
}

// Run transfers the source trajectory onto TargetInit with the chosen method.
func Run(ctx context.Context, o Options) (*Report, error) {
	start := time.Now()
	r, err := newRunner(o)
	if err != nil {
		return nil, err
	}
	rep, err := r.run(ctx)
	if err != nil {
		return nil, err
	}
	rep.Timings.Total = time.Since(start).Seconds()
	return rep, nil
}

type runner struct {
	o      Options
	e      *kernels.Engine
	spec   *Spec
	models chan nn.Model // pool of per-worker models for gradients
	// evalModels serve evaluation, which runs in the background while the
	// next step's gradients and assignment problems are computed.
	evalModels chan nn.Model
	workers    int
	hasBuf     bool
	src0       *nn.ParamSet
	T          int
	matcher    *Matcher
	rep        *Report
	// per source point t: its fixed batches and cached source gradient
	batches    [][]nn.Batch
	srcGrads   []*nn.ParamSet
	valBatches []nn.Batch
	bnBatches  []nn.Batch
}

// recomputeBN recomputes p's BN running statistics on fixed training
// batches (the same for every step), as the paper does before evaluating.
func (r *runner) recomputeBN(ctx context.Context, p *nn.ParamSet) error {
	if r.o.Train == nil {
		return nil
	}
	if r.bnBatches == nil {
		rng := rand.New(rand.NewPCG(r.o.Seed, 0xb7e151628aed2a6b))
		for k := 0; k < r.o.BNBatches; k++ {
			idx := make([]int, r.o.BatchSize)
			for i := range idx {
				idx[i] = rng.IntN(r.o.Train.Len())
			}
			r.bnBatches = append(r.bnBatches, gather(r.o.Train, idx, nil))
		}
	}
	m := <-r.evalModels
	defer func() { r.evalModels <- m }()
	k := 0
	_, err := nn.RecomputeBNStats(ctx, r.e, m, p, func() (nn.Batch, bool) {
		if k >= len(r.bnBatches) {
			return nn.Batch{}, false
		}
		k++
		return r.bnBatches[k-1], true
	})
	return err
}

func newRunner(o Options) (*runner, error) {
	switch o.Method {
	case GMT, FGMT, Naive, Oracle:
	default:
		return nil, fmt.Errorf("transfer: unknown method %q (want gmt, fgmt, naive or oracle)", o.Method)
	}
	if o.NewModel == nil {
		return nil, errors.New("transfer: Options.NewModel is required")
	}
	if o.Source == nil || o.Source.Len() < 2 {
		return nil, errors.New("transfer: source trajectory needs at least 2 points")
	}
	if o.TargetInit == nil {
		return nil, errors.New("transfer: Options.TargetInit is required")
	}
	if o.GradBatches == 0 {
		o.GradBatches = 1
	}
	if o.BatchSize == 0 {
		o.BatchSize = 128
	}
	if o.EvalBatch == 0 {
		o.EvalBatch = 1000
	}
	if o.BNBatches == 0 {
		o.BNBatches = 10
	}
	if o.GradBatches < 0 || o.BatchSize < 0 || o.EvalBatch < 0 {
		return nil, fmt.Errorf("transfer: negative batch counts (gm batches %d, batch %d, eval batch %d)", o.GradBatches, o.BatchSize, o.EvalBatch)
	}
	// Fail before any gradient is computed.
	if err := o.Match.check(); err != nil {
		return nil, err
	}
	if o.Match.Seed == 0 {
		o.Match.Seed = o.Seed
	}
	e := o.Engine
	if e == nil {
		e = kernels.Default()
	}
	m0, err := o.NewModel()
	if err != nil {
		return nil, err
	}
	spec := o.Spec
	if spec == nil {
		if spec, err = BuiltinSpec(m0.Arch(), m0.State()); err != nil {
			return nil, err
		}
	}
	// Check every input against the model's layout before any work.
	like := nn.NewParamSet()
	for _, pi := range m0.State() {
		_ = like.Add(pi.Name, &nn.Tensor{Shape: pi.Shape})
	}
	checkModel := func(p *nn.ParamSet, what string) error {
		if err := sameLayout(like, p, "model "+m0.Arch(), what); err != nil {
			return err
		}
		return checkFinite(p, what)
	}
	if err := checkModel(o.TargetInit, "target initialisation"); err != nil {
		return nil, err
	}
	if _, err := spec.Validate(o.TargetInit); err != nil {
		return nil, err
	}
	src0, err := o.Source.Point(0)
	if err != nil {
		return nil, err
	}
	if err := checkModel(src0, "source trajectory point 0"); err != nil {
		return nil, err
	}
	if o.Method == Oracle {
		if o.TargetFinal == nil {
			return nil, errors.New("transfer: the oracle needs the trained target (Options.TargetFinal)")
		}
		if err := checkModel(o.TargetFinal, "trained target"); err != nil {
			return nil, err
		}
		if o.TargetStart == nil {
			o.TargetStart = o.TargetInit
		} else if err := checkModel(o.TargetStart, "target start"); err != nil {
			return nil, err
		}
	}
	if o.Method.matchesGradients() {
		if err := checkData(o.Train, "gradient (train)"); err != nil {
			return nil, err
		}
		if o.Train.Len() < o.BatchSize {
			return nil, fmt.Errorf("transfer: train data has %d examples, fewer than the batch size %d", o.Train.Len(), o.BatchSize)
		}
	}
	if o.Val != nil {
		if err := checkData(o.Val, "validation"); err != nil {
			return nil, err
		}
	}
	hasBuf := false
	for _, pi := range m0.State() {
		if pi.Buffer {
			hasBuf = true
		}
	}
	workers := e.Threads()
	r := &runner{o: o, e: e, spec: spec, workers: workers, hasBuf: hasBuf, src0: src0,
		T: o.Source.Len() - 1, models: make(chan nn.Model, workers)}
	r.evalModels = make(chan nn.Model, workers)
	r.models <- m0
	for i := 1; i < 2*workers; i++ {
		m, err := o.NewModel()
		if err != nil {
			return nil, err
		}
		if i < workers {
			r.models <- m
		} else {
			r.evalModels <- m
		}
	}
	r.batches = make([][]nn.Batch, r.T+1)
	r.srcGrads = make([]*nn.ParamSet, r.T+1)
	r.rep = &Report{Method: o.Method, Threads: workers, BestStep: -1,
		GradAugment: o.GradAugment && o.Method.matchesGradients()}
	switch {
	case o.Match.Normalize:
		r.rep.Normalize = "pair"
	case o.Match.NormalizeTensors:
		r.rep.Normalize = "tensor"
	}
	return r, nil
}

func (r *runner) progress(p Progress) {
	if r.o.Progress != nil {
		r.o.Progress(p)
	}
}

// parallel runs jobs 0..n-1 on up to r.workers goroutines, each holding one
// model and an engine with its share of the threads. The first error wins.
func (r *runner) parallel(ctx context.Context, pool chan nn.Model, n int, job func(m nn.Model, e *kernels.Engine, i int) error) error {
	nw := min(n, r.workers)
	if nw == 0 {
		return nil
	}
	e := r.e.WithThreads(r.e.Threads() / nw)
	var (
		mu    sync.Mutex
		next  int
		first error
		wg    sync.WaitGroup
	)
	for w := 0; w < nw; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			m := <-pool
			defer func() { pool <- m }()
			for {
				mu.Lock()
				if first != nil || next >= n {
					mu.Unlock()
					return
				}
				i := next
				next++
				mu.Unlock()
				err := ctx.Err()
				if err == nil {
					err = job(m, e, i)
				}
				if err != nil {
					mu.Lock()
					if first == nil {
						first = err
					}
					mu.Unlock()
					return
				}
			}
		}()
	}
	wg.Wait()
	return first
}

// pointBatches returns the fixed gradient batches of source point t.
func (r *runner) pointBatches(t int) []nn.Batch {
	if r.batches[t] != nil {
		return r.batches[t]
	}
	rng := rand.New(rand.NewPCG(r.o.Seed, uint64(t)+0x243f6a8885a308d3))
	var aug *rand.Rand // its own stream: the images drawn do not depend on GradAugment
	if r.o.GradAugment {
		aug = rand.New(rand.NewPCG(r.o.Seed, uint64(t)+0x13198a2e03707344))
	}
	n := r.o.Train.Len()
	bs := make([]nn.Batch, r.o.GradBatches)
	for k := range bs {
		idx := make([]int, r.o.BatchSize)
		for i := range idx {
			idx[i] = rng.IntN(n)
		}
		bs[k] = gather(r.o.Train, idx, aug)
	}
	r.batches[t] = bs
	return bs
}

// transferred returns θ₂⁰ + π(θ − θ₁⁰).
func (r *runner) transferred(theta *nn.ParamSet, perms Perms) (*nn.ParamSet, error) {
	d := nn.NewParamSet()
	for _, name := range theta.Names() {
		a, b := theta.Get(name), r.src0.Get(name)
		y := &nn.Tensor{Shape: a.Shape, Data: make([]float32, len(a.Data))}
		for i, v := range a.Data {
			y.Data[i] = v - b.Data[i]
		}
		_ = d.Add(name, y)
	}
	if perms != nil {
		if err := ApplyInPlace(r.spec, d, perms); err != nil {
			return nil, err
		}
	}
	for _, name := range d.Names() {
		y, z := d.Get(name).Data, r.o.TargetInit.Get(name).Data
		for i := range y {
			y[i] += z[i]
		}
	}
	return d, nil
}

// gradient returns the mean gradient over batches at p (train mode, so BN
// uses the batches' own statistics; p is not modified).
func (r *runner) gradient(m nn.Model, e *kernels.Engine, p *nn.ParamSet, batches []nn.Batch) (*nn.ParamSet, error) {
	if r.hasBuf {
		p = p.Clone()
	}
	var sum *nn.ParamSet
	for _, b := range batches {
		g := p.ZerosLike()
		if _, err := m.Forward(e, p, b, g, true); err != nil {
			return nil, err
		}
		if sum == nil {
			sum = g
			continue
		}
		for _, name := range g.Names() {
			e.Axpy(1, g.Get(name).Data, sum.Get(name).Data)
		}
	}
	if len(batches) > 1 {
		for _, name := range sum.Names() {
			e.Scale(1/float32(len(batches)), sum.Get(name).Data)
		}
	}
	if err := checkFinite(sum, "gradient"); err != nil {
		return nil, err
	}
	return sum, nil
}

// evaluate returns the accuracy of p on the validation set, with batches
// evaluated concurrently and counts summed in a fixed order.
func (r *runner) evaluate(ctx context.Context, p *nn.ParamSet) (float64, error) {
	v := r.o.Val
	if v == nil {
		return 0, nil
	}
	n := v.Len()
	nb := (n + r.o.EvalBatch - 1) / r.o.EvalBatch
	if r.valBatches == nil {
		r.valBatches = make([]nn.Batch, nb)
		for i := range r.valBatches {
			idx := make([]int, 0, r.o.EvalBatch)
			for j := i * r.o.EvalBatch; j < min(n, (i+1)*r.o.EvalBatch); j++ {
				idx = append(idx, j)
			}
			r.valBatches[i] = gather(v, idx, nil)
		}
	}
	if r.hasBuf {
		if err := r.recomputeBN(ctx, p); err != nil {
			return 0, err
		}
	}
	correct := make([]int, nb)
	err := r.parallel(ctx, r.evalModels, nb, func(m nn.Model, e *kernels.Engine, i int) error {
		res, err := m.Forward(e, p, r.valBatches[i], nil, false)
		correct[i] = res.Correct
		return err
	})
	if err != nil {
		return 0, err
	}
	tot := 0
	for _, c := range correct {
		tot += c
	}
	return float64(tot) / float64(n), nil
}

func (r *runner) run(ctx context.Context) (*Report, error) {
	o := r.o
	rep := r.rep
	var perms Perms
	sizes, err := r.spec.Validate(o.TargetInit)
	if err != nil {
		return nil, err
	}
	perms = Identity(sizes)
	if o.Method.matchesGradients() || o.Method == Oracle {
		if r.matcher, err = NewMatcher(r.spec, o.TargetInit, r.e); err != nil {
			return nil, err
		}
	}
	if o.Method == Oracle {
		srcT, err := o.Source.Point(r.T)
		if err != nil {
			return nil, err
		}
		dt := diff(o.TargetFinal, o.TargetStart)
		ds := diff(srcT, r.src0)
		if err := r.matcher.AddPair(1, dt, ds); err != nil {
			return nil, err
		}
		r.progress(Progress{Phase: "matching", Step: 0, Steps: r.T, Done: 0, Total: 1})
		if perms, _, err = r.matcher.Solve(ctx, nil, o.Match); err != nil {
			return nil, err
		}
	}
	// Step 0: the target initialisation itself. Each point is evaluated
	// in the background while the next step's permutation is computed;
	// steps are still completed (reported, streamed) in order.
	init := o.TargetInit
	if r.hasBuf {
		init = init.Clone() // BN statistics are recomputed in place
	}
	pend := r.newPending(0, init, perms, 0)
	defer func() {
		if pend != nil && pend.started {
			<-pend.done
		}
	}()
	for s := 1; s <= r.T; s++ {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		obj := 0.0
		if o.Method.matchesGradients() {
			first := s - 1
			if o.Method == GMT {
				r.matcher.Reset()
				first = 0
			}
			// The previous point's evaluation overlaps this step's cost
			// matrices and (single-threaded) assignment problems.
			if perms, obj, err = r.matchStep(ctx, s, first, perms, func() { r.start(ctx, pend) }); err != nil {
				return nil, err
			}
		} else if o.Method == Oracle {
			obj = r.matcher.objective(perms, r.matcher.coefs(o.Match))
		}
		theta, err := o.Source.Point(s)
		if err != nil {
			return nil, err
		}
		p, err := r.transferred(theta, perms)
		if err != nil {
			return nil, err
		}
		err = r.finishStep(ctx, pend)
		pend = nil
		if err != nil {
			return nil, err
		}
		pend = r.newPending(s, p, perms, obj)
	}
	err = r.finishStep(ctx, pend)
	pend = nil
	if err != nil {
		return nil, err
	}
	rep.Perms = perms
	if r.matcher != nil {
		rep.Timings.CostMatrices = r.matcher.Stats.CostSeconds
		rep.Timings.LAP = r.matcher.Stats.LAPSeconds
		rep.LAPCalls = r.matcher.Stats.LAPCalls
	}
	return rep, nil
}

// matchStep adds the gradient pairs of points first … s−1 and solves.
func (r *runner) matchStep(ctx context.Context, s, first int, perms Perms, beforeSolve func()) (Perms, float64, error) {
	t0 := time.Now()
	n := s - first
	tg := make([]*nn.ParamSet, n)
	for t := first; t < s; t++ {
		r.pointBatches(t) // drawn sequentially: deterministic
	}
	r.progress(Progress{Phase: "gradients", Step: s, Steps: r.T, Done: 0, Total: n})
	err := r.parallel(ctx, r.models, n, func(m nn.Model, e *kernels.Engine, i int) error {
		t := first + i
		theta, err := r.o.Source.Point(t)
		if err != nil {
			return err
		}
		if r.srcGrads[t] == nil {
			g, err := r.gradient(m, e, theta, r.batches[t])
			if err != nil {
				return fmt.Errorf("source gradient at point %d: %w", t, err)
			}
			r.srcGrads[t] = g
		}
		p, err := r.transferred(theta, perms)
		if err != nil {
			return err
		}
		g, err := r.gradient(m, e, p, r.batches[t])
		if err != nil {
			return fmt.Errorf("target gradient at point %d: %w", t, err)
		}
		tg[i] = g
		return nil
	})
	if err != nil {
		return nil, 0, err
	}
	r.rep.Timings.Gradients += time.Since(t0).Seconds()
	for i := 0; i < n; i++ {
		if err := r.matcher.AddPair(1, tg[i], r.srcGrads[first+i]); err != nil {
			return nil, 0, err
		}
	}
	beforeSolve()
	r.progress(Progress{Phase: "matching", Step: s, Steps: r.T, Done: 0, Total: 1})
	if r.o.FreshStart {
		return r.matcher.Solve(ctx, nil, r.o.Match)
	}
	return r.matcher.Solve(ctx, perms, r.o.Match)
}

// pendingStep is a transferred point being evaluated in the background.
type pendingStep struct {
	s       int
	p       *nn.ParamSet
	perms   Perms
	obj     float64
	acc     float64
	seconds float64
	err     error
	started bool
	done    chan struct{}
}

// newPending prepares the evaluation of a point; start launches it.
func (r *runner) newPending(s int, p *nn.ParamSet, perms Perms, obj float64) *pendingStep {
	return &pendingStep{s: s, p: p, perms: perms, obj: obj, done: make(chan struct{})}
}

// start launches the evaluation in the background (once).
func (r *runner) start(ctx context.Context, ps *pendingStep) {
	if ps == nil || ps.started {
		return
	}
	ps.started = true
	r.progress(Progress{Phase: "eval", Step: ps.s, Steps: r.T})
	go func() {
		defer close(ps.done)
		t0 := time.Now()
		ps.acc, ps.err = r.evaluate(ctx, ps.p)
		ps.seconds = time.Since(t0).Seconds()
	}()
}

// finishStep waits for a step's evaluation and records, streams and
// reports it.
func (r *runner) finishStep(ctx context.Context, ps *pendingStep) error {
	r.start(ctx, ps)
	<-ps.done
	if ps.err != nil {
		return ps.err
	}
	s, p, acc := ps.s, ps.p, ps.acc
	r.rep.Timings.Eval += ps.seconds
	r.rep.Steps = append(r.rep.Steps, StepReport{Step: s, ValAcc: acc, Objective: ps.obj})
	// The best point is chosen among the transferred ones (s ≥ 1).
	if s > 0 && (r.rep.BestStep < 0 || acc > r.rep.BestValAcc) {
		r.rep.BestStep, r.rep.BestValAcc = s, acc
		if r.o.KeepBest {
			r.rep.BestParams = p.Clone()
		}
	}
	if r.o.OnStep != nil {
		if err := r.o.OnStep(s, p, ps.perms); err != nil {
			return err
		}
	}
	r.progress(Progress{Phase: "step", Step: s, Steps: r.T, Done: s, Total: r.T})
	return nil
}

func diff(a, b *nn.ParamSet) *nn.ParamSet {
	d := nn.NewParamSet()
	for _, name := range a.Names() {
		x, y := a.Get(name), b.Get(name)
		z := &nn.Tensor{Shape: x.Shape, Data: make([]float32, len(x.Data))}
		for i, v := range x.Data {
			z.Data[i] = v - y.Data[i]
		}
		_ = d.Add(name, z)
	}
	return d
}
