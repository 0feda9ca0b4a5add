package transfer

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"time"

	"github.com/ltransfer/ltransfer/asm"
	"github.com/ltransfer/ltransfer/internal/hugemem"
	"github.com/ltransfer/ltransfer/kernels"
	"github.com/ltransfer/ltransfer/lap"
	"github.com/ltransfer/ltransfer/nn"
)

// MatchOptions tunes weight matching. The zero value is usable.
type MatchOptions struct {
	// Seed fixes the random order in which groups are visited.
	Seed uint64
	// Epsilon: coordinate descent stops after a sweep in which no group's
	// assignment value improved by more than Epsilon relative to its size
	// (default 1e-7).
	Epsilon float64
	// MaxSweeps bounds the sweeps over all groups (default 100).
	MaxSweeps int
	// Normalize divides every pair's coefficient by ‖T‖·‖S‖ (over the
	// matched tensors), so each pair counts as a cosine similarity.
	Normalize bool
	// NormalizeTensors divides the coefficient of every tensor of every
	// pair by that tensor's ‖T‖·‖S‖, so each (pair, tensor) counts as a
	// cosine similarity: a bias weighs as much as a weight matrix, and a
	// layer with small gradients as much as one with large ones. This is
	// what the paper's code calls normalized_matching. It excludes
	// Normalize.
	NormalizeTensors bool
	// NoWarmStart solves every assignment from scratch instead of from
	// the current permutation and the previous duals.
	NoWarmStart bool
}

func (o MatchOptions) check() error {
	if o.Normalize && o.NormalizeTensors {
		return fmt.Errorf("transfer: matching options Normalize and NormalizeTensors exclude each other")
	}
	return nil
}

// MatchStats accumulates where matching spent its time.
type MatchStats struct {
	CostSeconds float64 // building cost matrices (GEMM)
	LAPSeconds  float64 // solving assignment problems
	LAPCalls    int
	Sweeps      int
}

type pair struct {
	coef float32
	t, s *nn.ParamSet
}

// groupCache is the cost matrix of one group summed over pairs[0:npairs],
// valid while the permutations of the groups it depends on equal deps.
type groupCache struct {
	c      []float32
	npairs int
	deps   Perms
}

// Matcher solves weight matching: find π maximising Σₖ cₖ·⟨Tₖ, π(Sₖ)⟩ over
// the added (target, source) pairs. Pairs are parameter-shaped sets (weights,
// weight differences or gradients); buffers marked in the spec are ignored.
// A Matcher is not safe for concurrent use.
type Matcher struct {
	spec     *Spec
	sizes    map[string]int
	members  map[string][]axisRef // non-buffer (tensor, axis) per group
	tidx     map[string]int       // index of each tensor in spec.Tensors
	deps     map[string][]string  // groups on the other axes of each group's tensors
	e        *kernels.Engine
	pairs    []pair
	cache    map[string]*groupCache
	cacheFor [2]bool // (Normalize, NormalizeTensors) of the cached sums
	lastObj  map[string]float64
	duals    map[string][]float64
	solver   *lap.Solver
	scratch  []float32
	scratch2 []float32
	fcl, fcr []float32    // factorCols.apply's factor matrices, reused
	factors  *factorCache // shared by the targets of a run
	// borrow, when set, returns the engine to build cost matrices with
	// (as many threads as are free now) and a function that gives them
	// back; the transfer sets it so that a solve never runs more threads
	// than it holds while other work shares the cores.
	borrow func() (*kernels.Engine, func())
	// NoFactor turns off the factored (low-rank) cost matrices, for
	// testing and measurement.
	NoFactor bool
	// Stats accumulates over all Solve calls.
	Stats MatchStats
}

// NewMatcher returns a matcher for spec with group sizes taken from (and
// checked against) like, a parameter set of the model. e runs the GEMMs
// (nil: kernels.Default()).
func NewMatcher(spec *Spec, like *nn.ParamSet, e *kernels.Engine) (*Matcher, error) {
	sizes, err := spec.Validate(like)
	if err != nil {
		return nil, err
	}
	if e == nil {
		e = kernels.Default()
	}
	m := &Matcher{spec: spec, sizes: sizes, members: map[string][]axisRef{}, deps: map[string][]string{}, tidx: map[string]int{},
		e: e, cache: map[string]*groupCache{}, factors: newFactorCache(), lastObj: map[string]float64{}, duals: map[string][]float64{}}
	for i, t := range spec.Tensors {
		m.tidx[t.Name] = i
		if t.Buffer {
			continue
		}
		for a, g := range t.Axes {
			if g == "" {
				continue
			}
			m.members[g] = append(m.members[g], axisRef{t.Name, a})
			for b, h := range t.Axes {
				if b != a && h != "" && h != g && !contains(m.deps[g], h) {
					m.deps[g] = append(m.deps[g], h)
				}
			}
		}
	}
	return m, nil
}

