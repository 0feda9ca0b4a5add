// Command gemm generates the SGEMM micro-kernels of package internal/simd
// (internal/simd/gemm_amd64.s and internal/simd/gemm_amd64_stubs.go).
//
// A micro-kernel multiplies a packed MR×k panel of A by a packed k×NR panel
// of B, keeping the MR×NR product in vector registers (rows of C along the
// vector lanes), and then writes alpha·AB + beta·C into at most mr rows and nr
// columns of C. Package kernels packs the panels and walks the cache blocks.
// Run it through `go generate ./asm/` (see asm/generate.go), never by hand.
package main

import (
	"fmt"

	. "github.com/mmcloughlin/avo/build"
	. "github.com/mmcloughlin/avo/operand"
	"github.com/mmcloughlin/avo/reg"
)

// kernel describes one generated micro-kernel.
type kernel struct {
	isa    string // AVX2 or AVX512
	mr     int    // rows of the register tile
	nvec   int    // vectors per row of the register tile
	lanes  int    // float32 lanes per vector
	vec    func() reg.VecVirtual
	masked bool // columns nr < NR handled with AVX-512 masks
	unroll int  // k iterations per loop trip
	// prefetchB adds software prefetches of the B panel.
	prefetchB bool
	// stride is the row count of the packed A panels when the kernel
	// computes only their first mr rows (the last panel of an M edge), and
	// bstride the column count of the packed B panels when it computes
	// only their first nr columns (an N edge of at most 16 columns).
	stride, bstride int
}

func (k kernel) nr() int { return k.nvec * k.lanes }

// panel is the row count of the packed A panels (stride, or mr).
func (k kernel) panel() int {
	if k.stride != 0 {
		return k.stride
	}
	return k.mr
}

// panelB is the column count of the packed B panels (bstride, or nr).
func (k kernel) panelB() int {
	if k.bstride != 0 {
		return k.bstride
	}
	return k.nr()
}

func (k kernel) name() string {
	n := fmt.Sprintf("SgemmKernel%dx%d", k.panel(), k.panelB())
	if k.mr != k.panel() {
		n += fmt.Sprintf("R%d", k.mr)
	}
	if k.nr() != k.panelB() {
		n += fmt.Sprintf("C%d", k.nr())
	}
	return n + k.isa
}
func (k kernel) twin() string { return fmt.Sprintf("SgemmKernel%dx%dGeneric", k.panel(), k.panelB()) }
func (k kernel) bytesA() int  { return 4 * k.panel() }
func (k kernel) bytesB() int  { return 4 * k.panelB() }

// bytesC is the width of the computed part of a row of C, in bytes.
func (k kernel) bytesC() int { return 4 * k.nr() }
func (k kernel) nrNote() string {
	if k.masked {
		return fmt.Sprintf("1 ≤ nr ≤ %d", k.nr())
	}
	return fmt.Sprintf("nr = %d", k.nr())
}

var kernels = []kernel{
	// Zen 4 runs one 512-bit FMA per cycle with latency 4: 24 independent
	// accumulators hide it, and per k step the 24 FMAs need 2 vector loads of
	// B and 12 broadcasts of A, well within the two load ports.
	{isa: "AVX512", mr: 12, nvec: 2, lanes: 16, vec: ZMM, masked: true, unroll: 4, prefetchB: true},
	// The same on the first 8 or 4 rows and/or the first 16 columns of the
	// packed panels: an M or N edge (m = 128 leaves 8 rows, n = 784 leaves
	// 16 columns) then costs what it computes.
	{isa: "AVX512", mr: 8, stride: 12, nvec: 2, lanes: 16, vec: ZMM, masked: true, unroll: 4, prefetchB: true},
	{isa: "AVX512", mr: 4, stride: 12, nvec: 2, lanes: 16, vec: ZMM, masked: true, unroll: 4, prefetchB: true},
	{isa: "AVX512", mr: 12, bstride: 32, nvec: 1, lanes: 16, vec: ZMM, masked: true, unroll: 4, prefetchB: true},
	{isa: "AVX512", mr: 8, stride: 12, bstride: 32, nvec: 1, lanes: 16, vec: ZMM, masked: true, unroll: 4, prefetchB: true},
	{isa: "AVX512", mr: 4, stride: 12, bstride: 32, nvec: 1, lanes: 16, vec: ZMM, masked: true, unroll: 4, prefetchB: true},
	// 16 ymm registers: 12 accumulators, 2 for B, 2 for broadcasts.
	{isa: "AVX2", mr: 6, nvec: 2, lanes: 8, vec: YMM, masked: false, unroll: 4},
}

