package lap

import (
	"context"
	"fmt"
	"math"
	"sync"

	"github.com/ltransfer/ltransfer/asm"
)

// workspace holds the buffers a Solver reuses between calls.
type workspace struct {
	c       []float64 // negated cost matrix, when maximising
	c32     []float32
	rowbuf  []float64 // one float32 row widened, for the pure-Go row loops
	v, d    []float64
	x, y    []int
	pred    []int
	free    []int
	scanned []int
	dscan   []float64
	zeros   []float64
	zint    []int
	count   []int
	infs    []float64 // m × +Inf, copied over d between searches
	sp      sparseState
	par     []rowScratch // the row-parallel phases' other workers
}

// state is one solve in progress: the minimisation matrix c (n×m, row
// major), the assignment x (row → column) and y (column → row), the column
// duals v, and the Dijkstra buffers.
type state struct {
	path    asm.Path
	n, m    int
	c64     []float64 // exactly one of c64, c32 is set
	c32     []float32
	x, y    []int
	v       []float64
	d       []float64
	pred    []int
	scanned []int
	dscan   []float64
	ws      *workspace
	stats   Stats
	mins    asm.LapMins
	sp      *sparseState // candidate lists, nil while the solve runs dense
	// parallel: Options.Parallel
	parallel func() (int, func())
}

// The row-parallel phases split the rows only when each worker gets at
// least parMinRows rows and the matrix has parMinCells entries: below that
// starting goroutines costs more than it saves.
const (
	parMinRows  = 256
	parMinCells = 1 << 20
)

// rows runs f over the rows [0, n) split into contiguous ranges, one per
// goroutine that Options.Parallel grants, each with its own scratch. The
// phases that use it compute each row from the matrix and v alone and
// write only that row's entries, so the split does not change the result.
func (st *state) rows(f func(lo, hi int, rs *rowScratch)) {
	n, ws := st.n, st.ws
	w := 1
	if st.parallel != nil && n >= 2*parMinRows && n*st.m >= parMinCells {
		var release func()
		w, release = st.parallel()
		if release != nil {
			defer release()
		}
		w = min(w, n/parMinRows)
	}
	if w <= 1 {
		f(0, n, &ws.sp.rowScratch)
		return
	}
	if len(ws.par) < w-1 {
		ws.par = append(ws.par, make([]rowScratch, w-1-len(ws.par))...)
	}
	k := min(sparseK, st.m)
	var wg sync.WaitGroup
	for q := 1; q < w; q++ {
		rs := &ws.par[q-1]
		rs.grow(st.m, k)
		wg.Add(1)
		go func(lo, hi int) {
			defer wg.Done()
			f(lo, hi, rs)
		}(q*n/w, (q+1)*n/w)
	}
	f(0, n/w, &ws.sp.rowScratch)
	wg.Wait()
}

var inf = math.Inf(1)