func contains(xs []string, x string) bool {
	for _, y := range xs {
		if y == x {
			return true
		}
	}
	return false
}

// Sizes returns the group sizes.
func (m *Matcher) Sizes() map[string]int { return m.sizes }

// AddPair adds a (target, source) pair with coefficient coef. The sets are
// kept by reference and must not change while they are in the matcher.
func (m *Matcher) AddPair(coef float32, target, source *nn.ParamSet) error {
	return m.addPair(coef, target, source, true)
}

// addPair is AddPair; without checkValues it trusts that the tensors are
// finite (gradients the runner already checked).
func (m *Matcher) addPair(coef float32, target, source *nn.ParamSet, checkValues bool) error {
	for _, t := range m.spec.Tensors {
		if t.Buffer {
			continue
		}
		a, b := target.Get(t.Name), source.Get(t.Name)
		if a == nil || b == nil {
			return fmt.Errorf("transfer: matching pair lacks tensor %q", t.Name)
		}
		if !slices.Equal(a.Shape, b.Shape) || len(a.Data) != nn.Numel(a.Shape) || len(b.Data) != len(a.Data) {
			return fmt.Errorf("transfer: matching pair tensor %q has shapes %v and %v", t.Name, a.Shape, b.Shape)
		}
		if !checkValues {
			continue
		}
		if i := firstNonFinite(a.Data); i >= 0 {
			return fmt.Errorf("transfer: target tensor %q has a non-finite value %v at index %d", t.Name, a.Data[i], i)
		}
		if i := firstNonFinite(b.Data); i >= 0 {
			return fmt.Errorf("transfer: source tensor %q has a non-finite value %v at index %d", t.Name, b.Data[i], i)
		}
	}
	if math.IsNaN(float64(coef)) || math.IsInf(float64(coef), 0) {
		return fmt.Errorf("transfer: matching pair coefficient %v is not finite", coef)
	}
	m.pairs = append(m.pairs, pair{coef, target, source})
	return nil
}

// NumPairs is the number of pairs added since the last Reset.
func (m *Matcher) NumPairs() int { return len(m.pairs) }

// Reset drops every pair (and the cached cost matrices), keeping the
// statistics, the LAP warm-start duals and the low-rank bases of source
// tensors (keyed by tensor: a source tensor added again must be unchanged).
func (m *Matcher) Reset() {
	m.pairs = nil
	// The cost matrices' buffers stay (a 4096² matrix is 64 MB of fresh
	// pages to fault in again); their sums are marked stale.
	for _, gc := range m.cache {
		gc.npairs = math.MaxInt
	}
	m.lastObj = map[string]float64{}
}

func firstNonFinite(x []float32) int {
	// The vector kernel finds the first value that is not a finite
	// float32 (every finite one has magnitude ≤ MaxFloat32): every
	// gradient of a transfer passes here, 13 MB each for the W = 4096 MLP.
	mb := len(x) &^ (asm.LapLanes - 1)
	if mb > 0 {
		if i := asm.LapCheckF32(asm.Selected(), x[:mb], math.MaxFloat32); i < mb {
			return i
		}
	}
	for i, v := range x[mb:] {
		if v-v != 0 {
			return mb + i
		}
	}
	return -1
}

// coefs returns the effective coefficient of every tensor of every pair:
// cs[k][i] for pair k and spec tensor i (zero for buffers).
func (m *Matcher) coefs(opt MatchOptions) [][]float32 {
	cs := make([][]float32, len(m.pairs))
	for k, p := range m.pairs {
		c := make([]float32, len(m.spec.Tensors))
		cs[k] = c
		var nt, ns float64
		for i, t := range m.spec.Tensors {
			if t.Buffer {
				continue
			}
			c[i] = p.coef
			if !opt.Normalize && !opt.NormalizeTensors {
				continue
			}
			a, b := sumSq(p.t.Get(t.Name).Data), sumSq(p.s.Get(t.Name).Data)
			nt += a
			ns += b
			// A tensor with (almost) no gradient keeps its plain
			// coefficient: its contribution is (almost) zero anyway.
			if d := math.Sqrt(a * b); opt.NormalizeTensors && d > 1e-12 {
				c[i] = float32(float64(p.coef) / d)
			}
		}
		if d := math.Sqrt(nt * ns); opt.Normalize && d > 0 {
			for i := range c {
				c[i] = float32(float64(c[i]) / d)
			}
		}
	}
	return cs
}

