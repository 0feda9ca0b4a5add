package asm

import "github.com/ltransfer/ltransfer/internal/simd"

// The O(m) column scans of the linear assignment solver (package lap),
// checked and dispatched by path. Each kernel keeps LapLanes independent
// running minima, lane l seeing the columns j ≡ l (mod LapLanes) in
// increasing order; package lap merges the lanes and handles the columns
// past the last whole block in Go. The reference loops are the pure-Go
// twins in internal/simd (LapScanGeneric, …), repeated in each function's
// doc; every path agrees with them bit for bit.

// LapLanes is the number of lanes the LAP kernels report, and the block
// size their lengths must be a multiple of.
const LapLanes = 16

// LapLanes must be the kernels' lane count (a compile error otherwise).
var _ = [1]struct{}{}[LapLanes-simd.LapLanes]

// LapMins is the per-lane output of the LAP kernels: two running minima
// with their column indices (-1 when a lane saw no candidate).
type LapMins struct {
	Val  [LapLanes]float64
	Idx  [LapLanes]int
	Val2 [LapLanes]float64
	Idx2 [LapLanes]int
}

// LapExpand runs the LapExpand kernel of path p (see LapExpandGeneric). It
// panics if the lengths break the preconditions, before anything is
// written.
func LapExpand(p Path, c, v, d []float64, pred []int, off float64, row int, tau float64, improved, cand []int) (ni, nc int) {
	checkPath("LapExpand", p)
	n := len(c)
	if n%simd.LapLanes != 0 || len(v) < n || len(d) < n || len(pred) < n || len(improved) < n+simd.LapLanes || len(cand) < n+simd.LapLanes {
		panic("asm: LapExpand: len(c) must be a multiple of 16, no longer than v, d, pred, and 16 shorter than improved, cand")
	}
	switch p {
	case AVX512:
		return simd.LapExpandAVX512(c, v, d, pred, off, row, tau, improved, cand)
	case AVX2:
		return simd.LapExpandAVX2(c, v, d, pred, off, row, tau, improved, cand)
	}
	return simd.LapExpandGeneric(c, v, d, pred, off, row, tau, improved, cand)
}

// LapCheck runs the LapCheck kernel of path p (see LapCheckGeneric). It
// panics if len(x) is not a multiple of simd.LapLanes.
func LapCheck(p Path, x []float64, limit float64) int {
	checkPath("LapCheck", p)
	if len(x)%simd.LapLanes != 0 {
		panic("asm: LapCheck: len(x) must be a multiple of 16")
	}
	switch p {
	case AVX512:
		return simd.LapCheckAVX512(x, limit)
	case AVX2:
		return simd.LapCheckAVX2(x, limit)
	}
	return simd.LapCheckGeneric(x, limit)
}

// LapScan runs the LapScan kernel of path p (see LapScanGeneric). It panics
// if the lengths break the preconditions, before anything is written.
func LapScan(p Path, c, v, d []float64, y, pred []int, off float64, row int, out *LapMins) {
	checkPath("LapScan", p)
	n := len(c)
	if n%simd.LapLanes != 0 || len(v) < n || len(d) < n || len(y) < n || len(pred) < n {
		panic("asm: LapScan: len(c) must be a multiple of 16 and no longer than v, d, y, pred")
	}
	switch p {
	case AVX512:
		simd.LapScanAVX512(c, v, d, y, pred, off, row, &out.Val, &out.Idx, &out.Val2, &out.Idx2)
	case AVX2:
		simd.LapScanAVX2(c, v, d, y, pred, off, row, &out.Val, &out.Idx, &out.Val2, &out.Idx2)
	default:
		simd.LapScanGeneric(c, v, d, y, pred, off, row, &out.Val, &out.Idx, &out.Val2, &out.Idx2)
	}
}

