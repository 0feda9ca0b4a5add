package kernels

import (
	"github.com/ltransfer/ltransfer/asm"
	"github.com/ltransfer/ltransfer/internal/simd"
)

// The input side of the Winograd pass (conv_winograd.go): the kernels of
// each path that gather 4×4 input tiles and transform them (V = Bᵀ d B),
// for wide planes row by row and for narrow planes by gathers.

// winoInputFn and winoOutputFn are the 16-tile transform kernels of a path.
func winoInputFn(p asm.Path) func(s, o []float32, stride int) {
	switch p {
	case asm.AVX512:
		return simd.WinoInput16AVX512
	case asm.AVX2:
		return simd.WinoInput16AVX2
	}
	return simd.WinoInput16Generic
}

// winoRowStride is the length of a zero-padded input row copy: W+4, and at
// least the 34 floats the row kernel reads.
func winoRowStride(W int) int { return max(W+4, 34) }

// winoInputScratch is the scratch winoInput16 needs for planes W wide.
func winoInputScratch(W int) int { return 256 + 5*winoRowStride(W) }

func winoInputRowFn(p asm.Path) func(rows []float32, rs int, o []float32, stride int) {
	switch p {
	case asm.AVX512:
		return simd.WinoInputRow16AVX512
	case asm.AVX2:
		return simd.WinoInputRow16AVX2
	}
	return simd.WinoInputRow16Generic
}

// winoInput16 writes V[ξ][c][t−t0] (row length ld ≥ t1−t0+16, 16 rows of
// C·ld) for channels [c0, c1) and tiles [t0, t1) of x [N, C, H, W], 16
// consecutive tiles (any rows, any images) per kernel call: the scratch s
// (256 floats) receives element (r, j) of lane l's 4×4 input tile at
// 64r + 16j + l, zero outside the image, so the kernel's loads are whole
// vectors. The lanes are gathered by runs of tiles in one tile row, from a
// zero-padded copy of each input row, so the inner loops have no bounds
// tests; a chunk of 16 tiles in one tile row goes to the row kernel, which
// loads its tiles straight from 4 padded rows. sc holds
// winoInputScratch(W) floats. Lanes past t1 hold stale values; their
// outputs land in the padding of the row.
func winoInput16(in func(s, o []float32, stride int), rowFn func(rows []float32, rs int, o []float32, stride int), gather winoGathers, b *convBufs, sc, v, x []float32, g winoGeom, C, c0, c1, t0, t1, ld int) {
	if g.tilesW < 16 {
		winoInputNarrow(gather.padded, gather.masked, gather.w16, gather.perm, b, v, x, g, C, c0, c1, t0, t1, ld)
		return
	}
	HW, W := g.H*g.W, g.W
	CT := C * ld
	rs := winoRowStride(W)
	s, row, rows4 := sc[:256], sc[256:256+rs], sc[256+rs:256+5*rs]
	var qa [64]winoPos
	qs := winoGroups(g, t0, t1, qa[:])
	rows32 := new([4][]float32) // escapes through the kernel call: once per call
	for c := c0; c < c1; c++ {
		for t := t0; t < t1; t += 16 {
			cnt := min(16, t1-t)
			q := qs[(t-t0)/16]
			if cnt == 16 && W == 32 && q.tw == 0 && gather.w32 != nil {
				// One whole tile row of a 32-wide plane: straight from the
				// input rows, no padded copies.
				xc := x[(q.n*C+c)*HW : (q.n*C+c+1)*HW]
				for r := range rows32 {
					if h := 2*q.th - 1 + r; h >= 0 && h < g.H {
						rows32[r] = xc[h*W : h*W+W]
					} else {
						rows32[r] = winoZeroRow[:W]
					}
				}
				gather.w32(rows32, v[c*ld+t-t0:], CT)
				continue
			}
			if cnt == 16 && g.tilesW-q.tw >= 16 {
				// 16 tiles of one tile row (wide planes): the kernel reads
				// them straight from 4 zero-padded copies of the input rows.
				xc := x[(q.n*C+c)*HW : (q.n*C+c+1)*HW]
				for r := 0; r < 4; r++ {
					rr := rows4[r*rs : (r+1)*rs]
					h := 2*q.th - 1 + r
					if h < 0 || h >= g.H {
						clear(rr)
						continue
					}
					rr[0] = 0
					copy(rr[1:W+1], xc[h*W:h*W+W])
					clear(rr[W+1:])
				}
				rowFn(rows4[2*q.tw:], rs, v[c*ld+t-t0:], CT)
				continue
			}
			for l0 := 0; l0 < cnt; {
				run := min(cnt-l0, g.tilesW-q.tw)
				xc := x[(q.n*C+c)*HW : (q.n*C+c+1)*HW]
				for r := 0; r < 4; r++ {
					h := 2*q.th - 1 + r
					if h < 0 || h >= g.H {
						for j := 0; j < 4; j++ {
							clear(s[64*r+16*j+l0 : 64*r+16*j+l0+run])
						}
						continue
					}
					// row[1+w] = x[h][w]; row[0] and row[W+1…] are zero.
					row[0] = 0
					copy(row[1:W+1], xc[h*W:h*W+W])
					row[W+1], row[W+2], row[W+3] = 0, 0, 0
					src := row[2*q.tw : 2*(q.tw+run)+2]
					d0 := s[64*r+l0 : 64*r+l0+run]
					d1 := s[64*r+16+l0 : 64*r+16+l0+run]
					d2 := s[64*r+32+l0 : 64*r+32+l0+run]
					d3 := s[64*r+48+l0 : 64*r+48+l0+run]
					for l := range d0 {
						p := src[2*l : 2*l+4 : 2*l+4]
						d0[l], d1[l], d2[l], d3[l] = p[0], p[1], p[2], p[3]
					}
				}
				l0 += run
				for i := 0; i < run; i++ {
					q.next()
				}
			}
			in(s, v[c*ld+t-t0:], CT)
		}
	}
}

