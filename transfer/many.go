package transfer

import (
	"context"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ltransfer/ltransfer/kernels"
	"github.com/ltransfer/ltransfer/nn"
)

// Target is one target of RunMany: its initialisation θ₂⁰ and, for the
// oracle, its trained network (Options.TargetFinal and TargetStart).
type Target struct {
	Init         *nn.ParamSet
	Final, Start *nn.ParamSet
	// Load, if set, is called when the target starts, from the goroutine
	// running it, to fill in the fields above (and the callbacks): with
	// many targets only those running are in memory. An error fails the
	// target.
	Load func(t *Target) error
	// OnStep is Options.OnStep for this target: every transferred point
	// in order, from the goroutine running the target.
	OnStep func(step int, params *nn.ParamSet, perms Perms) error
	// OnDone, if set, receives the target's report as soon as it is
	// finished (before the other targets are), from the same goroutine;
	// an error fails the target.
	OnDone func(rep *Report) error
}

// Run transfers the source trajectory onto TargetInit with the chosen method.
func Run(ctx context.Context, o Options) (*Report, error) {
	t := Target{Init: o.TargetInit, Final: o.TargetFinal, Start: o.TargetStart, OnStep: o.OnStep}
	o.OnStep = nil
	reps, err := runTargets(ctx, o, []Target{t})
	if err != nil {
		return nil, err
	}
	return reps[0], nil
}

// RunMany transfers one source trajectory onto many targets at once. What
// does not depend on the target is computed once and shared: the points'
// gradient batches, the source gradients, the validation and BN batches,
// and the model workspaces. Up to Options.Workers targets run at a time on
// the engine's threads, each phase of each target taking the threads that
// are free, so one target's assignment problems run while others compute
// gradients. Each target's report, permutations and points are identical
// to those of Run with the same options, whatever the thread count.
//
// o.TargetInit, TargetFinal, TargetStart and OnStep must be unset (they
// come from each Target). A target that fails does not stop the others:
// its report is nil and the returned error (an errors.Join of *TargetError)
// names it. Cancelling ctx stops every target.
func RunMany(ctx context.Context, o Options, targets []Target) ([]*Report, error) {
	if o.TargetInit != nil || o.TargetFinal != nil || o.TargetStart != nil || o.OnStep != nil {
		return nil, errors.New("transfer: RunMany takes the targets' initialisations and callbacks from its targets, not from Options")
	}
	if len(targets) == 0 {
		return nil, errors.New("transfer: RunMany needs at least one target")
	}
	return runTargets(ctx, o, targets)
}

// TargetError is the error of one target of RunMany.
type TargetError struct {
	Target int
	Err    error
}

func (e *TargetError) Error() string { return fmt.Sprintf("target %d: %v", e.Target, e.Err) }
func (e *TargetError) Unwrap() error { return e.Err }

// common is what every target of a run shares. After newCommon it is
// read-only but for the lazily built, once-guarded caches.
type common struct {
	o      Options
	spec   *Spec
	sizes  map[string]int
	like   *nn.ParamSet // layout of the model
	arch   string
	src0   *nn.ParamSet
	T      int
	hasBuf bool
	// keepLogits: Options.KeepBestLogits, with validation data and a
	// model that exposes its logits (nn.Logits), one per class of Val
	keepLogits bool
	sc         *sched
	active     atomic.Int32 // targets running now

	// per source point t: the point, its fixed batches and its source
	// gradient, each computed once (GMT needs every earlier point at
	// every step; a recorded trajectory reads it from disk)
	pointOnce []sync.Once
	points    []*nn.ParamSet
	pointErr  []error
	batchOnce []sync.Once
	batches   [][]nn.Batch
	gradOnce  []sync.Once
	srcGrads  []*nn.ParamSet
	gradErr   []error
	// factors: the low-rank bases of the source gradients, shared by
	// every target's matcher
	factors *factorCache
	// gradStarted marks the points whose source gradient some job took on.
	gradStarted []atomic.Bool

	valOnce    sync.Once
	valBatches []nn.Batch
	bnOnce     sync.Once
	bnBatches  []nn.Batch
	repOnce    sync.Once
	repBatches []nn.Batch
	selOnce    sync.Once
	selBatches []nn.Batch
	// per source point: its unit statistics for Options.Repair
	repStatOnce []sync.Once
	repStats    [][]nn.UnitStats
	repStatErr  []error

	progMu    sync.Mutex
	scratchMu sync.Mutex
	scratch   []*nn.ParamSet // see scratchPoint
	// spareGrads are gradient sets GMT has finished with (its matcher
	// dropped them), for the next gradients to overwrite instead of
	// faulting in fresh pages.
	spareMu    sync.Mutex
	spareGrads []*nn.ParamSet
}

