package simd

// Register-tile sizes of the SGEMM micro-kernels. Package kernels packs A
// into MR-row panels (a[p·MR+i] = op(A)[i][p]) and B into NR-column panels
// (b[p·NR+j] = op(B)[p][j]), zero-padded at the edges.
const (
	SgemmMRAVX512 = 12
	SgemmNRAVX512 = 32
	SgemmMRAVX2   = 6
	SgemmNRAVX2   = 16
)

// SgemmKernel12x32Generic is the reference of SgemmKernel12x32AVX512: for
// i < mr, j < nr,
//
//	acc := Σ_{p<k} a[p·12+i]·b[p·32+j]   (float32, p ascending)
//	c[i·ldc+j] = alpha·acc + beta·c[i·ldc+j], or alpha·acc when beta = 0
//
// and nothing else of c is touched (beta = 0 does not read c, so NaN there
// does not propagate). Preconditions: k ≥ 1, len(a) ≥ 12k, len(b) ≥ 32k,
// 1 ≤ mr ≤ 12, 1 ≤ nr ≤ 32, len(c) ≥ (mr−1)·ldc + nr. It is also the
// reference of the edge variants on the same packed panels:
// SgemmKernel12x32R8AVX512 and …R4… compute only the first 8 or 4 rows
// (mr ≤ 8, mr ≤ 4), …C16… only the first 16 columns (nr ≤ 16), and
// …R8C16…, …R4C16… both.
func SgemmKernel12x32Generic(k int, alpha float32, a, b []float32, beta float32, c []float32, ldc, mr, nr int) {
	sgemmKernelGeneric(12, 32, k, alpha, a, b, beta, c, ldc, mr, nr)
}

// SgemmKernel6x16Generic is the reference of SgemmKernel6x16AVX2: as
// SgemmKernel12x32Generic with panels of 6 rows of A and 16 columns of B;
// 1 ≤ mr ≤ 6, 1 ≤ nr ≤ 16 (the AVX2 kernel itself needs nr = 16).
func SgemmKernel6x16Generic(k int, alpha float32, a, b []float32, beta float32, c []float32, ldc, mr, nr int) {
	sgemmKernelGeneric(6, 16, k, alpha, a, b, beta, c, ldc, mr, nr)
}

func sgemmKernelGeneric(MR, NR, k int, alpha float32, a, b []float32, beta float32, c []float32, ldc, mr, nr int) {
	var acc [12 * 32]float32
	a, b = a[:MR*k], b[:NR*k]
	for p := 0; p < k; p++ {
		ap, bp := a[p*MR:p*MR+MR], b[p*NR:p*NR+NR]
		for i := 0; i < mr; i++ {
			av := ap[i]
			row := acc[i*NR : i*NR+nr]
			for j := range row {
				row[j] += av * bp[j]
			}
		}
	}
	for i := 0; i < mr; i++ {
		ci, ai := c[i*ldc:i*ldc+nr], acc[i*NR:i*NR+nr]
		if beta == 0 {
			for j, v := range ai {
				ci[j] = alpha * v
			}
		} else {
			for j, v := range ai {
				ci[j] = alpha*v + beta*ci[j]
			}
		}
	}
}

// SgemmKernelNarrowNGeneric is the reference of SgemmKernelNarrowNAVX512,
// the kernel for C with at most 16 columns, reading A and B in place: for
// i < mr, j < nr,
//
//	acc := Σ_{p<k} a[i·lda+p]·b[p·ldb+j]   (float32, p ascending)
//	c[i·ldc+j] = alpha·acc + beta·c[i·ldc+j], or alpha·acc when beta = 0
//
// Preconditions: k ≥ 1, len(a) ≥ 15·lda + k (16 rows of A are read even when
// mr < 16), len(b) ≥ (k−1)·ldb + nr, 1 ≤ mr ≤ 16, 1 ≤ nr ≤ 16,
// len(c) ≥ (mr−1)·ldc + nr.
func SgemmKernelNarrowNGeneric(k int, alpha float32, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc, mr, nr int) {
	sgemmNarrowGeneric(lda, 1, k, alpha, a, b, ldb, beta, c, ldc, mr, nr)
}

// SgemmKernelNarrowTGeneric is the reference of SgemmKernelNarrowTAVX512: as
// SgemmKernelNarrowNGeneric with op(A)[i][p] = a[p·lda+i] (A transposed), so
// each step of p reads 16 consecutive floats. Preconditions: k ≥ 1,
// len(a) ≥ (k−1)·lda + 16, the rest as SgemmKernelNarrowNGeneric.
func SgemmKernelNarrowTGeneric(k int, alpha float32, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc, mr, nr int) {
	sgemmNarrowGeneric(1, lda, k, alpha, a, b, ldb, beta, c, ldc, mr, nr)
}

