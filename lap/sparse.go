package lap

import (
	"fmt"
	"math"
	"slices"

	"github.com/ltransfer/ltransfer/asm"
)

// The late augmentations of hard problems (near-ties: low-rank products,
// uniform random at large n) each visit most rows, yet measured on rank-10
// and uniform 2048² problems a visited row improves on average only about
// two column distances: the dense scan reads n costs to use two. The
// sparse search below keeps, per row, the K columns of smallest reduced
// cost c[i][j] − v[j] and a bound θ[i] ≤ c[i][j] − v[j] for every column
// outside the list. Scanning a row relaxes only its list and leaves a
// pending bound off + θ[i]; the row is read in full (and its list
// refreshed) only when the search reaches that bound. The result is the
// exact Dijkstra order: a column is settled only when no pending row could
// still lower its distance.
//
// The bounds stay valid for the rest of the solve because after column
// reduction (or the warm start) column duals only decrease: reduction
// transfer and row reduction lower v on one column at a time, and an
// augmentation adds d[j] − µ ≤ 0 on the columns it settled. So reduced
// costs outside a list only grow. The lists also serve the row reduction
// (min2Sparse) whenever their two smallest entries are within the bound.

// sparseK is the candidate-list length: measured CPU time with K = 8, 12,
// 16, 24 on rank-10, rank-40 and uniform 2048², 16 is within noise of the
// best everywhere (8 doubles the full-row expansions, 24 slows the visits).
const sparseK = 16

// sparseMinBytes: the lists pay once the matrix outgrows the caches and
// every dense row scan comes from far away. Measured (CPU time, this
// repository's 32 MiB-L3 Zen 4, float64, with the 128 list-based row
// reduction passes): dense scans win by 2–4× at 256², by 1.1–1.8× at
// 512²; at 1024² (8 MiB) the lists win by 1.05–1.45×, and by 1.6–2.7× at
// 2048².
const sparseMinBytes = 6 << 20

// useSparse reports whether a solve of n×m, elem bytes a cost, runs on
// candidate lists (from after column reduction on: reduction transfer, row
// reduction and the augmentations).
func (s *Solver) useSparse(n, m, elem int) bool {
	switch s.sparse {
	case sparseOn:
		return true
	case sparseOff:
		return false
	}
	return n*m*elem >= sparseMinBytes
}

const (
	sparseAuto = iota
	sparseOn
	sparseOff
)

type colItem struct {
	d    float64
	j    int32
	free bool
}

// colLess orders the column heap: distance, then free columns first (a
// free column ends the search).
func colLess(a, b colItem) bool {
	if a.d != b.d {
		return a.d < b.d
	}
	return a.free && !b.free
}

type rowItem struct {
	b   float64 // off + θ: no column outside the list is nearer through this row
	off float64
	i   int32
}

type sparseState struct {
	k           int
	cols        []int32   // n×k candidate columns, -1 padded
	costs       []float64 // n×k their costs c[i][j], so a visit reads no matrix row
	theta       []float64 // per row bound outside the list (+Inf: list holds every allowed column)
	lo          []float64 // per row smallest listed reduced cost when the list was built
	touchedMark []bool
	nans        []float64 // m × NaN: distances that make LapExpand only gather
	heap        []colItem
	pend        []rowItem
	touched     []int
	rowScratch  // the searches' scratch (and the first worker's)
}

// rowScratch is what one goroutine needs to refresh lists and find row
// minima; the row-parallel phases give each worker its own.
type rowScratch struct {
	mins  asm.LapMins
	imp   []int // LapExpand outputs (m + LapLanes)
	cand  []int
	pred  []int // LapExpand's pred when it only gathers (never written)
	small []float64
	topv  []float64
	topj  []int32
}

