package kernels

import (
	"fmt"
	"sync"

	"github.com/ltransfer/ltransfer/asm"
	"github.com/ltransfer/ltransfer/internal/simd"
)

// Sgemm computes C = alpha·op(A)·op(B) + beta·C for row-major float32
// matrices with leading dimensions: op(A) is m×k (A is m×k, or k×m when
// transA), op(B) is k×n (B is k×n, or n×k when transB), C is m×n.
// beta = 0 overwrites C (NaN in C does not propagate). C must not overlap
// A or B. It panics with a "kernels:" message on inconsistent sizes, before
// writing anything.
//
// The product is blocked GotoBLAS/BLIS style: B is packed in KC×NC blocks of
// NR-column panels, A in MC×KC blocks of MR-row panels, and a generated
// micro-kernel keeps an MR×NR tile of C in registers. Threads split the
// tiles of C, never K, and every element's sum runs over the same KC blocks
// in the same order, so the result is bit-identical for any thread count.
// On the AVX-512 path a C with at most 16 columns (a classifier layer) skips
// the packing of A: dot-product kernels along k when A is not transposed,
// a 16-row broadcast kernel when it is.
func (e *Engine) Sgemm(transA, transB bool, m, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int) {
	checkGemm(transA, transB, m, n, k, len(a), lda, len(b), ldb, len(c), ldc)
	if m == 0 || n == 0 {
		return
	}
	if alpha == 0 || k == 0 {
		scaleMatrix(beta, m, n, c, ldc)
		return
	}
	g := gemm{e: e, kern: kernelFor(e.path), transA: transA, transB: transB, m: m, n: n, k: k,
		alpha: alpha, a: a, lda: lda, b: b, ldb: ldb, beta: beta, c: c, ldc: ldc}
	if e.path == asm.AVX512 && n <= narrowN {
		g.runNarrow()
		return
	}
	g.run()
}

// narrowN is the widest C that the AVX-512 path multiplies without packing A:
// with one 16-lane vector per row of C, packing A would cost more than the
// product itself (the classifier layer, n = 10).
const narrowN = 16

// runNarrow computes C (n ≤ 16) in blocks of 16 rows, each block one kernel
// call over the whole of K, so the sum order is fixed whatever the threads.
func (g *gemm) runNarrow() {
	e := g.e
	if 2*g.m*g.n*g.k < minParallelFlops {
		e = e.WithThreads(1)
	}
	if !g.transA {
		g.runDot(e)
		return
	}
	b, ldb := g.b, g.ldb
	if g.transB {
		// op(B)[p][j] = b[j·ldb + p]: pack it k×16 so each step reads one row.
		bp := getBuf(g.k * narrowN)
		defer bufPool.Put(bp)
		b, ldb = *bp, narrowN
		packB(b, narrowN, true, g.b, g.ldb, 0, g.k, 0, g.n, true)
	}
	e.ParallelFor(ceilDiv(g.m, 16), func(lo, hi int) {
		for blk := lo; blk < hi; blk++ {
			i0 := blk * 16
			mr := min(16, g.m-i0)
			cp := g.c[i0*g.ldc:]
			switch {
			case !g.transA && mr == 16:
				simd.SgemmKernelNarrowNAVX512(g.k, g.alpha, g.a[i0*g.lda:], g.lda, b, ldb, g.beta, cp, g.ldc, mr, g.n)
			case g.transA && len(g.a)-i0 >= (g.k-1)*g.lda+16:
				simd.SgemmKernelNarrowTAVX512(g.k, g.alpha, g.a[i0:], g.lda, b, ldb, g.beta, cp, g.ldc, mr, g.n)
			default:
				// The last rows: pack them k×16, zero-padded, which is the
				// transposed layout with lda = 16.
				ap := getBuf(g.k * 16)
				packA(*ap, 16, g.transA, g.a, g.lda, i0, mr, 0, g.k, true)
				simd.SgemmKernelNarrowTAVX512(g.k, g.alpha, *ap, 16, b, ldb, g.beta, cp, g.ldc, mr, g.n)
				bufPool.Put(ap)
			}
		}
	})
}