// gradSet returns a set of p's layout for a gradient to be written into:
// a spare one or a new one of zeros. Either way its entries that the
// backward pass does not write (buffers) are zero: gradient sets only
// ever receive what Forward writes and sums and scalings of such sets.
func (c *common) gradSet(p *nn.ParamSet) *nn.ParamSet {
	c.spareMu.Lock()
	defer c.spareMu.Unlock()
	if k := len(c.spareGrads); k > 0 {
		g := c.spareGrads[k-1]
		c.spareGrads = c.spareGrads[:k-1]
		return g
	}
	return p.ZerosLike()
}

// putGrads hands gradient sets made by gradient back for reuse; nothing
// may use them afterwards.
func (c *common) putGrads(gs []*nn.ParamSet) {
	c.spareMu.Lock()
	c.spareGrads = append(c.spareGrads, gs...)
	c.spareMu.Unlock()
}

// newCommon checks o, fills in its defaults and sets up what every target
// shares: the model's layout, the spec, the source side, the scheduler and
// the per-point caches.
func newCommon(o Options) (*common, error) {
	o, err := withDefaults(o)
	if err != nil {
		return nil, err
	}
	m0, err := firstModel(o)
	if err != nil {
		return nil, err
	}
	c := &common{o: o, T: o.Source.Len() - 1}
	if c.o.EvalBatch == 0 {
		c.o.EvalBatch = defaultEvalBatch(m0, o.BatchSize)
	}
	c.setLayout(m0)
	if err := c.setSource(m0); err != nil {
		return nil, err
	}
	if err := c.checkInputs(); err != nil {
		return nil, err
	}
	if o.Repair {
		if err := nn.CanRepair(m0); err != nil {
			return nil, fmt.Errorf("transfer: Repair: %w", err)
		}
		n := c.T + 1
		c.repStatOnce, c.repStats, c.repStatErr = make([]sync.Once, n), make([][]nn.UnitStats, n), make([]error, n)
	}
	if lm, ok := m0.(*nn.LayerModel); ok && o.KeepBestLogits && o.Val != nil && o.Val.Len() > 0 {
		c.keepLogits = lm.NumClasses() == o.Val.NumClasses()
	}
	c.setWorkspaces(m0)
	return c, nil
}

// defaultEvalBatch is Options.EvalBatch's default for m: 512 for a fully
// connected model (no parameter of rank 3 or more), whose forward GEMMs
// pack the whole weight matrix on every call (the 4096-unit MNIST MLP
// evaluates 3.5 times as many images per second in slices of 512 as of
// 128, with 8 MB of activations per layer), else batch, so a convolutional
// network's evaluation needs no larger workspace than its gradients.
func defaultEvalBatch(m nn.Model, batch int) int {
	for _, p := range m.State() {
		if len(p.Shape) >= 3 {
			return batch
		}
	}
	return max(batch, 512)
}

