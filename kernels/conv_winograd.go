package kernels

import "github.com/ltransfer/ltransfer/asm"

// Winograd F(2×2, 3×3) for 3×3 stride-1 pad-1 convolutions (every 3×3
// layer of the conv nets and ResNets): each 2×2 output tile is
//
//	Y = Aᵀ [ (G g Gᵀ) ⊙ (Bᵀ d B) ] A
//
// for the 4×4 input tile d at (2·th − 1, 2·tw − 1) and the 3×3 filter g,
// with
//
//	Bᵀ = [1 0 −1 0; 0 1 1 0; 0 −1 1 0; 0 1 0 −1]
//	G  = [1 0 0; ½ ½ ½; ½ −½ ½; 0 0 1]
//	Aᵀ = [1 1 1 0; 0 1 −1 −1].
//
// Summed over input channels, the element-wise products become 16
// independent GEMMs M[ξ] (K × T) = U[ξ] (K × C) · V[ξ] (C × T) over a block
// of T tiles, so the multiply count is 16/36 of direct convolution's. Tiles
// are numbered across the batch (image-major), blocks of T tiles are fixed
// by the shape alone, and every output element is produced by one block,
// so results do not depend on the thread count.
//
// The input-gradient pass of a 3×3 stride-1 pad-1 convolution is itself
// such a convolution (of dy with the spatially flipped, channel-transposed
// filter), so it reuses the forward pass. The weight gradient is the
// adjoint: dU[ξ] = Σ_t (A dY Aᵀ)[ξ] · V[ξ]ᵀ, then dg = Gᵀ dU G.

// winogradOK reports whether p is a 3×3 stride-1 pad-1 convolution.
func (p ConvParams) winogradOK() bool {
	return p.R == 3 && p.S == 3 && p.StrideH == 1 && p.StrideW == 1 && p.PadH == 1 && p.PadW == 1
}

// winoBlock is the number of tiles per block: V (16·C·T) and M (16·K·T)
// together about 6 MiB (a quarter of that per operand of one of the 16
// GEMMs), between 16 and 512 tiles, a multiple of 16. Measured: quadrupling
// it changes nothing on the Conv8 shapes.
//
// It is also capped at a quarter of all tiles (rounded up to 16), so small
// problems still split into several blocks for the threads to share; like
// everything else here it depends on the shape only.
func (p ConvParams) winoBlock() int {
	t := 96 * 1024 / (p.C + p.K)
	t = max(16, min(512, t))
	tiles := p.winoGeom().tiles
	t = min(t, max(16, (tiles/4+15)&^15))
	t &^= 15 // whole 16-tile kernel calls
	// A multiple of 4 blocks of near-equal size, so that 1, 2 or 4
	// threads get equal shares (6 blocks, the last a third full, left the
	// second thread idle for a third of the 4×4 layers).
	if b := (tiles + t - 1) / t; b > 4 {
		b &^= 3
		t = ((tiles+b-1)/b + 15) &^ 15
	}
	return t
}

type winoGeom struct {
	H, W, tilesH, tilesW, tpi, tiles int
}

func (p ConvParams) winoGeom() winoGeom {
	g := winoGeom{H: p.H, W: p.W, tilesH: (p.H + 1) / 2, tilesW: (p.W + 1) / 2}
	g.tpi = g.tilesH * g.tilesW
	g.tiles = p.N * g.tpi
	return g
}

// winoFilter transforms filters w [K, C, 3, 3] into u [16][K][C]:
// u[ξ=4i+j][k][c] = (G g Gᵀ)[i][j]. With flip, the filter used is
// g'[k][c][r][s] = w[c][k][2−r][2−s] for w [C, K, 3, 3] (the input-gradient
// pass), i.e. K and C name the output and input channels of the pass.
func winoFilter(u, w []float32, K, C int, flip bool) {
	winoFilterRows(u, w, K, C, flip, 0, K)
}