func (rs *rowScratch) grow(m, k int) {
	rs.imp = grow(&rs.imp, m+asm.LapLanes)
	rs.cand = grow(&rs.cand, m+asm.LapLanes)
	rs.pred = grow(&rs.pred, m)
	rs.topv = grow(&rs.topv, k)
	rs.topj = grow(&rs.topj, k)
}

// buildLists computes every row's candidate list under the current v and
// returns true, or returns false without lists when a sample of rows shows
// the lists would be degenerate: a list whose K entries all tie with the
// row minimum (integer costs with many ties) bounds nothing, and every
// visit would read the whole row anyway.
func (st *state) buildLists() bool {
	n, ws := st.n, st.ws
	k := min(sparseK, st.m)
	sp := &ws.sp
	sp.k = k
	sp.cols = grow(&sp.cols, n*k)
	sp.costs = grow(&sp.costs, n*k)
	sp.theta = grow(&sp.theta, n)
	sp.lo = grow(&sp.lo, n)
	sp.touchedMark = grow(&sp.touchedMark, st.m)
	sp.nans = grow(&sp.nans, st.m)
	for j := range sp.nans {
		sp.nans[j] = math.NaN()
	}
	clear(sp.touchedMark)
	sp.rowScratch.grow(st.m, k)
	const samples = 64
	if n >= 2*samples {
		degenerate := 0
		for q := 0; q < samples; q++ {
			i := q * n / samples
			st.refreshList(i, &sp.rowScratch)
			if sp.theta[i] == sp.lo[i] {
				degenerate++
			}
		}
		if degenerate > samples/4 {
			return false
		}
	}
	st.rows(func(lo, hi int, rs *rowScratch) {
		for i := lo; i < hi; i++ {
			st.refreshList(i, rs)
		}
	})
	st.sp = sp
	return true
}

// tieHeavy samples rows of the raw matrix: true when most have at most
// K/4 distinct values among their K smallest costs, the mark of integer
// costs with many ties. There the Jonker–Volgenant initialisation (column
// reduction, row reduction) only shuffles ties and the candidate lists are
// degenerate, so the solve runs plain dense shortest augmenting paths,
// whose preference for free columns among equals matches most rows in one
// scan. Measured (CPU time) on integers in [0,100): 1.1× faster at 1024²,
// 1.7× at 2048², 2× at 4096²; the same route is 3–8× slower on uniform or
// low-rank matrices, which the test never flags.
func (st *state) tieHeavy() bool {
	n, m := st.n, st.m
	k := min(sparseK, m)
	samples := min(64, n/8)
	if samples < 8 || m < 4*k {
		return false // too small for the initialisation to matter
	}
	vals := make([]float64, 0, k)
	ties := 0
	for q := 0; q < samples; q++ {
		vals = vals[:0]
		worst, wpos := math.Inf(-1), 0
		for _, x := range st.row64(q * n / samples) {
			if len(vals) < k {
				vals = append(vals, x)
				if x > worst {
					worst, wpos = x, len(vals)-1
				}
				continue
			}
			if x < worst {
				vals[wpos] = x
				worst, wpos = vals[0], 0
				for p := 1; p < k; p++ {
					if vals[p] > worst {
						worst, wpos = vals[p], p
					}
				}
			}
		}
		slices.Sort(vals)
		distinct := 1
		for p := 1; p < len(vals); p++ {
			if vals[p] != vals[p-1] {
				distinct++
			}
		}
		if distinct <= k/4 {
			ties++
		}
	}
	return ties > samples/2
}

