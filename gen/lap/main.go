// Command lap generates the AVX2 and AVX-512 column scans of the linear
// assignment solver (internal/simd/lap_amd64.s and internal/simd/lap_amd64_stubs.go).
//
// Both kernels keep 16 independent lanes (lane l sees the columns
// j ≡ l mod 16) so that their per-lane results equal those of the pure-Go
// twins in internal/simd/lap.go bit for bit; lengths are whole multiples of 16 and
// package lap handles the tail. Run it through `go generate ./asm/`, never by
// hand.
package main

import (
	"fmt"
	"strings"

	. "github.com/mmcloughlin/avo/build"
	. "github.com/mmcloughlin/avo/operand"
	"github.com/mmcloughlin/avo/reg"
)

// outs are the four per-lane output arrays of every kernel, as in
// asm.LapMins.
var outs = [4]string{"val", "idx", "val2", "idx2"}

// outMem addresses element k (of 8 bytes) of output array a.
func outMem(p [4]reg.GPVirtual, a, k int) Mem { return Mem{Base: p[a], Disp: 8 * k} }

// loadOuts loads the four output pointers.
func loadOuts() [4]reg.GPVirtual {
	var p [4]reg.GPVirtual
	for a, name := range outs {
		p[a] = GP64()
		Load(Param(name), p[a])
	}
	return p
}

const (
	oVal, oIdx, oVal2, oIdx2 = 0, 1, 2, 3
)

// Comparison predicates of VCMPPD: ordered and quiet, so a NaN operand
// (a scanned column's distance) compares false.
const (
	cmpLT = 0x11 // LT_OQ
)

var iota16, step16 Mem

func main() {
	ConstraintExpr("amd64,!purego")

	iota16 = GLOBL("lapiota", RODATA|NOPTR)
	for k := 0; k < 16; k++ {
		DATA(8*k, U64(uint64(k)))
	}
	step16 = GLOBL("lapstep", RODATA|NOPTR)
	for k := 0; k < 4; k++ {
		DATA(8*k, U64(16))
	}

	for _, f32 = range []bool{false, true} {
		scanAVX512()
		scanAVX2()
		min2AVX512()
		min2AVX2()
		expandAVX512()
		expandAVX2()
		checkKernel(true)
		checkKernel(false)
	}
	Generate()
}

// prefetchAhead is how far ahead of the loads the cost row is prefetched:
// the row comes from DRAM (the matrix is far larger than the caches) and
// the hardware prefetcher alone keeps too few lines in flight.
const prefetchAhead = 2048

// prefetch requests the cache lines of the cost row prefetchAhead bytes
// past the 16 columns at j.
func prefetch(pc reg.Register, j reg.GPVirtual) {
	PREFETCHT0(Mem{Base: pc, Index: j, Scale: costSize(), Disp: prefetchAhead})
	if !f32 {
		PREFETCHT0(Mem{Base: pc, Index: j, Scale: costSize(), Disp: prefetchAhead + 64})
	}
}

// f32 selects the variant being generated: float32 costs (suffix F32),
// widened exactly to float64 as they are loaded, or float64 costs. All
// arithmetic is float64 either way, so the F32 kernels agree bit for bit
// with their twins too.
var f32 bool

func costSize() uint8 {
	if f32 {
		return 4
	}
	return 8
}

// kname is the routine name for the current cost type and ISA.
func kname(base, isa string) string {
	if f32 {
		return base + "F32" + isa
	}
	return base + isa
}

// ksig adapts a float64-cost signature to the current cost type.
func ksig(sig string) string {
	if !f32 {
		return sig
	}
	sig = strings.Replace(sig, "c, v, d []float64", "c []float32, v, d []float64", 1)
	sig = strings.Replace(sig, "c, v []float64", "c []float32, v []float64", 1)
	return strings.Replace(sig, "x []float64", "x []float32", 1)
}

// cmem addresses the cost of column j + disp64/8 (disp64 is the byte
// displacement the float64 layout would use).
func cmem(pc, j reg.Register, disp64 int) Mem {
	return Mem{Base: pc, Index: j, Scale: costSize(), Disp: disp64 * int(costSize()) / 8}
}

// loadC loads costs into dst as float64: 8 (zmm) or 4 (ymm) of them.
func loadC(m Mem, dst reg.VecVirtual) {
	if f32 {
		VCVTPS2PD(m, dst)
	} else {
		VMOVUPD(m, dst)
	}
}

