// Command conv generates the AVX2 and AVX-512 Winograd F(2×2, 3×3)
// transform kernels of package internal/simd (internal/simd/conv_amd64.s and
// internal/simd/conv_amd64.stubs.go). Each routine transforms 16 tiles side by side,
// one tile per vector lane (AVX2: two 8-lane halves), on buffers the Go
// caller has laid out for contiguous loads, so the kernels need no
// shuffles, masks or tails. Run it through `go generate ./asm/` (see
// asm/generate.go), never by hand.
package main

import (
	"fmt"

	"github.com/mmcloughlin/avo/attr"
	. "github.com/mmcloughlin/avo/build"
	. "github.com/mmcloughlin/avo/operand"
	"github.com/mmcloughlin/avo/reg"
)

type isa struct {
	name  string
	lanes int
	vec   func() reg.VecVirtual
}

var (
	avx2   = isa{"AVX2", 8, YMM}
	avx512 = isa{"AVX512", 16, ZMM}
)

// Layout of the input scratch: element (r, j) of the 4×4 input tiles of the
// 16 lanes starts at r·64 + colOff[j] (16 consecutive lanes).
const rowStride = 64

var colOff = [4]int{0, 16, 32, 48}

func main() {
	ConstraintExpr("amd64,!purego")
	evens = GLOBL("winoEvens", RODATA|NOPTR)
	for i := 0; i < 16; i++ {
		DATA(4*i, U32(2*i))
	}
	odds = GLOBL("winoOdds", RODATA|NOPTR)
	for i := 0; i < 16; i++ {
		DATA(4*i, U32(2*i+1))
	}
	// Interleaving of two vectors a, b: lo = a0 b0 a1 b1 … a7 b7,
	// hi = a8 b8 … a15 b15 (VPERMT2PS indices into a‖b).
	interLo = GLOBL("winoInterLo", RODATA|NOPTR)
	for i := 0; i < 16; i++ {
		DATA(4*i, U32(i/2+16*(i%2)))
	}
	interHi = GLOBL("winoInterHi", RODATA|NOPTR)
	for i := 0; i < 16; i++ {
		DATA(4*i, U32(8+i/2+16*(i%2)))
	}
	for _, s := range []isa{avx2, avx512} {
		genInput(s)
		genInputRow(s)
		genInputGather(s)
		genOutput(s)
		genGradOut(s)
	}
	genOutputRows()
	genGradOutRows()
	genMaxPool()
	genInputGatherMasked()
	genInputW16()
	genInputPerm()
	genOutputPerm()
	genGradOutPerm()
	genDirect3x3()
	genDirectGradW()
	genInputW32()
	Generate()
}

func genInput(s isa) {
	TEXT("WinoInput16"+s.name, NOSPLIT, "func(s, o []float32, stride int)")
	Doc("WinoInput16"+s.name+" is WinoInput16Generic: the Winograd input transform Bᵀ d B",
		"of 16 tiles, one per lane; len(s) ≥ 256, stride ≥ 16, len(o) ≥ 15·stride + 16.")
	sp := Load(Param("s").Base(), GP64())
	op := Load(Param("o").Base(), GP64())
	st := Load(Param("stride"), GP64())
	SHLQ(Imm(2), st) // bytes per output row
	inputTransform(s, sp, op, st)
	VZEROUPPER()
	RET()
}

// inputTransform emits Bᵀ d B for 16 lanes read from the scratch layout at
// sp (row r, column j at r·64 + colOff[j]), writing output row ξ at
// op + ξ·st (st in bytes).
func inputTransform(s isa, sp, op, st reg.Register) {
	// Bᵀ row i as (row a, row b, sign): e_i = d_a + sign·d_b.
	bt := [4]struct {
		a, b int
		add  bool
	}{{0, 2, false}, {1, 2, true}, {2, 1, false}, {1, 3, false}}
	for h := 0; h < 16/s.lanes; h++ {
		lane := 4 * h * s.lanes
		p := GP64()
		MOVQ(op, p)
		for i := 0; i < 4; i++ {
			Comment(fmt.Sprintf("lanes %d…%d, Bᵀ row %d", h*s.lanes, (h+1)*s.lanes-1, i))
			var e [4]reg.VecVirtual
			for j := 0; j < 4; j++ {
				x, y := s.vec(), s.vec()
				VMOVUPS(Mem{Base: sp, Disp: 4*(bt[i].a*rowStride+colOff[j]) + lane}, x)
				VMOVUPS(Mem{Base: sp, Disp: 4*(bt[i].b*rowStride+colOff[j]) + lane}, y)
				if bt[i].add {
					VADDPS(y, x, x)
				} else {
					VSUBPS(y, x, x)
				}
				e[j] = x
			}
			// (e B)_j: e0 − e2, e1 + e2, e2 − e1, e1 − e3.
			out := [4]reg.VecVirtual{s.vec(), s.vec(), s.vec(), s.vec()}
			VSUBPS(e[2], e[0], out[0])
			VADDPS(e[2], e[1], out[1])
			VSUBPS(e[1], e[2], out[2])
			VSUBPS(e[3], e[1], out[3])
			for j := 0; j < 4; j++ {
				VMOVUPS(out[j], Mem{Base: p, Disp: lane})
				ADDQ(st, p)
			}
		}
	}
}

// odds, interLo and interHi are VPERMT2PS indices (see main).
var odds, interLo, interHi Mem

// evens is the VPERMT2PS index selecting elements 0, 2, …, 30 of two
// concatenated zmm registers.
var evens Mem

// stride2 loads the 16-lane (AVX2: 8-lane) vector of every second float
// starting at base+4·off: two plain loads and one permute.
func stride2(s isa, base reg.GPVirtual, off int) reg.VecVirtual {
	a := s.vec()
	if s.lanes == 16 {
		idx := ZMM()
		VMOVUPS(evens, idx)
		VMOVUPS(Mem{Base: base, Disp: 4 * off}, a)
		VPERMT2PS(Mem{Base: base, Disp: 4 * (off + 16)}, idx, a)
		return a
	}
	b := s.vec()
	VMOVUPS(Mem{Base: base, Disp: 4 * off}, a)
	VMOVUPS(Mem{Base: base, Disp: 4 * (off + 8)}, b)
	VSHUFPS(Imm(0x88), b, a, a) // a0 a2 b0 b2 | a4 a6 b4 b6
	VPERMPD(Imm(0xd8), a, a)    // a0 a2 a4 a6 b0 b2 b4 b6
	return a
}