// withDefaults checks o and returns it with its defaults filled in. The
// checks come in a fixed order, so one bad option always gives the same
// error.
func withDefaults(o Options) (Options, error) {
	switch o.Method {
	case GMT, FGMT, Naive, Oracle, Random:
	default:
		return o, fmt.Errorf("transfer: unknown method %q (want gmt, fgmt, naive, oracle or random)", o.Method)
	}
	if o.NewModel == nil {
		return o, errors.New("transfer: Options.NewModel is required")
	}
	if o.Source == nil || o.Source.Len() < 2 {
		return o, errors.New("transfer: source trajectory needs at least 2 points")
	}
	if o.GradBatches == 0 {
		o.GradBatches = 1
	}
	if o.BatchSize == 0 {
		o.BatchSize = 128
	}
	if o.BNBatches == 0 {
		o.BNBatches = 10
	}
	if o.RepairBatches == 0 {
		o.RepairBatches = 4
	}
	if o.SelectBatches == 0 {
		o.SelectBatches = 20
	}
	if o.GradBatches < 0 || o.BatchSize < 0 || o.EvalBatch < 0 || o.BNBatches < 0 || o.Workers < 0 || o.RepairBatches < 0 || o.SelectBatches < 0 {
		return o, fmt.Errorf("transfer: negative counts (gm batches %d, batch %d, eval batch %d, BN batches %d, workers %d, repair batches %d, select batches %d)",
			o.GradBatches, o.BatchSize, o.EvalBatch, o.BNBatches, o.Workers, o.RepairBatches, o.SelectBatches)
	}
	switch {
	case o.SelectPerms && !o.Method.matchesGradients():
		return o, fmt.Errorf("transfer: SelectPerms is for GMT and FGMT, not %s", o.Method)
	case o.SelectPerms && o.Segments > 1:
		return o, errors.New("transfer: SelectPerms and Segments do not combine: a segment's permutation transfers only its own part of the update")
	}
	if err := checkSegments(o); err != nil {
		return o, err
	}
	// Fail before any gradient is computed.
	if err := o.Match.check(); err != nil {
		return o, err
	}
	if o.Match.Seed == 0 {
		o.Match.Seed = o.Seed
	}
	if o.Engine == nil {
		o.Engine = kernels.Default()
	}
	if o.WorkspaceMemory == 0 {
		o.WorkspaceMemory = DefaultWorkspaceMemory
	}
	if o.Workers == 0 {
		o.Workers = o.Engine.Threads()
	}
	return o, nil
}

// checkSegments checks Options.Segments and BranchAtBest against the
// method and the number of steps.
func checkSegments(o Options) error {
	T := o.Source.Len() - 1
	switch {
	case o.Segments < 0:
		return fmt.Errorf("transfer: %d segments", o.Segments)
	case o.Segments > 1 && !o.Method.matchesGradients():
		return fmt.Errorf("transfer: segments are for GMT and FGMT, not %s", o.Method)
	case o.Segments > 1 && T%o.Segments != 0:
		return fmt.Errorf("transfer: %d steps do not split into %d segments of equal length", T, o.Segments)
	case o.BranchAtBest && o.Segments < 2:
		return errors.New("transfer: BranchAtBest needs at least 2 segments")
	case o.BranchAtBest && o.Val == nil:
		return errors.New("transfer: BranchAtBest needs validation data to find the best point")
	}
	return nil
}

// firstModel makes the model the layout is read from; the scheduler then
// keeps it as its first workspace.
func firstModel(o Options) (nn.Model, error) {
	var m0 nn.Model
	if err := guard(func() (err error) { m0, err = o.NewModel(); return err }); err != nil {
		return nil, err
	}
	if m0 == nil {
		return nil, errors.New("transfer: Options.NewModel returned no model")
	}
	return m0, nil
}

// setLayout records the model's architecture, parameter layout and
// whether it has buffers (BN statistics).
func (c *common) setLayout(m0 nn.Model) {
	c.arch, c.like = m0.Arch(), nn.NewParamSet()
	for _, pi := range m0.State() {
		_ = c.like.Add(pi.Name, &nn.Tensor{Shape: pi.Shape})
		if pi.Buffer {
			c.hasBuf = true
		}
	}
}

// setSource sets the spec (Options.Spec or the built-in one) and reads and
// checks source point 0, which gives the permutation sizes.
func (c *common) setSource(m0 nn.Model) error {
	var err error
	if c.spec = c.o.Spec; c.spec == nil {
		if c.spec, err = BuiltinSpec(m0.Arch(), m0.State()); err != nil {
			return err
		}
	}
	if err := guard(func() (err error) { c.src0, err = c.o.Source.At(0); return err }); err != nil {
		return err
	}
	if err := c.checkModel(c.src0, "source trajectory point 0"); err != nil {
		return err
	}
	c.sizes, err = c.spec.Validate(c.src0)
	return err
}

// checkInputs checks the data sets the method will read.
func (c *common) checkInputs() error {
	o := c.o
	if o.Method.matchesGradients() {
		if err := checkData(o.Train, "gradient (train)"); err != nil {
			return err
		}
		if o.Train.Len() < o.BatchSize {
			return fmt.Errorf("transfer: train data has %d examples, fewer than the batch size %d", o.Train.Len(), o.BatchSize)
		}
	}
	if o.Val != nil {
		if err := checkData(o.Val, "validation"); err != nil {
			return err
		}
	}
	if c.hasBuf && o.Train != nil {
		if err := checkData(o.Train, "BN statistics (train)"); err != nil {
			return err
		}
	}
	if o.Repair {
		if err := checkData(o.Train, "repair calibration (train)"); err != nil {
			return err
		}
	}
	return nil
}