func checkGemm(transA, transB bool, m, n, k, la, lda, lb, ldb, lc, ldc int) {
	if m < 0 || n < 0 || k < 0 {
		panic(fmt.Sprintf("kernels: Sgemm negative size m=%d n=%d k=%d", m, n, k))
	}
	ar, ac := m, k
	if transA {
		ar, ac = k, m
	}
	br, bc := k, n
	if transB {
		br, bc = n, k
	}
	check := func(name string, rows, cols, l, ld int) {
		if ld < max(1, cols) {
			panic(fmt.Sprintf("kernels: Sgemm %s leading dimension %d < %d columns", name, ld, cols))
		}
		if rows > 0 && cols > 0 && l < ld*(rows-1)+cols {
			panic(fmt.Sprintf("kernels: Sgemm %s has %d elements, want ≥ %d for %d×%d with ld %d", name, l, ld*(rows-1)+cols, rows, cols, ld))
		}
	}
	check("A", ar, ac, la, lda)
	check("B", br, bc, lb, ldb)
	check("C", m, n, lc, ldc)
}

// scaleMatrix computes C = beta·C on an m×n view (beta = 0 writes zeros).
func scaleMatrix(beta float32, m, n int, c []float32, ldc int) {
	for i := 0; i < m; i++ {
		ci := c[i*ldc : i*ldc+n]
		switch beta {
		case 0:
			clear(ci)
		case 1:
		default:
			for j := range ci {
				ci[j] *= beta
			}
		}
	}
}

// microKernel is the signature of every simd.SgemmKernel* routine.
type microKernel func(k int, alpha float32, a, b []float32, beta float32, c []float32, ldc, mr, nr int)

// gemmKernel is one micro-kernel with its register tile and cache blocking.
type gemmKernel struct {
	fn     microKernel
	mr, nr int
	masked bool // fn writes nr < NR columns itself; else edges go through a tile buffer
	t16    bool // packing may transpose with simd.Transpose16AVX512
	// edge lists kernels on the same packed panels that compute only their
	// first rows and/or columns: the first with rows ≥ mr and cols ≥ nr
	// (cheapest first) serves an edge tile.
	edge []edgeKernel
	// kc·nr·4 bytes of B panel stay in L1 while A panels stream past; the
	// mc×kc block of A stays in L2; the kc×nc block of B sits in L3.
	kc, mc, nc int
}

type edgeKernel struct {
	rows, cols int
	fn         microKernel
}

var (
	kernelAVX512 = gemmKernel{fn: simd.SgemmKernel12x32AVX512, mr: simd.SgemmMRAVX512, nr: simd.SgemmNRAVX512, masked: true, t16: true, kc: 256, mc: 264, nc: 3072,
		edge: []edgeKernel{
			{4, 16, simd.SgemmKernel12x32R4C16AVX512}, {8, 16, simd.SgemmKernel12x32R8C16AVX512},
			{4, 32, simd.SgemmKernel12x32R4AVX512}, {12, 16, simd.SgemmKernel12x32C16AVX512},
			{8, 32, simd.SgemmKernel12x32R8AVX512},
		}}
	kernelAVX2    = gemmKernel{fn: simd.SgemmKernel6x16AVX2, mr: simd.SgemmMRAVX2, nr: simd.SgemmNRAVX2, kc: 256, mc: 120, nc: 3072}
	kernelGeneric = gemmKernel{fn: sgemmKernel4x4Go, mr: 4, nr: 4, masked: true, kc: 256, mc: 128, nc: 3072}
)

func kernelFor(p asm.Path) *gemmKernel {
	switch p {
	case asm.AVX512:
		return &kernelAVX512
	case asm.AVX2:
		return &kernelAVX2
	}
	return &kernelGeneric
}

// packGroup is the number of B panels packed together in the fused loop.
const packGroup = 8

// maxPackedA bounds the buffer of runOneRowBlock, which packs all of A
// (16 MiB).
const maxPackedA = 1 << 22

// minParallelFlops is the work below which Sgemm stays on one thread: the
// fork-join would cost more than it saves.
const minParallelFlops = 2 * 64 * 64 * 64

type gemm struct {
	e              *Engine
	kern           *gemmKernel
	transA, transB bool
	m, n, k        int
	alpha, beta    float32
	a, b, c        []float32
	lda, ldb, ldc  int
}