func genInputRow(s isa) {
	TEXT("WinoInputRow16"+s.name, NOSPLIT, "func(rows []float32, rs int, o []float32, stride int)")
	Doc("WinoInputRow16"+s.name+" is WinoInputRow16Generic: the Winograd input transform of 16",
		"horizontally adjacent tiles read straight from 4 input rows; rs ≥ 34,",
		"len(rows) ≥ 3·rs + 34, stride ≥ 16, len(o) ≥ 15·stride + 16.")
	rp := GP64()
	Load(Param("rows").Base(), rp)
	rs := Load(Param("rs"), GP64())
	op := Load(Param("o").Base(), GP64())
	st := Load(Param("stride"), GP64())
	SHLQ(Imm(2), st)
	SHLQ(Imm(2), rs)
	rows := rowPointers(rp, rs)
	bt := [4]struct {
		a, b int
		add  bool
	}{{0, 2, false}, {1, 2, true}, {2, 1, false}, {1, 3, false}}
	for h := 0; h < 16/s.lanes; h++ {
		p := GP64()
		MOVQ(op, p)
		for i := 0; i < 4; i++ {
			Comment(fmt.Sprintf("lanes %d…%d, Bᵀ row %d", h*s.lanes, (h+1)*s.lanes-1, i))
			var e [4]reg.VecVirtual
			for j := 0; j < 4; j++ {
				x := stride2(s, rows[bt[i].a], 2*h*s.lanes+j)
				y := stride2(s, rows[bt[i].b], 2*h*s.lanes+j)
				if bt[i].add {
					VADDPS(y, x, x)
				} else {
					VSUBPS(y, x, x)
				}
				e[j] = x
			}
			out := [4]reg.VecVirtual{s.vec(), s.vec(), s.vec(), s.vec()}
			VSUBPS(e[2], e[0], out[0])
			VADDPS(e[2], e[1], out[1])
			VSUBPS(e[1], e[2], out[2])
			VSUBPS(e[3], e[1], out[3])
			for j := 0; j < 4; j++ {
				VMOVUPS(out[j], Mem{Base: p, Disp: 4 * h * s.lanes})
				ADDQ(st, p)
			}
		}
	}
	VZEROUPPER()
	RET()
}

func genOutput(s isa) {
	TEXT("WinoOutput16"+s.name, NOSPLIT, "func(m []float32, stride int, bias float32, o []float32)")
	Doc("WinoOutput16"+s.name+" is WinoOutput16Generic: the Winograd output transform Aᵀ M A + bias",
		"of 16 tiles, one per lane; stride ≥ 16, len(m) ≥ 15·stride + 16, len(o) ≥ 64.")
	mp := Load(Param("m").Base(), GP64())
	st := Load(Param("stride"), GP64())
	op := Load(Param("o").Base(), GP64())
	bx := XMM()
	Load(Param("bias"), bx)
	b := s.vec()
	VBROADCASTSS(bx, b)
	SHLQ(Imm(2), st) // bytes per M row
	st4 := GP64()
	MOVQ(st, st4)
	SHLQ(Imm(2), st4) // bytes per 4 M rows
	for h := 0; h < 16/s.lanes; h++ {
		lane := 4 * h * s.lanes
		Comment(fmt.Sprintf("lanes %d…%d: s = Aᵀ M, column by column", h*s.lanes, (h+1)*s.lanes-1))
		var s0, s1 [4]reg.VecVirtual
		p := GP64()
		MOVQ(mp, p)
		for j := 0; j < 4; j++ {
			p2 := GP64()
			LEAQ(Mem{Base: p, Index: st4, Scale: 2}, p2)
			m0, m1, m2, m3 := s.vec(), s.vec(), s.vec(), s.vec()
			VMOVUPS(Mem{Base: p, Disp: lane}, m0)
			VMOVUPS(Mem{Base: p, Index: st4, Scale: 1, Disp: lane}, m1)
			VMOVUPS(Mem{Base: p2, Disp: lane}, m2)
			VMOVUPS(Mem{Base: p2, Index: st4, Scale: 1, Disp: lane}, m3)
			// s0 = m0 + m1 + m2, s1 = m1 − m2 − m3.
			s0[j], s1[j] = s.vec(), s.vec()
			VADDPS(m1, m0, s0[j])
			VADDPS(m2, s0[j], s0[j])
			VSUBPS(m2, m1, s1[j])
			VSUBPS(m3, s1[j], s1[j])
			if j < 3 {
				ADDQ(st, p)
			}
		}
		Comment("y = s A + bias")
		for a, sa := range [2][4]reg.VecVirtual{s0, s1} {
			y0, y1 := s.vec(), s.vec()
			VADDPS(sa[1], sa[0], y0)
			VADDPS(sa[2], y0, y0)
			VADDPS(b, y0, y0)
			VSUBPS(sa[2], sa[1], y1)
			VSUBPS(sa[3], y1, y1)
			VADDPS(b, y1, y1)
			VMOVUPS(y0, Mem{Base: op, Disp: 4*(2*a)*16 + lane})
			VMOVUPS(y1, Mem{Base: op, Disp: 4*(2*a+1)*16 + lane})
		}
	}
	VZEROUPPER()
	RET()
}