// setWorkspaces makes the scheduler, with m0 as its first model, and the
// per-point caches.
func (c *common) setWorkspaces(m0 nn.Model) {
	c.sc = newSched(c.o.Engine, c.o.Workers, c.o.Engine.Threads(), c.o.WorkspaceMemory, c.o.NewModel)
	c.sc.putModel(m0)
	c.sc.made = 1
	n := c.T + 1
	c.pointOnce = make([]sync.Once, n)
	c.points = make([]*nn.ParamSet, n)
	c.pointErr = make([]error, n)
	c.batchOnce = make([]sync.Once, n)
	c.batches = make([][]nn.Batch, n)
	c.gradOnce = make([]sync.Once, n)
	c.srcGrads = make([]*nn.ParamSet, n)
	c.gradErr = make([]error, n)
	c.factors = newFactorCache()
	c.gradStarted = make([]atomic.Bool, n)
}

// checkModel checks p against the model's layout and for non-finite values.
func (c *common) checkModel(p *nn.ParamSet, what string) error {
	if p == nil {
		return fmt.Errorf("transfer: %s is missing", what)
	}
	if err := sameLayout(c.like, p, "model "+c.arch, what); err != nil {
		return err
	}
	return checkFinite(p, what)
}

// checkTarget validates a target before any work is done.
func (c *common) checkTarget(t *Target) error {
	if t.Init == nil {
		return errors.New("transfer: the target initialisation (Options.TargetInit) is required")
	}
	if err := c.checkModel(t.Init, "target initialisation"); err != nil {
		return err
	}
	if _, err := c.spec.Validate(t.Init); err != nil {
		return err
	}
	if c.o.Method == Oracle {
		if t.Final == nil {
			return errors.New("transfer: the oracle needs the trained target (Options.TargetFinal)")
		}
		if err := c.checkModel(t.Final, "trained target"); err != nil {
			return err
		}
		if t.Start == nil {
			t.Start = t.Init
		} else if err := c.checkModel(t.Start, "target start"); err != nil {
			return err
		}
	}
	return nil
}

// runTargets is Run and RunMany after their own checks.
func runTargets(ctx context.Context, o Options, targets []Target) ([]*Report, error) {
	c, err := newCommon(o)
	if err != nil {
		return nil, err
	}
	if err := c.checkTargets(targets); err != nil {
		return nil, err
	}
	if len(targets) == 1 {
		rep, err := c.runTarget(ctx, 0, targets[0])
		if err != nil {
			return nil, err
		}
		return []*Report{rep}, nil
	}
	return c.runConcurrently(ctx, targets)
}

// checkTargets checks the targets given in memory; the others are checked
// when loaded.
func (c *common) checkTargets(targets []Target) error {
	for i := range targets {
		if targets[i].Load != nil {
			continue // checked when loaded
		}
		if err := c.checkTarget(&targets[i]); err != nil {
			if len(targets) > 1 {
				return &TargetError{Target: i, Err: err}
			}
			return err
		}
	}
	return nil
}

// runConcurrently runs the targets, up to Workers (and the engine's
// threads) at a time; a target's error does not stop the others.
func (c *common) runConcurrently(ctx context.Context, targets []Target) ([]*Report, error) {
	reps := make([]*Report, len(targets))
	errs := make([]error, len(targets))
	conc := min(len(targets), c.o.Workers, c.o.Engine.Threads())
	sem := make(chan struct{}, conc)
	var wg sync.WaitGroup
	for i := range targets {
		select {
		case sem <- struct{}{}:
		case <-ctx.Done():
			errs[i] = ctx.Err()
			continue
		}
		wg.Add(1)
		go func(i int) {
			defer func() { <-sem; wg.Done() }()
			reps[i], errs[i] = c.runTarget(ctx, i, targets[i])
		}(i)
	}
	wg.Wait()
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	var all []error
	for i, err := range errs {
		if err != nil {
			all = append(all, &TargetError{Target: i, Err: err})
		}
	}
	return reps, errors.Join(all...)
}