func main() {
	ConstraintExpr("amd64,!purego")
	for _, k := range kernels {
		gen(k)
	}
	genNarrow(false)
	genNarrow(true)
	genTranspose16()
	genPackRows()
	genPackARows12()
	for cols := 1; cols <= dotMaxCols; cols++ {
		genDot(dotRows(cols), cols)
	}
	Generate()
}

func gen(kn kernel) {
	TEXT(kn.name(), NOSPLIT, "func(k int, alpha float32, a, b []float32, beta float32, c []float32, ldc, mr, nr int)")
	Doc(
		fmt.Sprintf("%s is the micro-kernel of %s computed with %s; see the twin", kn.name(), kn.twin(), kn.isa),
		fmt.Sprintf("%s for the reference loop. Preconditions: k ≥ 1, len(a) ≥ %d·k,", kn.twin(), kn.panel()),
		fmt.Sprintf("len(b) ≥ %d·k, 1 ≤ mr ≤ %d, %s, len(c) ≥ (mr−1)·ldc + nr.", kn.panelB(), kn.mr, kn.nrNote()),
	)
	kk := Load(Param("k"), GP64())
	pa := Load(Param("a").Base(), GP64())
	pb := Load(Param("b").Base(), GP64())

	Comment("Prefetch the C tile: its rows are far apart and the k loop hides the latency.")
	{
		pc := Load(Param("c").Base(), GP64())
		ldc := Load(Param("ldc"), GP64())
		SHLQ(Imm(2), ldc)
		for i := 0; i < kn.mr; i++ {
			for off := 0; off < kn.bytesC(); off += 64 {
				PREFETCHT0(Mem{Base: pc, Disp: off})
			}
			if i+1 < kn.mr {
				ADDQ(ldc, pc)
			}
		}
	}

	acc := make([][]reg.VecVirtual, kn.mr)
	Comment("Zero the accumulators.")
	for i := range acc {
		acc[i] = make([]reg.VecVirtual, kn.nvec)
		for j := range acc[i] {
			acc[i][j] = kn.vec()
			VXORPS(acc[i][j], acc[i][j], acc[i][j])
		}
	}
	bv := make([]reg.VecVirtual, kn.nvec)
	for j := range bv {
		bv[j] = kn.vec()
	}
	step := func(u int) {
		for j := range bv {
			VMOVUPS(Mem{Base: pb, Disp: u*kn.bytesB() + j*4*kn.lanes}, bv[j])
		}
		if u%2 == 0 {
			// The A panel streams from L2; fetch about 8 steps ahead.
			PREFETCHT0(Mem{Base: pa, Disp: u*kn.bytesA() + 8*kn.bytesA()})
		}
		if kn.prefetchB {
			// So may the B panel when it has not stayed in L1.
			for off := 0; off < kn.bytesC(); off += 64 {
				PREFETCHT0(Mem{Base: pb, Disp: u*kn.bytesB() + 8*kn.bytesB() + off})
			}
		}
		for i := 0; i < kn.mr; i++ {
			t := kn.vec()
			VBROADCASTSS(Mem{Base: pa, Disp: u*kn.bytesA() + 4*i}, t)
			for j := range bv {
				VFMADD231PS(bv[j], t, acc[i][j])
			}
		}
	}

	Comment(fmt.Sprintf("acc += A[:, p]·B[p, :], %d steps of p per trip.", kn.unroll))
	Label("unrolled")
	CMPQ(kk, Imm(uint64(kn.unroll)))
	JL(LabelRef("single"))
	for u := 0; u < kn.unroll; u++ {
		step(u)
	}
	ADDQ(U32(kn.unroll*kn.bytesA()), pa)
	ADDQ(U32(kn.unroll*kn.bytesB()), pb)
	SUBQ(Imm(uint64(kn.unroll)), kk)
	JMP(LabelRef("unrolled"))
	Label("single")
	TESTQ(kk, kk)
	JZ(LabelRef("update"))
	step(0)
	ADDQ(U32(kn.bytesA()), pa)
	ADDQ(U32(kn.bytesB()), pb)
	DECQ(kk)
	JMP(LabelRef("single"))

	Label("update")
	Comment("C = alpha·acc + beta·C on rows < mr (C is not read when beta = 0).")
	pc := Load(Param("c").Base(), GP64())
	ldc := Load(Param("ldc"), GP64())
	SHLQ(Imm(2), ldc)
	mr := Load(Param("mr"), GP64())
	alpha, beta := kn.vec(), kn.vec()
	VBROADCASTSS(paramAddr("alpha"), alpha)
	VBROADCASTSS(paramAddr("beta"), beta)
	var masks []reg.Register
	if kn.masked {
		nr := GP64()
		Load(Param("nr"), nr)
		bits := GP32()
		MOVL(U32(0xffffffff), bits)
		BZHIL(nr.As32(), bits, bits)
		for j := 0; j < kn.nvec; j++ {
			m := K()
			KMOVW(bits, m)
			masks = append(masks, m)
			if j+1 < kn.nvec {
				SHRL(Imm(uint64(kn.lanes)), bits)
			}
		}
	}
	// beta = ±0 takes the path that never reads C; NaN is not zero.
	betaBits := GP32()
	MOVL(paramAddr("beta"), betaBits)
	ANDL(U32(0x7fffffff), betaBits)
	JNZ(LabelRef("general"))

	rows := func(label string, store func(i, j int, m Mem)) {
		for i := 0; i < kn.mr; i++ {
			if i > 0 {
				CMPQ(mr, Imm(uint64(i)))
				JLE(LabelRef(label))
				ADDQ(ldc, pc)
			}
			for j := 0; j < kn.nvec; j++ {
				store(i, j, Mem{Base: pc, Disp: j * 4 * kn.lanes})
			}
		}
	}
	put := func(v reg.VecVirtual, j int, m Mem) {
		if kn.masked {
			VMOVUPS(v, masks[j], m)
		} else {
			VMOVUPS(v, m)
		}
	}
	rows("done", func(i, j int, m Mem) {
		VMULPS(alpha, acc[i][j], acc[i][j])
		put(acc[i][j], j, m)
	})
	JMP(LabelRef("done"))

	Label("general")
	rows("done", func(i, j int, m Mem) {
		t := kn.vec()
		if kn.masked {
			VMOVUPS_Z(m, masks[j], t)
		} else {
			VMOVUPS(m, t)
		}
		VMULPS(beta, t, t)
		VFMADD231PS(alpha, acc[i][j], t)
		put(t, j, m)
	})
	Label("done")
	VZEROUPPER()
	RET()
}