func sumSq(x []float32) float64 {
	var s float64
	for _, v := range x {
		s += float64(v) * float64(v)
	}
	return s
}

// Solve runs coordinate descent from init (nil: identity) and returns the
// permutations and the objective Σ cₖ·⟨Tₖ, π(Sₖ)⟩.
func (m *Matcher) Solve(ctx context.Context, init Perms, opt MatchOptions) (Perms, float64, error) {
	if opt.Epsilon == 0 {
		opt.Epsilon = 1e-7
	}
	if opt.MaxSweeps == 0 {
		opt.MaxSweeps = 100
	}
	perms := Identity(m.sizes)
	if init != nil {
		if err := init.check(m.sizes); err != nil {
			return nil, 0, err
		}
		for g := range perms {
			perms[g] = append([]int(nil), init[g]...)
		}
	}
	if err := opt.check(); err != nil {
		return nil, 0, err
	}
	if len(m.pairs) == 0 {
		return perms, 0, nil
	}
	if mode := [2]bool{opt.Normalize, opt.NormalizeTensors}; mode != m.cacheFor {
		// The cached cost matrices were summed with other coefficients.
		m.cache = map[string]*groupCache{}
		m.cacheFor = mode
	}
	cs := m.coefs(opt)
	groups := append([]string(nil), m.spec.Groups...)
	// Only groups that act on some matched tensor can change the objective.
	active := groups[:0]
	for _, g := range groups {
		if len(m.members[g]) > 0 {
			active = append(active, g)
		}
	}
	// gain[g] is Σᵢ C[i][π_g(i)] of g's last solve, for the permutation kept.
	gain := map[string]float64{}
	r := rand.New(rand.NewPCG(opt.Seed, 0x5851f42d4c957f2d))
	// version counters: a group needs re-solving only when a group it
	// depends on changed since its own last solve.
	clock := 0
	changedAt := map[string]int{}
	solvedAt := map[string]int{}
	for _, g := range active {
		changedAt[g] = 0
		solvedAt[g] = -1
	}
	for sweep := 0; sweep < opt.MaxSweeps; sweep++ {
		m.Stats.Sweeps++
		order := append([]string(nil), active...)
		r.Shuffle(len(order), func(i, j int) { order[i], order[j] = order[j], order[i] })
		progress := false
		for _, g := range order {
			if err := ctx.Err(); err != nil {
				return nil, 0, err
			}
			if solvedAt[g] >= 0 {
				stale := false
				for _, h := range m.deps[g] {
					if changedAt[h] > solvedAt[g] {
						stale = true
					}
				}
				if !stale {
					continue
				}
			}
			n := m.sizes[g]
			t0 := time.Now()
			c := m.costMatrixBorrowed(g, perms, cs)
			t1 := time.Now()
			newPi, err := m.solveLAP(ctx, g, n, c, perms[g], opt)
			m.Stats.LAPSeconds += time.Since(t1).Seconds()
			m.Stats.CostSeconds += t1.Sub(t0).Seconds()
			m.Stats.LAPCalls++
			if err != nil {
				return nil, 0, fmt.Errorf("group %q: %w", g, err)
			}
			var oldL, newL float64 // c is −C
			for i := 0; i < n; i++ {
				oldL -= float64(c[i*n+perms[g][i]])
				newL -= float64(c[i*n+newPi[i]])
			}
			clock++
			solvedAt[g] = clock
			gain[g] = oldL
			if newL > oldL+opt.Epsilon*math.Max(math.Abs(oldL), math.Abs(newL)) {
				perms[g] = newPi
				changedAt[g] = clock
				progress = true
				gain[g] = newL
			}
		}
		if !progress {
			break
		}
	}
	if len(active) == 1 && m.whollyInCost(active[0]) {
		// The group's last cost matrix was built with the final
		// permutations (nothing else changes): its assignment's sum is
		// the part of the objective of the tensors it covers.
		g := active[0]
		return perms, gain[g] + m.objectiveWithout(perms, cs, g), nil
	}
	return perms, m.objective(perms, cs), nil
}

