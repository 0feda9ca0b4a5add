package simd

import "math"

// The pure-Go twins of the Winograd F(2×2, 3×3) transform kernels in
// conv_amd64.s. Each transforms 16 tiles side by side (tile l in lane l);
// the caller (kernels/conv_winograd.go) gathers and scatters the tiles, so
// the kernels load and store whole vectors only.

// WinoInput16Generic computes, for tiles l < 16, V = Bᵀ d B with
// Bᵀ = [1 0 −1 0; 0 1 1 0; 0 −1 1 0; 0 1 0 −1] and the 4×4 input tile
// d[r][j] = s[64r + 16j + l], writing o[(4i+j)·stride + l] = V[i][j].
// len(s) ≥ 256, stride ≥ 16, len(o) ≥ 15·stride + 16.
func WinoInput16Generic(s, o []float32, stride int) {
	_, _ = s[255], o[15*stride+15]
	for l := 0; l < 16; l++ {
		var d [4][4]float32
		for r := 0; r < 4; r++ {
			d[r] = [4]float32{s[64*r+l], s[64*r+16+l], s[64*r+32+l], s[64*r+48+l]}
		}
		var e [4][4]float32
		for j := 0; j < 4; j++ {
			e[0][j] = d[0][j] - d[2][j]
			e[1][j] = d[1][j] + d[2][j]
			e[2][j] = d[2][j] - d[1][j]
			e[3][j] = d[1][j] - d[3][j]
		}
		for i := 0; i < 4; i++ {
			o[(4*i)*stride+l] = e[i][0] - e[i][2]
			o[(4*i+1)*stride+l] = e[i][1] + e[i][2]
			o[(4*i+2)*stride+l] = e[i][2] - e[i][1]
			o[(4*i+3)*stride+l] = e[i][1] - e[i][3]
		}
	}
}

// WinoOutput16Generic computes, for tiles l < 16, Y = Aᵀ M A + bias with
// Aᵀ = [1 1 1 0; 0 1 −1 −1] and M[ξ] = m[ξ·stride + l] (ξ = 4i + j),
// writing o[(2a+b)·16 + l] = Y[a][b]. stride ≥ 16,
// len(m) ≥ 15·stride + 16, len(o) ≥ 64.
func WinoOutput16Generic(m []float32, stride int, bias float32, o []float32) {
	_, _ = m[15*stride+15], o[63]
	for l := 0; l < 16; l++ {
		var s [2][4]float32
		for j := 0; j < 4; j++ {
			m0, m1, m2, m3 := m[j*stride+l], m[(4+j)*stride+l], m[(8+j)*stride+l], m[(12+j)*stride+l]
			s[0][j] = m0 + m1 + m2
			s[1][j] = m1 - m2 - m3
		}
		for a := 0; a < 2; a++ {
			o[(2*a)*16+l] = s[a][0] + s[a][1] + s[a][2] + bias
			o[(2*a+1)*16+l] = s[a][1] - s[a][2] - s[a][3] + bias
		}
	}
}

// WinoGradOut16Generic computes, for tiles l < 16, the adjoint of the output
// transform, dM = A dY Aᵀ with A = (Aᵀ)ᵀ, for the 2×2 output gradient
// dY = [d[l] d[16+l]; d[32+l] d[48+l]], writing o[(4i+j)·stride + l] =
// dM[i][j]. len(d) ≥ 64, stride ≥ 16, len(o) ≥ 15·stride + 16.
func WinoGradOut16Generic(d, o []float32, stride int) {
	_, _ = d[63], o[15*stride+15]
	for l := 0; l < 16; l++ {
		a, b, c, e := d[l], d[16+l], d[32+l], d[48+l]
		r := [4][2]float32{{a, b}, {a + c, b + e}, {a - c, b - e}, {0 - c, 0 - e}}
		for i := 0; i < 4; i++ {
			o[(4*i)*stride+l] = r[i][0]
			o[(4*i+1)*stride+l] = r[i][0] + r[i][1]
			o[(4*i+2)*stride+l] = r[i][0] - r[i][1]
			o[(4*i+3)*stride+l] = 0 - r[i][1]
		}
	}
}

// WinoInputRow16Generic is WinoInput16Generic for 16 horizontally adjacent
// tiles read straight from 4 input rows: d[r][j] = rows[r·rs + 2l + j] for
// lane l. rs ≥ 34, len(rows) ≥ 3·rs + 34, stride ≥ 16,
// len(o) ≥ 15·stride + 16.
func WinoInputRow16Generic(rows []float32, rs int, o []float32, stride int) {
	_, _ = rows[3*rs+33], o[15*stride+15]
	var s [256]float32
	for r := 0; r < 4; r++ {
		for j := 0; j < 4; j++ {
			for l := 0; l < 16; l++ {
				s[64*r+16*j+l] = rows[r*rs+2*l+j]
			}
		}
	}
	WinoInput16Generic(s[:], o, stride)
}

