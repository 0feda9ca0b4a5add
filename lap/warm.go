package lap

import (
	"fmt"
	"math"

	"github.com/ltransfer/ltransfer/asm"
)

// warmStart installs the caller's starting duals and assignment and returns
// the free rows. The solver's invariant is that every assigned row sits on
// a minimum of its reduced costs c[i][j] − v[j] (its dual is then that
// minimum); a warm pair that breaks it is dropped and its row augmented
// later. For n < m the duals of the columns left free must also be equal
// and at least every other v (the certificate of a rectangular problem), so
// v is clamped to the smallest free-column dual first, which only makes
// reduced costs larger.
func (st *state) warmStart(rowToCol []int, colDual []float64) ([]int, error) {
	n, m := st.n, st.m
	if rowToCol != nil && len(rowToCol) != n {
		return nil, fmt.Errorf("lap: Options.RowToCol has %d entries, want n = %d", len(rowToCol), n)
	}
	if colDual != nil {
		if len(colDual) != m {
			return nil, fmt.Errorf("lap: Options.ColDual has %d entries, want m = %d", len(colDual), m)
		}
		limit := math.MaxFloat64 / (8 * float64(m+1))
		for j, x := range colDual {
			if !(x >= -limit && x <= limit) {
				return nil, fmt.Errorf("lap: Options.ColDual[%d] = %g, want a finite value of magnitude ≤ %.3g", j, x, limit)
			}
		}
		copy(st.v, colDual)
	}
	for i, j := range rowToCol {
		switch {
		case j == -1:
			continue
		case j < -1 || j >= m:
			return nil, fmt.Errorf("lap: Options.RowToCol[%d] = %d, want -1 or a column in [0, %d)", i, j, m)
		case st.y[j] >= 0:
			return nil, fmt.Errorf("lap: Options.RowToCol assigns column %d to rows %d and %d", j, st.y[j], i)
		}
		if math.IsInf(st.at(i, j), 1) {
			continue // forbidden in this matrix
		}
		st.x[i], st.y[j] = j, i
	}
	// Keep the pairs that are row minima of the reduced costs.
	// Row i writes only x[i] and y[x[i]] (distinct columns), so rows
	// are checked in parallel.
	keepTight := func(i int, o *asm.LapMins) {
		j := st.x[i]
		if j < 0 {
			return
		}
		if u1, j1, _, _ := st.min2Dense(i, o); j1 < 0 || st.at(i, j)-st.v[j] > u1 {
			st.x[i], st.y[j] = -1, -1
		}
	}
	st.rows(func(lo, hi int, rs *rowScratch) {
		for i := lo; i < hi; i++ {
			keepTight(i, &rs.mins)
		}
	})
	if n < m {
		f := math.Inf(1)
		for j, i := range st.y {
			if i < 0 {
				f = math.Min(f, st.v[j])
			}
		}
		var clamped []int
		for j := range st.v {
			if st.v[j] > f {
				st.v[j] = f
				if i := st.y[j]; i >= 0 {
					clamped = append(clamped, i)
				}
			}
		}
		for _, i := range clamped {
			keepTight(i, &st.mins)
		}
		for j := range st.v {
			st.v[j] -= f
		}
	}
	free := grow(&st.ws.free, n)[:0]
	for i, j := range st.x {
		if j < 0 {
			free = append(free, i)
		} else {
			st.stats.WarmKept++
		}
	}
	return free, nil
}