func (s *Solver) solve(ctx context.Context, n, m int, c64 []float64, c32 []float32, opt *Options) (*Result, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("lap: %d×%d solve not started: %w", n, m, err)
	}
	ws := &s.ws
	st := &state{path: s.path, n: n, m: m, c64: c64, c32: c32, ws: ws, parallel: opt.Parallel}
	st.x = grow(&ws.x, n)
	st.y = grow(&ws.y, m)
	st.v = grow(&ws.v, m)
	st.d = grow(&ws.d, m)
	st.pred = grow(&ws.pred, m)
	if len(ws.infs) < m {
		ws.infs = make([]float64, m)
		for j := range ws.infs {
			ws.infs[j] = inf
		}
	}
	st.scanned = ws.scanned[:0]
	st.dscan = ws.dscan[:0]
	for i := range st.x {
		st.x[i] = -1
	}
	for j := range st.y {
		st.y[j], st.v[j], st.d[j] = -1, 0, inf
	}
	if n == 0 {
		return st.result(), nil
	}

	var free []int
	var err error
	warm := opt.RowToCol != nil || opt.ColDual != nil
	ties := !warm && s.sparse == sparseAuto && st.tieHeavy()
	switch {
	case warm:
		free, err = st.warmStart(opt.RowToCol, opt.ColDual)
	case n == m && !ties:
		free, err = st.columnReduction()
	default:
		free = grow(&ws.free, n)
		for i := range free {
			free[i] = i
		}
	}
	if err != nil {
		return nil, err
	}
	// From here on column duals only decrease, which keeps the candidate
	// lists' bounds valid (see sparse.go).
	elem := 8
	if c32 != nil {
		elem = 4
	}
	if !ties && s.useSparse(n, m, elem) {
		st.buildLists()
	}
	if n == m && !warm && !ties {
		st.reductionTransfer()
	}
	// Row reduction passes: Jonker–Volgenant's two with dense scans (each
	// step reads a row); with candidate lists a step costs a list visit,
	// and many more passes pay: on rank-10 2048² going from 2 to 128 passes
	// cut the free rows left for augmentation from 424 to 16 and the CPU
	// time from 202 to 90 ms (rank-40 4096²: 337 → 150 ms; uniform: same
	// within noise). Stop early when passes stall or lists keep missing.
	passes := 2
	if st.sp != nil {
		passes = 128
	}
	stalled := 0
	for pass := 0; pass < passes && len(free) > 0 && !ties; pass++ {
		before, refreshes, steps := len(free), st.stats.ListRefreshes, st.stats.RowReductions
		if free, err = st.augmentingRowReduction(free); err != nil {
			return nil, err
		}
		if len(free) == before {
			stalled++
		} else {
			stalled = 0
		}
		// Stop when most steps had to read whole rows: past the first
		// passes that makes row reduction as dear as augmenting.
		missed := 2*(st.stats.ListRefreshes-refreshes) > st.stats.RowReductions-steps
		if stalled >= 4 || (pass >= 2 && missed) {
			break
		}
	}
	st.stats.FreeAfterInit = len(free)
	for k, f := range free {
		if k%16 == 0 {
			if err := ctx.Err(); err != nil {
				return nil, fmt.Errorf("lap: %d×%d solve abandoned with %d of %d free rows augmented: %w", n, m, k, len(free), err)
			}
		}
		if st.sp != nil && st.stats.SparseScans > 512 && st.stats.Expansions > st.stats.SparseScans/2 {
			// The lists stopped paying: most visits read whole rows.
			st.sp = nil
		}
		if st.sp != nil {
			err = st.augmentSparse(f)
		} else {
			err = st.augment(f)
		}
		if err != nil {
			return nil, err
		}
	}
	ws.scanned, ws.dscan = st.scanned, st.dscan
	return st.result(), nil
}

// result copies the assignment and the duals out of the workspace.
func (st *state) result() *Result {
	n := st.n
	r := &Result{
		RowToCol: append([]int(nil), st.x...),
		RowDual:  make([]float64, n),
		ColDual:  append([]float64(nil), st.v...),
		Stats:    st.stats,
	}
	for i, j := range st.x {
		r.RowDual[i] = st.at(i, j) - st.v[j]
	}
	return r
}

// at is the cost c[i][j].
func (st *state) at(i, j int) float64 {
	if st.c32 != nil {
		return float64(st.c32[i*st.m+j])
	}
	return st.c64[i*st.m+j]
}

// row64 is row i as float64: the matrix itself, or a float32 row widened
// into a buffer that the next call reuses.
func (st *state) row64(i int) []float64 {
	if st.c32 == nil {
		return st.c64[i*st.m : (i+1)*st.m]
	}
	b := grow(&st.ws.rowbuf, st.m)
	for j, x := range st.c32[i*st.m : (i+1)*st.m] {
		b[j] = float64(x)
	}
	return b
}