func genGradOut(s isa) {
	TEXT("WinoGradOut16"+s.name, NOSPLIT, "func(d, o []float32, stride int)")
	Doc("WinoGradOut16"+s.name+" is WinoGradOut16Generic: the adjoint output transform A dY Aᵀ",
		"of 16 tiles, one per lane; len(d) ≥ 64, stride ≥ 16, len(o) ≥ 15·stride + 16.")
	dp := Load(Param("d").Base(), GP64())
	op := Load(Param("o").Base(), GP64())
	st := Load(Param("stride"), GP64())
	SHLQ(Imm(2), st) // bytes per output row
	for h := 0; h < 16/s.lanes; h++ {
		lane := 4 * h * s.lanes
		Comment(fmt.Sprintf("lanes %d…%d: r = A dY (4×2), dM = r Aᵀ", h*s.lanes, (h+1)*s.lanes-1))
		a, b, c, d := s.vec(), s.vec(), s.vec(), s.vec()
		VMOVUPS(Mem{Base: dp, Disp: lane}, a)
		VMOVUPS(Mem{Base: dp, Disp: 64 + lane}, b)
		VMOVUPS(Mem{Base: dp, Disp: 128 + lane}, c)
		VMOVUPS(Mem{Base: dp, Disp: 192 + lane}, d)
		gradOutTransform(s, a, b, c, d, op, st, lane)
	}
	VZEROUPPER()
	RET()
}

// genInputGather: the input transform of 16 tiles anywhere in a padded
// buffer, tile l's 4×4 patch starting at p[idx[l]] with row stride ps. The
// patches are fetched with VGATHERDPS (one gather per patch element and
// lane group), so the caller only has to zero-pad the planes once, not
// rearrange every tile.
func genInputGather(s isa) {
	// The AVX2 version keeps a 1 KiB scratch on the stack: too big for
	// NOSPLIT, so it gets the usual stack check.
	var attr attr.Attribute = NOSPLIT
	if s.lanes == 8 {
		attr = 0
	}
	TEXT("WinoInputGather16"+s.name, attr, "func(p []float32, idx []int32, ps int, o []float32, stride int)")
	Doc("WinoInputGather16"+s.name+" is WinoInputGather16Generic: the Winograd input transform of",
		"16 tiles gathered from p, d[r][j] = p[idx[l] + r·ps + j] for lane l;",
		"len(idx) ≥ 16, every idx[l] ≥ 0 and idx[l] + 3·ps + 3 < len(p), stride ≥ 16,",
		"len(o) ≥ 15·stride + 16.")
	pp := GP64()
	Load(Param("p").Base(), pp)
	ip := Load(Param("idx").Base(), GP64())
	ps := Load(Param("ps"), GP64())
	op := Load(Param("o").Base(), GP64())
	st := Load(Param("stride"), GP64())
	SHLQ(Imm(2), st)
	SHLQ(Imm(2), ps)
	rows := rowPointers(pp, ps)
	if s.lanes == 8 {
		// 16 ymm registers cannot hold 16 patch vectors and the index:
		// gather into a stack copy of WinoInput16's scratch layout, then
		// transform from it.
		sc := AllocLocal(4 * 256)
		for h := 0; h < 2; h++ {
			Comment(fmt.Sprintf("lanes %d…%d: gather the 4×4 patches", 8*h, 8*h+7))
			ix := YMM()
			VMOVDQU(Mem{Base: ip, Disp: 32 * h}, ix)
			for r := 0; r < 4; r++ {
				for j := 0; j < 4; j++ {
					d, mask := YMM(), YMM()
					VXORPS(d, d, d)
					VPCMPEQD(mask, mask, mask)
					VGATHERDPS(mask, Mem{Base: rows[r], Index: ix, Scale: 4, Disp: 4 * j}, d)
					VMOVUPS(d, sc.Offset(4*(r*rowStride+colOff[j])+32*h))
				}
			}
		}
		sp := GP64()
		LEAQ(sc, sp)
		inputTransform(s, sp, op, st)
		VZEROUPPER()
		RET()
		return
	}
	Comment("gather the 4×4 patches (a gather clears its mask: copy an all-ones one)")
	ones, t := K(), GP32()
	MOVL(U32(0xffff), t)
	KMOVW(t, ones)
	ix := ZMM()
	VMOVUPS(Mem{Base: ip}, ix)
	var d [4][4]reg.VecVirtual
	for r := 0; r < 4; r++ {
		for j := 0; j < 4; j++ {
			d[r][j] = ZMM()
			VXORPS(d[r][j], d[r][j], d[r][j])
			k := K()
			KMOVW(ones, k)
			VGATHERDPS(Mem{Base: rows[r], Index: ix, Scale: 4, Disp: 4 * j}, k, d[r][j])
		}
	}
	inputTransformRegs(d, op, st)
	VZEROUPPER()
	RET()
}

// gradOutTransform emits dM = A dY Aᵀ for the lanes of a, b, c, d (dY's four
// entries) at byte offset lane of the output rows op + ξ·st.
func gradOutTransform(s isa, a, b, c, d reg.VecVirtual, op, st reg.Register, lane int) {
	zero := s.vec()
	VXORPS(zero, zero, zero)
	// Rows of r: (a, b), (a+c, b+d), (a−c, b−d), (−c, −d).
	r := [4][2]reg.VecVirtual{{a, b}, {s.vec(), s.vec()}, {s.vec(), s.vec()}, {s.vec(), s.vec()}}
	VADDPS(c, a, r[1][0])
	VADDPS(d, b, r[1][1])
	VSUBPS(c, a, r[2][0])
	VSUBPS(d, b, r[2][1])
	VSUBPS(c, zero, r[3][0])
	VSUBPS(d, zero, r[3][1])
	p := GP64()
	MOVQ(op, p)
	for i := 0; i < 4; i++ {
		// Row i of dM: r0, r0 + r1, r0 − r1, −r1.
		x1, x2, x3 := s.vec(), s.vec(), s.vec()
		VADDPS(r[i][1], r[i][0], x1)
		VSUBPS(r[i][1], r[i][0], x2)
		VSUBPS(r[i][1], zero, x3)
		for j, v := range []reg.VecVirtual{r[i][0], x1, x2, x3} {
			VMOVUPS(v, Mem{Base: p, Disp: lane})
			if i < 3 || j < 3 {
				ADDQ(st, p)
			}
		}
	}
}

