package simd

import (
	"math"
	"math/rand"
	"testing"
)

func TestTranspose16MatchesTwin(t *testing.T) {
	if !runnable(t, AVX512) {
		t.SkipNow()
	}
	const seed = 5
	t.Logf("seed %d", seed)
	r := rand.New(rand.NewSource(seed))
	for rows := 1; rows <= 16; rows++ {
		for cols := 1; cols <= 16; cols++ {
			lds, ldd := cols+r.Intn(5), rows+r.Intn(5)
			src := randVec(r, (rows-1)*lds+cols)
			n := (cols-1)*ldd + rows
			got, want := withGuard(make([]float32, n)), make([]float32, n)
			for i := range got {
				got[i], want[i] = -1, -1
			}
			Transpose16AVX512(src, lds, got, ldd, rows, cols)
			Transpose16Generic(src, lds, want, ldd, rows, cols)
			checkGuard(t, "Transpose16AVX512", got)
			if i := sameBits(got, want); i >= 0 {
				t.Fatalf("rows=%d cols=%d lds=%d ldd=%d: dst[%d] = %v, twin %v", rows, cols, lds, ldd, i, got[i], want[i])
			}
		}
	}
}

type microKernelImpl struct {
	name   string
	path   Path
	mr, nr int
	fn     func(k int, alpha float32, a, b []float32, beta float32, c []float32, ldc, mr, nr int)
	twin   func(k int, alpha float32, a, b []float32, beta float32, c []float32, ldc, mr, nr int)
	fullNR bool // the kernel needs nr = NR
}

func TestSgemmMicroKernelsMatchTwins(t *testing.T) {
	const seed = 6
	t.Logf("seed %d", seed)
	r := rand.New(rand.NewSource(seed))
	for _, im := range []microKernelImpl{
		{"12x32", AVX512, 12, 32, SgemmKernel12x32AVX512, SgemmKernel12x32Generic, false},
		{"12x32R8", AVX512, 8, 32, SgemmKernel12x32R8AVX512, SgemmKernel12x32Generic, false},
		{"12x32R4", AVX512, 4, 32, SgemmKernel12x32R4AVX512, SgemmKernel12x32Generic, false},
		{"12x32C16", AVX512, 12, 16, SgemmKernel12x32C16AVX512, SgemmKernel12x32Generic, false},
		{"12x32R8C16", AVX512, 8, 16, SgemmKernel12x32R8C16AVX512, SgemmKernel12x32Generic, false},
		{"12x32R4C16", AVX512, 4, 16, SgemmKernel12x32R4C16AVX512, SgemmKernel12x32Generic, false},
		{"6x16", AVX2, 6, 16, SgemmKernel6x16AVX2, SgemmKernel6x16Generic, true},
	} {
		if !runnable(t, im.path) {
			t.Logf("%s: path %s not supported here; skipped", im.name, im.path)
			continue
		}
		for _, k := range []int{1, 2, 3, 4, 5, 8, 17, 64} {
			for mr := 1; mr <= im.mr; mr++ {
				for _, nr := range []int{1, 7, im.nr/2 - 1, im.nr / 2, im.nr/2 + 1, im.nr - 1, im.nr} {
					if im.fullNR {
						nr = im.nr
					}
					// Panels are packed 12 rows and 32 columns wide for AVX-512
					// (6 and 16 for AVX2, where the slices are just longer).
					a, b := randVec(r, 12*k), randVec(r, 32*k)
					ldc := nr + r.Intn(4)
					n := (mr-1)*ldc + nr
					for _, beta := range []float32{0, 1.5} {
						c := randVec(r, n)
						if beta == 0 {
							for i := range c {
								c[i] = float32(math.NaN())
							}
						}
						got, want := withGuard(c), append([]float32(nil), c...)
						im.fn(k, 0.75, a, b, beta, got, ldc, mr, nr)
						im.twin(k, 0.75, a, b, beta, want, ldc, mr, nr)
						checkGuard(t, im.name, got)
						for i := range got {
							if !close32(got[i], want[i], float64(k+2)*1e-6, 1e-6) {
								t.Fatalf("%s k=%d mr=%d nr=%d beta=%v: c[%d] = %v, twin %v", im.name, k, mr, nr, beta, i, got[i], want[i])
							}
						}
					}
				}
			}
		}
	}
}

