package transfer

import (
	"context"
	"fmt"
	"math"
	"sync"
	"time"

	"github.com/ltransfer/ltransfer/internal/hugemem"
	"github.com/ltransfer/ltransfer/kernels"
	"github.com/ltransfer/ltransfer/nn"
)

// runner is one target's transfer; the source side lives in common.
type runner struct {
	c       *common
	idx     int
	tgt     Target
	matcher *Matcher
	// The current segment (Options.Segments): its points are
	// base + π(θ₁ᵗ − θ₁^from), and tie, when set, is the pair that ties
	// its permutation to the previous segment's.
	base      *nn.ParamSet
	from      *nn.ParamSet
	segStart  int
	tie       *[2]*nn.ParamSet
	bestPerms Perms
	bestPoint *nn.ParamSet
	// sel is Options.SelectPerms' state: the permutation with the lowest
	// endpoint loss so far, the step that found it, and the last scored.
	sel struct {
		perms, last    Perms
		loss, lastLoss float64
		step           int
	}
	// matched are GMT's target gradients in the matcher now, handed back
	// for reuse when the next step resets it.
	matched []*nn.ParamSet
	rep     *Report
	// pending holds the points waiting for (or in) evaluation, oldest
	// first. A point's evaluation runs beside the next steps' work; a step
	// is finished (reported, streamed) once it and every earlier one are
	// evaluated, and the loop waits only when maxPending points are queued.
	pending []*pendingStep
	bg      sync.WaitGroup // background evaluations and prefetches
	mu      sync.Mutex     // guards rep.Timings against background work
}

// maxPending is how many points may wait for evaluation before the step
// loop waits for the oldest.
const maxPending = 3

func (r *runner) progress(p Progress) {
	p.Target = r.idx
	r.c.progress(p)
}

func (r *runner) addTime(f *float64, since time.Time) {
	r.mu.Lock()
	*f += time.Since(since).Seconds()
	r.mu.Unlock()
}

// run transfers the source trajectory onto the target: it sets up the
// report and the starting permutation, runs steps 1…T with each point
// evaluated in the background, and waits for the last evaluations.
func (r *runner) run(ctx context.Context) (*Report, error) {
	r.rep = r.newReport()
	if err := r.newMatcher(); err != nil {
		return nil, err
	}
	perms, oracleObj, err := r.initialPerms(ctx)
	if err != nil {
		return nil, err
	}
	// Step 0: the target initialisation itself. Each point is evaluated
	// in the background while the next step's permutation is computed;
	// steps are still completed (reported, streamed) in order.
	init := r.tgt.Init
	if r.c.hasBuf {
		init = init.Clone() // BN statistics are recomputed in place
	}
	r.pending = []*pendingStep{r.newPending(0, init, perms, 0)}
	defer r.waitPending()
	if perms, err = r.steps(ctx, perms, oracleObj); err != nil {
		return nil, err
	}
	if err := r.settle(ctx, true); err != nil {
		return nil, err
	}
	if r.sel.perms != nil {
		perms = r.sel.perms
	}
	r.finishReport(perms)
	return r.rep, nil
}

// newReport is the report before any step is done.
func (r *runner) newReport() *Report {
	o := r.c.o
	rep := &Report{Method: o.Method, Threads: o.Engine.Threads(), BestStep: -1,
		GradAugment: o.GradAugment && o.Method.matchesGradients(), BranchAtBest: o.BranchAtBest,
		Repair: o.Repair, SelectPerms: o.SelectPerms}
	if o.Segments > 1 {
		rep.Segments = o.Segments
	}
	switch {
	case o.Match.Normalize:
		rep.Normalize = "pair"
	case o.Match.NormalizeTensors:
		rep.Normalize = "tensor"
	}
	return rep
}

// newMatcher makes the matcher of the methods that solve assignment
// problems.
func (r *runner) newMatcher() error {
	o := r.c.o
	if !o.Method.matchesGradients() && o.Method != Oracle {
		return nil
	}
	var err error
	r.matcher, err = NewMatcher(r.c.spec, r.tgt.Init, o.Engine)
	if err == nil {
		// Solves run holding one token (sched.serial); their cost
		// matrices use the threads free at the time.
		r.matcher.borrow = r.c.sc.lend
		r.matcher.factors = r.c.factors
	}
	return err
}