// refreshList recomputes row i's k smallest reduced costs and the bound
// (the largest of them: every other column is at least that), in two
// vector passes instead of a scalar selection over the row: asm.LapMin2's
// 32 per-lane minima give tau0, the k-th smallest of a subset and so at
// least the row's k-th smallest; asm.LapExpand then gathers every column
// with reduced cost ≤ tau0 (relaxing nothing: its distances are NaN), and
// the k smallest of those few are the list.
func (st *state) refreshList(i int, rs *rowScratch) {
	sp := &st.ws.sp
	k, m := sp.k, st.m
	mb := m &^ (asm.LapLanes - 1)
	small := rs.small[:0]
	if mb > 0 {
		o := &rs.mins
		if st.c32 != nil {
			asm.LapMin2F32(st.path, st.c32[i*m:i*m+mb], st.v, o)
		} else {
			asm.LapMin2(st.path, st.c64[i*m:i*m+mb], st.v, o)
		}
		for l := range o.Idx {
			if o.Idx[l] >= 0 {
				small = append(small, o.Val[l])
			}
			if o.Idx2[l] >= 0 {
				small = append(small, o.Val2[l])
			}
		}
	}
	for j := mb; j < m; j++ {
		if x := st.at(i, j) - st.v[j]; !math.IsInf(x, 1) {
			small = append(small, x)
		}
	}
	tau := inf
	if len(small) >= k {
		slices.Sort(small)
		tau = math.Nextafter(small[k-1], inf)
	}
	rs.small = small
	cand := rs.cand
	nc := 0
	if mb > 0 {
		if st.c32 != nil {
			_, nc = asm.LapExpandF32(st.path, st.c32[i*m:i*m+mb], st.v, sp.nans, rs.pred, 0, 0, tau, rs.imp, cand)
		} else {
			_, nc = asm.LapExpand(st.path, st.c64[i*m:i*m+mb], st.v, sp.nans, rs.pred, 0, 0, tau, rs.imp, cand)
		}
	}
	for j := mb; j < m; j++ {
		if x := st.at(i, j) - st.v[j]; x < tau {
			cand[nc] = j
			nc++
		}
	}
	cnt, worst := st.selectK(i, cand[:nc], rs)
	st.storeList(i, cnt, worst, rs)
}

// selectK gathers in sp.topv, sp.topj the k smallest reduced costs of row i
// among the columns cand, and returns how many it kept and the largest.
func (st *state) selectK(i int, cand []int, rs *rowScratch) (int, float64) {
	k := st.ws.sp.k
	vals, idx := rs.topv, rs.topj
	cnt := 0
	worst, wpos := math.Inf(-1), 0
	for _, j := range cand {
		x := st.at(i, j) - st.v[j]
		if cnt < k {
			vals[cnt], idx[cnt] = x, int32(j)
			if x > worst {
				worst, wpos = x, cnt
			}
			cnt++
			continue
		}
		if x < worst {
			vals[wpos], idx[wpos] = x, int32(j)
			worst, wpos = vals[0], 0
			for q := 1; q < k; q++ {
				if vals[q] > worst {
					worst, wpos = vals[q], q
				}
			}
		}
	}
	return cnt, worst
}

// storeList saves the cnt candidates gathered in sp.topj as row i's list,
// with bound worst (their largest reduced cost) when the list is full.
func (st *state) storeList(i, cnt int, worst float64, rs *rowScratch) {
	sp := &st.ws.sp
	k := sp.k
	out, oc := sp.cols[i*k:(i+1)*k], sp.costs[i*k:(i+1)*k]
	copy(out, rs.topj[:cnt])
	lo := inf
	for q := 0; q < cnt; q++ {
		oc[q] = st.at(i, int(out[q]))
		lo = math.Min(lo, rs.topv[q])
	}
	sp.lo[i] = lo
	for q := cnt; q < k; q++ {
		out[q] = -1
	}
	if cnt < k || k == st.m {
		sp.theta[i] = inf // every allowed column is listed
	} else {
		sp.theta[i] = worst
	}
}

func (sp *sparseState) pushCol(it colItem) {
	h := append(sp.heap, it)
	q := len(h) - 1
	for q > 0 {
		p := (q - 1) / 2
		if !colLess(h[q], h[p]) {
			break
		}
		h[q], h[p] = h[p], h[q]
		q = p
	}
	sp.heap = h
}