// whollyInCost reports whether every tensor group g acts on has g on one
// axis and no other group, so that g's cost matrix holds the tensor's
// whole contribution to the objective.
func (m *Matcher) whollyInCost(g string) bool {
	for _, ref := range m.members[g] {
		ts := m.spec.Tensor(ref.tensor)
		for a, h := range ts.Axes {
			if h != "" && a != ref.axis {
				return false
			}
		}
	}
	return true
}

// objective computes Σₖ Σ_w cₖ,w·⟨Tₖ,w, π(Sₖ,w)⟩ over the matched tensors w.
func (m *Matcher) objective(perms Perms, cs [][]float32) float64 {
	return m.objectiveWithout(perms, cs, "")
}

// objectiveWithout is objective over the tensors group skip does not act
// on (all of them when skip is "").
func (m *Matcher) objectiveWithout(perms Perms, cs [][]float32, skip string) float64 {
	var total float64
	var tmp []float32
	for k, p := range m.pairs {
		for i, t := range m.spec.Tensors {
			if t.Buffer || (skip != "" && slices.Contains(t.Axes, skip)) {
				continue
			}
			a, b := p.t.Get(t.Name), p.s.Get(t.Name)
			if d, ok := permutedDot(a, b, &t, perms); ok {
				total += float64(cs[k][i]) * d
				continue
			}
			sb := b.Data
			if hasGroup(t.Axes) {
				y := &nn.Tensor{Shape: b.Shape, Data: append(m.scratch2[:0], b.Data...)}
				tmp = permuteTensor(y, &t, perms, tmp)
				m.scratch2 = y.Data
				sb = y.Data
			}
			var d float64
			for j, v := range a.Data {
				d += float64(v) * float64(sb[j])
			}
			total += float64(cs[k][i]) * d
		}
	}
	return total
}

// permutedDot returns ⟨a, π(b)⟩ summed in a's memory order, without
// building π(b), when the tensor has at most one permuted axis.
func permutedDot(a, b *nn.Tensor, ts *TensorSpec, perms Perms) (float64, bool) {
	ax := -1
	for i, g := range ts.Axes {
		if _, ok := perms[g]; ok && g != "" {
			if ax >= 0 {
				return 0, false
			}
			ax = i
		}
	}
	var d float64
	if ax < 0 {
		for j, v := range a.Data {
			d += float64(v) * float64(b.Data[j])
		}
		return d, true
	}
	pi := perms[ts.Axes[ax]]
	outer, _, inner := ts.axisView(a.Shape, ax)
	n := len(pi)
	for o := 0; o < outer; o++ {
		base := o * n * inner
		for i, j := range pi {
			x := a.Data[base+i*inner : base+(i+1)*inner]
			y := b.Data[base+j*inner : base+(j+1)*inner]
			for k, v := range x {
				d += float64(v) * float64(y[k])
			}
		}
	}
	return d, true
}

func hasGroup(axes []string) bool {
	for _, g := range axes {
		if g != "" {
			return true
		}
	}
	return false
}

// costMatrixBorrowed is costMatrix on the engine borrow lends, if any.
func (m *Matcher) costMatrixBorrowed(g string, perms Perms, cs [][]float32) []float32 {
	if m.borrow == nil {
		return m.costMatrix(g, perms, cs)
	}
	e0 := m.e
	e, done := m.borrow()
	m.e = e
	defer func() { m.e = e0; done() }()
	return m.costMatrix(g, perms, cs)
}