// scan runs one Dijkstra step from row i, whose distance offset is off
// (distance to column j through i is (c[i][j] − v[j]) + off), and returns
// the unscanned column to scan next with its distance: the smallest
// distance, a free column preferred among equals (it ends the search), then
// the lowest index. The choice is the same on every kernel path.
func (st *state) scan(i int, off float64) (float64, int) {
	m := st.m
	mb := m &^ (asm.LapLanes - 1)
	bv, bj, fv, fj := inf, -1, inf, -1
	if mb > 0 {
		o := &st.mins
		if st.c32 != nil {
			asm.LapScanF32(st.path, st.c32[i*m:i*m+mb], st.v, st.d, st.y, st.pred, off, i, o)
		} else {
			asm.LapScan(st.path, st.c64[i*m:i*m+mb], st.v, st.d, st.y, st.pred, off, i, o)
		}
		for l := range o.Idx {
			if j := o.Idx[l]; j >= 0 && (o.Val[l] < bv || (o.Val[l] == bv && j < bj)) {
				bv, bj = o.Val[l], j
			}
			if j := o.Idx2[l]; j >= 0 && (o.Val2[l] < fv || (o.Val2[l] == fv && j < fj)) {
				fv, fj = o.Val2[l], j
			}
		}
	}
	d, v, y, pred := st.d, st.v, st.y, st.pred
	for j := mb; j < m; j++ {
		dj := d[j]
		if dj != dj {
			continue
		}
		if t := (st.at(i, j) - v[j]) + off; t < dj {
			d[j], pred[j], dj = t, i, t
		}
		if dj < bv {
			bv, bj = dj, j
		}
		if y[j] < 0 && dj < fv {
			fv, fj = dj, j
		}
	}
	if fj >= 0 && fv == bv {
		return fv, fj
	}
	return bv, bj
}

// min2 returns the smallest and second smallest reduced cost c[i][j] − v[j]
// of row i with their columns (lowest index first among ties); a column is
// -1 when the row has fewer allowed columns.
func (st *state) min2(i int) (u1 float64, j1 int, u2 float64, j2 int) {
	if st.sp != nil {
		return st.min2Sparse(i)
	}
	return st.min2Dense(i, &st.mins)
}

// min2Dense is min2 from a full pass over row i, with o as the kernel's
// scratch (one per goroutine).
func (st *state) min2Dense(i int, o *asm.LapMins) (u1 float64, j1 int, u2 float64, j2 int) {
	m := st.m
	mb := m &^ (asm.LapLanes - 1)
	u1, u2, j1, j2 = inf, inf, -1, -1
	add := func(x float64, j int) {
		if j < 0 {
			return
		}
		if x < u1 || (x == u1 && j < j1) {
			u2, j2 = u1, j1
			u1, j1 = x, j
		} else if x < u2 || (x == u2 && (j2 < 0 || j < j2)) {
			u2, j2 = x, j
		}
	}
	if mb > 0 {
		if st.c32 != nil {
			asm.LapMin2F32(st.path, st.c32[i*m:i*m+mb], st.v, o)
		} else {
			asm.LapMin2(st.path, st.c64[i*m:i*m+mb], st.v, o)
		}
		for l := range o.Idx {
			add(o.Val[l], o.Idx[l])
			add(o.Val2[l], o.Idx2[l])
		}
	}
	for j := mb; j < m; j++ {
		add(st.at(i, j)-st.v[j], j)
	}
	if math.IsInf(u1, 1) {
		j1 = -1
	}
	if math.IsInf(u2, 1) {
		j2 = -1
	}
	return
}

// columnReduction is the first phase of Jonker–Volgenant for square
// problems: v[j] = min_i c[i][j], each column tentatively assigned to its
// minimising row (a row keeps the column of smallest v). It returns the
// free rows; ws.count holds how many columns chose each row.
func (st *state) columnReduction() ([]int, error) {
	n, m, ws := st.n, st.m, st.ws
	// Column minima by streaming the rows through the scan kernel with
	// v = 0, off = 0 and every column "assigned" (its tie preference is
	// unused): d[j] = min_i c[i][j], pred[j] = the first minimising row.
	zeros := grow(&ws.zeros, m)
	zint := grow(&ws.zint, m)
	clear(zeros)
	clear(zint)
	sub := state{path: st.path, n: n, m: m, c64: st.c64, c32: st.c32, y: zint, v: zeros, d: st.d, pred: st.pred}
	for i := 0; i < n; i++ {
		sub.scan(i, 0)
	}
	count := grow(&ws.count, n)
	clear(count)
	for j := m - 1; j >= 0; j-- {
		if math.IsInf(st.d[j], 1) {
			return nil, fmt.Errorf("%w: column %d has only forbidden pairs and the problem is square", ErrInfeasible, j)
		}
		i := st.pred[j]
		st.v[j] = st.d[j]
		count[i]++
		if count[i] == 1 {
			st.x[i], st.y[j] = j, i
		} else if j1 := st.x[i]; st.v[j] < st.v[j1] {
			st.x[i], st.y[j], st.y[j1] = j, i, -1
		}
	}
	for j := range st.d {
		st.d[j] = inf
	}
	free := grow(&ws.free, n)[:0]
	for i := 0; i < n; i++ {
		if count[i] == 0 {
			free = append(free, i)
		}
	}
	return free, nil
}