// WinoInputGather16Generic is WinoInput16Generic for 16 tiles anywhere in a
// zero-padded buffer: d[r][j] = p[idx[l] + r·ps + j] for lane l.
// len(idx) ≥ 16, every idx[l] ≥ 0 and idx[l] + 3·ps + 3 < len(p),
// stride ≥ 16, len(o) ≥ 15·stride + 16.
func WinoInputGather16Generic(p []float32, idx []int32, ps int, o []float32, stride int) {
	_ = idx[15]
	var s [256]float32
	for l := 0; l < 16; l++ {
		b := int(idx[l])
		for r := 0; r < 4; r++ {
			q := p[b+r*ps : b+r*ps+4 : b+r*ps+4]
			s[64*r+l], s[64*r+16+l], s[64*r+32+l], s[64*r+48+l] = q[0], q[1], q[2], q[3]
		}
	}
	WinoInput16Generic(s[:], o, stride)
}

// WinoOutputRows16Generic is WinoOutput16Generic with the 2×2 output tiles
// stored straight into output rows: lanes 0…7 form 8 horizontally adjacent
// tiles and so do lanes 8…15; output row a (0 or 1) of lanes 0…7 is
// y[oa0 : oa0+16] and of lanes 8…15 is y[oa1 : oa1+16] (with o00 = b,
// o01 = b+16, o10 = b+W, o11 = b+W+16 for 16 adjacent tiles of a row W
// wide, or o00 = b, o01 = b+32, o10 = b+16, o11 = b+48 for two 8-tile rows
// of a 16-wide plane). stride ≥ 16, len(m) ≥ 15·stride + 16.
func WinoOutputRows16Generic(m []float32, stride int, bias float32, y []float32, o00, o01, o10, o11 int) {
	var o [64]float32
	WinoOutput16Generic(m, stride, bias, o[:])
	for a, offs := range [2][2]int{{o00, o01}, {o10, o11}} {
		for h, off := range offs {
			r := y[off : off+16 : off+16]
			for i := 0; i < 8; i++ {
				r[2*i], r[2*i+1] = o[32*a+8*h+i], o[32*a+16+8*h+i]
			}
		}
	}
}

// WinoGradOutRows16Generic is WinoGradOut16Generic of 2×2 output-gradient
// tiles read straight from rows laid out as in WinoOutputRows16Generic.
// stride ≥ 16, len(o) ≥ 15·stride + 16.
func WinoGradOutRows16Generic(dy []float32, o00, o01, o10, o11 int, o []float32, stride int) {
	var d [64]float32
	for a, offs := range [2][2]int{{o00, o01}, {o10, o11}} {
		for h, off := range offs {
			r := dy[off : off+16 : off+16]
			for i := 0; i < 8; i++ {
				d[32*a+8*h+i], d[32*a+16+8*h+i] = r[2*i], r[2*i+1]
			}
		}
	}
	WinoGradOut16Generic(d[:], o, stride)
}

// MaxPool2x2Row16Generic computes 16 windows of the 2×2 stride-2 max-pool
// from the input rows r0 and r1: y[j] is the first maximum in scan order of
// (r0[2j], r0[2j+1], r1[2j], r1[2j+1]) and idx[j] = base + 2j + 0, 1, w or
// w+1 its offset. It returns the mask of windows holding a NaN (the SIMD
// versions leave their y and idx unspecified; the caller redoes them).
// len(r0), len(r1) ≥ 32, len(y), len(idx) ≥ 16.
func MaxPool2x2Row16Generic(r0, r1, y []float32, idx []int32, base, w int) int {
	r0, r1, y, idx = r0[:32], r1[:32], y[:16], idx[:16]
	mask := 0
	for j := range y {
		v := [4]float32{r0[2*j], r0[2*j+1], r1[2*j], r1[2*j+1]}
		off := [4]int{0, 1, w, w + 1}
		best, bi := v[0], 0
		for i := 1; i < 4; i++ {
			if v[i] > best {
				best, bi = v[i], i
			}
		}
		for _, x := range v {
			if x != x {
				mask |= 1 << j
			}
		}
		y[j], idx[j] = best, int32(base+2*j+off[bi])
	}
	return mask
}