// runTarget runs one target's transfer.
func (c *common) runTarget(ctx context.Context, idx int, t Target) (rep *Report, err error) {
	n := c.active.Add(1)
	c.setGrab(n)
	defer func() { c.setGrab(c.active.Add(-1)) }()
	start := time.Now()
	if t.Load != nil {
		if err := guard(func() error { return t.Load(&t) }); err != nil {
			return nil, err
		}
		if err := c.checkTarget(&t); err != nil {
			return nil, err
		}
	}
	r := &runner{c: c, idx: idx, tgt: t}
	defer r.bg.Wait() // background work of a failed run ends before we return
	err = guard(func() error {
		var err error
		rep, err = r.run(ctx)
		return err
	})
	if err != nil {
		return nil, err
	}
	rep.Timings.Total = time.Since(start).Seconds()
	if t.OnDone != nil {
		if err := guard(func() error { return t.OnDone(rep) }); err != nil {
			return nil, err
		}
	}
	return rep, nil
}

// setGrab spreads the threads over the targets running now, so the last
// targets of a run get the threads the finished ones freed.
func (c *common) setGrab(active int32) {
	th, a := c.o.Engine.Threads(), int(max(active, 1))
	c.sc.maxGrab.Store(int32(max(1, (th+a-1)/a)))
}

func (c *common) progress(p Progress) {
	if c.o.Progress == nil {
		return
	}
	c.progMu.Lock()
	defer c.progMu.Unlock()
	c.o.Progress(p)
}

// point returns source point t, shared: it must not be modified.
func (c *common) point(t int) (*nn.ParamSet, error) {
	c.pointOnce[t].Do(func() {
		c.pointErr[t] = guard(func() error {
			p, err := c.o.Source.At(t)
			if err == nil {
				err = c.checkModel(p, fmt.Sprintf("source trajectory point %d", t))
			}
			c.points[t] = p
			return err
		})
	})
	return c.points[t], c.pointErr[t]
}

// pointBatches returns the fixed gradient batches of source point t,
// drawn from Seed and t alone.
func (c *common) pointBatches(t int) []nn.Batch {
	c.batchOnce[t].Do(func() {
		rng := rand.New(rand.NewPCG(c.o.Seed, uint64(t)+0x243f6a8885a308d3))
		var aug *rand.Rand // its own stream: the images drawn do not depend on GradAugment
		if c.o.GradAugment {
			aug = rand.New(rand.NewPCG(c.o.Seed, uint64(t)+0x13198a2e03707344))
		}
		n := c.o.Train.Len()
		bs := make([]nn.Batch, c.o.GradBatches)
		for k := range bs {
			idx := make([]int, c.o.BatchSize)
			for i := range idx {
				idx[i] = rng.IntN(n)
			}
			bs[k] = gather(c.o.Train, idx, aug)
		}
		c.batches[t] = bs
	})
	return c.batches[t]
}

// sourceGradient returns the (cached) source gradient at point t,
// computing it with m and e if no one has yet.
func (c *common) sourceGradient(m nn.Model, e *kernels.Engine, t int) (*nn.ParamSet, error) {
	c.gradOnce[t].Do(func() {
		c.gradErr[t] = guard(func() error {
			theta, err := c.point(t)
			if err != nil {
				return err
			}
			g, err := c.gradient(m, e, theta, c.pointBatches(t), nil)
			if err != nil {
				return fmt.Errorf("source gradient at point %d: %w", t, err)
			}
			c.srcGrads[t] = g
			// The bases the matchers will ask for, while the gradient is
			// at hand (off the steps' path when prefetched).
			c.factors.warmFactors(e, c.spec, g)
			return nil
		})
	})
	return c.srcGrads[t], c.gradErr[t]
}