// paramAddr is the frame address of a scalar parameter, for instructions
// that read it straight from memory.
func paramAddr(name string) Mem {
	b, err := Param(name).Resolve()
	if err != nil {
		panic(err)
	}
	return b.Addr
}

// genNarrow emits the AVX-512 kernel for C with at most 16 columns (the
// classifier layer, n = 10): 16 rows of C, one zmm each, A read in place
// (no packing: with so few columns packing A would cost more than the
// product), B read in place one masked row per step.
//
// transA = false: A rows at stride lda, op(A)[i][p] = a[i·lda+p].
// transA = true:  op(A)[i][p] = a[p·lda+i], 16 consecutive floats per step.
func genNarrow(transA bool) {
	suffix, twin, pre := "N", "SgemmKernelNarrowNGeneric", "len(a) ≥ 15·lda + k"
	if transA {
		suffix, twin, pre = "T", "SgemmKernelNarrowTGeneric", "len(a) ≥ (k−1)·lda + 16"
	}
	name := "SgemmKernelNarrow" + suffix + "AVX512"
	TEXT(name, NOSPLIT, "func(k int, alpha float32, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc, mr, nr int)")
	Doc(
		fmt.Sprintf("%s is %s computed with AVX-512; see the twin for the", name, twin),
		fmt.Sprintf("reference loop. Preconditions: k ≥ 1, %s, len(b) ≥ (k−1)·ldb + nr,", pre),
		"1 ≤ mr ≤ 16, 1 ≤ nr ≤ 16, len(c) ≥ (mr−1)·ldc + nr.",
	)
	kk := Load(Param("k"), GP64())
	pa := Load(Param("a").Base(), GP64())
	lda := Load(Param("lda"), GP64())
	SHLQ(Imm(2), lda)
	pb := Load(Param("b").Base(), GP64())
	ldb := Load(Param("ldb"), GP64())
	SHLQ(Imm(2), ldb)
	nr := GP64()
	Load(Param("nr"), nr)
	bits := GP32()
	MOVL(U32(0xffff), bits)
	BZHIL(nr.As32(), bits, bits)
	mask := K()
	KMOVW(bits, mask)

	acc := make([]reg.VecVirtual, 16)
	for i := range acc {
		acc[i] = ZMM()
		VXORPS(acc[i], acc[i], acc[i])
	}
	bv := ZMM()
	if transA {
		Comment("acc[i] += a[p·lda+i]·B[p, :]; the 16 broadcasts come from one cache line pair.")
		Label("loop")
		VMOVUPS_Z(Mem{Base: pb}, mask, bv)
		for i := 0; i < 16; i++ {
			VFMADD231PS_BCST(Mem{Base: pa, Disp: 4 * i}, bv, acc[i])
		}
		ADDQ(lda, pa)
		ADDQ(ldb, pb)
		DECQ(kk)
		JNZ(LabelRef("loop"))
	} else {
		Comment("Rows 4g..4g+3 of A are addressed from base g as (g), (g)(lda*1), (g)(lda*2), (g)(lda3*1).")
		lda3 := GP64()
		LEAQ(Mem{Base: lda, Index: lda, Scale: 2}, lda3)
		bases := []reg.GPVirtual{GP64(), GP64(), GP64(), GP64()}
		MOVQ(pa, bases[0])
		for g := 1; g < 4; g++ {
			LEAQ(Mem{Base: bases[g-1], Index: lda, Scale: 4}, bases[g])
		}
		row := func(i, disp int) Mem {
			g, j := i/4, i%4
			switch j {
			case 0:
				return Mem{Base: bases[g], Disp: disp}
			case 3:
				return Mem{Base: bases[g], Index: lda3, Scale: 1, Disp: disp}
			}
			return Mem{Base: bases[g], Index: lda, Scale: uint8(j), Disp: disp}
		}
		step := func(u int) {
			VMOVUPS_Z(Mem{Base: pb}, mask, bv)
			for i := 0; i < 16; i++ {
				VFMADD231PS_BCST(row(i, 4*u), bv, acc[i])
			}
			ADDQ(ldb, pb)
		}
		Comment("acc[i] += a[i·lda+p]·B[p, :], four steps of p per trip.")
		Label("unrolled")
		CMPQ(kk, Imm(4))
		JL(LabelRef("single"))
		for u := 0; u < 4; u++ {
			step(u)
		}
		for _, b := range bases {
			ADDQ(Imm(16), b)
		}
		SUBQ(Imm(4), kk)
		JMP(LabelRef("unrolled"))
		Label("single")
		TESTQ(kk, kk)
		JZ(LabelRef("update"))
		step(0)
		for _, b := range bases {
			ADDQ(Imm(4), b)
		}
		DECQ(kk)
		JMP(LabelRef("single"))
		Label("update")
	}

	Comment("C = alpha·acc + beta·C on rows < mr, columns < nr.")
	pc := Load(Param("c").Base(), GP64())
	ldc := Load(Param("ldc"), GP64())
	SHLQ(Imm(2), ldc)
	mr := Load(Param("mr"), GP64())
	alpha, beta := ZMM(), ZMM()
	VBROADCASTSS(paramAddr("alpha"), alpha)
	VBROADCASTSS(paramAddr("beta"), beta)
	betaBits := GP32()
	MOVL(paramAddr("beta"), betaBits)
	ANDL(U32(0x7fffffff), betaBits)
	JNZ(LabelRef("general"))
	for i := 0; i < 16; i++ {
		if i > 0 {
			CMPQ(mr, Imm(uint64(i)))
			JLE(LabelRef("done"))
			ADDQ(ldc, pc)
		}
		VMULPS(alpha, acc[i], acc[i])
		VMOVUPS(acc[i], mask, Mem{Base: pc})
	}
	JMP(LabelRef("done"))
	Label("general")
	for i := 0; i < 16; i++ {
		if i > 0 {
			CMPQ(mr, Imm(uint64(i)))
			JLE(LabelRef("done"))
			ADDQ(ldc, pc)
		}
		t := ZMM()
		VMOVUPS_Z(Mem{Base: pc}, mask, t)
		VMULPS(beta, t, t)
		VFMADD231PS(alpha, acc[i], t)
		VMOVUPS(t, mask, Mem{Base: pc})
	}
	Label("done")
	VZEROUPPER()
	RET()
}

