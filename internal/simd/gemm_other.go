//go:build !amd64 || purego

package simd

// SgemmKernel12x32AVX512 forwards to its twin where there is no assembly
// (never selected there: asm.Supported(asm.AVX512) is false).
func SgemmKernel12x32AVX512(k int, alpha float32, a, b []float32, beta float32, c []float32, ldc, mr, nr int) {
	SgemmKernel12x32Generic(k, alpha, a, b, beta, c, ldc, mr, nr)
}

// SgemmKernel6x16AVX2 forwards to its twin where there is no assembly.
func SgemmKernel6x16AVX2(k int, alpha float32, a, b []float32, beta float32, c []float32, ldc, mr, nr int) {
	SgemmKernel6x16Generic(k, alpha, a, b, beta, c, ldc, mr, nr)
}

// SgemmKernelNarrowNAVX512 forwards to its twin where there is no assembly.
func SgemmKernelNarrowNAVX512(k int, alpha float32, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc, mr, nr int) {
	SgemmKernelNarrowNGeneric(k, alpha, a, lda, b, ldb, beta, c, ldc, mr, nr)
}

// SgemmKernelNarrowTAVX512 forwards to its twin where there is no assembly.
func SgemmKernelNarrowTAVX512(k int, alpha float32, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc, mr, nr int) {
	SgemmKernelNarrowTGeneric(k, alpha, a, lda, b, ldb, beta, c, ldc, mr, nr)
}

// SgemmDotAVX512 forwards to its twin where there is no assembly.
func SgemmDotAVX512(rows, cols, k int, a []float32, lda int, bp []float32, out []float32) {
	SgemmDotGeneric(rows, cols, k, a, lda, bp, out)
}

// Transpose16AVX512 forwards to its twin where there is no assembly.
func Transpose16AVX512(src []float32, lds int, dst []float32, ldd int, rows, cols int) {
	Transpose16Generic(src, lds, dst, ldd, rows, cols)
}

// PackBRows32AVX512 forwards to its twin where there is no assembly.
func PackBRows32AVX512(src []float32, lds int, dst []float32, ldd int, rows, panels int) {
	PackBRows32Generic(src, lds, dst, ldd, rows, panels)
}

// SgemmKernel12x32R8AVX512 forwards to its twin where there is no assembly.
func SgemmKernel12x32R8AVX512(k int, alpha float32, a, b []float32, beta float32, c []float32, ldc, mr, nr int) {
	SgemmKernel12x32Generic(k, alpha, a, b, beta, c, ldc, mr, nr)
}

// SgemmKernel12x32R4AVX512 forwards to its twin where there is no assembly.
func SgemmKernel12x32R4AVX512(k int, alpha float32, a, b []float32, beta float32, c []float32, ldc, mr, nr int) {
	SgemmKernel12x32Generic(k, alpha, a, b, beta, c, ldc, mr, nr)
}

// SgemmKernel12x32C16AVX512 forwards to its twin where there is no assembly.
func SgemmKernel12x32C16AVX512(k int, alpha float32, a, b []float32, beta float32, c []float32, ldc, mr, nr int) {
	SgemmKernel12x32Generic(k, alpha, a, b, beta, c, ldc, mr, nr)
}

// SgemmKernel12x32R8C16AVX512 forwards to its twin where there is no assembly.
func SgemmKernel12x32R8C16AVX512(k int, alpha float32, a, b []float32, beta float32, c []float32, ldc, mr, nr int) {
	SgemmKernel12x32Generic(k, alpha, a, b, beta, c, ldc, mr, nr)
}

// SgemmKernel12x32R4C16AVX512 forwards to its twin where there is no assembly.
func SgemmKernel12x32R4C16AVX512(k int, alpha float32, a, b []float32, beta float32, c []float32, ldc, mr, nr int) {
	SgemmKernel12x32Generic(k, alpha, a, b, beta, c, ldc, mr, nr)
}

// PackARows12AVX512 forwards to its twin where there is no assembly.
func PackARows12AVX512(src []float32, lds int, dst []float32, ldd int, rows, panels int) {
	PackARows12Generic(src, lds, dst, ldd, rows, panels)
}