var bufPool sync.Pool

// tilePool holds the edge-tile scratch of the micro-kernels (a local array
// escaped to the heap through the kernel call: one 1.5 KiB allocation and
// clear per parallel chunk, ≈ 5 % of a small-layer conv step).
var tilePool = sync.Pool{New: func() any { return new([12 * 32]float32) }}

func getBuf(n int) *[]float32 {
	if p, ok := bufPool.Get().(*[]float32); ok && cap(*p) >= n {
		*p = (*p)[:n]
		return p
	}
	s := make([]float32, n)
	return &s
}

func (g *gemm) run() {
	kn := g.kern
	e := g.e
	if 2*g.m*g.n*g.k < minParallelFlops {
		e = e.WithThreads(1)
	}
	// Split K and M into near-equal blocks: a last block of a few steps
	// would cost a whole pass over C for little work.
	kc0 := ceilDiv(g.k, ceilDiv(g.k, kn.kc))
	mc0 := roundUp(ceilDiv(g.m, ceilDiv(g.m, kn.mc)), kn.mr)
	if g.m <= mc0 && ceilDiv(g.n, kn.nr) >= e.threads && roundUp(g.k, kc0)*roundUp(g.m, kn.mr) <= maxPackedA {
		g.runOneRowBlock(e, kc0)
		return
	}
	nc0 := min(kn.nc, roundUp(g.n, kn.nr))
	if g.m <= mc0 {
		// One block of A: each B panel is packed just before its use, so
		// the B block need not fit a cache; wide blocks pack A less often
		// (the cap bounds the buffer at 16 MiB).
		nc0 = min(roundUp(g.n, kn.nr), 16384)
	}
	bp := getBuf(kc0 * nc0)
	// Two blocks of A: in the fused loop each worker packs its share of
	// the next block while the current one is in use.
	ap := getBuf(2 * kc0 * mc0)
	defer bufPool.Put(bp)
	defer bufPool.Put(ap)
	bbuf := *bp
	abufs := [2][]float32{(*ap)[:kc0*mc0], (*ap)[kc0*mc0:]}

	for jc := 0; jc < g.n; jc += nc0 {
		nc := min(nc0, g.n-jc)
		nPanels := ceilDiv(nc, kn.nr)
		// With at least one B panel per thread, each worker packs the
		// panels it multiplies (no separate pass, and they are hot in its
		// cache); else all pack B first and the workers split the tiles.
		fused := nPanels >= e.threads
		for pc := 0; pc < g.k; pc += kc0 {
			kc := min(kc0, g.k-pc)
			beta := g.beta
			if pc > 0 {
				beta = 1
			}
			packBPanels := func(lo, hi int) { g.packBPanels(bbuf, jc, pc, kc, lo, hi) }
			if !fused {
				e.ParallelFor(nPanels, packBPanels)
			}
			for ic := 0; ic < g.m; ic += mc0 {
				mc := min(mc0, g.m-ic)
				mPanels := ceilDiv(mc, kn.mr)
				abuf, nextA := abufs[ic/mc0%2], abufs[(ic/mc0+1)%2]
				nextIC := ic + mc0
				nextPanels := 0
				if nextIC < g.m {
					nextPanels = ceilDiv(min(mc0, g.m-nextIC), kn.mr)
				}
				if ic == 0 || !fused {
					e.ParallelFor(mPanels, func(lo, hi int) { g.packAPanels(abuf, ic, pc, kc, lo, hi) })
				}
				tiles := func(lo, hi int) {
					tile := tilePool.Get().(*[12 * 32]float32)
					defer tilePool.Put(tile)
					for t := lo; t < hi; t++ {
						jp, ip := t/mPanels, t%mPanels
						g.tile(tile, kc, abuf[ip*kc*kn.mr:(ip+1)*kc*kn.mr], bbuf[jp*kc*kn.nr:(jp+1)*kc*kn.nr], beta, ic+ip*kn.mr, jc+jp*kn.nr)
					}
				}
				if fused {
					e.ParallelFor(nPanels, func(lo, hi int) {
						// Pack a few panels just before their first use, so
						// they are still in L2 when the kernel reads them;
						// B rows are read as runs of packGroup·NR floats,
						// which the hardware prefetchers follow. After each
						// group, pack a piece of this chunk's share of the
						// next block of A (shares split its panels in
						// proportion to the chunks, so together they pack
						// each panel once): no separate fork-join for it,
						// and its cache misses overlap the kernels' work.
						nlo, nhi := lo*nextPanels/nPanels, hi*nextPanels/nPanels
						groups := ceilDiv(hi-lo, packGroup)
						for gi, g0 := 0, lo; g0 < hi; gi, g0 = gi+1, g0+packGroup {
							g1 := min(g0+packGroup, hi)
							if ic == 0 {
								packBPanels(g0, g1)
							}
							tiles(g0*mPanels, g1*mPanels)
							if p0, p1 := nlo+gi*(nhi-nlo)/groups, nlo+(gi+1)*(nhi-nlo)/groups; p1 > p0 {
								g.packAPanels(nextA, nextIC, pc, kc, p0, p1)
							}
						}
					})
				} else {
					e.ParallelFor(nPanels*mPanels, tiles)
				}
			}
		}
	}
}