// dotMaxCols is the widest C the dot-product kernels serve.
const dotMaxCols = 16

// dotRows is how many rows of A a dot kernel with cols columns takes at
// once: two while 2·cols accumulators and the loads fit in 32 registers.
func dotRows(cols int) int {
	if cols <= 12 {
		return 2
	}
	return 1
}

// genDot emits sgemmDot{rows}x{cols}AVX512: out[r·cols+j] = Σ_p a[r·lda+p]·B[p][j]
// for r < rows, j < cols, with vectors along k. It serves A·B with few
// columns (n ≤ 16): A stays in its row-major layout and is read once as
// plain streams (16 rows at a power-of-two stride, as a broadcast kernel
// would read them, alias in the caches); B is packed chunk-major,
// bp[(p/16)·16·cols + j·16 + p%16], zero-padded to a multiple of 16 in p.
func genDot(rows, cols int) {
	name := fmt.Sprintf("sgemmDot%dx%dAVX512", rows, cols)
	TEXT(name, NOSPLIT, "func(k int, a []float32, lda int, bp []float32, out []float32)")
	Doc(fmt.Sprintf("%s is SgemmDotAVX512 for rows = %d, cols = %d.", name, rows, cols))
	kk := Load(Param("k"), GP64())
	ap := make([]reg.GPVirtual, rows)
	ap[0] = GP64()
	Load(Param("a").Base(), ap[0])
	if rows > 1 {
		lda := Load(Param("lda"), GP64())
		for r := 1; r < rows; r++ {
			ap[r] = GP64()
			LEAQ(Mem{Base: ap[r-1], Index: lda, Scale: 4}, ap[r])
		}
	}
	pb := Load(Param("bp").Base(), GP64())
	acc := make([][]reg.VecVirtual, rows)
	for r := range acc {
		acc[r] = make([]reg.VecVirtual, cols)
		for j := range acc[r] {
			acc[r][j] = ZMM()
			VXORPS(acc[r][j], acc[r][j], acc[r][j])
		}
	}
	i := GP64()
	XORQ(i, i)
	lim := GP64()
	MOVQ(kk, lim)
	SUBQ(Imm(16), lim)
	av := make([]reg.VecVirtual, rows)
	for r := range av {
		av[r] = ZMM()
	}
	bv := ZMM()
	body := func(mask reg.Register) {
		for r := range av {
			if mask == nil {
				VMOVUPS(Mem{Base: ap[r], Index: i, Scale: 4}, av[r])
			} else {
				VMOVUPS_Z(Mem{Base: ap[r], Index: i, Scale: 4}, mask, av[r])
			}
		}
		for j := 0; j < cols; j++ {
			if rows == 1 {
				VFMADD231PS(Mem{Base: pb, Disp: 64 * j}, av[0], acc[0][j])
				continue
			}
			VMOVUPS(Mem{Base: pb, Disp: 64 * j}, bv)
			for r := range av {
				VFMADD231PS(av[r], bv, acc[r][j])
			}
		}
	}
	Comment("16 steps of p per trip: acc[r][j] += A[r, p:p+16]·B[p:p+16, j] lane-wise.")
	Label("loop")
	CMPQ(i, lim)
	JGT(LabelRef("tail"))
	body(nil)
	ADDQ(Imm(16), i)
	ADDQ(U32(64*cols), pb)
	JMP(LabelRef("loop"))
	Label("tail")
	rem := GP64()
	MOVQ(kk, rem)
	SUBQ(i, rem)
	JZ(LabelRef("reduce"))
	ones := GP32()
	MOVL(U32(0xffff), ones)
	BZHIL(rem.As32(), ones, ones)
	m := K()
	KMOVW(ones, m)
	body(m)
	Label("reduce")
	Comment("Fold each accumulator's 16 lanes in a fixed tree and store the sums.")
	po := Load(Param("out").Base(), GP64())
	for r := range acc {
		for j := range acc[r] {
			a := acc[r][j]
			h := YMM()
			VEXTRACTF32X8(Imm(1), a, h)
			VADDPS(h, a.AsY(), h)
			x := XMM()
			VEXTRACTF32X4(Imm(1), h, x)
			VADDPS(x, h.AsX(), x)
			t := XMM()
			VMOVHLPS(x, x, t)
			VADDPS(t, x, x)
			VMOVSHDUP(x, t)
			VADDSS(t, x, x)
			VMOVSS(x, Mem{Base: po, Disp: 4 * (r*cols + j)})
		}
	}
	VZEROUPPER()
	RET()
}