// offsetParams loads four element offsets and returns them as byte
// addresses base + 4·o.
func offsetParams(base reg.Register, names ...string) []reg.GPVirtual {
	var ps []reg.GPVirtual
	for _, n := range names {
		o := Load(Param(n), GP64())
		p := GP64()
		LEAQ(Mem{Base: base, Index: o, Scale: 4}, p)
		ps = append(ps, p)
	}
	return ps
}

// genOutputRows: the output transform of 16 tiles whose 2×2 outputs form
// two runs of 8 horizontally adjacent tiles, stored as four 16-float row
// segments: lanes 0…7 of output row a at y[oa0…], lanes 8…15 at y[oa1…].
func genOutputRows() {
	TEXT("WinoOutputRows16AVX512", NOSPLIT, "func(m []float32, stride int, bias float32, y []float32, o00, o01, o10, o11 int)")
	Doc("WinoOutputRows16AVX512 is WinoOutputRows16Generic: WinoOutput16 of 16 tiles stored",
		"straight into the output rows; stride ≥ 16, len(m) ≥ 15·stride + 16, and",
		"each y[oab : oab+16] in range.")
	mp := Load(Param("m").Base(), GP64())
	st := Load(Param("stride"), GP64())
	yp := GP64()
	Load(Param("y").Base(), yp)
	dst := offsetParams(yp, "o00", "o01", "o10", "o11")
	bx := XMM()
	Load(Param("bias"), bx)
	b := ZMM()
	VBROADCASTSS(bx, b)
	SHLQ(Imm(2), st)
	st4 := GP64()
	MOVQ(st, st4)
	SHLQ(Imm(2), st4)
	s0, s1 := outputColumns(mp, st, st4)
	Comment("y = s A + bias, interleaved into row segments")
	for a, sa := range [2][4]reg.VecVirtual{s0, s1} {
		v0, v1 := ZMM(), ZMM()
		VADDPS(sa[1], sa[0], v0)
		VADDPS(sa[2], v0, v0)
		VADDPS(b, v0, v0)
		VSUBPS(sa[2], sa[1], v1)
		VSUBPS(sa[3], v1, v1)
		VADDPS(b, v1, v1)
		for h, tbl := range []Mem{interLo, interHi} {
			idx, t := ZMM(), ZMM()
			VMOVUPS(tbl, idx)
			VMOVAPS(v0, t)
			VPERMT2PS(v1, idx, t)
			VMOVUPS(t, Mem{Base: dst[2*a+h]})
		}
	}
	VZEROUPPER()
	RET()
}

// genGradOutRows: WinoGradOut16 of 16 tiles read from four 16-float row
// segments (the layout of genOutputRows).
func genGradOutRows() {
	TEXT("WinoGradOutRows16AVX512", NOSPLIT, "func(dy []float32, o00, o01, o10, o11 int, o []float32, stride int)")
	Doc("WinoGradOutRows16AVX512 is WinoGradOutRows16Generic: WinoGradOut16 of 16 tiles",
		"read straight from the output-gradient rows; each dy[oab : oab+16] in range,",
		"stride ≥ 16, len(o) ≥ 15·stride + 16.")
	dp := GP64()
	Load(Param("dy").Base(), dp)
	src := offsetParams(dp, "o00", "o01", "o10", "o11")
	op := Load(Param("o").Base(), GP64())
	st := Load(Param("stride"), GP64())
	SHLQ(Imm(2), st)
	var v [4]reg.VecVirtual
	for a := 0; a < 2; a++ {
		lo, hi := ZMM(), ZMM()
		VMOVUPS(Mem{Base: src[2*a]}, lo)
		VMOVUPS(Mem{Base: src[2*a+1]}, hi)
		for e, tbl := range []Mem{evens, odds} {
			idx, t := ZMM(), ZMM()
			VMOVUPS(tbl, idx)
			VMOVAPS(lo, t)
			VPERMT2PS(hi, idx, t)
			v[2*a+e] = t
		}
	}
	gradOutTransform(avx512, v[0], v[1], v[2], v[3], op, st, 0)
	VZEROUPPER()
	RET()
}

// genMaxPool: 16 windows of the 2×2 stride-2 max-pool from two input rows,
// first maximum in scan order (a, b, c, d) as the scalar loop; windows with
// a NaN are reported in the returned mask for the caller to redo.
func genMaxPool() {
	TEXT("MaxPool2x2Row16AVX512", NOSPLIT, "func(r0, r1, y []float32, idx []int32, base, w int) int")
	Doc("MaxPool2x2Row16AVX512 is MaxPool2x2Row16Generic: y[j] = the first maximum of",
		"(r0[2j], r0[2j+1], r1[2j], r1[2j+1]) and idx[j] = base + 2j + (0, 1, w or w+1)",
		"its offset, for j < 16; returns the mask of windows holding a NaN, whose",
		"y and idx are left unspecified. len(r0), len(r1) ≥ 32, len(y), len(idx) ≥ 16.")
	p0 := Load(Param("r0").Base(), GP64())
	p1 := Load(Param("r1").Base(), GP64())
	yp := Load(Param("y").Base(), GP64())
	ip := Load(Param("idx").Base(), GP64())
	bs, w := GP64(), GP64()
	Load(Param("base"), bs)
	Load(Param("w"), w)
	ev, od := ZMM(), ZMM()
	VMOVUPS(evens, ev)
	VMOVUPS(odds, od)
	var v [4]reg.VecVirtual // a, b, c, d
	for r, p := range []reg.Register{p0, p1} {
		lo, hi := ZMM(), ZMM()
		VMOVUPS(Mem{Base: p}, lo)
		VMOVUPS(Mem{Base: p, Disp: 64}, hi)
		e, o := ZMM(), ZMM()
		VMOVAPS(lo, e)
		VPERMT2PS(hi, ev, e)
		VMOVAPS(lo, o)
		VPERMT2PS(hi, od, o)
		v[2*r], v[2*r+1] = e, o
	}
	Comment("NaN windows")
	k, kn := K(), K()
	VCMPPS(Imm(3), v[1], v[0], k) // unordered
	VCMPPS(Imm(3), v[3], v[2], kn)
	KORW(kn, k, k)
	Comment("offsets: base + 2j, plus 1, w or w+1 where b, c or d wins")
	off := ZMM()
	VPXORD(off, off, off)
	one, wv, w1 := ZMM(), ZMM(), ZMM()
	t := GP64()
	MOVQ(U64(1), t)
	VPBROADCASTD(t.As32(), one)
	VPBROADCASTD(w.As32(), wv)
	INCQ(w)
	VPBROADCASTD(w.As32(), w1)
	best := v[0]
	for i, add := range []reg.VecVirtual{one, wv, w1} {
		m := K()
		VCMPPS(Imm(0x1e), best, v[i+1], m) // v > best, ordered (GT_OQ)
		VMOVAPS(v[i+1], m, best)
		VMOVDQA32(add, m, off)
	}
	ramp := ZMM()
	VMOVUPS(evens, ramp) // 0, 2, 4, …, 30
	bv := ZMM()
	VPBROADCASTD(bs.As32(), bv)
	VPADDD(ramp, bv, bv)
	VPADDD(off, bv, bv)
	VMOVUPS(best, Mem{Base: yp})
	VMOVDQU32(bv, Mem{Base: ip})
	r := GP32()
	KMOVW(k, r)
	VZEROUPPER()
	Store(r.As64(), ReturnIndex(0))
	RET()
}