// winoFilterRows is winoFilter for output channels [k0, k1): every element
// is written by exactly one row, so rows split over threads give the same
// result.
//
// A row goes through a 16·C scratch and is copied out plane by plane: the
// 16 planes of u lie K·C floats apart, a multiple of 4 KiB on the wide
// layers, and writing them element by element thrashed the L1 sets.
func winoFilterRows(u, w []float32, K, C int, flip bool, k0, k1 int) {
	KC := K * C
	b := getBufs()
	defer putBufs(b)
	tmp := grow(&b.s, 16*C)
	for k := k0; k < k1; k++ {
		for c := 0; c < C; c++ {
			var g [9]float32
			if flip {
				src := w[(c*K+k)*9 : (c*K+k)*9+9]
				for i := 0; i < 9; i++ {
					g[i] = src[8-i]
				}
			} else {
				copy(g[:], w[(k*C+c)*9:(k*C+c)*9+9])
			}
			// t = G g (4×3)
			var t [12]float32
			for s := 0; s < 3; s++ {
				g0, g1, g2 := g[s], g[3+s], g[6+s]
				t[s] = g0
				t[3+s] = 0.5 * (g0 + g1 + g2)
				t[6+s] = 0.5 * (g0 - g1 + g2)
				t[9+s] = g2
			}
			// u = t Gᵀ (4×4)
			for i := 0; i < 4; i++ {
				t0, t1, t2 := t[3*i], t[3*i+1], t[3*i+2]
				o := (4*i)*C + c
				tmp[o] = t0
				tmp[o+C] = 0.5 * (t0 + t1 + t2)
				tmp[o+2*C] = 0.5 * (t0 - t1 + t2)
				tmp[o+3*C] = t2
			}
		}
		for xi := 0; xi < 16; xi++ {
			copy(u[xi*KC+k*C:xi*KC+(k+1)*C], tmp[xi*C:(xi+1)*C])
		}
	}
}

// winoFilterPar is winoFilter with the output channels split over e's
// threads (the wide layers' filters are megabytes; serial, their
// transform kept the second thread idle).
func (e *Engine) winoFilterPar(u, w []float32, K, C int, flip bool) {
	if e.threads <= 1 || K*C < 64*64 {
		winoFilterRows(u, w, K, C, flip, 0, K)
		return
	}
	e.ParallelFor(K, func(lo, hi int) { winoFilterRows(u, w, K, C, flip, lo, hi) })
}

// winoInputFn and winoOutputFn are the 16-tile transform kernels of a path.
func winoInputFn(p asm.Path) func(s, o []float32, stride int) {
	switch p {
	case asm.AVX512:
		return asm.WinoInput16AVX512
	case asm.AVX2:
		return asm.WinoInput16AVX2
	}
	return asm.WinoInput16Generic
}

func winoOutputFn(p asm.Path) func(m []float32, stride int, bias float32, o []float32) {
	switch p {
	case asm.AVX512:
		return asm.WinoOutput16AVX512
	case asm.AVX2:
		return asm.WinoOutput16AVX2
	}
	return asm.WinoOutput16Generic
}