// LapMin2 runs the LapMin2 kernel of path p (see LapMin2Generic). It panics
// if the lengths break the preconditions, before anything is written.
func LapMin2(p Path, c, v []float64, out *LapMins) {
	checkPath("LapMin2", p)
	n := len(c)
	if n%simd.LapLanes != 0 || len(v) < n {
		panic("asm: LapMin2: len(c) must be a multiple of 16 and no longer than v")
	}
	switch p {
	case AVX512:
		simd.LapMin2AVX512(c, v, &out.Val, &out.Idx, &out.Val2, &out.Idx2)
	case AVX2:
		simd.LapMin2AVX2(c, v, &out.Val, &out.Idx, &out.Val2, &out.Idx2)
	default:
		simd.LapMin2Generic(c, v, &out.Val, &out.Idx, &out.Val2, &out.Idx2)
	}
}

// LapExpandF32 runs the LapExpandF32 kernel of path p (see LapExpandF32Generic). It
// panics if the lengths break the preconditions, before anything is
// written.
func LapExpandF32(p Path, c []float32, v, d []float64, pred []int, off float64, row int, tau float64, improved, cand []int) (ni, nc int) {
	checkPath("LapExpandF32", p)
	n := len(c)
	if n%simd.LapLanes != 0 || len(v) < n || len(d) < n || len(pred) < n || len(improved) < n+simd.LapLanes || len(cand) < n+simd.LapLanes {
		panic("asm: LapExpandF32: len(c) must be a multiple of 16, no longer than v, d, pred, and 16 shorter than improved, cand")
	}
	switch p {
	case AVX512:
		return simd.LapExpandF32AVX512(c, v, d, pred, off, row, tau, improved, cand)
	case AVX2:
		return simd.LapExpandF32AVX2(c, v, d, pred, off, row, tau, improved, cand)
	}
	return simd.LapExpandF32Generic(c, v, d, pred, off, row, tau, improved, cand)
}

// LapCheckF32 runs the LapCheckF32 kernel of path p (see LapCheckF32Generic). It
// panics if len(x) is not a multiple of simd.LapLanes.
func LapCheckF32(p Path, x []float32, limit float64) int {
	checkPath("LapCheckF32", p)
	if len(x)%simd.LapLanes != 0 {
		panic("asm: LapCheckF32: len(x) must be a multiple of 16")
	}
	switch p {
	case AVX512:
		return simd.LapCheckF32AVX512(x, limit)
	case AVX2:
		return simd.LapCheckF32AVX2(x, limit)
	}
	return simd.LapCheckF32Generic(x, limit)
}

// LapScanF32 runs the LapScanF32 kernel of path p (see LapScanF32Generic). It panics
// if the lengths break the preconditions, before anything is written.
func LapScanF32(p Path, c []float32, v, d []float64, y, pred []int, off float64, row int, out *LapMins) {
	checkPath("LapScanF32", p)
	n := len(c)
	if n%simd.LapLanes != 0 || len(v) < n || len(d) < n || len(y) < n || len(pred) < n {
		panic("asm: LapScanF32: len(c) must be a multiple of 16 and no longer than v, d, y, pred")
	}
	switch p {
	case AVX512:
		simd.LapScanF32AVX512(c, v, d, y, pred, off, row, &out.Val, &out.Idx, &out.Val2, &out.Idx2)
	case AVX2:
		simd.LapScanF32AVX2(c, v, d, y, pred, off, row, &out.Val, &out.Idx, &out.Val2, &out.Idx2)
	default:
		simd.LapScanF32Generic(c, v, d, y, pred, off, row, &out.Val, &out.Idx, &out.Val2, &out.Idx2)
	}
}

// LapMin2F32 runs the LapMin2F32 kernel of path p (see LapMin2F32Generic). It panics
// if the lengths break the preconditions, before anything is written.
func LapMin2F32(p Path, c []float32, v []float64, out *LapMins) {
	checkPath("LapMin2F32", p)
	n := len(c)
	if n%simd.LapLanes != 0 || len(v) < n {
		panic("asm: LapMin2F32: len(c) must be a multiple of 16 and no longer than v")
	}
	switch p {
	case AVX512:
		simd.LapMin2F32AVX512(c, v, &out.Val, &out.Idx, &out.Val2, &out.Idx2)
	case AVX2:
		simd.LapMin2F32AVX2(c, v, &out.Val, &out.Idx, &out.Val2, &out.Idx2)
	default:
		simd.LapMin2F32Generic(c, v, &out.Val, &out.Idx, &out.Val2, &out.Idx2)
	}
}