// gradient returns the mean gradient over batches at p (train mode, so BN
// uses the batches' own statistics; p is not modified). batchDone, when
// set, is called after each batch.
func (c *common) gradient(m nn.Model, e *kernels.Engine, p *nn.ParamSet, batches []nn.Batch, batchDone func()) (*nn.ParamSet, error) {
	if c.hasBuf {
		p = p.Clone()
	}
	var sum, tmp *nn.ParamSet
	for k, b := range batches {
		var g *nn.ParamSet
		switch {
		case k == 0:
			g = c.gradSet(p)
		case tmp == nil:
			tmp = c.gradSet(p)
			g = tmp
		default:
			g = tmp
		}
		if _, err := m.Forward(e, p, b, g, true); err != nil {
			return nil, err
		}
		if batchDone != nil {
			batchDone()
		}
		if sum == nil {
			sum = g
			continue
		}
		for _, name := range g.Names() {
			e.Axpy(1, g.Get(name).Data, sum.Get(name).Data)
		}
	}
	if tmp != nil {
		c.putGrads([]*nn.ParamSet{tmp})
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

// evalBatches returns the validation set in slices of EvalBatch.
func (c *common) evalBatches() []nn.Batch {
	c.valOnce.Do(func() {
		v := c.o.Val
		n := v.Len()
		nb := (n + c.o.EvalBatch - 1) / c.o.EvalBatch
		c.valBatches = make([]nn.Batch, nb)
		for i := range c.valBatches {
			idx := make([]int, 0, c.o.EvalBatch)
			for j := i * c.o.EvalBatch; j < min(n, (i+1)*c.o.EvalBatch); j++ {
				idx = append(idx, j)
			}
			c.valBatches[i] = gather(v, idx, nil)
		}
	})
	return c.valBatches
}

// bnStatBatches returns the fixed training batches BN statistics are
// recomputed on (the same for every step and target).
func (c *common) bnStatBatches() []nn.Batch {
	c.bnOnce.Do(func() { c.bnBatches = c.fixedBatches(c.o.BNBatches, 0xb7e151628aed2a6b) })
	return c.bnBatches
}

// repairBatches returns the fixed training batches Repair calibrates on
// (the same for every step and target).
func (c *common) repairBatches() []nn.Batch {
	c.repOnce.Do(func() { c.repBatches = c.fixedBatches(c.o.RepairBatches, 0x243f6a8885a308d3) })
	return c.repBatches
}

// selectBatches returns the fixed training batches SelectPerms scores
// permutations on (the same for every step and target).
func (c *common) selectBatches() []nn.Batch {
	c.selOnce.Do(func() { c.selBatches = c.fixedBatches(c.o.SelectBatches, 0x452821e638d01377) })
	return c.selBatches
}

// endpointLoss returns the mean training loss, on the select batches, of
// the endpoint θ₂⁰ + π(θ₁ᵀ − θ₁⁰) of target init (Options.SelectPerms),
// prepared as evaluation prepares a point (renormalised with Repair, BN
// statistics recomputed). Per-batch losses are summed in a fixed order.
func (c *common) endpointLoss(ctx context.Context, init *nn.ParamSet, perms Perms) (float64, error) {
	thetaT, err := c.point(c.T)
	if err != nil {
		return 0, err
	}
	p := c.transferred(thetaT, c.src0, init, perms)
	if c.o.Repair {
		if p, err = c.repaired(ctx, c.T, p, perms); err != nil {
			return 0, err
		}
	}
	if c.hasBuf {
		if err := c.recomputeBN(ctx, p); err != nil {
			return 0, err
		}
	}
	sb := c.selectBatches()
	losses := make([]float64, len(sb))
	err = c.sc.parallel(ctx, len(sb), func(m nn.Model, e *kernels.Engine, i int) error {
		res, err := m.Forward(e, p, sb[i], nil, false)
		losses[i] = res.Loss
		return err
	})
	if err != nil {
		return 0, fmt.Errorf("transfer: scoring a permutation: %w", err)
	}
	var sum float64
	for _, l := range losses {
		sum += l
	}
	loss := sum / float64(len(sb))
	if math.IsNaN(loss) {
		loss = math.Inf(1) // any finite loss beats a diverged endpoint
	}
	return loss, nil
}

// fixedBatches draws n training batches of BatchSize from Seed and stream.
func (c *common) fixedBatches(n int, stream uint64) []nn.Batch {
	rng := rand.New(rand.NewPCG(c.o.Seed, stream))
	var out []nn.Batch
	for k := 0; k < n; k++ {
		idx := make([]int, c.o.BatchSize)
		for i := range idx {
			idx[i] = rng.IntN(c.o.Train.Len())
		}
		out = append(out, gather(c.o.Train, idx, nil))
	}
	return out
}

// repaired returns a renormalised copy of step s's point p (Options.Repair):
// its units given the statistics of the permuted source point π(θ₁ˢ), which
// are the source point's own statistics permuted (computed once per point
// for every step and target).
func (c *common) repaired(ctx context.Context, s int, p *nn.ParamSet, perms Perms) (*nn.ParamSet, error) {
	q := p.Clone()
	err := c.sc.parallel(ctx, 1, func(m nn.Model, e *kernels.Engine, _ int) error {
		c.repStatOnce[s].Do(func() {
			c.repStatErr[s] = guard(func() error {
				theta, err := c.point(s)
				if err == nil {
					c.repStats[s], err = nn.UnitStatistics(ctx, e, m, theta, c.repairBatches())
				}
				return err
			})
		})
		if c.repStatErr[s] != nil {
			return c.repStatErr[s]
		}
		return nn.RepairTo(ctx, e, m, q, c.permutedStats(c.repStats[s], perms), c.repairBatches())
	})
	if err != nil {
		return nil, fmt.Errorf("transfer: repairing step %d: %w", s, err)
	}
	return q, nil
}

// permutedStats returns the unit statistics of π(θ) from those of θ: unit
// i of a permuted layer is unit π[i] of the original.
func (c *common) permutedStats(st []nn.UnitStats, perms Perms) []nn.UnitStats {
	out := make([]nn.UnitStats, len(st))
	for k, u := range st {
		out[k] = u
		ts := c.spec.Tensor(u.Layer)
		if ts == nil || len(ts.Axes) == 0 || ts.Axes[0] == "" {
			continue
		}
		pi, ok := perms[ts.Axes[0]]
		if !ok || len(pi) != len(u.Mean) {
			continue
		}
		out[k].Mean, out[k].Dev = make([]float64, len(pi)), make([]float64, len(pi))
		for i, j := range pi {
			out[k].Mean[i], out[k].Dev[i] = u.Mean[j], u.Dev[j]
		}
	}
	return out
}

// evaluate returns the accuracy of p on the validation set, with slices
// evaluated concurrently and counts summed in a fixed order. For a model
// with BN it first recomputes p's running statistics in place. With
// logits non-nil (Val.Len() × classes) it also writes p's logits there.
func (c *common) evaluate(ctx context.Context, p *nn.ParamSet, logits []float32) (float64, error) {
	return c.evaluateWith(ctx, p, true, logits)
}

// recomputeBN recomputes p's BN running statistics in place on the fixed
// BN batches.
func (c *common) recomputeBN(ctx context.Context, p *nn.ParamSet) error {
	bs := c.bnStatBatches()
	return c.sc.parallel(ctx, 1, func(m nn.Model, e *kernels.Engine, _ int) error {
		k := 0
		_, err := nn.RecomputeBNStats(ctx, e, m, p, func() (nn.Batch, bool) {
			if k >= len(bs) {
				return nn.Batch{}, false
			}
			k++
			return bs[k-1], true
		})
		return err
	})
}

// evaluateWith is evaluate, recomputing the BN statistics only with bn.
func (c *common) evaluateWith(ctx context.Context, p *nn.ParamSet, bn bool, logits []float32) (float64, error) {
	if c.o.Val == nil {
		return 0, nil
	}
	if bn && c.hasBuf && c.o.Train != nil {
		if err := c.recomputeBN(ctx, p); err != nil {
			return 0, err
		}
	}
	vb := c.evalBatches()
	correct := make([]int, len(vb))
	err := c.sc.parallel(ctx, len(vb), func(m nn.Model, e *kernels.Engine, i int) error {
		if logits == nil {
			res, err := m.Forward(e, p, vb[i], nil, false)
			correct[i] = res.Correct
			return err
		}
		// The same forward pass, its logits kept: slice i holds examples
		// i·EvalBatch onwards.
		out, err := nn.Logits(e, m, p, vb[i])
		if err != nil {
			return err
		}
		n, k := len(vb[i].Y), c.o.Val.NumClasses()
		if len(out) != n*k {
			return fmt.Errorf("transfer: the model gives %d outputs for %d examples of %d classes", len(out), n, k)
		}
		copy(logits[i*c.o.EvalBatch*k:], out)
		_, correct[i] = nn.SoftmaxCrossEntropy(out, n, k, vb[i].Y, nil)
		return nil
	})
	if err != nil {
		return 0, err
	}
	tot := 0
	for _, k := range correct {
		tot += k
	}
	return float64(tot) / float64(c.o.Val.Len()), nil
}
