package kernels

import (
	"github.com/ltransfer/ltransfer/asm"
	"github.com/ltransfer/ltransfer/internal/simd"
)

// The output side of the Winograd pass (conv_winograd.go): the kernels of
// each path that transform products back into 2×2 output tiles
// (Y = Aᵀ M A, plus bias) and, for the weight gradient, output gradients
// into the transformed domain (A dY Aᵀ).

func winoOutputFn(p asm.Path) func(m []float32, stride int, bias float32, o []float32) {
	switch p {
	case asm.AVX512:
		return simd.WinoOutput16AVX512
	case asm.AVX2:
		return simd.WinoOutput16AVX2
	}
	return simd.WinoOutput16Generic
}

func winoGradOutFn(p asm.Path) func(d, o []float32, stride int) {
	switch p {
	case asm.AVX512:
		return simd.WinoGradOut16AVX512
	case asm.AVX2:
		return simd.WinoGradOut16AVX2
	}
	return simd.WinoGradOut16Generic
}

// winoGradOut16 writes dM[ξ][k][t−t0] = (A dY Aᵀ)[ξ] (row length
// ld ≥ t1−t0+16) for output channels [k0, k1) and tiles [t0, t1), dY the
// 2×2 tiles of dy (zero outside the output), 16 consecutive tiles per
// kernel call; the scratch d (64 floats) receives dY[a][b] of lane l at
// (2a+b)·16 + l.
func winoGradOut16(rows winoGradRowsFn, perm winoGradPermFn, gr func(d, o []float32, stride int), d, dm, dy []float32, g winoGeom, K, k0, k1, t0, t1, ld int) {
	HW, W := g.H*g.W, g.W
	KT := K * ld
	var pa [64]winoGroupPlan
	plan := winoPlanGroups(g, K, t0, t1, rows != nil, perm != nil, pa[:])
	vecs := new([4][]float32) // escapes through the kernel call: once per call
	for k := k0; k < k1; k++ {
		for t := t0; t < t1; t += 16 {
			p := &plan[(t-t0)/16]
			base := (p.n*K + k) * HW
			switch p.kind {
			case winoByRows:
				rows(dy[base:base+HW], p.off[0], p.off[1], p.off[2], p.off[3], dm[k*ld+t-t0:], KT)
				continue
			case winoByPerm:
				for i, off := range p.off {
					vecs[i] = dy[base+off : base+off+16]
				}
				perm(vecs, &p.pt.gtbl, &p.pt.gmsk, dm[k*ld+t-t0:], KT)
				continue
			}
			q := winoPos{g: g, n: p.n, th: p.th, tw: p.tw}
			cnt := min(16, t1-t)
			for l0 := 0; l0 < cnt; {
				run := min(cnt-l0, g.tilesW-q.tw)
				full := run
				if W&1 == 1 && q.tw+run == g.tilesW {
					full--
				}
				dc := dy[(q.n*K+k)*HW : (q.n*K+k+1)*HW]
				b := 2*q.th*W + 2*q.tw
				winoUnpairs(d[l0:l0+full], d[16+l0:16+l0+full], dc[b:b+2*full])
				row1 := 2*q.th+1 < g.H // the tiles' second row is inside
				if row1 {
					winoUnpairs(d[32+l0:32+l0+full], d[48+l0:48+l0+full], dc[b+W:b+W+2*full])
				} else {
					clear(d[32+l0 : 32+l0+full])
					clear(d[48+l0 : 48+l0+full])
				}
				if full < run {
					li, e := l0+full, 2*q.th*W+W-1
					d[li], d[16+li], d[32+li], d[48+li] = dc[e], 0, 0, 0
					if row1 {
						d[32+li] = dc[e+W]
					}
				}
				l0 += run
				q.skip(run)
			}
			gr(d, dm[k*ld+t-t0:], KT)
		}
	}
}