// costMatrix returns −C (n×n, row-major) for group g, where
// C[i][j] = Σₖ Σ_{(w,a)∈g} cₖ,w Σ_rest Tₖ,w[…i…]·S̃ₖ,w[…j…] and S̃ is S with
// every other grouped axis permuted by perms. It is negated as it is
// summed (exactly: every term flips sign), so the assignment solver
// minimises it in place instead of copying a negated matrix each solve.
// The returned slice belongs to the matcher's cache and must not be
// modified.
func (m *Matcher) costMatrix(g string, perms Perms, cs [][]float32) []float32 {
	n := m.sizes[g]
	gc := m.cache[g]
	depPerms := Perms{}
	for _, h := range m.deps[g] {
		depPerms[h] = perms[h]
	}
	// fresh: gc.c holds stale values that the first write overwrites
	// (clearing 4096² floats costs as much as the product itself).
	fresh := false
	if gc == nil || !gc.deps.Equal(depPerms) || gc.npairs > len(m.pairs) {
		if gc == nil {
			gc = &groupCache{c: hugemem.Float32s(n * n)}
			m.cache[g] = gc
		}
		fresh = true
		gc.npairs = 0
		gc.deps = depPerms.Clone()
	}
	fc := &factorCols{n: n}
	for k := gc.npairs; k < len(m.pairs); k++ {
		p := m.pairs[k]
		for _, ref := range m.members[g] {
			ts, t, s := m.spec.Tensor(ref.tensor), p.t.Get(ref.tensor), p.s.Get(ref.tensor)
			coef := cs[k][m.tidx[ref.tensor]]
			if !m.NoFactor && m.factorContribution(fc, n, ref, ts, t, s, -coef) {
				continue
			}
			if fresh {
				clear(gc.c)
				fresh = false
			}
			m.addContribution(gc.c, n, ref, ts, t, s, perms, -coef)
		}
	}
	if fresh && fc.k == 0 {
		clear(gc.c)
	}
	m.fcl, m.fcr = fc.apply(m.e, gc.c, fresh, m.fcl, m.fcr)
	gc.npairs = len(m.pairs)
	return gc.c
}

// addContribution adds coef·T_(a)·S̃_(a)ᵀ to c, where X_(a) is X unfolded
// along axis a into n × rest.
func (m *Matcher) addContribution(c []float32, n int, ref axisRef, ts *TensorSpec, t, s *nn.Tensor, perms Perms, coef float32) {
	axes := ts.Axes
	sd := s.Data
	// Permute the source along every other grouped axis.
	other := false
	for b, h := range axes {
		if b != ref.axis && h != "" {
			other = true
		}
	}
	if other {
		y := &nn.Tensor{Shape: s.Shape, Data: append(m.scratch[:0], s.Data...)}
		ax := append([]string(nil), axes...)
		ax[ref.axis] = ""
		permuteAxes(y, ts, ax, perms, nil)
		m.scratch = y.Data
		sd = y.Data
	}
	outer, _, inner := ts.axisView(t.Shape, ref.axis)
	switch {
	case outer == 1:
		m.e.Sgemm(false, true, n, n, inner, coef, t.Data, inner, sd, inner, 1, c, n)
	case inner == 1:
		m.e.Sgemm(true, false, n, n, outer, coef, t.Data, n, sd, n, 1, c, n)
	default:
		// Unfold both to n × (outer·inner), then one product.
		k := outer * inner
		tu := unfold(t.Data, outer, n, inner)
		su := unfold(sd, outer, n, inner)
		m.e.Sgemm(false, true, n, n, k, coef, tu, k, su, k, 1, c, n)
	}
}

// unfold moves the middle axis of an [outer, n, inner] array to the front.
func unfold(x []float32, outer, n, inner int) []float32 {
	out := hugemem.Float32s(len(x))
	k := outer * inner
	for o := 0; o < outer; o++ {
		for i := 0; i < n; i++ {
			copy(out[i*k+o*inner:i*k+(o+1)*inner], x[(o*n+i)*inner:(o*n+i+1)*inner])
		}
	}
	return out
}

// solveLAP minimises the assignment of the n×n matrix c (−C, see
// costMatrix), warm-started from the group's current permutation and the
// column duals of its last solve.
func (m *Matcher) solveLAP(ctx context.Context, g string, n int, c []float32, warm []int, opt MatchOptions) ([]int, error) {
	if m.solver == nil {
		s, err := lap.NewSolver(m.e.Path())
		if err != nil {
			return nil, err
		}
		m.solver = s
	}
	lo := &lap.Options{} // c is −C: minimising it maximises C
	// The solver's row-parallel phases take the threads free when each
	// starts (all of the matcher's engine when nothing lends them).
	lo.Parallel = func() (int, func()) { return m.e.Threads(), nil }
	if m.borrow != nil {
		lo.Parallel = func() (int, func()) {
			e, done := m.borrow()
			return e.Threads(), done
		}
	}
	if !opt.NoWarmStart {
		lo.RowToCol = warm
		if d := m.duals[g]; len(d) == n {
			lo.ColDual = d
		}
	}
	res, err := m.solver.SolveFloat32Context(ctx, n, n, c, lo)
	if err != nil {
		return nil, err
	}
	m.duals[g] = res.ColDual
	return res.RowToCol, nil
}
