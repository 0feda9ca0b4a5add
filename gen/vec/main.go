// Command vec generates the AVX2 and AVX-512 elementwise and reduction
// kernels of package internal/simd (internal/simd/vec_amd64.s and internal/simd/vec_amd64_stubs.go).
//
// Every routine handles any length: AVX-512 finishes with one masked
// vector, AVX2 with a scalar loop on the low lane of xmm registers. Run it
// through `go generate ./asm/` (see asm/generate.go), never by hand.
package main

import (
	"fmt"

	. "github.com/mmcloughlin/avo/build"
	. "github.com/mmcloughlin/avo/operand"
	"github.com/mmcloughlin/avo/reg"
)

// isa describes one vector instruction set as the generator uses it.
type isa struct {
	name  string // routine suffix: AVX2 or AVX512
	lanes int    // float32 lanes per vector register
	vec   func() reg.VecVirtual
}

var (
	avx2   = isa{"AVX2", 8, YMM}
	avx512 = isa{"AVX512", 16, ZMM}
)

// width converts a full-width constant register to the width the body works
// in (xmm in the AVX2 scalar tail).
type width func(reg.VecVirtual) reg.VecVirtual

func full(r reg.VecVirtual) reg.VecVirtual   { return r }
func scalar(r reg.VecVirtual) reg.VecVirtual { return r.AsX().(reg.VecVirtual) }

// elementwise describes out[i] = f(in0[i], in1[i], ...).
type elementwise struct {
	name   string   // Go name without the ISA suffix
	sig    string   // Go signature
	doc    []string // reference loop, as doc comment lines
	ins    []string // input slice parameters; the first one gives the length
	out    string   // output slice parameter
	consts func(s isa) []reg.VecVirtual
	body   func(w width, c []reg.VecVirtual, in []reg.VecVirtual) reg.VecVirtual
}

func main() {
	ConstraintExpr("amd64,!purego")
	for _, s := range []isa{avx2, avx512} {
		for _, e := range elementwiseOps {
			genElementwise(s, e)
		}
		genDot(s)
		genSum(s)
		genSumSqDev(s)
		genDotDev(s)
	}
	Generate()
}

var zeroConst = func(s isa) []reg.VecVirtual {
	z := s.vec()
	VXORPS(z, z, z)
	return []reg.VecVirtual{z}
}

var alphaConst = func(s isa) []reg.VecVirtual {
	a := XMM()
	Load(Param("alpha"), a)
	v := s.vec()
	VBROADCASTSS(a, v)
	return []reg.VecVirtual{v}
}

// muConst broadcasts the parameter mu.
var muConst = func(s isa) []reg.VecVirtual {
	a := XMM()
	Load(Param("mu"), a)
	v := s.vec()
	VBROADCASTSS(a, v)
	return []reg.VecVirtual{v}
}

// paramConsts broadcasts the named float32 parameters.
func paramConsts(names ...string) func(s isa) []reg.VecVirtual {
	return func(s isa) []reg.VecVirtual {
		var vs []reg.VecVirtual
		for _, n := range names {
			a := XMM()
			Load(Param(n), a)
			v := s.vec()
			VBROADCASTSS(a, v)
			vs = append(vs, v)
		}
		return vs
	}
}