// winoOutRowsFn and winoGradRowsFn are simd.WinoOutputRows16AVX512 and
// simd.WinoGradOutRows16AVX512 (nil on the other paths, which keep the
// scalar interleaving).
type (
	winoOutRowsFn  func(m []float32, stride int, bias float32, y []float32, o00, o01, o10, o11 int)
	winoGradRowsFn func(dy []float32, o00, o01, o10, o11 int, o []float32, stride int)
)

func winoRowFns(p asm.Path) (winoOutRowsFn, winoGradRowsFn) {
	if p == asm.AVX512 {
		return simd.WinoOutputRows16AVX512, simd.WinoGradOutRows16AVX512
	}
	return nil, nil
}

// winoOutPermFn and winoGradPermFn are simd.WinoOutputPerm16AVX512 and
// simd.WinoGradOutPerm16AVX512 (nil on the other paths).
type (
	winoOutPermFn  func(m []float32, stride int, bias float32, dst *[4][]float32, tbl *[4][16]int32, msk *[8]uint16)
	winoGradPermFn func(src *[4][]float32, tbl *[4][16]int32, msk *[8]uint16, o []float32, stride int)
)

func winoPermFns(p asm.Path) (winoOutPermFn, winoGradPermFn) {
	if p == asm.AVX512 {
		return simd.WinoOutputPerm16AVX512, simd.WinoGradOutPerm16AVX512
	}
	return nil, nil
}

// winoOutput16 writes y tiles from M[ξ][k][t−t0] (row length ld; the M
// buffer has winoPad slack at its end) for output channels [k0, k1) and
// tiles [t0, t1), 16 consecutive tiles per kernel call, adding bias; o is a
// 64-float scratch.
func winoOutput16(rows winoOutRowsFn, perm winoOutPermFn, out func(m []float32, stride int, bias float32, o []float32), o, y, m, bias []float32, g winoGeom, K, k0, k1, t0, t1, ld int) {
	HW, W := g.H*g.W, g.W
	KT := K * ld
	var pa [64]winoGroupPlan
	plan := winoPlanGroups(g, K, t0, t1, rows != nil, perm != nil, pa[:])
	vecs := new([4][]float32) // escapes through the kernel call: once per call
	for k := k0; k < k1; k++ {
		var bk float32
		if bias != nil {
			bk = bias[k]
		}
		for t := t0; t < t1; t += 16 {
			p := &plan[(t-t0)/16]
			base := (p.n*K + k) * HW
			switch p.kind {
			case winoByRows:
				rows(m[k*ld+t-t0:], KT, bk, y[base:base+HW], p.off[0], p.off[1], p.off[2], p.off[3])
				continue
			case winoByPerm:
				for i, off := range p.off {
					vecs[i] = y[base+off : base+off+16]
				}
				perm(m[k*ld+t-t0:], KT, bk, vecs, &p.pt.otbl, &p.pt.omsk)
				continue
			}
			q := winoPos{g: g, n: p.n, th: p.th, tw: p.tw}
			cnt := min(16, t1-t)
			out(m[k*ld+t-t0:], KT, bk, o)
			// Runs of tiles within one tile row: two output rows each,
			// written as pairs; a half tile ends each row of odd width.
			for l0 := 0; l0 < cnt; {
				run := min(cnt-l0, g.tilesW-q.tw)
				full := run
				if W&1 == 1 && q.tw+run == g.tilesW {
					full--
				}
				yc := y[(q.n*K+k)*HW : (q.n*K+k+1)*HW]
				b := 2*q.th*W + 2*q.tw
				winoPairs(yc[b:b+2*full], o[l0:l0+full], o[16+l0:16+l0+full])
				row1 := 2*q.th+1 < g.H // the tiles' second row is inside
				if row1 {
					winoPairs(yc[b+W:b+W+2*full], o[32+l0:32+l0+full], o[48+l0:48+l0+full])
				}
				if full < run {
					li, e := l0+full, 2*q.th*W+W-1
					yc[e] = o[li]
					if row1 {
						yc[e+W] = o[32+li]
					}
				}
				l0 += run
				q.skip(run)
			}
		}
	}
}