// initialPerms returns the permutation the steps start from: the identity,
// a random one, or the oracle's with its objective (which every step
// reports).
func (r *runner) initialPerms(ctx context.Context) (Perms, float64, error) {
	c, o := r.c, r.c.o
	switch o.Method {
	case Random:
		return RandomPerms(c.sizes, o.Seed), 0, nil
	case Oracle:
		return r.oraclePerms(ctx)
	}
	return Identity(c.sizes), 0, nil
}

// oraclePerms matches the trained target's update to the source's.
func (r *runner) oraclePerms(ctx context.Context) (Perms, float64, error) {
	c := r.c
	srcT, err := c.o.Source.At(c.T)
	if err != nil {
		return nil, 0, err
	}
	if err := r.matcher.AddPair(1, diff(r.tgt.Final, r.tgt.Start), diff(srcT, c.src0)); err != nil {
		return nil, 0, err
	}
	r.progress(Progress{Phase: "matching", Step: 0, Steps: c.T, Done: 0, Total: 1})
	var (
		perms Perms
		obj   float64
	)
	err = c.sc.serial(ctx, func() (err error) {
		perms, obj, err = r.matcher.Solve(ctx, nil, c.o.Match)
		return err
	})
	if err != nil {
		return nil, 0, err
	}
	return perms, obj, nil
}

// steps runs steps 1…T from perms and returns the last permutation. Each
// step's point is queued for evaluation; steps before it are finished as
// their evaluations end.
func (r *runner) steps(ctx context.Context, perms Perms, oracleObj float64) (Perms, error) {
	c, o := r.c, r.c.o
	r.base, r.from = r.tgt.Init, c.src0
	segLen := c.T / max(1, o.Segments)
	for s := 1; s <= c.T; s++ {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		if o.Segments > 1 && s > 1 && (s-1)%segLen == 0 {
			if err := r.newSegment(ctx, s-1, perms); err != nil {
				return nil, err
			}
		}
		obj, emit := oracleObj, perms
		var endLoss float64
		if o.Method.matchesGradients() {
			var err error
			if perms, obj, err = r.gradientPerms(ctx, s, perms); err != nil {
				return nil, err
			}
			emit = perms
			if o.SelectPerms {
				if emit, endLoss, err = r.selectPerms(ctx, s, perms); err != nil {
					return nil, err
				}
			}
		}
		p, err := r.transferPoint(ctx, s, emit)
		if err != nil {
			return nil, err
		}
		ps := r.newPending(s, p, emit, obj)
		if o.SelectPerms {
			if math.IsInf(endLoss, 0) {
				endLoss = 0 // JSON has no infinity; StepReport documents 0
			}
			ps.endLoss, ps.permsFrom = endLoss, r.sel.step
		}
		r.pending = append(r.pending, ps)
		r.start(ctx, ps)
		if err := r.settle(ctx, false); err != nil {
			return nil, err
		}
	}
	return perms, nil
}

// gradientPerms returns step s's permutation for GMT and FGMT and its
// objective: GMT matches the gradient pairs of every point of the segment
// so far, FGMT adds the newest pair to those it has.
func (r *runner) gradientPerms(ctx context.Context, s int, perms Perms) (Perms, float64, error) {
	o := r.c.o
	first := s - 1
	if o.Method == GMT {
		r.matcher.Reset()
		r.c.putGrads(r.matched)
		r.matched = nil
		first = r.segStart
	}
	if (o.Method == GMT || s-1 == r.segStart) && r.tie != nil {
		if o.Method == FGMT {
			r.matcher.Reset()
		}
		if err := r.matcher.addPair(1, r.tie[0], r.tie[1], false); err != nil {
			return nil, 0, err
		}
	}
	return r.matchStep(ctx, s, first, perms)
}

// selectPerms scores step s's permutation by its endpoint loss
// (Options.SelectPerms) and returns the best one so far, with the loss of
// step s's own.
func (r *runner) selectPerms(ctx context.Context, s int, perms Perms) (Perms, float64, error) {
	if r.sel.last != nil && perms.Equal(r.sel.last) {
		return r.sel.perms, r.sel.lastLoss, nil
	}
	t0 := time.Now()
	loss, err := r.c.endpointLoss(ctx, r.tgt.Init, perms)
	r.addTime(&r.rep.Timings.Select, t0)
	if err != nil {
		return nil, 0, err
	}
	r.sel.last, r.sel.lastLoss = perms, loss
	if r.sel.perms == nil || loss < r.sel.loss {
		r.sel.perms, r.sel.loss, r.sel.step = perms, loss, s
	}
	return r.sel.perms, loss, nil
}