func (sp *sparseState) popCol() {
	h := sp.heap
	last := len(h) - 1
	h[0] = h[last]
	h = h[:last]
	q := 0
	for {
		l := 2*q + 1
		if l >= len(h) {
			break
		}
		s := l
		if r := l + 1; r < len(h) && colLess(h[r], h[l]) {
			s = r
		}
		if !colLess(h[s], h[q]) {
			break
		}
		h[q], h[s] = h[s], h[q]
		q = s
	}
	sp.heap = h
}

func (sp *sparseState) pushRow(it rowItem) {
	h := append(sp.pend, it)
	q := len(h) - 1
	for q > 0 {
		p := (q - 1) / 2
		if !(h[q].b < h[p].b) {
			break
		}
		h[q], h[p] = h[p], h[q]
		q = p
	}
	sp.pend = h
}

func (sp *sparseState) popRow() {
	h := sp.pend
	last := len(h) - 1
	h[0] = h[last]
	h = h[:last]
	q := 0
	for {
		l := 2*q + 1
		if l >= len(h) {
			break
		}
		s := l
		if r := l + 1; r < len(h) && h[r].b < h[l].b {
			s = r
		}
		if !(h[s].b < h[q].b) {
			break
		}
		h[q], h[s] = h[s], h[q]
		q = s
	}
	sp.pend = h
}

// relax lowers d[j] through row i, whose cost there is cij, at offset off,
// as the dense scan does.
func (st *state) relax(i, j int, cij, off float64) {
	dj := st.d[j]
	if dj != dj {
		return
	}
	if t := (cij - st.v[j]) + off; t < dj {
		st.touch(j)
		st.d[j], st.pred[j] = t, i
		st.sp.pushCol(colItem{d: t, j: int32(j), free: st.y[j] < 0})
	}
}

// scanSparse relaxes row i's candidate list and leaves its bound pending.
func (st *state) scanSparse(i int, off float64) {
	sp := st.sp
	costs := sp.costs[i*sp.k : (i+1)*sp.k]
	for q, j := range sp.cols[i*sp.k : (i+1)*sp.k] {
		if j < 0 {
			break
		}
		st.relax(i, int(j), costs[q], off)
	}
	if th := sp.theta[i]; !math.IsInf(th, 1) {
		sp.pushRow(rowItem{b: off + th, off: off, i: int32(i)})
	}
	st.stats.SparseScans++
}

// expand relaxes every column through pending row i (asm.LapExpand) and
// rebuilds its candidate list from the columns whose reduced cost is below
// tau = θ + 3(θ − lo), four times the old list's spread (measured on
// rank-10 4096²: 36% fewer expansions than twice the spread, and no
// slower; larger tau only costs time). Any tau gives a valid list: with
// fewer than K candidates the bound becomes tau itself.
func (st *state) expand(i int, off float64) {
	sp := st.sp
	m := st.m
	th, lo := sp.theta[i], sp.lo[i]
	tau := th + 3*(th-lo)
	if !(tau > th) { // no spread (ties) or overflow: take the next value up
		tau = math.Nextafter(th, inf)
	}
	mb := m &^ (asm.LapLanes - 1)
	imp, cand := sp.imp, sp.cand
	ni, nc := 0, 0
	if mb > 0 {
		if st.c32 != nil {
			ni, nc = asm.LapExpandF32(st.path, st.c32[i*m:i*m+mb], st.v, st.d, st.pred, off, i, tau, imp, cand)
		} else {
			ni, nc = asm.LapExpand(st.path, st.c64[i*m:i*m+mb], st.v, st.d, st.pred, off, i, tau, imp, cand)
		}
	}
	for j := mb; j < m; j++ {
		x := st.at(i, j) - st.v[j]
		if t := x + off; t < st.d[j] {
			st.d[j], st.pred[j] = t, i
			imp[ni] = j
			ni++
		}
		if x < tau {
			cand[nc] = j
			nc++
		}
	}
	for _, j := range imp[:ni] {
		st.touch(j)
		sp.pushCol(colItem{d: st.d[j], j: int32(j), free: st.y[j] < 0})
	}
	// The K smallest candidates become the list.
	k := sp.k
	cnt, worst := st.selectK(i, cand[:nc], &sp.rowScratch)
	if cnt < k {
		st.storeList(i, cnt, tau, &sp.rowScratch)
		if !math.IsInf(tau, 1) {
			sp.theta[i] = tau
		}
	} else {
		st.storeList(i, cnt, worst, &sp.rowScratch)
	}
	st.stats.Expansions++
}

