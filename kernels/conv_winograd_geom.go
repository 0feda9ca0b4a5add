package kernels

// The geometry of the Winograd pass (conv_winograd.go): which shapes it
// serves, blocks of tiles, the walk over tiles, the 16-tile groups and how
// their outputs are laid out, and the permutation tables of whole 8×8 and
// 4×4 planes.

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
// simd.WinoOutputRows16Generic): 16 adjacent tiles of one tile row of a plane
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

// winoPermTable says where, in the four 16-float vectors holding one 8×8
// plane (rows 2i, 2i+1 in vector i) or four 4×4 planes (plane i in vector
// i), each patch element of 16 tiles is (see simd.WinoInputPerm16Generic).
type winoPermTable struct {
	tbl [16][16]int32
	msk [32]uint16
	// The same for the 2×2 outputs: otbl/omsk place them into the four
	// vectors (simd.WinoOutputPerm16Generic), gtbl/gmsk read output
	// gradients back from them (simd.WinoGradOutPerm16Generic).
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