func TestSgemmDotMatchesTwin(t *testing.T) {
	if !runnable(t, AVX512) {
		t.SkipNow()
	}
	const seed = 7
	t.Logf("seed %d", seed)
	r := rand.New(rand.NewSource(seed))
	for cols := 1; cols <= SgemmDotMaxCols; cols++ {
		rows := SgemmDotRows(cols)
		for _, k := range []int{1, 15, 16, 17, 33, 100} {
			lda := k + r.Intn(3)
			a := randVec(r, (rows-1)*lda+k)
			bp := randVec(r, SgemmDotPackedLen(k, cols))
			// The packing zero-pads p ≥ k.
			for p := k; p < (k+15)/16*16; p++ {
				for j := 0; j < cols; j++ {
					bp[p/16*16*cols+j*16+p%16] = 0
				}
			}
			got, want := withGuard(make([]float32, rows*cols)), make([]float32, rows*cols)
			SgemmDotAVX512(rows, cols, k, a, lda, bp, got)
			SgemmDotGeneric(rows, cols, k, a, lda, bp, want)
			checkGuard(t, "SgemmDotAVX512", got)
			for i := range got {
				if !close32(got[i], want[i], float64(k+2)*1e-6, 1e-6) {
					t.Fatalf("cols=%d k=%d: out[%d] = %v, twin %v", cols, k, i, got[i], want[i])
				}
			}
		}
	}
}

func TestSgemmNarrowMatchesTwins(t *testing.T) {
	if !runnable(t, AVX512) {
		t.SkipNow()
	}
	const seed = 8
	t.Logf("seed %d", seed)
	r := rand.New(rand.NewSource(seed))
	for _, k := range []int{1, 3, 4, 5, 9, 40} {
		for _, mr := range []int{1, 5, 15, 16} {
			for _, nr := range []int{1, 10, 16} {
				ldb, ldc := nr+r.Intn(3), nr+r.Intn(3)
				b := randVec(r, (k-1)*ldb+nr)
				c := randVec(r, (mr-1)*ldc+nr)
				for _, trans := range []bool{false, true} {
					var a []float32
					var lda int
					fn, twin := SgemmKernelNarrowNAVX512, SgemmKernelNarrowNGeneric
					if trans {
						lda = 16 + r.Intn(3)
						a = randVec(r, (k-1)*lda+16)
						fn, twin = SgemmKernelNarrowTAVX512, SgemmKernelNarrowTGeneric
					} else {
						lda = k + r.Intn(3)
						a = randVec(r, 15*lda+k)
					}
					got, want := withGuard(c), append([]float32(nil), c...)
					fn(k, 1.25, a, lda, b, ldb, 0.5, got, ldc, mr, nr)
					twin(k, 1.25, a, lda, b, ldb, 0.5, want, ldc, mr, nr)
					checkGuard(t, "narrow", got)
					for i := range got {
						if !close32(got[i], want[i], float64(k+2)*1e-6, 1e-6) {
							t.Fatalf("trans=%v k=%d mr=%d nr=%d: c[%d] = %v, twin %v", trans, k, mr, nr, i, got[i], want[i])
						}
					}
				}
			}
		}
	}
}

func TestPackBRows32MatchesTwin(t *testing.T) {
	if !runnable(t, AVX512) {
		t.SkipNow()
	}
	const seed = 9
	t.Logf("seed %d", seed)
	r := rand.New(rand.NewSource(seed))
	for _, rows := range []int{1, 2, 9, 33} {
		for _, panels := range []int{1, 2, 3, 8} {
			lds := 32*panels + r.Intn(9)
			ldd := 32*rows + r.Intn(9)
			src := randVec(r, (rows-1)*lds+32*panels)
			n := (panels-1)*ldd + 32*rows
			got, want := withGuard(make([]float32, n)), make([]float32, n)
			PackBRows32AVX512(src, lds, got, ldd, rows, panels)
			PackBRows32Generic(src, lds, want, ldd, rows, panels)
			checkGuard(t, "PackBRows32AVX512", got)
			if i := sameBits(got, want); i >= 0 {
				t.Fatalf("rows=%d panels=%d: dst[%d] = %v, twin %v", rows, panels, i, got[i], want[i])
			}
		}
	}
}

func TestPackARows12MatchesTwin(t *testing.T) {
	if !runnable(t, AVX512) {
		t.SkipNow()
	}
	const seed = 10
	t.Logf("seed %d", seed)
	r := rand.New(rand.NewSource(seed))
	for _, rows := range []int{1, 2, 9, 33} {
		for _, panels := range []int{1, 2, 3, 8, 22} {
			lds := 12*panels + r.Intn(9)
			ldd := 12*rows + r.Intn(9)
			src := randVec(r, (rows-1)*lds+12*panels)
			n := (panels-1)*ldd + 12*rows
			got, want := withGuard(make([]float32, n)), make([]float32, n)
			PackARows12AVX512(src, lds, got, ldd, rows, panels)
			PackARows12Generic(src, lds, want, ldd, rows, panels)
			checkGuard(t, "PackARows12AVX512", got)
			if i := sameBits(got, want); i >= 0 {
				t.Fatalf("rows=%d panels=%d: dst[%d] = %v, twin %v", rows, panels, i, got[i], want[i])
			}
		}
	}
}