// winoGatherFn is simd.WinoInputGather16*.
type winoGatherFn func(p []float32, idx []int32, ps int, o []float32, stride int)

// winoMaskedFn is simd.WinoInputGatherMasked16*.
type winoMaskedFn func(x []float32, idx []int32, w int, masks []uint16, o []float32, stride int)

// winoGathers are the narrow-plane input kernels of a path: gathers from
// zero-padded copies of the planes, and (AVX-512 only: masked gathers)
// straight from the planes.
type winoGathers struct {
	padded winoGatherFn
	masked winoMaskedFn
	w16    func(rows *[6][]float32, o []float32, stride int) // two tile rows of a 16-wide plane (AVX-512)
	perm   winoPermFn                                        // 8×8 and 4×4 planes (AVX-512)
	w32    func(rows *[4][]float32, o []float32, stride int) // one tile row of a 32-wide plane (AVX-512)
}

// winoPermFn is simd.WinoInputPerm16*.
type winoPermFn func(src *[4][]float32, tbl *[16][16]int32, msk *[32]uint16, o []float32, stride int)

// winoZeroRow stands for input rows outside a plane (read only).
var winoZeroRow [32]float32

func winoInputGatherFn(p asm.Path) winoGathers {
	switch p {
	case asm.AVX512:
		return winoGathers{simd.WinoInputGather16AVX512, simd.WinoInputGatherMasked16AVX512, simd.WinoInputW16AVX512, simd.WinoInputPerm16AVX512, simd.WinoInputW32AVX512}
	case asm.AVX2:
		return winoGathers{padded: simd.WinoInputGather16AVX2}
	}
	return winoGathers{padded: simd.WinoInputGather16Generic}
}

