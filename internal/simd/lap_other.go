//go:build !amd64 || purego

package simd

// Without assembly the AVX2 and AVX-512 LAP entry points fall back to the
// twins; asm.Supported reports false for those paths, so they are never selected.

func LapScanAVX2(c, v, d []float64, y, pred []int, off float64, row int, val *[16]float64, idx *[16]int, val2 *[16]float64, idx2 *[16]int) {
	LapScanGeneric(c, v, d, y, pred, off, row, val, idx, val2, idx2)
}

func LapScanAVX512(c, v, d []float64, y, pred []int, off float64, row int, val *[16]float64, idx *[16]int, val2 *[16]float64, idx2 *[16]int) {
	LapScanGeneric(c, v, d, y, pred, off, row, val, idx, val2, idx2)
}

func LapMin2AVX2(c, v []float64, val *[16]float64, idx *[16]int, val2 *[16]float64, idx2 *[16]int) {
	LapMin2Generic(c, v, val, idx, val2, idx2)
}

func LapMin2AVX512(c, v []float64, val *[16]float64, idx *[16]int, val2 *[16]float64, idx2 *[16]int) {
	LapMin2Generic(c, v, val, idx, val2, idx2)
}

func LapExpandAVX2(c, v, d []float64, pred []int, off float64, row int, tau float64, improved, cand []int) (ni, nc int) {
	return LapExpandGeneric(c, v, d, pred, off, row, tau, improved, cand)
}

func LapExpandAVX512(c, v, d []float64, pred []int, off float64, row int, tau float64, improved, cand []int) (ni, nc int) {
	return LapExpandGeneric(c, v, d, pred, off, row, tau, improved, cand)
}

func LapCheckAVX2(x []float64, limit float64) int   { return LapCheckGeneric(x, limit) }
func LapCheckAVX512(x []float64, limit float64) int { return LapCheckGeneric(x, limit) }

func LapScanF32AVX2(c []float32, v, d []float64, y, pred []int, off float64, row int, val *[16]float64, idx *[16]int, val2 *[16]float64, idx2 *[16]int) {
	LapScanF32Generic(c, v, d, y, pred, off, row, val, idx, val2, idx2)
}

func LapScanF32AVX512(c []float32, v, d []float64, y, pred []int, off float64, row int, val *[16]float64, idx *[16]int, val2 *[16]float64, idx2 *[16]int) {
	LapScanF32Generic(c, v, d, y, pred, off, row, val, idx, val2, idx2)
}

func LapMin2F32AVX2(c []float32, v []float64, val *[16]float64, idx *[16]int, val2 *[16]float64, idx2 *[16]int) {
	LapMin2F32Generic(c, v, val, idx, val2, idx2)
}

func LapMin2F32AVX512(c []float32, v []float64, val *[16]float64, idx *[16]int, val2 *[16]float64, idx2 *[16]int) {
	LapMin2F32Generic(c, v, val, idx, val2, idx2)
}

func LapExpandF32AVX2(c []float32, v, d []float64, pred []int, off float64, row int, tau float64, improved, cand []int) (ni, nc int) {
	return LapExpandF32Generic(c, v, d, pred, off, row, tau, improved, cand)
}

func LapExpandF32AVX512(c []float32, v, d []float64, pred []int, off float64, row int, tau float64, improved, cand []int) (ni, nc int) {
	return LapExpandF32Generic(c, v, d, pred, off, row, tau, improved, cand)
}

func LapCheckF32AVX2(x []float32, limit float64) int   { return LapCheckF32Generic(x, limit) }
func LapCheckF32AVX512(x []float32, limit float64) int { return LapCheckF32Generic(x, limit) }