// transferPoint returns step s's point, base + π(θ₁ˢ − from).
func (r *runner) transferPoint(ctx context.Context, s int, perms Perms) (*nn.ParamSet, error) {
	c := r.c
	var p *nn.ParamSet
	err := c.sc.serial(ctx, func() error {
		theta, err := c.point(s)
		if err != nil {
			return err
		}
		p = c.transferred(theta, r.from, r.base, perms)
		return nil
	})
	if err != nil {
		return nil, err
	}
	return p, nil
}

// finishReport records the final permutation and the matcher's timings.
func (r *runner) finishReport(perms Perms) {
	r.rep.Perms = perms
	if r.matcher != nil {
		r.rep.Timings.CostMatrices = r.matcher.Stats.CostSeconds
		r.rep.Timings.LAP = r.matcher.Stats.LAPSeconds
		r.rep.LAPCalls = r.matcher.Stats.LAPCalls
	}
}

// settle finishes the queued steps in order: all of them with wait, else
// those already evaluated, waiting only while more than maxPending are
// queued.
func (r *runner) settle(ctx context.Context, wait bool) error {
	for len(r.pending) > 0 {
		ps := r.pending[0]
		if !wait && len(r.pending) <= maxPending {
			if !ps.started {
				return nil
			}
			select {
			case <-ps.done:
			default:
				return nil
			}
		}
		r.pending = r.pending[1:]
		if err := r.finishStep(ctx, ps); err != nil {
			return err
		}
	}
	return nil
}

// waitPending waits for the evaluations still running, so none outlives a
// failed run.
func (r *runner) waitPending() {
	for _, ps := range r.pending {
		if ps.started {
			<-ps.done
		}
	}
}

// overlapSolve starts the queued evaluations and the next point's source
// gradient, so they overlap step s's (single-threaded) assignment
// problems.
func (r *runner) overlapSolve(ctx context.Context, s int) {
	for _, ps := range r.pending {
		r.start(ctx, ps)
	}
	if s < r.c.T {
		r.prefetchSourceGradient(ctx, s)
	}
}

// prefetchSourceGradient computes the source gradient of point t in the
// background, unless some target already started it.
func (r *runner) prefetchSourceGradient(ctx context.Context, t int) {
	c := r.c
	if !c.gradStarted[t].CompareAndSwap(false, true) {
		return
	}
	r.bg.Add(1)
	go func() {
		defer r.bg.Done()
		// An error stays cached with the gradient and is reported by the
		// step that needs it.
		_ = c.sc.parallel(ctx, 1, func(m nn.Model, e *kernels.Engine, _ int) error {
			_, err := c.sourceGradient(m, e, t)
			return err
		})
	}()
}

// matchStep adds the gradient pairs of points first … s−1 and solves.
func (r *runner) matchStep(ctx context.Context, s, first int, perms Perms) (Perms, float64, error) {
	c := r.c
	tg, err := r.targetGradients(ctx, s, first, perms)
	if err != nil {
		return nil, 0, err
	}
	for i, g := range tg {
		// Both gradients were checked finite when computed.
		if err := r.matcher.addPair(1, g, c.srcGrads[first+i], false); err != nil {
			return nil, 0, err
		}
	}
	if c.o.Method == GMT {
		r.matched = tg
	}
	r.overlapSolve(ctx, s)
	r.progress(Progress{Phase: "matching", Step: s, Steps: c.T, Done: 0, Total: 1})
	init := perms
	if c.o.FreshStart {
		init = nil
	}
	var obj float64
	err = c.sc.serial(ctx, func() (err error) {
		perms, obj, err = r.matcher.Solve(ctx, init, c.o.Match)
		return err
	})
	if err != nil {
		return nil, 0, err
	}
	r.progress(Progress{Phase: "matching", Step: s, Steps: c.T, Done: 1, Total: 1})
	return perms, obj, nil
}