// genTranspose16 emits Transpose16AVX512, the packing step for operands
// that must be transposed (A not transposed into MR-row panels, B
// transposed into NR-column panels): one 16×16 block, in registers, with
// the classic four stages of unpacks and 128-bit lane shuffles.
func genTranspose16() {
	TEXT("Transpose16AVX512", NOSPLIT, "func(src []float32, lds int, dst []float32, ldd int, rows, cols int)")
	Doc(
		"Transpose16AVX512 is Transpose16Generic computed with AVX-512: dst[p·ldd+j] = src[j·lds+p]",
		"for j < rows, p < cols. Preconditions: 1 ≤ rows, cols ≤ 16,",
		"len(src) ≥ (rows−1)·lds + cols, len(dst) ≥ (cols−1)·ldd + rows.",
	)
	ps := Load(Param("src").Base(), GP64())
	lds := Load(Param("lds"), GP64())
	SHLQ(Imm(2), lds)
	pd := Load(Param("dst").Base(), GP64())
	ldd := Load(Param("ldd"), GP64())
	SHLQ(Imm(2), ldd)
	rows, cols := GP64(), GP64()
	Load(Param("rows"), rows)
	Load(Param("cols"), cols)
	ones := GP32()
	colMask, rowMask := K(), K()
	MOVL(U32(0xffff), ones)
	BZHIL(cols.As32(), ones, ones)
	KMOVW(ones, colMask)
	MOVL(U32(0xffff), ones)
	BZHIL(rows.As32(), ones, ones)
	KMOVW(ones, rowMask)

	r := make([]reg.VecVirtual, 16)
	Comment("Load rows j < rows (columns p < cols); the others are zero.")
	for j := range r {
		r[j] = ZMM()
		VXORPS(r[j], r[j], r[j])
	}
	for j := range r {
		if j > 0 {
			CMPQ(rows, Imm(uint64(j)))
			JLE(LabelRef("loaded"))
			ADDQ(lds, ps)
		}
		VMOVUPS_Z(Mem{Base: ps}, colMask, r[j])
		// Packing walks each row 16 floats per call: fetch 4 calls ahead.
		PREFETCHT0(Mem{Base: ps, Disp: 256})
	}
	Label("loaded")
	Comment("Stage 1: interleave 32-bit elements of row pairs.")
	t := make([]reg.VecVirtual, 16)
	for i := 0; i < 8; i++ {
		t[2*i], t[2*i+1] = ZMM(), ZMM()
		VUNPCKLPS(r[2*i+1], r[2*i], t[2*i])
		VUNPCKHPS(r[2*i+1], r[2*i], t[2*i+1])
	}
	Comment("Stage 2: interleave 64-bit pairs; u[4i+c] lane L is column 4L+c of rows 4i..4i+3.")
	u := make([]reg.VecVirtual, 16)
	for i := 0; i < 4; i++ {
		for c := range 4 {
			u[4*i+c] = ZMM()
		}
		VUNPCKLPD(t[4*i+2], t[4*i], u[4*i])
		VUNPCKHPD(t[4*i+2], t[4*i], u[4*i+1])
		VUNPCKLPD(t[4*i+3], t[4*i+1], u[4*i+2])
		VUNPCKHPD(t[4*i+3], t[4*i+1], u[4*i+3])
	}
	Comment("Stages 3 and 4: transpose the 4×4 grid of 128-bit lanes; out[4L+c] is row p = 4L+c.")
	out := make([]reg.VecVirtual, 16)
	for c := 0; c < 4; c++ {
		x := []reg.VecVirtual{u[c], u[4+c], u[8+c], u[12+c]}
		v := []reg.VecVirtual{ZMM(), ZMM(), ZMM(), ZMM()}
		VSHUFF32X4(Imm(0x44), x[1], x[0], v[0])
		VSHUFF32X4(Imm(0xee), x[1], x[0], v[1])
		VSHUFF32X4(Imm(0x44), x[3], x[2], v[2])
		VSHUFF32X4(Imm(0xee), x[3], x[2], v[3])
		for l := 0; l < 4; l++ {
			out[4*l+c] = ZMM()
		}
		VSHUFF32X4(Imm(0x88), v[2], v[0], out[c])
		VSHUFF32X4(Imm(0xdd), v[2], v[0], out[4+c])
		VSHUFF32X4(Imm(0x88), v[3], v[1], out[8+c])
		VSHUFF32X4(Imm(0xdd), v[3], v[1], out[12+c])
	}
	Comment("Store rows p < cols of the result, lanes j < rows.")
	for p := range out {
		if p > 0 {
			CMPQ(cols, Imm(uint64(p)))
			JLE(LabelRef("done"))
			ADDQ(ldd, pd)
		}
		VMOVUPS(out[p], rowMask, Mem{Base: pd})
	}
	Label("done")
	VZEROUPPER()
	RET()
}