// genInputGatherMasked: genInputGather for AVX-512 straight from the
// unpadded input planes: element (r, j) of lane l's patch is gathered only
// where bit l of masks[r] & masks[4+j] is set (the row and column inside
// the plane), else 0; masked-off lanes touch no memory.
func genInputGatherMasked() {
	TEXT("WinoInputGatherMasked16AVX512", NOSPLIT, "func(x []float32, idx []int32, w int, masks []uint16, o []float32, stride int)")
	Doc("WinoInputGatherMasked16AVX512 is WinoInputGatherMasked16Generic: the Winograd input",
		"transform of 16 tiles whose patches are d[r][j] = x[idx[l] + r·w + j] where bit l of",
		"masks[r] & masks[4+j] is set, else 0; those elements must lie in x (the others",
		"may be outside it). len(idx) ≥ 16, len(masks) ≥ 8, stride ≥ 16,",
		"len(o) ≥ 15·stride + 16.")
	xp := GP64()
	Load(Param("x").Base(), xp)
	ip := Load(Param("idx").Base(), GP64())
	w := Load(Param("w"), GP64())
	mp := Load(Param("masks").Base(), GP64())
	op := Load(Param("o").Base(), GP64())
	st := Load(Param("stride"), GP64())
	SHLQ(Imm(2), st)
	SHLQ(Imm(2), w)
	rows := rowPointers(xp, w)
	ix := ZMM()
	VMOVUPS(Mem{Base: ip}, ix)
	var d [4][4]reg.VecVirtual
	for r := 0; r < 4; r++ {
		rm := GP32()
		MOVWLZX(Mem{Base: mp, Disp: 2 * r}, rm)
		for j := 0; j < 4; j++ {
			d[r][j] = ZMM()
			VXORPS(d[r][j], d[r][j], d[r][j])
			t := GP32()
			MOVWLZX(Mem{Base: mp, Disp: 2 * (4 + j)}, t)
			ANDL(rm, t)
			k := K()
			KMOVW(t, k)
			VGATHERDPS(Mem{Base: rows[r], Index: ix, Scale: 4, Disp: 4 * j}, k, d[r][j])
		}
	}
	inputTransformRegs(d, op, st)
	VZEROUPPER()
	RET()
}

// genInputW16: the input transform of the 16 tiles of two tile rows of a
// 16-wide plane, from its input rows straight: patch row r of tile row
// th (lanes 0…7) is input row 2·th−1+r, of tile row th+1 (lanes 8…15) input
// row 2·th+1+r, so each patch element (r, j) of the 16 lanes is the even
// elements of two row loads at column j−1 — one VPERMT2PS. Column −1 and
// columns past 15 are masked (zero) in the loads; rows outside the plane
// are passed as zero rows.
func genInputW16() {
	TEXT("WinoInputW16AVX512", NOSPLIT, "func(rows *[6][]float32, o []float32, stride int)")
	Doc("WinoInputW16AVX512 is WinoInputW16Generic: the Winograd input transform of the",
		"16 tiles of two tile rows of a 16-wide plane, rows[i] input row 2·th−1+i",
		"(len ≥ 16; a zero row where it is outside the plane); stride ≥ 16,",
		"len(o) ≥ 15·stride + 16.")
	rp := Load(Param("rows"), GP64())
	op := Load(Param("o").Base(), GP64())
	st := Load(Param("stride"), GP64())
	SHLQ(Imm(2), st)
	var rows [6]reg.GPVirtual
	for i := range rows {
		rows[i] = GP64()
		MOVQ(Mem{Base: rp, Disp: 24 * i}, rows[i]) // slice i's data pointer
	}
	ev := ZMM()
	VMOVUPS(evens, ev)
	// Load masks for column offsets j−1 = −1, 0, 1, 2 (columns < 0 or > 15
	// are padding).
	var km [4]reg.Register
	t := GP32()
	for j, m := range []uint32{0xfffe, 0xffff, 0x7fff, 0x3fff} {
		km[j] = K()
		MOVL(U32(m), t)
		KMOVW(t, km[j])
	}
	var d [4][4]reg.VecVirtual
	for r := 0; r < 4; r++ {
		for j := 0; j < 4; j++ {
			a, b := ZMM(), ZMM()
			VMOVUPS_Z(Mem{Base: rows[r], Disp: 4 * (j - 1)}, km[j], a)
			VMOVUPS_Z(Mem{Base: rows[r+2], Disp: 4 * (j - 1)}, km[j], b)
			VPERMT2PS(b, ev, a)
			d[r][j] = a
		}
	}
	inputTransformRegs(d, op, st)
	VZEROUPPER()
	RET()
}