// reductionTransfer lowers v on the column of each row that column
// reduction matched alone, by the row's second-smallest reduced cost, so the
// row's dual becomes that gap.
func (st *state) reductionTransfer() {
	for i, cnt := range st.ws.count[:st.n] {
		if cnt != 1 {
			continue
		}
		j := st.x[i]
		u1, j1, u2, _ := st.min2(i)
		mn := u1
		if j1 == j {
			mn = u2
		}
		if j1 >= 0 && !math.IsInf(mn, 0) {
			st.v[j] -= mn - (st.at(i, j) - st.v[j])
		}
	}
}

// augmentingRowReduction is one pass of the Jonker–Volgenant augmenting
// row reduction over the free rows: each takes its cheapest column,
// displacing its owner, and the column's dual drops by the gap to the
// row's second-cheapest column so the displaced row looks elsewhere. It
// returns the rows left free.
func (st *state) augmentingRowReduction(free []int) ([]int, error) {
	n := st.n
	prv, k, nf := len(free), 0, 0
	// Near-ties make the gaps tiny and the displacement chains long; past
	// this budget displaced rows wait for the augmentation phase instead.
	budget := 4*prv + n
	steps := 0
	for k < prv {
		i := free[k]
		k++
		steps++
		st.stats.RowReductions++
		u1, j1, u2, j2 := st.min2(i)
		if j1 < 0 {
			return nil, fmt.Errorf("%w: row %d has only forbidden pairs", ErrInfeasible, i)
		}
		i0 := st.y[j1]
		// A row with a single allowed column takes it and sends the
		// displaced row to the later list: there is no gap to lower v by.
		reprocess := j2 >= 0 && u1 < u2
		switch {
		case j2 < 0:
		case u1 < u2:
			st.v[j1] -= u2 - u1
		case i0 >= 0:
			j1, i0 = j2, st.y[j2]
		}
		if i0 >= 0 {
			st.x[i0] = -1
		}
		st.x[i], st.y[j1] = j1, i
		if i0 >= 0 {
			if reprocess && steps < budget {
				k--
				free[k] = i0
			} else {
				free[nf] = i0
				nf++
			}
		}
	}
	return free[:nf], nil
}

// augment assigns free row f by a shortest augmenting path in the reduced
// costs (Dijkstra over columns), then updates the duals of the scanned
// columns so every reduced cost stays ≥ 0.
func (st *state) augment(f int) error {
	sc, ds := st.scanned[:0], st.dscan[:0]
	i, off := f, 0.0
	var mu float64
	var j int
	for {
		mu, j = st.scan(i, off)
		st.stats.RowScans++
		if j < 0 || math.IsInf(mu, 1) {
			st.scanned, st.dscan = sc, ds
			st.resetD()
			return fmt.Errorf("%w: row %d cannot be assigned without displacing another row onto a forbidden pair", ErrInfeasible, f)
		}
		sc, ds = append(sc, j), append(ds, mu)
		st.d[j] = math.NaN()
		if st.y[j] < 0 {
			break
		}
		i = st.y[j]
		off = mu - (st.at(i, j) - st.v[j])
	}
	for k, c := range sc {
		st.v[c] += ds[k] - mu
	}
	for {
		i := st.pred[j]
		st.y[j] = i
		j, st.x[i] = st.x[i], j
		if i == f {
			break
		}
	}
	st.scanned, st.dscan = sc, ds
	st.resetD()
	return nil
}

func (st *state) resetD() {
	copy(st.d, st.ws.infs)
}