const scanSig = "func(c, v, d []float64, y, pred []int, off float64, row int, val *[16]float64, idx *[16]int, val2 *[16]float64, idx2 *[16]int)"
const min2Sig = "func(c, v []float64, val *[16]float64, idx *[16]int, val2 *[16]float64, idx2 *[16]int)"

// broadcastConsts fills inf with +Inf and m1 with -1 in every 64-bit lane.
func broadcastConsts(inf, m1 reg.VecVirtual, avx512 bool) {
	g := GP64()
	MOVQ(U64(0x7ff0000000000000), g)
	if avx512 {
		VPBROADCASTQ(g, inf)
	} else {
		x := XMM()
		MOVQ(g, x)
		VPBROADCASTQ(x, inf)
	}
	if avx512 {
		VPTERNLOGQ(U8(0xff), m1, m1, m1)
	} else {
		VPCMPEQQ(m1, m1, m1)
	}
}

// scanAVX512: two zmm of 8 lanes per 16 columns.
func scanAVX512() {
	TEXT(kname("LapScan", "AVX512"), NOSPLIT, ksig(scanSig))
	Doc(kname("LapScan", "AVX512")+" is "+kname("LapScan", "Generic")+" with AVX-512 (F, DQ): 16 columns per",
		"iteration in two zmm of 8 lanes. len(c) must be a multiple of 16.")
	n := Load(Param("c").Len(), GP64())
	pc := Load(Param("c").Base(), GP64())
	pv := Load(Param("v").Base(), GP64())
	pd := Load(Param("d").Base(), GP64())
	py := Load(Param("y").Base(), GP64())
	pp := Load(Param("pred").Base(), GP64())

	Comment("Broadcast off and row; lane indices; +Inf and -1 for the minima.")
	offx := Load(Param("off"), XMM())
	off := ZMM()
	VBROADCASTSD(offx, off)
	rowg := Load(Param("row"), GP64())
	row := ZMM()
	VPBROADCASTQ(rowg, row)
	step := ZMM()
	VMOVDQU64(step16, step.AsY())
	VPBROADCASTQ(step.AsX(), step)
	var idx, best, bi, fbest, fi [2]reg.VecVirtual
	inf, m1 := ZMM(), ZMM()
	broadcastConsts(inf, m1, true)
	for h := 0; h < 2; h++ {
		idx[h], best[h], bi[h], fbest[h], fi[h] = ZMM(), ZMM(), ZMM(), ZMM(), ZMM()
		VMOVDQU64(iota16.Offset(64*h), idx[h])
		VMOVAPD(inf, best[h])
		VMOVAPD(inf, fbest[h])
		VMOVDQA64(m1, bi[h])
		VMOVDQA64(m1, fi[h])
	}

	j := GP64()
	XORQ(j, j)
	Label("loop")
	CMPQ(j, n)
	JAE(LabelRef("done"))
	prefetch(pc, j)
	for h := 0; h < 2; h++ {
		at := func(p reg.Register) Mem { return Mem{Base: p, Index: j, Scale: 8, Disp: 64 * h} }
		Comment(fmt.Sprintf("Lanes %d..%d: t = (c - v) + off; where t < d: d = t, pred = row.", 8*h, 8*h+7))
		t, dd := ZMM(), ZMM()
		loadC(cmem(pc, j, 64*h), t)
		VSUBPD(at(pv), t, t)
		VADDPD(off, t, t)
		VMOVUPD(at(pd), dd)
		ku := K()
		VCMPPD(U8(cmpLT), dd, t, ku)
		Comment("Most blocks improve nothing once the search is under way: skip the stores.")
		KORTESTB(ku, ku)
		JZ(LabelRef(fmt.Sprintf("kept%d", h)))
		VMOVAPD(t, ku, dd)
		VMOVUPD(t, ku, at(pd))
		VMOVDQU64(row, ku, at(pp))
		Label(fmt.Sprintf("kept%d", h))
		Comment("Running minimum of d over all columns, and over free ones (y < 0).")
		kb := K()
		VCMPPD(U8(cmpLT), best[h], dd, kb)
		VMOVAPD(dd, kb, best[h])
		VMOVDQA64(idx[h], kb, bi[h])
		yv := ZMM()
		VMOVDQU64(at(py), yv)
		kf, kfb := K(), K()
		VPMOVQ2M(yv, kf)
		VCMPPD(U8(cmpLT), fbest[h], dd, kf, kfb)
		VMOVAPD(dd, kfb, fbest[h])
		VMOVDQA64(idx[h], kfb, fi[h])
		VPADDQ(step, idx[h], idx[h])
	}
	ADDQ(Imm(16), j)
	JMP(LabelRef("loop"))

	Label("done")
	o := loadOuts()
	for h := 0; h < 2; h++ {
		VMOVUPD(best[h], outMem(o, oVal, 8*h))
		VMOVDQU64(bi[h], outMem(o, oIdx, 8*h))
		VMOVUPD(fbest[h], outMem(o, oVal2, 8*h))
		VMOVDQU64(fi[h], outMem(o, oIdx2, 8*h))
	}
	VZEROUPPER()
	RET()
}