// WinoInputGatherMasked16Generic is WinoInputGather16Generic straight from
// unpadded planes: d[r][j] = x[idx[l] + r·w + j] where bit l of
// masks[r] & masks[4+j] is set (the element lies inside its plane), else 0;
// only the selected elements are read (idx[l] may point before the plane).
// len(idx) ≥ 16, len(masks) ≥ 8, stride ≥ 16, len(o) ≥ 15·stride + 16.
func WinoInputGatherMasked16Generic(x []float32, idx []int32, w int, masks []uint16, o []float32, stride int) {
	_, _ = idx[15], masks[7]
	var s [256]float32
	for l := 0; l < 16; l++ {
		for r := 0; r < 4; r++ {
			for j := 0; j < 4; j++ {
				if (masks[r]&masks[4+j])>>l&1 != 0 {
					s[64*r+16*j+l] = x[int(idx[l])+r*w+j]
				}
			}
		}
	}
	WinoInput16Generic(s[:], o, stride)
}

// WinoInputW16Generic is WinoInput16Generic for the 16 tiles of two tile
// rows th, th+1 of a 16-wide plane: rows[i] is input row 2·th−1+i (a row of
// zeros where that is outside the plane), and tile l's patch is
// d[r][j] = rows[r + 2·(l/8)][2·(l%8) − 1 + j], zero for columns −1 and 16.
// len(rows[i]) ≥ 16, stride ≥ 16, len(o) ≥ 15·stride + 16.
func WinoInputW16Generic(rows *[6][]float32, o []float32, stride int) {
	var s [256]float32
	for l := 0; l < 16; l++ {
		for r := 0; r < 4; r++ {
			row := rows[r+2*(l/8)][:16]
			for j := 0; j < 4; j++ {
				if c := 2*(l%8) - 1 + j; c >= 0 && c < 16 {
					s[64*r+16*j+l] = row[c]
				}
			}
		}
	}
	WinoInput16Generic(s[:], o, stride)
}

// WinoInputPerm16Generic is WinoInput16Generic for 16 tiles whose patches
// all lie in the 64 floats of src[0…3] (16 each; an 8×8 plane, or four 4×4
// planes): element e = 4r+j of lane l's patch is element tbl[e][l] of
// src[0]‖src[1] where bit l of msk[2e] is set, of src[2]‖src[3] where bit l
// of msk[2e+1] is set, else 0 (the masks are disjoint). len(src[i]) ≥ 16,
// tbl entries in [0, 32), stride ≥ 16, len(o) ≥ 15·stride + 16.
func WinoInputPerm16Generic(src *[4][]float32, tbl *[16][16]int32, msk *[32]uint16, o []float32, stride int) {
	var s [256]float32
	for e := 0; e < 16; e++ {
		for l := 0; l < 16; l++ {
			t := int(tbl[e][l])
			var v float32
			switch {
			case msk[2*e]>>l&1 != 0:
				v = src[t/16][t%16]
			case msk[2*e+1]>>l&1 != 0:
				v = src[2+t/16][t%16]
			}
			s[64*(e/4)+16*(e%4)+l] = v
		}
	}
	WinoInput16Generic(s[:], o, stride)
}

// WinoOutputPerm16Generic is WinoOutput16Generic with the 2×2 output tiles
// stored into the four 16-float vectors dst[0…3] (an 8×8 plane, or four
// 4×4 planes): lane λ of dst[i] is element tbl[i][λ] of Y00‖Y01 where bit λ
// of msk[2i] is set, of Y10‖Y11 where bit λ of msk[2i+1] is set, else 0
// (Yab the 16 lanes of output (a, b) of every tile).
// stride ≥ 16, len(m) ≥ 15·stride + 16, len(dst[i]) ≥ 16, tbl entries in
// [0, 32).
func WinoOutputPerm16Generic(m []float32, stride int, bias float32, dst *[4][]float32, tbl *[4][16]int32, msk *[8]uint16) {
	var o [64]float32 // Y00, Y01, Y10, Y11
	WinoOutput16Generic(m, stride, bias, o[:])
	for i := 0; i < 4; i++ {
		d := dst[i][:16]
		for l := 0; l < 16; l++ {
			t := int(tbl[i][l])
			switch {
			case msk[2*i]>>l&1 != 0:
				d[l] = o[t]
			case msk[2*i+1]>>l&1 != 0:
				d[l] = o[32+t]
			default:
				d[l] = 0
			}
		}
	}
}