// genInputPerm: the input transform of 16 tiles whose patches all lie in
// 64 floats held in four vectors (an 8×8 plane, or four 4×4 planes): patch
// element e = 4r+j of lane l is element tbl[e][l] of s0‖s1 where bit l of
// msk[2e] is set, of s2‖s3 where bit l of msk[2e+1] is set, else 0 — two
// zero-masked VPERMT2PS and an OR per element, no gathers.
func genInputPerm() {
	TEXT("WinoInputPerm16AVX512", NOSPLIT, "func(src *[4][]float32, tbl *[16][16]int32, msk *[32]uint16, o []float32, stride int)")
	Doc("WinoInputPerm16AVX512 is WinoInputPerm16Generic: the Winograd input transform of 16",
		"tiles whose patches are picked from the 64 floats of src[0…3] (16 each) by tbl",
		"and msk; stride ≥ 16, len(o) ≥ 15·stride + 16.")
	sp := Load(Param("src"), GP64())
	tp := Load(Param("tbl"), GP64())
	mp := Load(Param("msk"), GP64())
	op := Load(Param("o").Base(), GP64())
	st := Load(Param("stride"), GP64())
	SHLQ(Imm(2), st)
	sv := loadVectors(sp)
	var d [4][4]reg.VecVirtual
	for e := 0; e < 16; e++ {
		d[e/4][e%4] = maskedPerm2(Mem{Base: tp, Disp: 64 * e}, Mem{Base: mp, Disp: 4 * e}, sv[0], sv[1], sv[2], sv[3])
	}
	inputTransformRegs(d, op, st)
	VZEROUPPER()
	RET()
}

// loadVectors loads the first 16 floats of each of the four slices whose
// headers start at sp (a *[4][]float32).
func loadVectors(sp reg.Register) [4]reg.VecVirtual {
	var sv [4]reg.VecVirtual
	for i := range sv {
		p := GP64()
		MOVQ(Mem{Base: sp, Disp: 24 * i}, p)
		sv[i] = ZMM()
		VMOVUPS(Mem{Base: p}, sv[i])
	}
	return sv
}

// maskedPerm2 emits (a‖b)[tbl] where bit l of the mask at mk is set,
// (c‖d)[tbl] where bit l of the mask at mk+2 is set, else 0: two zero-masked
// VPERMI2PS (they keep the sources and overwrite a copy of the index) and
// an OR.
func maskedPerm2(idxMem, mk Mem, a, b, c, d reg.VecVirtual) reg.VecVirtual {
	idx := ZMM()
	VMOVUPS(idxMem, idx)
	var half [2]reg.VecVirtual
	for h, pair := range [2][2]reg.VecVirtual{{a, b}, {c, d}} {
		k := K()
		KMOVW(Mem{Base: mk.Base, Disp: mk.Disp + 2*h}, k)
		t := ZMM()
		VMOVAPS(idx, t)
		VPERMI2PS_Z(pair[1], pair[0], k, t)
		half[h] = t
	}
	VORPS(half[1], half[0], half[0])
	return half[0]
}

// genOutputPerm: the output transform of 16 tiles whose 2×2 outputs fill
// exactly 64 floats in four vectors (an 8×8 plane, or four 4×4 planes):
// vector i lane λ is Y00‖Y01 [tbl[i][λ]] where bit λ of msk[2i] is set,
// Y10‖Y11 [tbl[i][λ]] where bit λ of msk[2i+1] is set.
func genOutputPerm() {
	TEXT("WinoOutputPerm16AVX512", NOSPLIT, "func(m []float32, stride int, bias float32, dst *[4][]float32, tbl *[4][16]int32, msk *[8]uint16)")
	Doc("WinoOutputPerm16AVX512 is WinoOutputPerm16Generic: the Winograd output transform",
		"of 16 tiles stored into the four 16-float vectors dst[0…3] through tbl and msk;",
		"stride ≥ 16, len(m) ≥ 15·stride + 16, len(dst[i]) ≥ 16.")
	mp := Load(Param("m").Base(), GP64())
	st := Load(Param("stride"), GP64())
	dp := Load(Param("dst"), GP64())
	tp := Load(Param("tbl"), GP64())
	kp := Load(Param("msk"), GP64())
	bx := XMM()
	Load(Param("bias"), bx)
	b := ZMM()
	VBROADCASTSS(bx, b)
	SHLQ(Imm(2), st)
	st4 := GP64()
	MOVQ(st, st4)
	SHLQ(Imm(2), st4)
	s0, s1 := outputColumns(mp, st, st4)
	Comment("Y = s A + bias")
	var y [4]reg.VecVirtual // Y00, Y01, Y10, Y11
	for a, sa := range [2][4]reg.VecVirtual{s0, s1} {
		v0, v1 := ZMM(), ZMM()
		VADDPS(sa[1], sa[0], v0)
		VADDPS(sa[2], v0, v0)
		VADDPS(b, v0, v0)
		VSUBPS(sa[2], sa[1], v1)
		VSUBPS(sa[3], v1, v1)
		VADDPS(b, v1, v1)
		y[2*a], y[2*a+1] = v0, v1
	}
	Comment("permute into the output vectors")
	for i := 0; i < 4; i++ {
		o := maskedPerm2(Mem{Base: tp, Disp: 64 * i}, Mem{Base: kp, Disp: 4 * i}, y[0], y[1], y[2], y[3])
		q := GP64()
		MOVQ(Mem{Base: dp, Disp: 24 * i}, q)
		VMOVUPS(o, Mem{Base: q})
	}
	VZEROUPPER()
	RET()
}