// scanAVX2: four ymm of 4 lanes per 16 columns. The overall minima stay in
// registers; the free-column minima live in out (L1) to fit 16 ymm.
func scanAVX2() {
	TEXT(kname("LapScan", "AVX2"), NOSPLIT, ksig(scanSig))
	Doc(kname("LapScan", "AVX2")+" is "+kname("LapScan", "Generic")+" with AVX2: 16 columns per iteration in",
		"four ymm of 4 lanes. len(c) must be a multiple of 16.")
	n := Load(Param("c").Len(), GP64())
	pc := Load(Param("c").Base(), GP64())
	pv := Load(Param("v").Base(), GP64())
	pd := Load(Param("d").Base(), GP64())
	py := Load(Param("y").Base(), GP64())
	pp := Load(Param("pred").Base(), GP64())

	offx := Load(Param("off"), XMM())
	off := YMM()
	VBROADCASTSD(offx, off)
	rowg := Load(Param("row"), GP64())
	rowx := XMM()
	MOVQ(rowg, rowx)
	row := YMM()
	VPBROADCASTQ(rowx, row)
	Comment("base holds the index of the first column of the block in every lane.")
	base := YMM()
	VPXOR(base, base, base)
	var best, bi [4]reg.VecVirtual
	inf, m1 := YMM(), YMM()
	broadcastConsts(inf, m1, false)
	o := loadOuts()
	for g := 0; g < 4; g++ {
		best[g], bi[g] = YMM(), YMM()
		VMOVAPD(inf, best[g])
		VMOVDQA(m1, bi[g])
		VMOVUPD(inf, outMem(o, oVal2, 4*g))
		VMOVDQU(m1, outMem(o, oIdx2, 4*g))
	}

	j := GP64()
	XORQ(j, j)
	Label("loop")
	CMPQ(j, n)
	JAE(LabelRef("done"))
	prefetch(pc, j)
	for g := 0; g < 4; g++ {
		at := func(p reg.Register) Mem { return Mem{Base: p, Index: j, Scale: 8, Disp: 32 * g} }
		Comment(fmt.Sprintf("Lanes %d..%d: t = (c - v) + off; where t < d: d = t, pred = row.", 4*g, 4*g+3))
		t, dd, mu := YMM(), YMM(), YMM()
		loadC(cmem(pc, j, 32*g), t)
		VSUBPD(at(pv), t, t)
		VADDPD(off, t, t)
		VMOVUPD(at(pd), dd)
		VCMPPD(U8(cmpLT), dd, t, mu)
		Comment("Most blocks improve nothing once the search is under way: skip the stores.")
		VTESTPD(mu, mu)
		JZ(LabelRef(fmt.Sprintf("kept%d", g)))
		VBLENDVPD(mu, t, dd, dd)
		VMOVUPD(dd, at(pd))
		p := YMM()
		VMOVUPD(at(pp), p)
		VBLENDVPD(mu, row, p, p)
		VMOVUPD(p, at(pp))
		Label(fmt.Sprintf("kept%d", g))
		ix := YMM()
		VPADDQ(iota16.Offset(32*g), base, ix)
		Comment("Running minimum over all columns (registers) and free ones (out).")
		mb := YMM()
		VCMPPD(U8(cmpLT), best[g], dd, mb)
		VBLENDVPD(mb, dd, best[g], best[g])
		VBLENDVPD(mb, ix, bi[g], bi[g])
		fv, mf := YMM(), YMM()
		VMOVUPD(outMem(o, oVal2, 4*g), fv)
		VCMPPD(U8(cmpLT), fv, dd, mf)
		VANDPD(at(py), mf, mf)
		VBLENDVPD(mf, dd, fv, fv)
		VMOVUPD(fv, outMem(o, oVal2, 4*g))
		fi := YMM()
		VMOVDQU(outMem(o, oIdx2, 4*g), fi)
		VBLENDVPD(mf, ix, fi, fi)
		VMOVDQU(fi, outMem(o, oIdx2, 4*g))
	}
	VPADDQ(step16, base, base)
	ADDQ(Imm(16), j)
	JMP(LabelRef("loop"))

	Label("done")
	for g := 0; g < 4; g++ {
		VMOVUPD(best[g], outMem(o, oVal, 4*g))
		VMOVDQU(bi[g], outMem(o, oIdx, 4*g))
	}
	VZEROUPPER()
	RET()
}