// targetGradients returns the target's gradients at points first … s−1
// transferred with perms (and makes sure their source gradients exist).
func (r *runner) targetGradients(ctx context.Context, s, first int, perms Perms) ([]*nn.ParamSet, error) {
	c := r.c
	t0 := time.Now()
	n := s - first
	tg := make([]*nn.ParamSet, n)
	for t := first; t < s; t++ {
		c.pointBatches(t) // drawn before the parallel part, in order
	}
	// Done counts the target's gradient mini-batches, so the phase
	// advances even when it has one gradient pair (FGMT).
	total := n * c.o.GradBatches
	r.progress(Progress{Phase: "gradients", Step: s, Steps: c.T, Done: 0, Total: total})
	var (
		mu   sync.Mutex
		done int
	)
	batchDone := func() {
		mu.Lock()
		done++
		r.progress(Progress{Phase: "gradients", Step: s, Steps: c.T, Done: done, Total: total})
		mu.Unlock()
	}
	err := c.sc.parallel(ctx, n, func(m nn.Model, e *kernels.Engine, i int) error {
		t := first + i
		c.gradStarted[t].Store(true)
		if _, err := c.sourceGradient(m, e, t); err != nil {
			return err
		}
		theta, err := c.point(t)
		if err != nil {
			return err
		}
		pt := c.transferredInto(c.scratchPoint(), theta, r.from, r.base, perms)
		g, err := c.gradient(m, e, pt, c.pointBatches(t), batchDone)
		c.putScratch(pt)
		if err != nil {
			return fmt.Errorf("target gradient at point %d: %w", t, err)
		}
		tg[i] = g
		return nil
	})
	if err != nil {
		return nil, err
	}
	r.addTime(&r.rep.Timings.Gradients, t0)
	return tg, nil
}

// newSegment starts the segment at point start (Options.Segments): its
// base is the point the last permutation (or, with BranchAtBest, the best
// one) transferred to there, and its permutation is tied to that one on
// the previous segment's source update, as the paper's code does.
func (r *runner) newSegment(ctx context.Context, start int, last Perms) error {
	c := r.c
	if c.o.BranchAtBest {
		// The best point so far must be known: finish every step.
		if err := r.settle(ctx, true); err != nil {
			return err
		}
	}
	return c.sc.serial(ctx, func() error {
		theta, err := c.point(start)
		if err != nil {
			return err
		}
		prev, base := last, (*nn.ParamSet)(nil)
		if c.o.BranchAtBest && r.bestPoint != nil {
			prev, base = r.bestPerms, r.bestPoint
		} else {
			base = c.transferred(theta, r.from, r.base, last)
		}
		d := diff(theta, r.from)
		dp, err := Apply(c.spec, d, prev)
		if err != nil {
			return err
		}
		r.tie = &[2]*nn.ParamSet{dp, d}
		r.base, r.from, r.segStart = base, theta, start
		return nil
	})
}

// transferred returns base + π(θ − from) (θ₂⁰ + π(θ − θ₁⁰) in the first
// segment), permuting on the fly where a tensor has one grouped axis (the
// same arithmetic as subtracting, permuting, then adding).
func (c *common) transferred(theta, from, base *nn.ParamSet, perms Perms) *nn.ParamSet {
	return c.transferredInto(nil, theta, from, base, perms)
}

// transferredInto is transferred writing into out, a set of the model's
// layout whose values are all overwritten (nil: a new set).
func (c *common) transferredInto(out, theta, from, base *nn.ParamSet, perms Perms) *nn.ParamSet {
	fresh := out == nil
	if fresh {
		out = nn.NewParamSet()
	}
	var tmp []float32
	for _, name := range theta.Names() {
		a, b, z := theta.Get(name), from.Get(name), base.Get(name)
		var y *nn.Tensor
		if fresh {
			y = &nn.Tensor{Shape: a.Shape, Data: hugemem.Float32s(len(a.Data))}
		} else {
			y = out.Get(name)
		}
		ts := c.spec.Tensor(name)
		ax, grouped := -1, 0
		if ts != nil {
			for i, g := range ts.Axes {
				if _, ok := perms[g]; ok && g != "" {
					ax, grouped = i, grouped+1
				}
			}
		}
		switch grouped {
		case 0:
			sub3(y.Data, a.Data, b.Data, z.Data)
		case 1:
			pi := perms[ts.Axes[ax]]
			outer, _, inner := ts.axisView(a.Shape, ax)
			n := len(pi)
			for o := 0; o < outer; o++ {
				base := o * n * inner
				for i, j := range pi {
					sub3(y.Data[base+i*inner:base+(i+1)*inner], a.Data[base+j*inner:base+(j+1)*inner],
						b.Data[base+j*inner:base+(j+1)*inner], z.Data[base+i*inner:base+(i+1)*inner])
				}
			}
		default:
			for i, v := range a.Data {
				y.Data[i] = v - b.Data[i]
			}
			tmp = permuteTensor(y, ts, perms, tmp)
			for i := range y.Data {
				y.Data[i] += z.Data[i]
			}
		}
		if fresh {
			_ = out.Add(name, y)
		}
	}
	return out
}