func sgemmNarrowGeneric(rsa, csa, k int, alpha float32, a, b []float32, ldb int, beta float32, c []float32, ldc, mr, nr int) {
	for i := 0; i < mr; i++ {
		for j := 0; j < nr; j++ {
			var acc float32
			for p := 0; p < k; p++ {
				acc += a[i*rsa+p*csa] * b[p*ldb+j]
			}
			if beta == 0 {
				c[i*ldc+j] = alpha * acc
			} else {
				c[i*ldc+j] = alpha*acc + beta*c[i*ldc+j]
			}
		}
	}
}

// SgemmDotMaxCols is the widest C the dot-product kernels serve.
const SgemmDotMaxCols = 16

// SgemmDotRows is the number of rows of A a dot-product kernel with cols
// columns takes per call.
func SgemmDotRows(cols int) int {
	if cols <= 12 {
		return 2
	}
	return 1
}

// SgemmDotPackedLen is the length of the packed B that SgemmDot reads for
// k steps and cols columns.
func SgemmDotPackedLen(k, cols int) int { return (k + 15) / 16 * 16 * cols }

// SgemmDotGeneric is the reference of SgemmDotAVX512, the kernel for A·B with
// few columns: for r < rows, j < cols,
//
//	out[r·cols+j] = Σ_{p<k} a[r·lda+p]·bp[(p/16)·16·cols + j·16 + p%16]
//
// where bp holds B[p][j] packed in chunks of 16 steps of p, zero-padded. The
// AVX-512 version sums the 16 residues of p mod 16 separately and folds them
// in a fixed tree, so it differs from this loop by rounding only.
// Preconditions: 1 ≤ cols ≤ 16, rows = SgemmDotRows(cols), k ≥ 1,
// len(a) ≥ (rows−1)·lda + k, len(bp) ≥ SgemmDotPackedLen(k, cols),
// len(out) ≥ rows·cols.
func SgemmDotGeneric(rows, cols, k int, a []float32, lda int, bp []float32, out []float32) {
	checkDot(rows, cols, k, a, lda, bp, out)
	for r := 0; r < rows; r++ {
		ar := a[r*lda : r*lda+k]
		for j := 0; j < cols; j++ {
			var s float32
			for p, v := range ar {
				s += v * bp[p/16*16*cols+j*16+p%16]
			}
			out[r*cols+j] = s
		}
	}
}

func checkDot(rows, cols, k int, a []float32, lda int, bp []float32, out []float32) {
	if cols < 1 || cols > SgemmDotMaxCols || rows != SgemmDotRows(cols) || k < 1 ||
		len(a) < (rows-1)*lda+k || len(bp) < SgemmDotPackedLen(k, cols) || len(out) < rows*cols {
		panic("asm: SgemmDot called with inconsistent sizes")
	}
}

// Transpose16Generic is the reference of Transpose16AVX512, the transposing
// step of GEMM packing: dst[p·ldd+j] = src[j·lds+p] for j < rows, p < cols.
// Preconditions: 1 ≤ rows, cols ≤ 16, len(src) ≥ (rows−1)·lds + cols,
// len(dst) ≥ (cols−1)·ldd + rows.
func Transpose16Generic(src []float32, lds int, dst []float32, ldd int, rows, cols int) {
	for j := 0; j < rows; j++ {
		for p, v := range src[j*lds : j*lds+cols] {
			dst[p*ldd+j] = v
		}
	}
}

// PackBRows32Generic is the reference of PackBRows32AVX512, packing B (not
// transposed) into 32-column panels ldd apart: for p < rows, q < panels,
// j < 32, dst[q·ldd + p·32 + j] = src[p·lds + q·32 + j]. Preconditions:
// rows, panels ≥ 1, len(src) ≥ (rows−1)·lds + 32·panels,
// len(dst) ≥ (panels−1)·ldd + 32·rows. (The AVX-512 version prefetches
// src up to 8 rows past the last; prefetches never fault.)
func PackBRows32Generic(src []float32, lds int, dst []float32, ldd int, rows, panels int) {
	for p := 0; p < rows; p++ {
		for q := 0; q < panels; q++ {
			copy(dst[q*ldd+p*32:q*ldd+p*32+32], src[p*lds+q*32:])
		}
	}
}

// PackARows12Generic is the reference of PackARows12AVX512, packing Aᵀ (A
// read row by row) into 12-row panels of op(A) ldd apart: for p < rows,
// q < panels, j < 12, dst[q·ldd + p·12 + j] = src[p·lds + q·12 + j].
// Preconditions: rows, panels ≥ 1, len(src) ≥ (rows−1)·lds + 12·panels,
// len(dst) ≥ (panels−1)·ldd + 12·rows. (The AVX-512 version prefetches src
// up to 8 rows past the last; prefetches never fault.)
func PackARows12Generic(src []float32, lds int, dst []float32, ldd int, rows, panels int) {
	for p := 0; p < rows; p++ {
		for q := 0; q < panels; q++ {
			copy(dst[q*ldd+p*12:q*ldd+p*12+12], src[p*lds+q*12:])
		}
	}
}