var elementwiseOps = []elementwise{
	{
		name: "Affine", sig: "func(a, b float32, dst, x []float32)",
		doc: []string{"computes dst[i] = a·x[i] + b (one rounding: fused) for i < len(x);", "len(dst) ≥ len(x)."},
		ins: []string{"x"}, out: "dst", consts: paramConsts("a", "b"),
		body: func(w width, c, in []reg.VecVirtual) reg.VecVirtual {
			VFMADD213PS(w(c[1]), w(c[0]), in[0])
			return in[0]
		},
	},
	{
		name: "BNBackward", sig: "func(k, a, b float32, dst, dy, x []float32)",
		doc: []string{"computes dst[i] = k·dy[i] + (a·x[i] + b) (fused) for i < len(dy);", "len(dst), len(x) ≥ len(dy): the batch-norm input gradient."},
		ins: []string{"dy", "x"}, out: "dst", consts: paramConsts("k", "a", "b"),
		body: func(w width, c, in []reg.VecVirtual) reg.VecVirtual {
			VFMADD213PS(w(c[2]), w(c[1]), in[1])
			VFMADD231PS(w(c[0]), in[0], in[1])
			return in[1]
		},
	},
	{
		name: "Axpy", sig: "func(alpha float32, x, y []float32)",
		doc: []string{"computes y[i] += alpha·x[i] for i < len(x); len(y) ≥ len(x)."},
		ins: []string{"x", "y"}, out: "y", consts: alphaConst,
		body: func(w width, c, in []reg.VecVirtual) reg.VecVirtual {
			VFMADD231PS(in[0], w(c[0]), in[1])
			return in[1]
		},
	},
	{
		name: "Scale", sig: "func(alpha float32, x []float32)",
		doc: []string{"computes x[i] *= alpha."},
		ins: []string{"x"}, out: "x", consts: alphaConst,
		body: func(w width, c, in []reg.VecVirtual) reg.VecVirtual {
			VMULPS(w(c[0]), in[0], in[0])
			return in[0]
		},
	},
	{
		name: "Add", sig: "func(dst, a, b []float32)",
		doc: []string{"computes dst[i] = a[i] + b[i] for i < len(a); len(b), len(dst) ≥ len(a)."},
		ins: []string{"a", "b"}, out: "dst",
		body: func(w width, c, in []reg.VecVirtual) reg.VecVirtual {
			VADDPS(in[1], in[0], in[0])
			return in[0]
		},
	},
	{
		name: "Mul", sig: "func(dst, a, b []float32)",
		doc: []string{"computes dst[i] = a[i] · b[i] for i < len(a); len(b), len(dst) ≥ len(a)."},
		ins: []string{"a", "b"}, out: "dst",
		body: func(w width, c, in []reg.VecVirtual) reg.VecVirtual {
			VMULPS(in[1], in[0], in[0])
			return in[0]
		},
	},
	{
		name: "ReLU", sig: "func(dst, x []float32)",
		doc: []string{"computes dst[i] = x[i] if x[i] > 0, else +0 (NaN gives 0), for i < len(x);", "len(dst) ≥ len(x)."},
		ins: []string{"x"}, out: "dst", consts: zeroConst,
		body: func(w width, c, in []reg.VecVirtual) reg.VecVirtual {
			// MAXPS returns its second source (here zero) when either is NaN.
			VMAXPS(w(c[0]), in[0], in[0])
			return in[0]
		},
	},
	{
		name: "ReLUBackward", sig: "func(dx, dy, x []float32)",
		doc: []string{"computes dx[i] = dy[i] if x[i] > 0, else 0, for i < len(x);", "len(dx), len(dy) ≥ len(x)."},
		ins: []string{"x", "dy"}, out: "dx", consts: zeroConst,
		body: func(w width, c, in []reg.VecVirtual) reg.VecVirtual {
			m := in[0]
			VCMPPS(Imm(0x1e), w(c[0]), in[0], m) // x > 0, ordered: false for NaN
			VANDPS(in[1], m, m)
			return m
		},
	},
}

// reluBackwardAVX512 needs a k-mask compare; the AVX-512 body is swapped in
// by genElementwise.
func reluBackward512(c, in []reg.VecVirtual) reg.VecVirtual {
	k := K()
	VCMPPS(Imm(0x1e), c[0], in[0], k)
	VMOVUPS_Z(in[1], k, in[0])
	return in[0]
}

const unroll = 4