// min2AVX512: per lane the two lexicographic minima of (c - v, j).
func min2AVX512() {
	TEXT(kname("LapMin2", "AVX512"), NOSPLIT, ksig(min2Sig))
	Doc(kname("LapMin2", "AVX512")+" is "+kname("LapMin2", "Generic")+" with AVX-512 (F, DQ): 16 columns per",
		"iteration in two zmm of 8 lanes. len(c) must be a multiple of 16.")
	n := Load(Param("c").Len(), GP64())
	pc := Load(Param("c").Base(), GP64())
	pv := Load(Param("v").Base(), GP64())
	step := ZMM()
	VMOVDQU64(step16, step.AsY())
	VPBROADCASTQ(step.AsX(), step)
	var idx, b1, i1, b2, i2 [2]reg.VecVirtual
	inf, m1 := ZMM(), ZMM()
	broadcastConsts(inf, m1, true)
	for h := 0; h < 2; h++ {
		idx[h], b1[h], i1[h], b2[h], i2[h] = ZMM(), ZMM(), ZMM(), ZMM(), ZMM()
		VMOVDQU64(iota16.Offset(64*h), idx[h])
		VMOVAPD(inf, b1[h])
		VMOVAPD(inf, b2[h])
		VMOVDQA64(m1, i1[h])
		VMOVDQA64(m1, i2[h])
	}
	j := GP64()
	XORQ(j, j)
	Label("loop")
	CMPQ(j, n)
	JAE(LabelRef("done"))
	prefetch(pc, j)
	for h := 0; h < 2; h++ {
		at := func(p reg.Register) Mem { return Mem{Base: p, Index: j, Scale: 8, Disp: 64 * h} }
		Comment(fmt.Sprintf("Lanes %d..%d: r = c - v; r < b1: (b2, b1) = (b1, r); else r < b2: b2 = r.", 8*h, 8*h+7))
		r := ZMM()
		loadC(cmem(pc, j, 64*h), r)
		VSUBPD(at(pv), r, r)
		k1, k2 := K(), K()
		VCMPPD(U8(cmpLT), b1[h], r, k1)
		VCMPPD(U8(cmpLT), b2[h], r, k2)
		VMOVAPD(r, k2, b2[h])
		VMOVDQA64(idx[h], k2, i2[h])
		VMOVAPD(b1[h], k1, b2[h])
		VMOVDQA64(i1[h], k1, i2[h])
		VMOVAPD(r, k1, b1[h])
		VMOVDQA64(idx[h], k1, i1[h])
		VPADDQ(step, idx[h], idx[h])
	}
	ADDQ(Imm(16), j)
	JMP(LabelRef("loop"))

	Label("done")
	o := loadOuts()
	for h := 0; h < 2; h++ {
		VMOVUPD(b1[h], outMem(o, oVal, 8*h))
		VMOVDQU64(i1[h], outMem(o, oIdx, 8*h))
		VMOVUPD(b2[h], outMem(o, oVal2, 8*h))
		VMOVDQU64(i2[h], outMem(o, oIdx2, 8*h))
	}
	VZEROUPPER()
	RET()
}