// winoInputNarrow is winoInput16 for planes under 32 wide, where 16 tiles
// span several tile rows (or images). On AVX-512: 16-wide planes take the
// two-tile-row kernel (row loads and permutes), whole 8×8 planes and groups
// of four 4×4 planes the permutation kernel, anything else masked gathers
// straight from the planes (per-tile offsets and in-plane masks computed
// once for all channels). Elsewhere: per channel, the planes of the images
// the block touches are copied once into zero-padded planes (2·tilesH+2
// rows of 2·tilesW+2) and the kernel gathers every tile's 4×4 patch from
// them by offset.
func winoInputNarrow(gather winoGatherFn, masked winoMaskedFn, w16fn func(rows *[6][]float32, o []float32, stride int), perm winoPermFn, b *convBufs, v, x []float32, g winoGeom, C, c0, c1, t0, t1, ld int) {
	HW, H, W := g.H*g.W, g.H, g.W
	CT := C * ld
	if masked != nil && len(x) < 1<<31 {
		// Straight from the planes: per tile the offset of its patch's
		// top-left (one row and column before the plane at its edges) and,
		// per 16-tile group, which of its 4 patch rows and 4 columns lie
		// inside the plane.
		nt := (t1 - t0 + 15) &^ 15
		if cap(b.idx) < nt {
			b.idx = make([]int32, nt)
		}
		if cap(b.msk) < nt/2 {
			b.msk = make([]uint16, nt/2)
		}
		idx, msk := b.idx[:nt], b.msk[:nt/2]
		clear(idx)
		clear(msk)
		q := newWinoPos(g, t0)
		for i := 0; i < t1-t0; i++ {
			h0, w0 := 2*q.th-1, 2*q.tw-1
			idx[i] = int32(q.n*C*HW + h0*W + w0)
			m, bit := msk[i/16*8:i/16*8+8], uint16(1)<<(i%16)
			for k := 0; k < 4; k++ {
				if uint(h0+k) < uint(H) {
					m[k] |= bit
				}
				if uint(w0+k) < uint(W) {
					m[4+k] |= bit
				}
			}
			q.next()
		}
		// 16-wide planes: groups of two whole tile rows of one image take
		// the row kernel (plain loads and permutes instead of gathers).
		w16 := W == 16 && H%2 == 0 && w16fn != nil
		var rows [6][]float32
		// 8×8 planes (16 tiles: one plane) and 4×4 planes (16 tiles: four
		// planes) fit in four vectors: permutes instead of gathers.
		var pt *winoPermTable
		if perm != nil && H == W && (W == 8 || W == 4) {
			pt = winoPermTables[W/8]
		}
		var src [4][]float32
		var qa [64]winoPos
		qs := winoGroups(g, t0, t1, qa[:])
		for c := c0; c < c1; c++ {
			xc := x[c*HW:]
			for t := t0; t < t1; t += 16 {
				if pt != nil && t1-t >= 16 && t%g.tpi == 0 {
					n := t / g.tpi
					for i := range src {
						if W == 8 {
							src[i] = x[(n*C+c)*HW+16*i : (n*C+c)*HW+16*i+16]
						} else {
							src[i] = x[((n+i)*C+c)*HW : ((n+i)*C+c+1)*HW]
						}
					}
					perm(&src, &pt.tbl, &pt.msk, v[c*ld+t-t0:], CT)
					continue
				}
				if w16 && t1-t >= 16 {
					if q := qs[(t-t0)/16]; q.tw == 0 && q.th+1 < g.tilesH {
						pl := x[(q.n*C+c)*HW : (q.n*C+c+1)*HW]
						for i := range rows {
							if h := 2*q.th - 1 + i; h >= 0 && h < H {
								rows[i] = pl[h*W : h*W+W]
							} else {
								rows[i] = winoZeroRow[:16]
							}
						}
						w16fn(&rows, v[c*ld+t-t0:], CT)
						continue
					}
				}
				masked(xc, idx[t-t0:], W, msk[(t-t0)/2:], v[c*ld+t-t0:], CT)
			}
		}
		return
	}
	PW, PH := 2*g.tilesW+2, 2*g.tilesH+2
	PP := PH * PW
	n0, n1 := t0/g.tpi, (t1-1)/g.tpi
	nt := (t1 - t0 + 15) &^ 15
	if cap(b.idx) < nt {
		b.idx = make([]int32, nt)
	}
	idx := b.idx[:nt]
	q := newWinoPos(g, t0)
	for i := 0; i < t1-t0; i++ {
		idx[i] = int32((q.n-n0)*PP + 2*q.th*PW + 2*q.tw)
		q.next()
	}
	clear(idx[t1-t0:]) // lanes past t1: any valid patch, their columns are slack
	pad := grow(&b.p, (n1-n0+1)*PP)
	clear(pad) // the borders stay zero; the interiors are overwritten per channel
	for c := c0; c < c1; c++ {
		for n := n0; n <= n1; n++ {
			xc := x[(n*C+c)*HW : (n*C+c+1)*HW]
			pl := pad[(n-n0)*PP:]
			for h := 0; h < H; h++ {
				copy(pl[(h+1)*PW+1:(h+1)*PW+1+W], xc[h*W:h*W+W])
			}
		}
		for t := t0; t < t1; t += 16 {
			gather(pad, idx[t-t0:], PW, v[c*ld+t-t0:], CT)
		}
	}
}
