package simd

import "math"

// The O(m) column scans of the linear assignment solver (package lap). Each
// kernel keeps LapLanes independent running minima, lane l seeing the
// columns j ≡ l (mod LapLanes) in increasing order; package lap merges the
// lanes and handles the columns past the last whole block in Go. Because
// every lane's answer is defined exactly (no reassociation: the arithmetic
// is the same two roundings in every path), the AVX2 and AVX-512 kernels
// agree with their twins bit for bit.

// LapLanes is the number of lanes the LAP kernels report, and the block
// size their lengths must be a multiple of.
const LapLanes = 16

func resetMins(val *[LapLanes]float64, idx *[LapLanes]int, val2 *[LapLanes]float64, idx2 *[LapLanes]int) {
	for l := range val {
		val[l], idx[l], val2[l], idx2[l] = math.Inf(1), -1, math.Inf(1), -1
	}
}

// LapScanGeneric is one row of the Dijkstra step of a shortest augmenting
// path search, fused with the search for the next column to scan. With
// n = len(c), a multiple of LapLanes, and len(v), len(d), len(y),
// len(pred) ≥ n, for j < n in increasing order, lane l = j mod LapLanes,
// starting from Val[l] = Val2[l] = +Inf and Idx[l] = Idx2[l] = -1:
//
//	dj := d[j]
//	if dj is NaN { continue }          // column already scanned
//	t := (c[j] - v[j]) + off
//	if t < dj { d[j], pred[j], dj = t, row, t }
//	if dj < val[l] { val[l], idx[l] = dj, j }
//	if y[j] < 0 && dj < val2[l] { val2[l], idx2[l] = dj, j }
//
// So lane l holds its first smallest distance over the unscanned columns
// (Val, Idx) and over the unscanned free columns, y < 0 (Val2, Idx2).
func LapScanGeneric(c, v, d []float64, y, pred []int, off float64, row int, val *[LapLanes]float64, idx *[LapLanes]int, val2 *[LapLanes]float64, idx2 *[LapLanes]int) {
	lapScan(c, v, d, y, pred, off, row, val, idx, val2, idx2)
}

// LapScanF32Generic is LapScanGeneric with float32 costs, widened exactly.
func LapScanF32Generic(c []float32, v, d []float64, y, pred []int, off float64, row int, val *[LapLanes]float64, idx *[LapLanes]int, val2 *[LapLanes]float64, idx2 *[LapLanes]int) {
	lapScan(c, v, d, y, pred, off, row, val, idx, val2, idx2)
}

func lapScan[T float32 | float64](c []T, v, d []float64, y, pred []int, off float64, row int, val *[LapLanes]float64, idx *[LapLanes]int, val2 *[LapLanes]float64, idx2 *[LapLanes]int) {
	n := len(c)
	v, d, y, pred = v[:n], d[:n], y[:n], pred[:n]
	resetMins(val, idx, val2, idx2)
	for j0 := 0; j0 < n; j0 += LapLanes {
		for l := 0; l < LapLanes; l++ {
			j := j0 + l
			dj := d[j]
			if dj != dj {
				continue
			}
			t := (float64(c[j]) - v[j]) + off
			if t < dj {
				d[j], pred[j], dj = t, row, t
			}
			if dj < val[l] {
				val[l], idx[l] = dj, j
			}
			if y[j] < 0 && dj < val2[l] {
				val2[l], idx2[l] = dj, j
			}
		}
	}
}

// LapMin2Generic finds, per lane, the two smallest reduced costs
// c[j] − v[j] of a row, for the augmenting row reduction. With n = len(c), a
// multiple of LapLanes, and len(v) ≥ n, for j < n in increasing order, lane
// l = j mod LapLanes, starting from Val[l] = Val2[l] = +Inf and
// Idx[l] = Idx2[l] = -1:
//
//	r := c[j] - v[j]
//	if r < val[l] {
//		val2[l], idx2[l] = val[l], idx[l]
//		val[l], idx[l] = r, j
//	} else if r < val2[l] {
//		val2[l], idx2[l] = r, j
//	}
//
// So each lane holds its two lexicographic minima of (r, j). c and v must
// hold no NaN.
func LapMin2Generic(c, v []float64, val *[LapLanes]float64, idx *[LapLanes]int, val2 *[LapLanes]float64, idx2 *[LapLanes]int) {
	lapMin2(c, v, val, idx, val2, idx2)
}