func genElementwise(s isa, e elementwise) {
	TEXT(e.name+s.name, NOSPLIT, e.sig)
	Doc(append([]string{fmt.Sprintf("%s%s %s", e.name, s.name, e.doc[0])}, e.doc[1:]...)...)
	body := e.body
	if s.name == "AVX512" && e.name == "ReLUBackward" {
		body = func(_ width, c, in []reg.VecVirtual) reg.VecVirtual { return reluBackward512(c, in) }
	}
	n := Load(Param(e.ins[0]).Len(), GP64())
	ptrs := make([]reg.GPVirtual, len(e.ins))
	for i, name := range e.ins {
		ptrs[i] = GP64()
		Load(Param(name).Base(), ptrs[i])
	}
	out := GP64()
	Load(Param(e.out).Base(), out)
	var c []reg.VecVirtual
	if e.consts != nil {
		c = e.consts(s)
	}
	i := GP64()
	XORQ(i, i)
	step := s.lanes * unroll
	lim := GP64()

	Comment(fmt.Sprintf("%d vectors per iteration while %d elements remain.", unroll, step))
	MOVQ(n, lim)
	SUBQ(Imm(uint64(step)), lim)
	Label("unrolled")
	CMPQ(i, lim)
	JGT(LabelRef("single"))
	for u := 0; u < unroll; u++ {
		in := make([]reg.VecVirtual, len(ptrs))
		for j, p := range ptrs {
			in[j] = s.vec()
			VMOVUPS(Mem{Base: p, Index: i, Scale: 4, Disp: 4 * u * s.lanes}, in[j])
		}
		r := body(full, c, in)
		VMOVUPS(r, Mem{Base: out, Index: i, Scale: 4, Disp: 4 * u * s.lanes})
	}
	ADDQ(Imm(uint64(step)), i)
	JMP(LabelRef("unrolled"))

	Label("single")
	Comment("One vector per iteration.")
	MOVQ(n, lim)
	SUBQ(Imm(uint64(s.lanes)), lim)
	Label("singleloop")
	CMPQ(i, lim)
	JGT(LabelRef("tail"))
	{
		in := make([]reg.VecVirtual, len(ptrs))
		for j, p := range ptrs {
			in[j] = s.vec()
			VMOVUPS(Mem{Base: p, Index: i, Scale: 4}, in[j])
		}
		r := body(full, c, in)
		VMOVUPS(r, Mem{Base: out, Index: i, Scale: 4})
	}
	ADDQ(Imm(uint64(s.lanes)), i)
	JMP(LabelRef("singleloop"))

	Label("tail")
	if s.name == "AVX512" {
		Comment("Fewer than 16 elements left: one masked vector.")
		rem := GP64()
		MOVQ(n, rem)
		SUBQ(i, rem)
		JZ(LabelRef("done"))
		ones := GP32()
		MOVL(U32(0xffff), ones)
		BZHIL(rem.As32(), ones, ones)
		k := K()
		KMOVW(ones, k)
		in := make([]reg.VecVirtual, len(ptrs))
		for j, p := range ptrs {
			in[j] = s.vec()
			VMOVUPS_Z(Mem{Base: p, Index: i, Scale: 4}, k, in[j])
		}
		r := body(full, c, in)
		VMOVUPS(r, k, Mem{Base: out, Index: i, Scale: 4})
	} else {
		Comment("Fewer than 8 elements left: scalar loop on the low lane.")
		Label("scalar")
		CMPQ(i, n)
		JGE(LabelRef("done"))
		in := make([]reg.VecVirtual, len(ptrs))
		for j, p := range ptrs {
			in[j] = XMM()
			VMOVSS(Mem{Base: p, Index: i, Scale: 4}, in[j])
		}
		r := body(scalar, c, in)
		VMOVSS(r, Mem{Base: out, Index: i, Scale: 4})
		INCQ(i)
		JMP(LabelRef("scalar"))
	}
	Label("done")
	VZEROUPPER()
	RET()
}

// reduce folds the vector accumulators into one float32 in the low lane of
// the returned xmm register, in a fixed order.
func reduce(s isa, acc []reg.VecVirtual) reg.VecVirtual {
	for len(acc) > 1 {
		VADDPS(acc[len(acc)-1], acc[0], acc[0])
		acc = acc[:len(acc)-1]
	}
	a := acc[0]
	if s.name == "AVX512" {
		h := YMM()
		VEXTRACTF32X8(Imm(1), a, h)
		VADDPS(h, a.AsY(), h)
		a = h
	}
	x := XMM()
	VEXTRACTF128(Imm(1), a.AsY(), x)
	VADDPS(x, a.AsX(), x)
	t := XMM()
	VMOVHLPS(x, x, t)
	VADDPS(t, x, x)
	VMOVSHDUP(x, t)
	VADDSS(t, x, x)
	return x
}

// genReduction emits Σ f(in0[i], in1[i], ...) with four vector accumulators.
func genReduction(s isa, name, sig string, doc []string, ins []string, term func(acc reg.VecVirtual, in []reg.VecVirtual)) {
	genReductionC(s, name, sig, doc, ins, nil, func(_ width, _ []reg.VecVirtual, acc reg.VecVirtual, in []reg.VecVirtual, _ reg.Register) {
		term(acc, in)
	})
}