// genGradOutPerm: WinoGradOut16 of 16 tiles whose 2×2 output gradients are
// the 64 floats of four vectors: dY_ab (e = 2a+b) lane l is
// src0‖src1 [tbl[e][l]] where bit l of msk[2e] is set, src2‖src3 [tbl[e][l]]
// where bit l of msk[2e+1] is set.
func genGradOutPerm() {
	TEXT("WinoGradOutPerm16AVX512", NOSPLIT, "func(src *[4][]float32, tbl *[4][16]int32, msk *[8]uint16, o []float32, stride int)")
	Doc("WinoGradOutPerm16AVX512 is WinoGradOutPerm16Generic: WinoGradOut16 of 16 tiles",
		"whose 2×2 output gradients are picked from the 64 floats of src[0…3] by tbl and",
		"msk; len(src[i]) ≥ 16, stride ≥ 16, len(o) ≥ 15·stride + 16.")
	sp := Load(Param("src"), GP64())
	tp := Load(Param("tbl"), GP64())
	kp := Load(Param("msk"), GP64())
	op := Load(Param("o").Base(), GP64())
	st := Load(Param("stride"), GP64())
	SHLQ(Imm(2), st)
	sv := loadVectors(sp)
	var d [4]reg.VecVirtual
	for e := 0; e < 4; e++ {
		d[e] = maskedPerm2(Mem{Base: tp, Disp: 64 * e}, Mem{Base: kp, Disp: 4 * e}, sv[0], sv[1], sv[2], sv[3])
	}
	gradOutTransform(avx512, d[0], d[1], d[2], d[3], op, st, 0)
	VZEROUPPER()
	RET()
}

// genDirect3x3: a direct 3×3, stride-1, pad-1 convolution for inputs with
// few channels (the first layer: 3), 16 output pixels of one row by 16
// output channels per call: 16 accumulators, one masked row load and 16
// broadcast-weight FMAs per tap — no im2col.
func genDirect3x3() {
	TEXT("Direct3x3K16AVX512", NOSPLIT, "func(rows [][]float32, w0 int, w []float32, bias []float32, y []float32, ys int)")
	Doc("Direct3x3K16AVX512 is Direct3x3K16Generic: 16 output pixels × 16 output channels of",
		"a 3×3, stride-1, pad-1 convolution, without im2col.")
	rp := Load(Param("rows").Base(), GP64())
	nr := Load(Param("rows").Len(), GP64())
	w0 := Load(Param("w0"), GP64())
	wp := Load(Param("w").Base(), GP64())
	bp := Load(Param("bias").Base(), GP64())
	yp := Load(Param("y").Base(), GP64())
	ys := Load(Param("ys"), GP64())
	SHLQ(Imm(2), ys)
	Comment("Edge masks: column −1 is padding at w0 = 0, column 16 at w0+16 = W.")
	kl, kr := K(), K()
	t, u := GP32(), GP32()
	MOVL(U32(0xffff), t)
	MOVL(U32(0xfffe), u)
	TESTQ(w0, w0)
	CMOVLEQ(u, t)
	KMOVW(t, kl)
	W := GP64()
	MOVQ(Mem{Base: rp, Disp: 8}, W) // len(rows[0])
	SUBQ(Imm(16), W)
	MOVL(U32(0xffff), t)
	MOVL(U32(0x7fff), u)
	CMPQ(w0, W)
	CMOVLGE(u, t)
	KMOVW(t, kr)
	SHLQ(Imm(2), w0)
	var acc [16]reg.VecVirtual
	for k := range acc {
		acc[k] = ZMM()
		VBROADCASTSS(Mem{Base: bp, Disp: 4 * k}, acc[k])
	}
	end := GP64()
	MOVQ(nr, end)
	IMUL3Q(Imm(24), end, end)
	ADDQ(rp, end) // end of the row slice headers
	Label("row")
	CMPQ(rp, end)
	JGE(LabelRef("store"))
	row := GP64()
	MOVQ(Mem{Base: rp}, row)
	ADDQ(w0, row)
	for sft := 0; sft < 3; sft++ {
		x := ZMM()
		switch sft {
		case 0:
			VMOVUPS_Z(Mem{Base: row, Disp: -4}, kl, x)
		case 1:
			VMOVUPS(Mem{Base: row}, x)
		case 2:
			VMOVUPS_Z(Mem{Base: row, Disp: 4}, kr, x)
		}
		for k := 0; k < 16; k++ {
			VFMADD231PS_BCST(Mem{Base: wp, Disp: 4 * (16*sft + k)}, x, acc[k])
		}
	}
	ADDQ(Imm(24), rp)
	ADDQ(Imm(3*16*4), wp)
	JMP(LabelRef("row"))
	Label("store")
	for k := 0; k < 16; k++ {
		VMOVUPS(acc[k], Mem{Base: yp})
		if k < 15 {
			ADDQ(ys, yp)
		}
	}
	VZEROUPPER()
	RET()
}

// genDirectGradW: the weight gradient of a 3×3, stride-1, pad-1
// convolution for one input channel and 16 output channels along one
// output row: 9 accumulators (one per tap, the 16 channels in the lanes),
// per pixel one load of the transposed output gradient and 9 FMAs with the
// input broadcast from the zero-padded rows.
func genDirectGradW() {
	TEXT("DirectGradW3x3AVX512", NOSPLIT, "func(dyT []float32, rows *[3][]float32, acc []float32)")
	Doc("DirectGradW3x3AVX512 is DirectGradW3x3Generic: acc[16(3r+s) + k] +=",
		"Σ_p dyT[16p + k] · rows[r][p+s] over the len(dyT)/16 pixels p.")
	dp := Load(Param("dyT").Base(), GP64())
	n := Load(Param("dyT").Len(), GP64())
	rp := Load(Param("rows"), GP64())
	ap := Load(Param("acc").Base(), GP64())
	var rows [3]reg.GPVirtual
	for r := range rows {
		rows[r] = GP64()
		MOVQ(Mem{Base: rp, Disp: 24 * r}, rows[r])
	}
	var acc [9]reg.VecVirtual
	for i := range acc {
		acc[i] = ZMM()
		VMOVUPS(Mem{Base: ap, Disp: 64 * i}, acc[i])
	}
	end := GP64()
	LEAQ(Mem{Base: dp, Index: n, Scale: 4}, end)
	Label("pixel")
	CMPQ(dp, end)
	JGE(LabelRef("done"))
	d := ZMM()
	VMOVUPS(Mem{Base: dp}, d)
	for r := 0; r < 3; r++ {
		for sft := 0; sft < 3; sft++ {
			VFMADD231PS_BCST(Mem{Base: rows[r], Disp: 4 * sft}, d, acc[3*r+sft])
		}
		ADDQ(Imm(4), rows[r])
	}
	ADDQ(Imm(64), dp)
	JMP(LabelRef("pixel"))
	Label("done")
	for i := range acc {
		VMOVUPS(acc[i], Mem{Base: ap, Disp: 64 * i})
	}
	VZEROUPPER()
	RET()
}