// min2AVX2: four ymm of 4 lanes; the first minima stay in registers, the
// second ones live in out.
func min2AVX2() {
	TEXT(kname("LapMin2", "AVX2"), NOSPLIT, ksig(min2Sig))
	Doc(kname("LapMin2", "AVX2")+" is "+kname("LapMin2", "Generic")+" with AVX2: 16 columns per iteration in",
		"four ymm of 4 lanes. len(c) must be a multiple of 16.")
	n := Load(Param("c").Len(), GP64())
	pc := Load(Param("c").Base(), GP64())
	pv := Load(Param("v").Base(), GP64())
	Comment("base holds the index of the first column of the block in every lane.")
	base := YMM()
	VPXOR(base, base, base)
	var b1, i1 [4]reg.VecVirtual
	inf, m1 := YMM(), YMM()
	broadcastConsts(inf, m1, false)
	o := loadOuts()
	for g := 0; g < 4; g++ {
		b1[g], i1[g] = YMM(), YMM()
		VMOVAPD(inf, b1[g])
		VMOVDQA(m1, i1[g])
		VMOVUPD(inf, outMem(o, oVal2, 4*g))
		VMOVDQU(m1, outMem(o, oIdx2, 4*g))
	}
	j := GP64()
	XORQ(j, j)
	Label("loop")
	CMPQ(j, n)
	JAE(LabelRef("done"))
	prefetch(pc, j)
	for g := 0; g < 4; g++ {
		at := func(p reg.Register) Mem { return Mem{Base: p, Index: j, Scale: 8, Disp: 32 * g} }
		Comment(fmt.Sprintf("Lanes %d..%d: r = c - v; r < b1: (b2, b1) = (b1, r); else r < b2: b2 = r.", 4*g, 4*g+3))
		r := YMM()
		loadC(cmem(pc, j, 32*g), r)
		VSUBPD(at(pv), r, r)
		ix := YMM()
		VPADDQ(iota16.Offset(32*g), base, ix)
		k1, k2, b2, i2 := YMM(), YMM(), YMM(), YMM()
		VCMPPD(U8(cmpLT), b1[g], r, k1)
		VMOVUPD(outMem(o, oVal2, 4*g), b2)
		VCMPPD(U8(cmpLT), b2, r, k2)
		VBLENDVPD(k2, r, b2, b2)
		VBLENDVPD(k1, b1[g], b2, b2)
		VMOVUPD(b2, outMem(o, oVal2, 4*g))
		VMOVDQU(outMem(o, oIdx2, 4*g), i2)
		VBLENDVPD(k2, ix, i2, i2)
		VBLENDVPD(k1, i1[g], i2, i2)
		VMOVDQU(i2, outMem(o, oIdx2, 4*g))
		VBLENDVPD(k1, r, b1[g], b1[g])
		VBLENDVPD(k1, ix, i1[g], i1[g])
	}
	VPADDQ(step16, base, base)
	ADDQ(Imm(16), j)
	JMP(LabelRef("loop"))

	Label("done")
	for g := 0; g < 4; g++ {
		VMOVUPD(b1[g], outMem(o, oVal, 4*g))
		VMOVDQU(i1[g], outMem(o, oIdx, 4*g))
	}
	VZEROUPPER()
	RET()
}

const expandSig = "func(c, v, d []float64, pred []int, off float64, row int, tau float64, improved, cand []int) (ni, nc int)"