// genPackRows emits PackBRows32AVX512, the packing of B (not transposed)
// into 32-column panels for a group of panels at once: each row of B is read
// as one run across the group, with software prefetch of the row eight
// steps ahead (rows of B are a page or more apart, where the hardware
// prefetchers stop).
func genPackRows() {
	TEXT("PackBRows32AVX512", NOSPLIT, "func(src []float32, lds int, dst []float32, ldd int, rows, panels int)")
	Doc(
		"PackBRows32AVX512 is PackBRows32Generic computed with AVX-512: for p < rows, q < panels,",
		"j < 32: dst[q·ldd + p·32 + j] = src[p·lds + q·32 + j]. Preconditions: rows, panels ≥ 1,",
		"len(src) ≥ (rows−1)·lds + 32·panels, len(dst) ≥ (panels−1)·ldd + 32·rows.",
	)
	ps := Load(Param("src").Base(), GP64())
	lds := Load(Param("lds"), GP64())
	SHLQ(Imm(2), lds)
	pd := Load(Param("dst").Base(), GP64())
	ldd := Load(Param("ldd"), GP64())
	SHLQ(Imm(2), ldd)
	rows := Load(Param("rows"), GP64())
	panels := Load(Param("panels"), GP64())
	ahead := GP64()
	Comment("ahead = 8 rows of src further on.")
	LEAQ(Mem{Base: ps, Index: lds, Scale: 8}, ahead)
	x0, x1 := ZMM(), ZMM()
	q := GP64()
	s, d := GP64(), GP64()
	Label("row")
	MOVQ(ps, s)
	MOVQ(pd, d)
	MOVQ(panels, q)
	Label("panel")
	PREFETCHT0(Mem{Base: ahead})
	PREFETCHT0(Mem{Base: ahead, Disp: 64})
	VMOVUPS(Mem{Base: s}, x0)
	VMOVUPS(Mem{Base: s, Disp: 64}, x1)
	VMOVUPS(x0, Mem{Base: d})
	VMOVUPS(x1, Mem{Base: d, Disp: 64})
	ADDQ(Imm(128), s)
	ADDQ(Imm(128), ahead)
	ADDQ(ldd, d)
	DECQ(q)
	JNZ(LabelRef("panel"))
	Comment("Next row: src += lds, dst += 32 floats, ahead back to its row start + lds.")
	ADDQ(lds, ps)
	ADDQ(Imm(128), pd)
	LEAQ(Mem{Base: ps, Index: lds, Scale: 8}, ahead)
	DECQ(rows)
	JNZ(LabelRef("row"))
	VZEROUPPER()
	RET()
}