// runOneRowBlock is run for m ≤ MC, one block of rows of A (a layer's
// batch of 128), with at least one B panel per thread. A is packed whole,
// K block after K block; each worker takes its B panels a group at a time
// through every K block, packing the group's panels just before use, so the
// group's columns of C stay in its L2 from one K block to the next instead
// of coming back from L3 once per K block. Each tile sees the same kernel
// calls in the same order as in run, so the bits are the same.
func (g *gemm) runOneRowBlock(e *Engine, kc0 int) {
	kn := g.kern
	mPanels := ceilDiv(g.m, kn.mr)
	nPanels := ceilDiv(g.n, kn.nr)
	blockA := kc0 * mPanels * kn.mr // floats of one full K block of packed A
	ap := getBuf(ceilDiv(g.k, kc0) * blockA)
	defer bufPool.Put(ap)
	abuf := *ap
	e.ParallelFor(mPanels, func(lo, hi int) {
		for pc := 0; pc < g.k; pc += kc0 {
			g.packAPanels(abuf[pc/kc0*blockA:], 0, pc, min(kc0, g.k-pc), lo, hi)
		}
	})
	e.ParallelFor(nPanels, func(lo, hi int) {
		bp := getBuf(packGroup * kc0 * kn.nr)
		defer bufPool.Put(bp)
		bbuf := *bp
		tile := tilePool.Get().(*[12 * 32]float32)
		defer tilePool.Put(tile)
		for g0 := lo; g0 < hi; g0 += packGroup {
			g1 := min(g0+packGroup, hi)
			for pc := 0; pc < g.k; pc += kc0 {
				kc := min(kc0, g.k-pc)
				beta := g.beta
				if pc > 0 {
					beta = 1
				}
				a := abuf[pc/kc0*blockA:]
				g.packBPanels(bbuf, g0*kn.nr, pc, kc, 0, g1-g0)
				for jp := g0; jp < g1; jp++ {
					b := bbuf[(jp-g0)*kc*kn.nr : (jp-g0+1)*kc*kn.nr]
					for ip := 0; ip < mPanels; ip++ {
						g.tile(tile, kc, a[ip*kc*kn.mr:(ip+1)*kc*kn.mr], b, beta, ip*kn.mr, jp*kn.nr)
					}
				}
			}
		}
	})
}

// packBPanels packs panels lo ≤ jp < hi of the kc×NR blocks of op(B) that
// start at row pc and column jc + jp·NR into bbuf[jp·kc·NR:].
func (g *gemm) packBPanels(bbuf []float32, jc, pc, kc, lo, hi int) {
	kn := g.kern
	if !g.transB && kn.t16 && kn.nr == 32 {
		// Full panels in assembly with software prefetch; a partial last
		// panel in Go.
		full := min(hi, (g.n-jc)/32)
		if full > lo {
			simd.PackBRows32AVX512(g.b[pc*g.ldb+jc+lo*32:], g.ldb, bbuf[lo*kc*32:], kc*32, kc, full-lo)
		}
		lo = max(lo, full)
	}
	if !g.transB {
		// Row by row across the panels: each row of B is one stream.
		packBRows(bbuf, kn.nr, g.b, g.ldb, pc, kc, jc, g.n, lo, hi)
		return
	}
	for jp := lo; jp < hi; jp++ {
		j0 := jc + jp*kn.nr
		packB(bbuf[jp*kc*kn.nr:(jp+1)*kc*kn.nr], kn.nr, g.transB, g.b, g.ldb, pc, kc, j0, min(kn.nr, g.n-j0), kn.t16)
	}
}

