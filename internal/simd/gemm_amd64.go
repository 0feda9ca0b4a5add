//go:build amd64 && !purego

package simd

// sgemmDotAVX512 holds the generated dot-product kernels by column count.
var sgemmDotAVX512 = [SgemmDotMaxCols + 1]func(k int, a []float32, lda int, bp []float32, out []float32){
	nil, sgemmDot2x1AVX512, sgemmDot2x2AVX512, sgemmDot2x3AVX512, sgemmDot2x4AVX512,
	sgemmDot2x5AVX512, sgemmDot2x6AVX512, sgemmDot2x7AVX512, sgemmDot2x8AVX512,
	sgemmDot2x9AVX512, sgemmDot2x10AVX512, sgemmDot2x11AVX512, sgemmDot2x12AVX512,
	sgemmDot1x13AVX512, sgemmDot1x14AVX512, sgemmDot1x15AVX512, sgemmDot1x16AVX512,
}

// SgemmDotAVX512 is SgemmDotGeneric computed with AVX-512 (see there for the
// reference loop and preconditions, which it checks before computing).
func SgemmDotAVX512(rows, cols, k int, a []float32, lda int, bp []float32, out []float32) {
	checkDot(rows, cols, k, a, lda, bp, out)
	sgemmDotAVX512[cols](k, a, lda, bp, out)
}