// sub3 sets dst[k] = (a[k] − b[k]) + z[k]; the slices have dst's length.
func sub3(dst, a, b, z []float32) {
	a, b, z = a[:len(dst)], b[:len(dst)], z[:len(dst)]
	for k := range dst {
		dst[k] = (a[k] - b[k]) + z[k]
	}
}

// scratchPoint returns a set of the model's layout with arbitrary values
// for a point that lives only while its gradient is computed; putScratch
// returns it. Reusing them spares a fresh allocation (and its page faults)
// per gradient pair.
// They are kept in a list of their own, not a sync.Pool: the collector
// empties a pool at every cycle, and a transfer allocates fast enough to
// run several cycles a step (each miss faulted in a fresh 13 MB point for
// the W = 4096 MLP). At most one exists per gradient in flight.
func (c *common) scratchPoint() *nn.ParamSet {
	c.scratchMu.Lock()
	defer c.scratchMu.Unlock()
	if k := len(c.scratch); k > 0 {
		p := c.scratch[k-1]
		c.scratch = c.scratch[:k-1]
		return p
	}
	return nil
}

func (c *common) putScratch(p *nn.ParamSet) {
	c.scratchMu.Lock()
	c.scratch = append(c.scratch, p)
	c.scratchMu.Unlock()
}

// pendingStep is a transferred point being evaluated in the background.
type pendingStep struct {
	s int
	p *nn.ParamSet
	// out is the point reported and handed over: p, or its renormalised
	// copy with Options.Repair.
	out    *nn.ParamSet
	repair float64
	perms  Perms
	obj    float64
	acc    float64
	// endLoss and permsFrom: Options.SelectPerms' StepReport fields.
	endLoss   float64
	permsFrom int
	// logits of out on Val (Options.KeepBestLogits, s ≥ 1).
	logits  []float32
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
	r.progress(Progress{Phase: "eval", Step: ps.s, Steps: r.c.T})
	r.bg.Add(1)
	go func() {
		defer r.bg.Done()
		defer close(ps.done)
		t0 := time.Now()
		ps.err = guard(func() (err error) {
			ps.out = ps.p
			if r.c.o.Repair && ps.s > 0 {
				if ps.out, err = r.c.repaired(ctx, ps.s, ps.p, ps.perms); err != nil {
					return err
				}
				ps.repair = time.Since(t0).Seconds()
			}
			if r.c.keepLogits && ps.s > 0 {
				ps.logits = make([]float32, r.c.o.Val.Len()*r.c.o.Val.NumClasses())
			}
			ps.acc, err = r.c.evaluate(ctx, ps.out, ps.logits)
			return err
		})
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
	s, p, acc := ps.s, ps.out, ps.acc
	r.mu.Lock()
	r.rep.Timings.Eval += ps.seconds
	r.rep.Timings.Repair += ps.repair
	r.mu.Unlock()
	r.rep.Steps = append(r.rep.Steps, StepReport{Step: s, ValAcc: acc, Objective: ps.obj, EndpointLoss: ps.endLoss, PermsFrom: ps.permsFrom})
	// The best point is chosen among the transferred ones (s ≥ 1).
	if s > 0 && (r.rep.BestStep < 0 || acc > r.rep.BestValAcc) {
		r.rep.BestStep, r.rep.BestValAcc = s, acc
		if r.c.o.KeepBest {
			r.rep.BestParams = p // no one changes a finished point
		}
		r.rep.BestLogits = ps.logits
		if r.c.o.BranchAtBest {
			r.bestPerms, r.bestPoint = ps.perms, ps.p.Clone()
		}
	}
	if r.tgt.OnStep != nil {
		if err := r.tgt.OnStep(s, p, ps.perms); err != nil {
			return err
		}
	}
	r.progress(Progress{Phase: "step", Step: s, Steps: r.c.T, Done: s, Total: r.c.T})
	return nil
}

func diff(a, b *nn.ParamSet) *nn.ParamSet {
	d := nn.NewParamSet()
	for _, name := range a.Names() {
		x, y := a.Get(name), b.Get(name)
		z := &nn.Tensor{Shape: x.Shape, Data: hugemem.Float32s(len(x.Data))}
		for i, v := range x.Data {
			z.Data[i] = v - y.Data[i]
		}
		_ = d.Add(name, z)
	}
	return d
}