func winoGradOutFn(p asm.Path) func(d, o []float32, stride int) {
	switch p {
	case asm.AVX512:
		return asm.WinoGradOut16AVX512
	case asm.AVX2:
		return asm.WinoGradOut16AVX2
	}
	return asm.WinoGradOut16Generic
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

// winoPad is the slack after every V row and after the M buffer: the
// 16-tile kernels always transform 16 lanes, and lanes past the last tile of
// a row segment land in columns that a later segment (or the padding)
// overwrites.
const winoPad = 16

// winoPos walks tile indices in order, giving each tile's image and
// top-left output pixel without a division per tile.
type winoPos struct {
	g         winoGeom
	n, th, tw int
}

func newWinoPos(g winoGeom, t int) winoPos {
	tt := t % g.tpi
	return winoPos{g: g, n: t / g.tpi, th: tt / g.tilesW, tw: tt % g.tilesW}
}

// winoGroupPlan is how the 2×2 outputs of one 16-tile group are stored
// (winoOutput16) or read (winoGradOut16): by the row-segment kernel at
// off[0…3] within the plane of image n, by the permutation kernel as the
// four vectors at off[i] from that plane, or by the scalar code.
type winoGroupPlan struct {
	kind      uint8 // winoByRows, winoByPerm or 0
	n, th, tw int
	off       [4]int
	pt        *winoPermTable
}

const (
	winoByRows = 1 + iota
	winoByPerm
)

// winoPlanGroups plans every 16-tile group of [t0, t1) for planes with K
// channels, in buf when it is large enough. rows and perm say which
// kernels the path has.
func winoPlanGroups(g winoGeom, K, t0, t1 int, rows, perm bool, buf []winoGroupPlan) []winoGroupPlan {
	var qa [64]winoPos
	qs := winoGroups(g, t0, t1, qa[:])
	if cap(buf) < len(qs) {
		buf = make([]winoGroupPlan, len(qs))
	}
	ps := buf[:len(qs)]
	HW := g.H * g.W
	for i, q := range qs {
		p := winoGroupPlan{n: q.n, th: q.th, tw: q.tw}
		t := t0 + 16*i
		if t+16 <= t1 {
			if o00, o01, o10, o11, ok := winoRowOffsets(g, q); ok && rows {
				p.kind, p.off = winoByRows, [4]int{o00, o01, o10, o11}
			} else if pt := winoPermFor(g, t); pt != nil && perm {
				p.kind, p.pt = winoByPerm, pt
				for v := range p.off {
					if g.W == 8 {
						p.off[v] = 16 * v
					} else {
						p.off[v] = v * K * HW
					}
				}
			}
		}
		ps[i] = p
	}
	return ps
}

// winoGroups returns the position of every 16-tile group of [t0, t1), in
// buf when it is large enough: one division per call instead of two per
// group and channel.
func winoGroups(g winoGeom, t0, t1 int, buf []winoPos) []winoPos {
	n := (t1 - t0 + 15) / 16
	if cap(buf) < n {
		buf = make([]winoPos, n)
	}
	qs := buf[:n]
	q := newWinoPos(g, t0)
	for i := range qs {
		qs[i] = q
		q.tw += 16
		for q.tw >= g.tilesW {
			q.tw -= g.tilesW
			if q.th++; q.th == g.tilesH {
				q.th = 0
				q.n++
			}
		}
	}
	return qs
}

// skip advances q by run tiles that do not cross the end of its tile row
// (run ≤ tilesW − tw).
func (q *winoPos) skip(run int) {
	if q.tw += run; q.tw == q.g.tilesW {
		q.tw = 0
		if q.th++; q.th == q.g.tilesH {
			q.th = 0
			q.n++
		}
	}
}

func (q *winoPos) next() {
	if q.tw++; q.tw == q.g.tilesW {
		q.tw = 0
		if q.th++; q.th == q.g.tilesH {
			q.th = 0
			q.n++
		}
	}
}

// winoRowStride is the length of a zero-padded input row copy: W+4, and at
// least the 34 floats the row kernel reads.
func winoRowStride(W int) int { return max(W+4, 34) }

// winoInputScratch is the scratch winoInput16 needs for planes W wide.
func winoInputScratch(W int) int { return 256 + 5*winoRowStride(W) }

func winoInputRowFn(p asm.Path) func(rows []float32, rs int, o []float32, stride int) {
	switch p {
	case asm.AVX512:
		return asm.WinoInputRow16AVX512
	case asm.AVX2:
		return asm.WinoInputRow16AVX2
	}
	return asm.WinoInputRow16Generic
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

// winoOutRowsFn and winoGradRowsFn are asm.WinoOutputRows16AVX512 and
// asm.WinoGradOutRows16AVX512 (nil on the other paths, which keep the
// scalar interleaving).
type (
	winoOutRowsFn  func(m []float32, stride int, bias float32, y []float32, o00, o01, o10, o11 int)
	winoGradRowsFn func(dy []float32, o00, o01, o10, o11 int, o []float32, stride int)
)

func winoRowFns(p asm.Path) (winoOutRowsFn, winoGradRowsFn) {
	if p == asm.AVX512 {
		return asm.WinoOutputRows16AVX512, asm.WinoGradOutRows16AVX512
	}
	return nil, nil
}

// winoOutPermFn and winoGradPermFn are asm.WinoOutputPerm16AVX512 and
// asm.WinoGradOutPerm16AVX512 (nil on the other paths).
type (
	winoOutPermFn  func(m []float32, stride int, bias float32, dst *[4][]float32, tbl *[4][16]int32, msk *[8]uint16)
	winoGradPermFn func(src *[4][]float32, tbl *[4][16]int32, msk *[8]uint16, o []float32, stride int)
)

func winoPermFns(p asm.Path) (winoOutPermFn, winoGradPermFn) {
	if p == asm.AVX512 {
		return asm.WinoOutputPerm16AVX512, asm.WinoGradOutPerm16AVX512
	}
	return nil, nil
}

// winoPermFor returns the permutation tables for the 16 tiles from t when
// they are one whole 8×8 plane or four whole 4×4 planes, else nil.
func winoPermFor(g winoGeom, t int) *winoPermTable {
	if g.H != g.W || (g.W != 8 && g.W != 4) || t%g.tpi != 0 || t+16 > g.tiles {
		return nil
	}
	return winoPermTables[g.W/8]
}

// winoRowOffsets gives, for the 16 tiles starting at q, the four 16-float
// row segments their 2×2 outputs fill within the plane (see
// asm.WinoOutputRows16Generic): 16 adjacent tiles of one tile row of a plane
// at least 32 wide, or the two tile rows of 8 tiles of a 16-wide plane. ok is
// false for other layouts and for planes of odd height or width (partial
// tiles).
func winoRowOffsets(g winoGeom, q winoPos) (o00, o01, o10, o11 int, ok bool) {
	if g.H%2 != 0 || g.W%2 != 0 {
		return 0, 0, 0, 0, false
	}
	W := g.W
	switch {
	case g.tilesW >= 16 && q.tw+16 <= g.tilesW:
		b := 2*q.th*W + 2*q.tw
		return b, b + 16, b + W, b + W + 16, true
	case g.tilesW == 8 && q.tw == 0 && q.th+1 < g.tilesH:
		b := 2 * q.th * W
		return b, b + 32, b + 16, b + 48, true
	}
	return 0, 0, 0, 0, false
}

// winoGatherFn is asm.WinoInputGather16*.
type winoGatherFn func(p []float32, idx []int32, ps int, o []float32, stride int)

// winoMaskedFn is asm.WinoInputGatherMasked16*.
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

// winoPermFn is asm.WinoInputPerm16*.
type winoPermFn func(src *[4][]float32, tbl *[16][16]int32, msk *[32]uint16, o []float32, stride int)

// winoPermTable says where, in the four 16-float vectors holding one 8×8
// plane (rows 2i, 2i+1 in vector i) or four 4×4 planes (plane i in vector
// i), each patch element of 16 tiles is (see asm.WinoInputPerm16Generic).
type winoPermTable struct {
	tbl [16][16]int32
	msk [32]uint16
	// The same for the 2×2 outputs: otbl/omsk place them into the four
	// vectors (asm.WinoOutputPerm16Generic), gtbl/gmsk read output
	// gradients back from them (asm.WinoGradOutPerm16Generic).
	otbl, gtbl [4][16]int32
	omsk, gmsk [8]uint16
}

// winoPermTables[0] is for 4×4 planes, [1] for 8×8.
var winoPermTables = [2]*winoPermTable{newWinoPermTable(4), newWinoPermTable(8)}

func newWinoPermTable(W int) *winoPermTable {
	pt := new(winoPermTable)
	tw := W / 2 // tiles per row (and column)
	for l := 0; l < 16; l++ {
		img, th, tc := 0, l/tw, l%tw
		if W == 4 {
			img, th, tc = l/4, l%4/2, l%2
		}
		for e := 0; e < 16; e++ {
			rho, kap := 2*th-1+e/4, 2*tc-1+e%4
			if rho < 0 || rho >= W || kap < 0 || kap >= W {
				continue // padding: zero
			}
			p := img*W*W + rho*W + kap
			pt.tbl[e][l] = int32(p % 32)
			pt.msk[2*e+p/32] |= 1 << l
		}
		for e := 0; e < 4; e++ { // output (a, b) = (e/2, e%2) of tile l
			p := img*W*W + (2*th+e/2)*W + 2*tc + e%2
			pt.gtbl[e][l] = int32(p % 32)
			pt.gmsk[2*e+p/32] |= 1 << l
			// Vector i = p/16, lane p%16 takes it from Y(a,b) lane l.
			pt.otbl[p/16][p%16] = int32(16*(e%2) + l)
			pt.omsk[2*(p/16)+e/2] |= 1 << (p % 16)
		}
	}
	return pt
}

// winoZeroRow stands for input rows outside a plane (read only).
var winoZeroRow [32]float32

func winoInputGatherFn(p asm.Path) winoGathers {
	switch p {
	case asm.AVX512:
		return winoGathers{asm.WinoInputGather16AVX512, asm.WinoInputGatherMasked16AVX512, asm.WinoInputW16AVX512, asm.WinoInputPerm16AVX512, asm.WinoInputW32AVX512}
	case asm.AVX2:
		return winoGathers{padded: asm.WinoInputGather16AVX2}
	}
	return winoGathers{padded: asm.WinoInputGather16Generic}
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

// winoPairs interleaves a and b into d: d[2i], d[2i+1] = a[i], b[i].
func winoPairs(d, a, b []float32) {
	b = b[:len(a)]
	for i, v := range a {
		p := d[2*i : 2*i+2 : 2*i+2]
		p[0], p[1] = v, b[i]
	}
}

// winoUnpairs is the inverse of winoPairs: a[i], b[i] = d[2i], d[2i+1].
func winoUnpairs(a, b, d []float32) {
	b = b[:len(a)]
	for i := range a {
		p := d[2*i : 2*i+2 : 2*i+2]
		a[i], b[i] = p[0], p[1]
	}
}

// winoConv computes y = conv3x3(x, filter) + bias with the filter already
// transformed into u [16][K][C]; x is [N, C, H, W] and y [N, K, H, W].
func (e *Engine) winoConv(N, C, K, H, W int, x, u, bias, y []float32) {
	p := ConvParams{N: N, C: C, H: H, W: W, K: K, R: 3, S: 3, StrideH: 1, StrideW: 1, PadH: 1, PadW: 1}
	g := p.winoGeom()
	T := p.winoBlock()
	blocks := (g.tiles + T - 1) / T
	inner, threads := e.split(blocks)
	in, out, rowFn := winoInputFn(e.path), winoOutputFn(e.path), winoInputRowFn(e.path)
	gather := winoInputGatherFn(e.path)
	outRows, _ := winoRowFns(e.path)
	outPerm, _ := winoPermFns(e.path)
	ld := T + winoPad
	ns := winoInputScratch(W)
	e.parallel(blocks, threads, func(b *convBufs, bi int) {
		t0 := bi * T
		t1 := min(g.tiles, t0+T)
		v := b.col(16 * C * ld)
		mm := b.aux(16*K*T + winoPad)
		sc := grow(&b.s, ns+64)
		winoInput16(in, rowFn, gather, b, sc[:ns], v, x, g, C, 0, C, t0, t1, ld)
		for xi := 0; xi < 16; xi++ {
			inner.Sgemm(false, false, K, t1-t0, C, 1, u[xi*K*C:], C, v[xi*C*ld:], ld, 0, mm[xi*K*T:], T)
		}
		winoOutput16(outRows, outPerm, out, sc[ns:ns+64], y, mm, bias, g, K, 0, K, t0, t1, T)
	})
}

// conv2DWinograd is Conv2D for winogradOK shapes.
func (e *Engine) conv2DWinograd(p ConvParams, x, w, bias, y []float32) {
	ub := getBufs()
	defer putBufs(ub)
	u := grow(&ub.u, 16*p.K*p.C)
	e.winoFilterPar(u, w, p.K, p.C, false)
	e.winoConv(p.N, p.C, p.K, p.H, p.W, x, u, bias, y)
}

// conv2DBackwardDataWinograd is Conv2DBackwardData for winogradOK shapes:
// dx = conv3x3(dy, flip(wᵀ)).
func (e *Engine) conv2DBackwardDataWinograd(p ConvParams, dy, w, dx []float32) {
	ub := getBufs()
	defer putBufs(ub)
	u := grow(&ub.u, 16*p.K*p.C)
	e.winoFilterPar(u, w, p.C, p.K, true)
	e.winoConv(p.N, p.K, p.C, p.H, p.W, dy, u, nil, dx)
}

// winoGroupedMax is the largest C·K for which the weight gradient sums its
// blocks in convWeightGroups independent groups (each with its own
// transforms and 16·K·C partial, added in group order at the end) instead
// of block by block with the threads meeting three times per block: small
// layers have many blocks of tiny GEMMs, where those meetings cost more
// than the work.
const winoGroupedMax = 128 * 128

// winoWeightGrouped accumulates dU (16·K·C) for the weight gradient in
// fixed groups of blocks; see winoGroupedMax.
func (e *Engine) winoWeightGrouped(p ConvParams, g winoGeom, T, blocks, ld int, x, dy, du []float32,
	in func(s, o []float32, stride int), gr func(d, o []float32, stride int),
	rowFn func(rows []float32, rs int, o []float32, stride int), ns int) {
	C, K := p.C, p.K
	gather := winoInputGatherFn(e.path)
	_, gradRows := winoRowFns(e.path)
	_, gradPerm := winoPermFns(e.path)
	G := min(convWeightGroups, blocks)
	pb := getBufs()
	defer putBufs(pb)
	for len(pb.parts) < G {
		pb.parts = append(pb.parts, nil)
	}
	parts := pb.parts[:G]
	parts[0] = du
	for i := 1; i < G; i++ {
		parts[i] = grow(&parts[i], len(du))
	}
	defer func() { parts[0] = nil }()
	// With C ≤ 16 the GEMM would take its unpacked narrow path for each
	// dU[ξ] (K × C), measured slower here than the packed one even at
	// twice the multiply-adds: pairs of ξ go as one product, off-diagonal
	// blocks wasted.
	pair := C <= narrowN
	inner, threads := e.split(G)
	e.parallel(G, threads, func(b *convBufs, gi int) {
		v := grow(&b.v, 16*C*ld)
		dm := grow(&b.m, 16*K*ld)
		sc := grow(&b.s, max(ns, 64))
		var p2 []float32
		if pair {
			p2 = grow(&b.u, 8*4*K*C)
		}
		part := parts[gi]
		lo, hi := gi*blocks/G, (gi+1)*blocks/G
		for bi := lo; bi < hi; bi++ {
			t0 := bi * T
			t1 := min(g.tiles, t0+T)
			winoInput16(in, rowFn, gather, b, sc[:ns], v, x, g, C, 0, C, t0, t1, ld)
			winoGradOut16(gradRows, gradPerm, gr, sc[:64], dm, dy, g, K, 0, K, t0, t1, ld)
			beta := float32(1)
			if bi == lo {
				beta = 0
			}
			if pair {
				// dM[ξ], dM[ξ+1] are one 2K × T matrix, V[ξ], V[ξ+1] one
				// 2C × T: their product holds dU[ξ] and dU[ξ+1] as its
				// diagonal blocks.
				for xi := 0; xi < 16; xi += 2 {
					inner.Sgemm(false, true, 2*K, 2*C, t1-t0, 1, dm[xi*K*ld:], ld, v[xi*C*ld:], ld, beta, p2[xi*2*K*C:], 2*C)
				}
				continue
			}
			for xi := 0; xi < 16; xi++ {
				inner.Sgemm(false, true, K, C, t1-t0, 1, dm[xi*K*ld:], ld, v[xi*C*ld:], ld, beta, part[xi*K*C:], C)
			}
		}
		if pair {
			for xi := 0; xi < 16; xi += 2 {
				q := p2[xi*2*K*C:]
				for k := 0; k < K; k++ {
					copy(part[(xi*K+k)*C:(xi*K+k+1)*C], q[k*2*C:k*2*C+C])
					copy(part[((xi+1)*K+k)*C:((xi+1)*K+k+1)*C], q[(K+k)*2*C+C:(K+k+1)*2*C])
				}
			}
		}
	})
	for i := 1; i < G; i++ {
		e.Axpy(1, parts[i], du)
	}
}

// conv2DBackwardWeightWinograd is Conv2DBackwardWeight for winogradOK
// shapes (bias gradient handled by the caller). Each of the 16 dU[ξ]
// accumulates over the blocks in order; blocks are processed one after
// another, with the transforms split over channels and the 16 GEMMs over
// the threads, so the summation order is fixed by the shape.
func (e *Engine) conv2DBackwardWeightWinograd(p ConvParams, x, dy, dw []float32) {
	g := p.winoGeom()
	T := p.winoBlock()
	C, K := p.C, p.K
	blocks := (g.tiles + T - 1) / T
	wb := getBufs()
	defer putBufs(wb)
	du := grow(&wb.u, 16*K*C)
	ld := T + winoPad
	in, gr, rowFn := winoInputFn(e.path), winoGradOutFn(e.path), winoInputRowFn(e.path)
	gather := winoInputGatherFn(e.path)
	_, gradRows := winoRowFns(e.path)
	_, gradPerm := winoPermFns(e.path)
	ns := winoInputScratch(p.W)
	if C*K <= winoGroupedMax {
		e.winoWeightGrouped(p, g, T, blocks, ld, x, dy, du, in, gr, rowFn, ns)
	} else {
		v := grow(&wb.v, 16*C*ld)
		dm := grow(&wb.m, 16*K*ld)
		inner, threads := e.split(16)
		for bi := 0; bi < blocks; bi++ {
			t0 := bi * T
			t1 := min(g.tiles, t0+T)
			_, ct := e.split(C)
			e.parallel(C, ct, func(b *convBufs, c int) {
				winoInput16(in, rowFn, gather, b, grow(&b.s, ns), v, x, g, C, c, c+1, t0, t1, ld)
			})
			_, kt := e.split(K)
			e.parallel(K, kt, func(b *convBufs, k int) {
				winoGradOut16(gradRows, gradPerm, gr, grow(&b.s, 64), dm, dy, g, K, k, k+1, t0, t1, ld)
			})
			beta := float32(1)
			if bi == 0 {
				beta = 0
			}
			e.parallel(16, threads, func(_ *convBufs, xi int) {
				inner.Sgemm(false, true, K, C, t1-t0, 1, dm[xi*K*ld:], ld, v[xi*C*ld:], ld, beta, du[xi*K*C:], C)
			})
		}
	}
	// dg = Gᵀ dU G for every (k, c).
	if e.threads <= 1 || K*C < 64*64 {
		winoFilterGrad(dw, du, K, C, 0, K)
		return
	}
	e.ParallelFor(K, func(lo, hi int) { winoFilterGrad(dw, du, K, C, lo, hi) })
}

// winoFilterGrad writes dg = Gᵀ dU G for output channels [k0, k1) and every
// input channel: dw [K, C, 3, 3] from dU [16][K][C].
func winoFilterGrad(dw, du []float32, K, C, k0, k1 int) {
	KC := K * C
	for k := k0; k < k1; k++ {
		for c := 0; c < C; c++ {
			var d [16]float32
			for xi := 0; xi < 16; xi++ {
				d[xi] = du[xi*KC+k*C+c]
			}
			// s = Gᵀ d (3×4); Gᵀ = [1 ½ ½ 0; 0 ½ −½ 0; 0 ½ ½ 1].
			var s [12]float32
			for j := 0; j < 4; j++ {
				d0, d1, d2, d3 := d[j], d[4+j], d[8+j], d[12+j]
				s[j] = d0 + 0.5*(d1+d2)
				s[4+j] = 0.5 * (d1 - d2)
				s[8+j] = 0.5*(d1+d2) + d3
			}
			out := dw[(k*C+c)*9 : (k*C+c)*9+9]
			for i := 0; i < 3; i++ {
				s0, s1, s2, s3 := s[4*i], s[4*i+1], s[4*i+2], s[4*i+3]
				out[3*i] = s0 + 0.5*(s1+s2)
				out[3*i+1] = 0.5 * (s1 - s2)
				out[3*i+2] = 0.5*(s1+s2) + s3
			}
		}
	}
}