// genPackARows12 emits PackARows12AVX512, the packing of Aᵀ (op(A) = Aᵀ, so
// each row of A is a run of columns of op(A)) into 12-row panels for a group
// of panels at once: each row of A is read as one run across the group, 48
// bytes (one ymm and one xmm) per panel, with software prefetch of the row
// eight steps ahead, as in PackBRows32AVX512.
func genPackARows12() {
	TEXT("PackARows12AVX512", NOSPLIT, "func(src []float32, lds int, dst []float32, ldd int, rows, panels int)")
	Doc(
		"PackARows12AVX512 is PackARows12Generic computed with AVX-512: for p < rows, q < panels,",
		"j < 12: dst[q·ldd + p·12 + j] = src[p·lds + q·12 + j]. Preconditions: rows, panels ≥ 1,",
		"len(src) ≥ (rows−1)·lds + 12·panels, len(dst) ≥ (panels−1)·ldd + 12·rows.",
	)
	ps := Load(Param("src").Base(), GP64())
	lds := Load(Param("lds"), GP64())
	SHLQ(Imm(2), lds)
	pd := Load(Param("dst").Base(), GP64())
	ldd := Load(Param("ldd"), GP64())
	SHLQ(Imm(2), ldd)
	rows := Load(Param("rows"), GP64())
	panels := Load(Param("panels"), GP64())
	ahead := GP64()
	Comment("ahead = 8 rows of src further on.")
	LEAQ(Mem{Base: ps, Index: lds, Scale: 8}, ahead)
	y0, x1 := YMM(), XMM()
	q := GP64()
	s, d := GP64(), GP64()
	Label("row")
	MOVQ(ps, s)
	MOVQ(pd, d)
	MOVQ(panels, q)
	Label("panel")
	Comment("48 bytes per step: the two prefetches cover every line of the run.")
	PREFETCHT0(Mem{Base: ahead})
	PREFETCHT0(Mem{Base: ahead, Disp: 44})
	VMOVUPS(Mem{Base: s}, y0)
	VMOVUPS(Mem{Base: s, Disp: 32}, x1)
	VMOVUPS(y0, Mem{Base: d})
	VMOVUPS(x1, Mem{Base: d, Disp: 32})
	ADDQ(Imm(48), s)
	ADDQ(Imm(48), ahead)
	ADDQ(ldd, d)
	DECQ(q)
	JNZ(LabelRef("panel"))
	Comment("Next row: src += lds, dst += 12 floats, ahead back to its row start + lds.")
	ADDQ(lds, ps)
	ADDQ(Imm(48), pd)
	LEAQ(Mem{Base: ps, Index: lds, Scale: 8}, ahead)
	DECQ(rows)
	JNZ(LabelRef("row"))
	VZEROUPPER()
	RET()
}