// packAPanels packs panels lo ≤ ip < hi of the MR×kc blocks of op(A) that
// start at row ic + ip·MR and column pc into abuf[ip·kc·MR:].
func (g *gemm) packAPanels(abuf []float32, ic, pc, kc, lo, hi int) {
	kn := g.kern
	if g.transA {
		if kn.t16 && kn.mr == 12 {
			// Full panels in assembly with software prefetch (rows of A
			// are far apart); a partial last panel in Go.
			full := min(hi, (g.m-ic)/12)
			if full > lo {
				simd.PackARows12AVX512(g.a[pc*g.lda+ic+lo*12:], g.lda, abuf[lo*kc*12:], kc*12, kc, full-lo)
			}
			lo = max(lo, full)
		}
		packARows(abuf, kn.mr, g.a, g.lda, pc, kc, ic, g.m, lo, hi)
		return
	}
	for ip := lo; ip < hi; ip++ {
		i0 := ic + ip*kn.mr
		packA(abuf[ip*kc*kn.mr:(ip+1)*kc*kn.mr], kn.mr, g.transA, g.a, g.lda, i0, min(kn.mr, g.m-i0), pc, kc, kn.t16)
	}
}

// tile computes the tile of C at rows i0 …, columns j0 … (at most MR×NR)
// from the packed panels ap and bp of one kc block: C = alpha·A·B + beta·C.
// tile is scratch for kernels that write only whole tiles.
func (g *gemm) tile(tile *[12 * 32]float32, kc int, ap, bp []float32, beta float32, i0, j0 int) {
	kn := g.kern
	mr, nr := min(kn.mr, g.m-i0), min(kn.nr, g.n-j0)
	cp := g.c[i0*g.ldc+j0:]
	if nr == kn.nr || kn.masked {
		fn := kn.fn
		for _, ek := range kn.edge {
			if mr <= ek.rows && nr <= ek.cols {
				fn = ek.fn
				break
			}
		}
		fn(kc, g.alpha, ap, bp, beta, cp, g.ldc, mr, nr)
		return
	}
	kn.fn(kc, g.alpha, ap, bp, 0, tile[:], kn.nr, mr, kn.nr)
	for i := 0; i < mr; i++ {
		ci, ti := cp[i*g.ldc:i*g.ldc+nr], tile[i*kn.nr:i*kn.nr+nr]
		if beta == 0 {
			copy(ci, ti)
		} else {
			for j, v := range ti {
				ci[j] = v + beta*ci[j]
			}
		}
	}
}

func ceilDiv(a, b int) int { return (a + b - 1) / b }
func roundUp(a, b int) int { return ceilDiv(a, b) * b }

