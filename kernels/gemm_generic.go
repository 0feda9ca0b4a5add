package kernels

// sgemmKernel4x4Go is the micro-kernel of the pure-Go path: the contract of
// simd.SgemmKernel12x32Generic with 4×4 panels, written so the compiler keeps
// the 16 sums in registers (on arm64 it also fuses the multiply-adds). The
// asm twins stay simple loops: they are oracles, this is for speed where
// there is no assembly.
func sgemmKernel4x4Go(k int, alpha float32, a, b []float32, beta float32, c []float32, ldc, mr, nr int) {
	var c00, c01, c02, c03, c10, c11, c12, c13, c20, c21, c22, c23, c30, c31, c32, c33 float32
	a, b = a[:4*k], b[:4*k]
	for p := 0; p < k; p++ {
		ap := a[p*4 : p*4+4 : p*4+4]
		bp := b[p*4 : p*4+4 : p*4+4]
		a0, a1, a2, a3 := ap[0], ap[1], ap[2], ap[3]
		b0, b1, b2, b3 := bp[0], bp[1], bp[2], bp[3]
		c00 += a0 * b0
		c01 += a0 * b1
		c02 += a0 * b2
		c03 += a0 * b3
		c10 += a1 * b0
		c11 += a1 * b1
		c12 += a1 * b2
		c13 += a1 * b3
		c20 += a2 * b0
		c21 += a2 * b1
		c22 += a2 * b2
		c23 += a2 * b3
		c30 += a3 * b0
		c31 += a3 * b1
		c32 += a3 * b2
		c33 += a3 * b3
	}
	acc := [4][4]float32{{c00, c01, c02, c03}, {c10, c11, c12, c13}, {c20, c21, c22, c23}, {c30, c31, c32, c33}}
	for i := 0; i < mr; i++ {
		ci := c[i*ldc : i*ldc+nr]
		if beta == 0 {
			for j := range ci {
				ci[j] = alpha * acc[i][j]
			}
		} else {
			for j := range ci {
				ci[j] = alpha*acc[i][j] + beta*ci[j]
			}
		}
	}
}