// expandAVX512: 8 columns per iteration; the selected indices are
// compressed in a register and stored as a whole vector (a compressing
// store to memory is microcoded and slow on Zen 4), then the output
// pointer advances by the popcount.
func expandAVX512() {
	TEXT(kname("LapExpand", "AVX512"), NOSPLIT, ksig(expandSig))
	Doc(kname("LapExpand", "AVX512")+" is "+kname("LapExpand", "Generic")+" with AVX-512 (F, DQ) and POPCNT:",
		"8 columns per iteration. len(c) must be a multiple of 16.")
	n := Load(Param("c").Len(), GP64())
	pc := Load(Param("c").Base(), GP64())
	pv := Load(Param("v").Base(), GP64())
	pd := Load(Param("d").Base(), GP64())
	pp := Load(Param("pred").Base(), GP64())
	pi := Load(Param("improved").Base(), GP64())
	pk := Load(Param("cand").Base(), GP64())
	pi0, pk0 := GP64(), GP64()
	MOVQ(pi, pi0)
	MOVQ(pk, pk0)
	offx := Load(Param("off"), XMM())
	off := ZMM()
	VBROADCASTSD(offx, off)
	taux := Load(Param("tau"), XMM())
	tau := ZMM()
	VBROADCASTSD(taux, tau)
	rowg := Load(Param("row"), GP64())
	row := ZMM()
	VPBROADCASTQ(rowg, row)
	idx, eight := ZMM(), ZMM()
	VMOVDQU64(iota16, idx)
	g8 := GP64()
	MOVQ(U64(8), g8)
	VPBROADCASTQ(g8, eight)

	j := GP64()
	XORQ(j, j)
	Label("loop")
	CMPQ(j, n)
	JAE(LabelRef("done"))
	prefetch(pc, j)
	at := func(p reg.Register) Mem { return Mem{Base: p, Index: j, Scale: 8} }
	Comment("r = c - v; t = r + off; where t < d: d = t, pred = row, emit j.")
	r, t, dd := ZMM(), ZMM(), ZMM()
	loadC(cmem(pc, j, 0), r)
	VSUBPD(at(pv), r, r)
	VADDPD(off, r, t)
	VMOVUPD(at(pd), dd)
	ku := K()
	VCMPPD(U8(cmpLT), dd, t, ku)
	KORTESTB(ku, ku)
	JZ(LabelRef("noimp"))
	VMOVUPD(t, ku, at(pd))
	VMOVDQU64(row, ku, at(pp))
	emit(ku, idx, pi)
	Label("noimp")
	Comment("Where r < tau: emit j as a candidate.")
	kc := K()
	VCMPPD(U8(cmpLT), tau, r, kc)
	KORTESTB(kc, kc)
	JZ(LabelRef("nocand"))
	emit(kc, idx, pk)
	Label("nocand")
	VPADDQ(eight, idx, idx)
	ADDQ(Imm(8), j)
	JMP(LabelRef("loop"))

	Label("done")
	SUBQ(pi0, pi)
	SHRQ(Imm(3), pi)
	Store(pi, ReturnIndex(0))
	SUBQ(pk0, pk)
	SHRQ(Imm(3), pk)
	Store(pk, ReturnIndex(1))
	VZEROUPPER()
	RET()
}

// emit stores the lanes of idx selected by k contiguously at *p and
// advances p past them.
func emit(k reg.OpmaskVirtual, idx reg.VecVirtual, p reg.Register) {
	sel := ZMM()
	VPCOMPRESSQ(idx, k, sel)
	VMOVDQU64(sel, Mem{Base: p})
	cnt := GP32()
	KMOVB(k, cnt)
	POPCNTL(cnt, cnt)
	LEAQ(Mem{Base: p, Index: cnt.As64(), Scale: 8}, p)
}

// expandAVX2: 4 columns per iteration; the selected lanes are rare, so
// they are stored one by one from the movemask bits.
func expandAVX2() {
	TEXT(kname("LapExpand", "AVX2"), NOSPLIT, ksig(expandSig))
	Doc(kname("LapExpand", "AVX2")+" is "+kname("LapExpand", "Generic")+" with AVX2: 4 columns per iteration.",
		"len(c) must be a multiple of 16.")
	n := Load(Param("c").Len(), GP64())
	pc := Load(Param("c").Base(), GP64())
	pv := Load(Param("v").Base(), GP64())
	pd := Load(Param("d").Base(), GP64())
	pp := Load(Param("pred").Base(), GP64())
	pi := Load(Param("improved").Base(), GP64())
	pk := Load(Param("cand").Base(), GP64())
	ni, nk := GP64(), GP64()
	XORQ(ni, ni)
	XORQ(nk, nk)
	offx := Load(Param("off"), XMM())
	off := YMM()
	VBROADCASTSD(offx, off)
	taux := Load(Param("tau"), XMM())
	tau := YMM()
	VBROADCASTSD(taux, tau)
	rowg := Load(Param("row"), GP64())
	rowx := XMM()
	MOVQ(rowg, rowx)
	row := YMM()
	VPBROADCASTQ(rowx, row)

	j := GP64()
	XORQ(j, j)
	Label("loop")
	CMPQ(j, n)
	JAE(LabelRef("done"))
	prefetch(pc, j)
	at := func(p reg.Register) Mem { return Mem{Base: p, Index: j, Scale: 8} }
	r, t, dd, mu := YMM(), YMM(), YMM(), YMM()
	loadC(cmem(pc, j, 0), r)
	VSUBPD(at(pv), r, r)
	VADDPD(off, r, t)
	VMOVUPD(at(pd), dd)
	VCMPPD(U8(cmpLT), dd, t, mu)
	bits := GP32()
	VMOVMSKPD(mu, bits)
	TESTL(bits, bits)
	JZ(LabelRef("noimp"))
	VBLENDVPD(mu, t, dd, dd)
	VMOVUPD(dd, at(pd))
	p := YMM()
	VMOVUPD(at(pp), p)
	VBLENDVPD(mu, row, p, p)
	VMOVUPD(p, at(pp))
	emitBits(bits, j, pi, ni, "imp")
	Label("noimp")
	mc := YMM()
	VCMPPD(U8(cmpLT), tau, r, mc)
	cbits := GP32()
	VMOVMSKPD(mc, cbits)
	TESTL(cbits, cbits)
	JZ(LabelRef("nocand"))
	emitBits(cbits, j, pk, nk, "cand")
	Label("nocand")
	ADDQ(Imm(4), j)
	JMP(LabelRef("loop"))

	Label("done")
	Store(ni, ReturnIndex(0))
	Store(nk, ReturnIndex(1))
	VZEROUPPER()
	RET()
}