// inputTransformRegs emits Bᵀ d B for the 16 lanes of the patch vectors d
// (AVX-512), storing output row ξ at op + ξ·st (st in bytes; op advances).
func inputTransformRegs(d [4][4]reg.VecVirtual, op, st reg.Register) {
	bt := [4]struct {
		a, b int
		add  bool
	}{{0, 2, false}, {1, 2, true}, {2, 1, false}, {1, 3, false}}
	for i := 0; i < 4; i++ {
		Comment(fmt.Sprintf("Bᵀ row %d", i))
		var e [4]reg.VecVirtual
		for j := 0; j < 4; j++ {
			e[j] = ZMM()
			if bt[i].add {
				VADDPS(d[bt[i].b][j], d[bt[i].a][j], e[j])
			} else {
				VSUBPS(d[bt[i].b][j], d[bt[i].a][j], e[j])
			}
		}
		out := [4]reg.VecVirtual{ZMM(), ZMM(), ZMM(), ZMM()}
		VSUBPS(e[2], e[0], out[0])
		VADDPS(e[2], e[1], out[1])
		VSUBPS(e[1], e[2], out[2])
		VSUBPS(e[3], e[1], out[3])
		for j := 0; j < 4; j++ {
			VMOVUPS(out[j], Mem{Base: op})
			ADDQ(st, op)
		}
	}
}

// outputColumns emits s = Aᵀ M column by column for the 16 lanes (AVX-512):
// M row ξ at mp + ξ·st, st4 = 4·st (bytes).
func outputColumns(mp, st, st4 reg.Register) (s0, s1 [4]reg.VecVirtual) {
	Comment("s = Aᵀ M, column by column")
	p := GP64()
	MOVQ(mp, p)
	for j := 0; j < 4; j++ {
		p2 := GP64()
		LEAQ(Mem{Base: p, Index: st4, Scale: 2}, p2)
		m0, m1, m2, m3 := ZMM(), ZMM(), ZMM(), ZMM()
		VMOVUPS(Mem{Base: p}, m0)
		VMOVUPS(Mem{Base: p, Index: st4, Scale: 1}, m1)
		VMOVUPS(Mem{Base: p2}, m2)
		VMOVUPS(Mem{Base: p2, Index: st4, Scale: 1}, m3)
		s0[j], s1[j] = ZMM(), ZMM()
		VADDPS(m1, m0, s0[j])
		VADDPS(m2, s0[j], s0[j])
		VSUBPS(m2, m1, s1[j])
		VSUBPS(m3, s1[j], s1[j])
		if j < 3 {
			ADDQ(st, p)
		}
	}
	return s0, s1
}

// rowPointers returns base, base + rs, base + 2·rs, base + 3·rs (rs in
// bytes): the four rows of the 4×4 input patches.
func rowPointers(base reg.GPVirtual, rs reg.Register) [4]reg.GPVirtual {
	var rows [4]reg.GPVirtual
	rows[0] = base
	for r := 1; r < 4; r++ {
		rows[r] = GP64()
		LEAQ(Mem{Base: rows[r-1], Index: rs, Scale: 1}, rows[r])
	}
	return rows
}

// genInputW32: the input transform of the 16 tiles of one tile row of a
// 32-wide plane straight from its 4 input rows (no padded copies): patch
// element (r, j) of the 16 lanes is the even elements of the row loaded at
// columns j−1 … j+30 (two loads, the columns outside the plane masked to 0).
func genInputW32() {
	TEXT("WinoInputW32AVX512", NOSPLIT, "func(rows *[4][]float32, o []float32, stride int)")
	Doc("WinoInputW32AVX512 is WinoInputW32Generic: the Winograd input transform of the 16",
		"tiles of tile row th of a 32-wide plane, rows[r] input row 2·th−1+r (len ≥ 32; a",
		"zero row outside the plane); stride ≥ 16, len(o) ≥ 15·stride + 16.")
	rp := Load(Param("rows"), GP64())
	op := Load(Param("o").Base(), GP64())
	st := Load(Param("stride"), GP64())
	SHLQ(Imm(2), st)
	var rows [4]reg.GPVirtual
	for i := range rows {
		rows[i] = GP64()
		MOVQ(Mem{Base: rp, Disp: 24 * i}, rows[i])
	}
	ev := ZMM()
	VMOVUPS(evens, ev)
	t := GP32()
	mask := func(m uint32) reg.Register {
		k := K()
		MOVL(U32(m), t)
		KMOVW(t, k)
		return k
	}
	klo, khi2, khi3 := mask(0xfffe), mask(0x7fff), mask(0x3fff)
	var d [4][4]reg.VecVirtual
	for r := 0; r < 4; r++ {
		for j := 0; j < 4; j++ {
			a, b := ZMM(), ZMM()
			lo := Mem{Base: rows[r], Disp: 4 * (j - 1)}
			hi := Mem{Base: rows[r], Disp: 4 * (j + 15)}
			if j == 0 {
				VMOVUPS_Z(lo, klo, a)
			} else {
				VMOVUPS(lo, a)
			}
			switch j {
			case 2:
				VMOVUPS_Z(hi, khi2, b)
			case 3:
				VMOVUPS_Z(hi, khi3, b)
			default:
				VMOVUPS(hi, b)
			}
			VPERMT2PS(b, ev, a)
			d[r][j] = a
		}
	}
	inputTransformRegs(d, op, st)
	VZEROUPPER()
	RET()
}