// genReductionC is genReduction with broadcast constants; term gets the
// AVX-512 tail's lane mask (nil elsewhere: every lane is live) so that it can
// keep the zeroed lanes out of the sum.
func genReductionC(s isa, name, sig string, doc []string, ins []string, consts func(s isa) []reg.VecVirtual,
	term func(w width, c []reg.VecVirtual, acc reg.VecVirtual, in []reg.VecVirtual, k reg.Register)) {
	TEXT(name+s.name, NOSPLIT, sig)
	Doc(append([]string{fmt.Sprintf("%s%s %s", name, s.name, doc[0])}, doc[1:]...)...)
	n := Load(Param(ins[0]).Len(), GP64())
	ptrs := make([]reg.GPVirtual, len(ins))
	for i, p := range ins {
		ptrs[i] = GP64()
		Load(Param(p).Base(), ptrs[i])
	}
	var c []reg.VecVirtual
	if consts != nil {
		c = consts(s)
	}
	acc := make([]reg.VecVirtual, unroll)
	for u := range acc {
		acc[u] = s.vec()
		VXORPS(acc[u], acc[u], acc[u])
	}
	i := GP64()
	XORQ(i, i)
	lim := GP64()
	step := s.lanes * unroll
	MOVQ(n, lim)
	SUBQ(Imm(uint64(step)), lim)
	Label("unrolled")
	CMPQ(i, lim)
	JGT(LabelRef("single"))
	for u := 0; u < unroll; u++ {
		in := make([]reg.VecVirtual, len(ptrs))
		for j, p := range ptrs {
			in[j] = s.vec()
			VMOVUPS(Mem{Base: p, Index: i, Scale: 4, Disp: 4 * u * s.lanes}, in[j])
		}
		term(full, c, acc[u], in, nil)
	}
	ADDQ(Imm(uint64(step)), i)
	JMP(LabelRef("unrolled"))

	Label("single")
	MOVQ(n, lim)
	SUBQ(Imm(uint64(s.lanes)), lim)
	Label("singleloop")
	CMPQ(i, lim)
	JGT(LabelRef("tail"))
	{
		in := make([]reg.VecVirtual, len(ptrs))
		for j, p := range ptrs {
			in[j] = s.vec()
			VMOVUPS(Mem{Base: p, Index: i, Scale: 4}, in[j])
		}
		term(full, c, acc[0], in, nil)
	}
	ADDQ(Imm(uint64(s.lanes)), i)
	JMP(LabelRef("singleloop"))

	Label("tail")
	if s.name == "AVX512" {
		rem := GP64()
		MOVQ(n, rem)
		SUBQ(i, rem)
		JZ(LabelRef("done"))
		ones := GP32()
		MOVL(U32(0xffff), ones)
		BZHIL(rem.As32(), ones, ones)
		k := K()
		KMOVW(ones, k)
		in := make([]reg.VecVirtual, len(ptrs))
		for j, p := range ptrs {
			in[j] = s.vec()
			VMOVUPS_Z(Mem{Base: p, Index: i, Scale: 4}, k, in[j])
		}
		term(full, c, acc[1], in, k)
		Label("done")
		x := reduce(s, acc)
		VZEROUPPER()
		Store(x, ReturnIndex(0))
		RET()
	} else {
		x := reduce(s, acc)
		Label("scalar")
		CMPQ(i, n)
		JGE(LabelRef("done"))
		in := make([]reg.VecVirtual, len(ptrs))
		for j, p := range ptrs {
			in[j] = XMM()
			VMOVSS(Mem{Base: p, Index: i, Scale: 4}, in[j])
		}
		term(scalar, c, x, in, nil)
		INCQ(i)
		JMP(LabelRef("scalar"))
		Label("done")
		VZEROUPPER()
		Store(x, ReturnIndex(0))
		RET()
	}
}

func genDot(s isa) {
	genReduction(s, "Dot", "func(x, y []float32) float32",
		[]string{"returns Σ x[i]·y[i] over i < len(x), summed in a fixed order", "(lane-wise partial sums, then a tree); len(y) ≥ len(x)."},
		[]string{"x", "y"},
		func(acc reg.VecVirtual, in []reg.VecVirtual) { VFMADD231PS(in[0], in[1], acc) })
}

func genSum(s isa) {
	genReduction(s, "Sum", "func(x []float32) float32",
		[]string{"returns Σ x[i], summed in a fixed order (lane-wise partial", "sums, then a tree)."},
		[]string{"x"},
		func(acc reg.VecVirtual, in []reg.VecVirtual) { VADDPS(in[0], acc, acc) })
}

func genSumSqDev(s isa) {
	genReductionC(s, "SumSqDev", "func(mu float32, x []float32) float32",
		[]string{"returns Σ (x[i] − mu)², summed in a fixed order (lane-wise", "partial sums, then a tree)."},
		[]string{"x"}, muConst,
		func(w width, c []reg.VecVirtual, acc reg.VecVirtual, in []reg.VecVirtual, k reg.Register) {
			if k != nil {
				VSUBPS_Z(c[0], in[0], k, in[0]) // dead lanes: 0, not −mu
			} else {
				VSUBPS(w(c[0]), in[0], in[0])
			}
			VFMADD231PS(in[0], in[0], acc)
		})
}

func genDotDev(s isa) {
	genReductionC(s, "DotDev", "func(mu float32, g, x []float32) float32",
		[]string{"returns Σ g[i]·(x[i] − mu) over i < len(g), summed in a fixed order", "(lane-wise partial sums, then a tree); len(x) ≥ len(g)."},
		[]string{"g", "x"}, muConst,
		func(w width, c []reg.VecVirtual, acc reg.VecVirtual, in []reg.VecVirtual, _ reg.Register) {
			// Dead tail lanes load g = 0: they add nothing.
			VSUBPS(w(c[0]), in[1], in[1])
			VFMADD231PS(in[0], in[1], acc)
		})
}