// emitBits stores j + b at p[cnt] for every set bit b of bits, in
// increasing order, counting in cnt. bits is consumed.
func emitBits(bits reg.GPVirtual, j, p, cnt reg.Register, name string) {
	b, tmp := GP64(), GP64()
	Label(name + "bit")
	BSFL(bits, b.As32())
	LEAQ(Mem{Base: j, Index: b, Scale: 1}, tmp)
	MOVQ(tmp, Mem{Base: p, Index: cnt, Scale: 8})
	INCQ(cnt)
	LEAL(Mem{Base: bits, Disp: -1}, tmp.As32())
	ANDL(tmp.As32(), bits)
	JNZ(LabelRef(name + "bit"))
}

// checkKernel: 16 entries per iteration; |x| via an AND with the
// sign-clearing mask, then "not (|x| <= limit)", unordered-true, so NaN
// counts as bad.
func checkKernel(avx512 bool) {
	name, vec, lanes := kname("LapCheck", "AVX2"), YMM, 4
	if avx512 {
		name, vec, lanes = kname("LapCheck", "AVX512"), ZMM, 8
	}
	TEXT(name, NOSPLIT, ksig("func(x []float64, limit float64) int"))
	Doc(name+" is "+kname("LapCheck", "Generic")+" with "+map[bool]string{true: "AVX-512 (F, DQ)", false: "AVX2"}[avx512]+":",
		"16 entries per iteration. len(x) must be a multiple of 16.")
	n := Load(Param("x").Len(), GP64())
	px := Load(Param("x").Base(), GP64())
	limx := Load(Param("limit"), XMM())
	lim, abs := vec(), vec()
	VBROADCASTSD(limx, lim)
	g := GP64()
	MOVQ(U64(0x7fffffffffffffff), g)
	if avx512 {
		VPBROADCASTQ(g, abs)
	} else {
		x := XMM()
		MOVQ(g, x)
		VPBROADCASTQ(x, abs)
	}
	j := GP64()
	XORQ(j, j)
	Label("loop")
	CMPQ(j, n)
	JAE(LabelRef("done"))
	for q := 0; q < 16/lanes; q++ {
		a := vec()
		loadC(cmem(px, j, 8*lanes*q), a)
		VANDPD(abs, a, a)
		bits := GP32()
		if avx512 {
			k := K()
			VCMPPD(U8(0x06), lim, a, k) // NLE_UQ: !(a <= lim)
			KMOVB(k, bits)
		} else {
			m := vec()
			VCMPPD(U8(0x06), lim, a, m)
			VMOVMSKPD(m, bits)
		}
		TESTL(bits, bits)
		JZ(LabelRef(fmt.Sprintf("ok%d", q)))
		b := GP32()
		BSFL(bits, b)
		ADDQ(Imm(uint64(lanes*q)), j)
		ADDQ(b.As64(), j)
		Store(j, ReturnIndex(0))
		VZEROUPPER()
		RET()
		Label(fmt.Sprintf("ok%d", q))
	}
	ADDQ(Imm(16), j)
	JMP(LabelRef("loop"))
	Label("done")
	Store(n, ReturnIndex(0))
	VZEROUPPER()
	RET()
}