// WinoGradOutPerm16Generic is WinoGradOut16Generic of 16 tiles whose 2×2
// output gradients lie in the 64 floats of src[0…3]: lane l of dY_ab
// (e = 2a+b) is element tbl[e][l] of src[0]‖src[1] where bit l of msk[2e] is
// set, of src[2]‖src[3] where bit l of msk[2e+1] is set, else 0.
// len(src[i]) ≥ 16, stride ≥ 16, len(o) ≥ 15·stride + 16.
func WinoGradOutPerm16Generic(src *[4][]float32, tbl *[4][16]int32, msk *[8]uint16, o []float32, stride int) {
	var d [64]float32
	for e := 0; e < 4; e++ {
		for l := 0; l < 16; l++ {
			t := int(tbl[e][l])
			switch {
			case msk[2*e]>>l&1 != 0:
				d[16*e+l] = src[t/16][t%16]
			case msk[2*e+1]>>l&1 != 0:
				d[16*e+l] = src[2+t/16][t%16]
			}
		}
	}
	WinoGradOut16Generic(d[:], o, stride)
}

// Direct3x3K16Generic computes 16 output pixels (columns w0 … w0+15 of one
// output row) of 16 output channels of a 3×3, stride-1, pad-1 convolution
// directly: y[k·ys + i] = bias[k] + Σ_{c,r,s} w[(9c+3r+s)·16 + k] ·
// rows[3c+r][w0+i+s−1], a column outside [0, W) reading as 0. rows[3c+r] is
// input row r of channel c for this output row (all W long, a row of zeros
// above or below the plane); W ≥ 16, 0 ≤ w0 ≤ W−16; len(w) ≥ 144·C with
// C = len(rows)/3; len(bias) ≥ 16. Products are fused into the sums
// (math.FMA), over c, r, s in that order, as the SIMD version does.
func Direct3x3K16Generic(rows [][]float32, w0 int, w []float32, bias []float32, y []float32, ys int) {
	W := len(rows[0])
	var acc [16][16]float32
	for k := range acc {
		for i := range acc[k] {
			acc[k][i] = bias[k]
		}
	}
	for ri, row := range rows {
		row = row[:W]
		for s := 0; s < 3; s++ {
			var x [16]float32
			for i := range x {
				if c := w0 + i + s - 1; c >= 0 && c < W {
					x[i] = row[c]
				}
			}
			wk := w[(3*ri+s)*16 : (3*ri+s)*16+16]
			for k := range acc {
				for i := range x {
					acc[k][i] = float32(math.FMA(float64(wk[k]), float64(x[i]), float64(acc[k][i])))
				}
			}
		}
	}
	for k := range acc {
		copy(y[k*ys:k*ys+16], acc[k][:])
	}
}

// DirectGradW3x3Generic accumulates the weight gradient of a 3×3, stride-1,
// pad-1 convolution for one input channel along one output row of P =
// len(dyT)/16 pixels: acc[16(3r+s) + k] += Σ_p dyT[16p + k] · rows[r][p+s],
// dyT the output gradient transposed (16 output channels per pixel) and
// rows the three input rows zero-padded (len ≥ P+2; element j is column
// j−1). len(acc) ≥ 144. Products are fused into the sums (one rounding
// each, math.FMA in float64 then float32), pixel by pixel as the SIMD
// version.
func DirectGradW3x3Generic(dyT []float32, rows *[3][]float32, acc []float32) {
	P := len(dyT) / 16
	acc = acc[:144]
	for p := 0; p < P; p++ {
		d := dyT[16*p : 16*p+16]
		for r := 0; r < 3; r++ {
			x := rows[r][p : p+3]
			for s := 0; s < 3; s++ {
				a := acc[16*(3*r+s) : 16*(3*r+s)+16]
				for k, g := range d {
					a[k] = float32(math.FMA(float64(g), float64(x[s]), float64(a[k])))
				}
			}
		}
	}
}

// WinoInputW32Generic is WinoInput16Generic for the 16 tiles of tile row th
// of a 32-wide plane: rows[r] is input row 2·th−1+r (a row of zeros outside
// the plane) and tile l's patch is d[r][j] = rows[r][2l−1+j], zero for
// columns −1 and 32. len(rows[r]) ≥ 32, stride ≥ 16, len(o) ≥ 15·stride + 16.
func WinoInputW32Generic(rows *[4][]float32, o []float32, stride int) {
	var s [256]float32
	for l := 0; l < 16; l++ {
		for r := 0; r < 4; r++ {
			row := rows[r][:32]
			for j := 0; j < 4; j++ {
				if c := 2*l - 1 + j; c >= 0 && c < 32 {
					s[64*r+16*j+l] = row[c]
				}
			}
		}
	}
	WinoInput16Generic(s[:], o, stride)
}