// touch records that d[j] left +Inf, so it is reset after the search.
func (st *state) touch(j int) {
	if !st.sp.touchedMark[j] {
		st.sp.touchedMark[j] = true
		st.sp.touched = append(st.sp.touched, j)
	}
}

// augmentSparse is augment with the sparse search.
func (st *state) augmentSparse(f int) error {
	sp := st.sp
	sp.heap, sp.pend, sp.touched = sp.heap[:0], sp.pend[:0], sp.touched[:0]
	sc, ds := st.scanned[:0], st.dscan[:0]
	st.scanSparse(f, 0)
	var mu float64
	var j int
	for {
		// Drop stale heap entries (improved since, or settled).
		for len(sp.heap) > 0 && st.d[sp.heap[0].j] != sp.heap[0].d {
			sp.popCol()
		}
		if len(sp.pend) > 0 && (len(sp.heap) == 0 || sp.pend[0].b <= sp.heap[0].d) {
			it := sp.pend[0]
			sp.popRow()
			st.expand(int(it.i), it.off)
			continue
		}
		if len(sp.heap) == 0 {
			st.resetTouched()
			return fmt.Errorf("%w: row %d cannot be assigned without displacing another row onto a forbidden pair", ErrInfeasible, f)
		}
		top := sp.heap[0]
		sp.popCol()
		mu, j = top.d, int(top.j)
		sc, ds = append(sc, j), append(ds, mu)
		st.d[j] = math.NaN()
		if st.y[j] < 0 {
			break
		}
		i := st.y[j]
		st.scanSparse(i, mu-(st.at(i, j)-st.v[j]))
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
	st.resetTouched()
	return nil
}

func (st *state) resetTouched() {
	for _, j := range st.sp.touched {
		st.d[j] = inf
		st.sp.touchedMark[j] = false
	}
	st.sp.touched = st.sp.touched[:0]
}

// min2Sparse is min2 from row i's candidate list when the list decides it
// (both values at most the bound), else from a full pass that refreshes
// the list.
func (st *state) min2Sparse(i int) (u1 float64, j1 int, u2 float64, j2 int) {
	u1, j1, u2, j2, ok := st.min2List(i)
	if ok {
		return
	}
	st.refreshList(i, &st.sp.rowScratch)
	st.stats.ListRefreshes++
	u1, j1, u2, j2, _ = st.min2List(i)
	return
}

func (st *state) min2List(i int) (u1 float64, j1 int, u2 float64, j2 int, ok bool) {
	sp := st.sp
	k := sp.k
	u1, u2, j1, j2 = inf, inf, -1, -1
	costs := sp.costs[i*k : (i+1)*k]
	for q, jj := range sp.cols[i*k : (i+1)*k] {
		if jj < 0 {
			break
		}
		j := int(jj)
		x := costs[q] - st.v[j]
		if x < u1 || (x == u1 && j < j1) {
			u2, j2 = u1, j1
			u1, j1 = x, j
		} else if x < u2 || (x == u2 && (j2 < 0 || j < j2)) {
			u2, j2 = x, j
		}
	}
	th := sp.theta[i]
	if math.IsInf(u2, 1) {
		j2 = -1
	}
	return u1, j1, u2, j2, u2 <= th || math.IsInf(th, 1)
}