// packA writes rows i0 ≤ i < i0+mr, columns p0 ≤ p < p0+kc of op(A) into
// dst[p·MR + (i−i0)], zero-filling rows mr ≤ i < MR.
func packA(dst []float32, MR int, trans bool, a []float32, lda, i0, mr, p0, kc int, t16 bool) {
	dst = dst[:kc*MR]
	if !trans && t16 {
		for p := 0; p < kc; p += 16 {
			simd.Transpose16AVX512(a[i0*lda+p0+p:], lda, dst[p*MR:], MR, mr, min(16, kc-p))
		}
		if mr < MR {
			for p := 0; p < kc; p++ {
				clear(dst[p*MR+mr : p*MR+MR])
			}
		}
		return
	}
	if trans {
		// op(A)[i][p] = a[p·lda + i]: each step of p is a contiguous run.
		if MR == 12 && mr == 12 {
			for p := 0; p < kc; p++ {
				*(*[12]float32)(dst[p*12:]) = [12]float32(a[(p0+p)*lda+i0:])
			}
			return
		}
		for p := 0; p < kc; p++ {
			d := dst[p*MR : p*MR+MR]
			copy(d[:mr], a[(p0+p)*lda+i0:])
			clear(d[mr:])
		}
		return
	}
	// op(A)[i][p] = a[i·lda + p]: a transpose, four rows per sweep so each
	// store run of four floats costs one bounds check.
	i := 0
	for ; i+4 <= mr; i += 4 {
		r0 := a[(i0+i)*lda+p0 : (i0+i)*lda+p0+kc]
		r1 := a[(i0+i+1)*lda+p0:][:len(r0)]
		r2 := a[(i0+i+2)*lda+p0:][:len(r0)]
		r3 := a[(i0+i+3)*lda+p0:][:len(r0)]
		d := dst[i:]
		for p := range r0 {
			q := d[p*MR : p*MR+4 : p*MR+4]
			q[0], q[1], q[2], q[3] = r0[p], r1[p], r2[p], r3[p]
		}
	}
	for ; i < mr; i++ {
		row := a[(i0+i)*lda+p0 : (i0+i)*lda+p0+kc]
		for p, v := range row {
			dst[p*MR+i] = v
		}
	}
	if mr < MR {
		for p := 0; p < kc; p++ {
			clear(dst[p*MR+mr : p*MR+MR])
		}
	}
}

// packARows packs panels lo ≤ ip < hi of the block of op(A) = Aᵀ that
// starts at row i0 (panel ip holds rows i0+ip·MR …), sweeping the rows of A
// (the steps of p) once each across all those panels, so each step reads
// one contiguous run instead of a short piece per panel.
func packARows(dst []float32, MR int, a []float32, lda, p0, kc, i0, m, lo, hi int) {
	for p := 0; p < kc; p++ {
		row := a[(p0+p)*lda:]
		for ip := lo; ip < hi; ip++ {
			i := i0 + ip*MR
			d := dst[ip*kc*MR+p*MR : ip*kc*MR+p*MR+MR]
			if mr := m - i; mr < MR {
				copy(d[:mr], row[i:i+mr])
				clear(d[mr:])
				continue
			}
			if MR == 12 {
				*(*[12]float32)(d) = [12]float32(row[i:])
			} else {
				copy(d, row[i:i+MR])
			}
		}
	}
}

// packBRows packs panels lo ≤ jp < hi of the block of op(B) = B that starts
// at column j0, row by row across the panels (see packARows).
func packBRows(dst []float32, NR int, b []float32, ldb, p0, kc, j0, n, lo, hi int) {
	for p := 0; p < kc; p++ {
		row := b[(p0+p)*ldb:]
		for jp := lo; jp < hi; jp++ {
			j := j0 + jp*NR
			d := dst[jp*kc*NR+p*NR : jp*kc*NR+p*NR+NR]
			if nr := n - j; nr < NR {
				copy(d[:nr], row[j:j+nr])
				clear(d[nr:])
				continue
			}
			switch NR {
			case 32:
				*(*[32]float32)(d) = [32]float32(row[j:])
			case 16:
				*(*[16]float32)(d) = [16]float32(row[j:])
			default:
				copy(d, row[j:j+NR])
			}
		}
	}
}