// LapMin2F32Generic is LapMin2Generic with float32 costs, widened exactly.
func LapMin2F32Generic(c []float32, v []float64, val *[LapLanes]float64, idx *[LapLanes]int, val2 *[LapLanes]float64, idx2 *[LapLanes]int) {
	lapMin2(c, v, val, idx, val2, idx2)
}

func lapMin2[T float32 | float64](c []T, v []float64, val *[LapLanes]float64, idx *[LapLanes]int, val2 *[LapLanes]float64, idx2 *[LapLanes]int) {
	n := len(c)
	v = v[:n]
	resetMins(val, idx, val2, idx2)
	for j0 := 0; j0 < n; j0 += LapLanes {
		for l := 0; l < LapLanes; l++ {
			j := j0 + l
			r := float64(c[j]) - v[j]
			if r < val[l] {
				val2[l], idx2[l] = val[l], idx[l]
				val[l], idx[l] = r, j
			} else if r < val2[l] {
				val2[l], idx2[l] = r, j
			}
		}
	}
}

// LapExpandGeneric reads a whole row for the sparse search of package lap:
// it relaxes every column through the row and gathers the columns whose
// reduced cost is below tau, to rebuild the row's candidate list. With
// n = len(c), a multiple of LapLanes, len(v), len(d), len(pred) ≥ n and
// len(improved), len(cand) ≥ n + LapLanes, for j < n in increasing order:
//
//	r := c[j] - v[j]
//	if t := r + off; t < d[j] {       // false for a scanned (NaN) column
//		d[j], pred[j] = t, row
//		improved[ni], ni = j, ni+1
//	}
//	if r < tau { cand[nc], nc = j, nc+1 }
//
// It returns ni and nc; entries of improved and cand past them are
// unspecified (the vector kernels store whole vectors).
func LapExpandGeneric(c, v, d []float64, pred []int, off float64, row int, tau float64, improved, cand []int) (ni, nc int) {
	return lapExpand(c, v, d, pred, off, row, tau, improved, cand)
}

// LapExpandF32Generic is LapExpandGeneric with float32 costs, widened
// exactly.
func LapExpandF32Generic(c []float32, v, d []float64, pred []int, off float64, row int, tau float64, improved, cand []int) (ni, nc int) {
	return lapExpand(c, v, d, pred, off, row, tau, improved, cand)
}

func lapExpand[T float32 | float64](c []T, v, d []float64, pred []int, off float64, row int, tau float64, improved, cand []int) (ni, nc int) {
	n := len(c)
	v, d, pred = v[:n], d[:n], pred[:n]
	for j, cj := range c {
		r := float64(cj) - v[j]
		if t := r + off; t < d[j] {
			d[j], pred[j] = t, row
			improved[ni] = j
			ni++
		}
		if r < tau {
			cand[nc] = j
			nc++
		}
	}
	return ni, nc
}

// LapCheckGeneric finds the first entry that is not a finite number of
// magnitude at most limit, for validating a cost matrix at memory speed:
// with n = len(x), a multiple of LapLanes, it returns the smallest j < n
// with !(|x[j]| <= limit) (NaN, ±Inf or too large), or n if none.
func LapCheckGeneric(x []float64, limit float64) int { return lapCheck(x, limit) }

// LapCheckF32Generic is LapCheckGeneric for float32 entries.
func LapCheckF32Generic(x []float32, limit float64) int { return lapCheck(x, limit) }

func lapCheck[T float32 | float64](x []T, limit float64) int {
	for j, xj := range x {
		if !(math.Abs(float64(xj)) <= limit) {
			return j
		}
	}
	return len(x)
}