// packB writes rows p0 ≤ p < p0+kc, columns j0 ≤ j < j0+nr of op(B) into
// dst[(p−p0)·NR + (j−j0)], zero-filling columns nr ≤ j < NR.
func packB(dst []float32, NR int, trans bool, b []float32, ldb, p0, kc, j0, nr int, t16 bool) {
	dst = dst[:kc*NR]
	if trans && t16 {
		for p := 0; p < kc; p += 16 {
			for h := 0; h < nr; h += 16 {
				simd.Transpose16AVX512(b[(j0+h)*ldb+p0+p:], ldb, dst[p*NR+h:], NR, min(16, nr-h), min(16, kc-p))
			}
		}
		if nr < NR {
			for p := 0; p < kc; p++ {
				clear(dst[p*NR+nr : p*NR+NR])
			}
		}
		return
	}
	if !trans {
		if NR == 32 && nr == 32 {
			for p := 0; p < kc; p++ {
				*(*[32]float32)(dst[p*32:]) = [32]float32(b[(p0+p)*ldb+j0:])
			}
			return
		}
		if NR == 16 && nr == 16 {
			for p := 0; p < kc; p++ {
				*(*[16]float32)(dst[p*16:]) = [16]float32(b[(p0+p)*ldb+j0:])
			}
			return
		}
		for p := 0; p < kc; p++ {
			d := dst[p*NR : p*NR+NR]
			copy(d[:nr], b[(p0+p)*ldb+j0:])
			clear(d[nr:])
		}
		return
	}
	// op(B)[p][j] = b[j·ldb + p]: a transpose, four columns per sweep.
	j := 0
	for ; j+4 <= nr; j += 4 {
		r0 := b[(j0+j)*ldb+p0 : (j0+j)*ldb+p0+kc]
		r1 := b[(j0+j+1)*ldb+p0:][:len(r0)]
		r2 := b[(j0+j+2)*ldb+p0:][:len(r0)]
		r3 := b[(j0+j+3)*ldb+p0:][:len(r0)]
		d := dst[j:]
		for p := range r0 {
			q := d[p*NR : p*NR+4 : p*NR+4]
			q[0], q[1], q[2], q[3] = r0[p], r1[p], r2[p], r3[p]
		}
	}
	for ; j < nr; j++ {
		col := b[(j0+j)*ldb+p0 : (j0+j)*ldb+p0+kc]
		for p, v := range col {
			dst[p*NR+j] = v
		}
	}
	if nr < NR {
		for p := 0; p < kc; p++ {
			clear(dst[p*NR+nr : p*NR+NR])
		}
	}
}

// sgemmReference is the plain triple loop in float32, kept as a readable
// statement of what Sgemm computes.
func sgemmReference(transA, transB bool, m, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int) {
	for i := 0; i < m; i++ {
		for j := 0; j < n; j++ {
			var s float32
			for p := 0; p < k; p++ {
				ai, bj := a[i*lda+p], b[p*ldb+j]
				if transA {
					ai = a[p*lda+i]
				}
				if transB {
					bj = b[j*ldb+p]
				}
				s += ai * bj
			}
			if beta == 0 {
				c[i*ldc+j] = alpha * s
			} else {
				c[i*ldc+j] = alpha*s + beta*c[i*ldc+j]
			}
		}
	}
}

// runDot computes C = alpha·A·op(B) + beta·C for n ≤ 16 with A not
// transposed: dot products along k, A read in place as row streams, op(B)
// packed once (k·n floats, small next to the m·n·k product).
func (g *gemm) runDot(e *Engine) {
	n, k := g.n, g.k
	bp := getBuf(simd.SgemmDotPackedLen(k, n))
	defer bufPool.Put(bp)
	pb := *bp
	for p := 0; p < roundUp(k, 16); p++ {
		base := p/16*16*n + p%16
		for j := 0; j < n; j++ {
			var v float32
			if p < k {
				if g.transB {
					v = g.b[j*g.ldb+p]
				} else {
					v = g.b[p*g.ldb+j]
				}
			}
			pb[base+j*16] = v
		}
	}
	rows := simd.SgemmDotRows(n)
	e.ParallelFor(ceilDiv(g.m, rows), func(lo, hi int) {
		var out [2 * simd.SgemmDotMaxCols]float32
		for blk := lo; blk < hi; blk++ {
			i0 := blk * rows
			r := min(rows, g.m-i0)
			a, lda := g.a[i0*g.lda:], g.lda
			if r < rows {
				// The last row alone: give the kernel a zero second row.
				t := make([]float32, rows*k)
				copy(t, a[:k])
				a, lda = t, k
			}
			simd.SgemmDotAVX512(rows, n, k, a, lda, pb, out[:])
			for rr := 0; rr < r; rr++ {
				ci := g.c[(i0+rr)*g.ldc : (i0+rr)*g.ldc+n]
				o := out[rr*n : rr*n+n]
				if g.beta == 0 {
					for j, v := range o {
						ci[j] = g.alpha * v
					}
				} else {
					for j, v := range o {
						ci[j] = g.alpha*v + g.beta*ci[j]
					}
				}
			}
		}
	})
}
