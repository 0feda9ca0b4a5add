package simd

import (
	"fmt"
	"math"
	"math/rand"
	"testing"
)

// convImpl is one implementation of the Winograd transform kernels.
type convImpl struct {
	path   Path
	input  func(s, o []float32, stride int)
	output func(m []float32, stride int, bias float32, o []float32)
	grad   func(d, o []float32, stride int)
	row    func(rows []float32, rs int, o []float32, stride int)
	gather func(p []float32, idx []int32, ps int, o []float32, stride int)
}

var convImpls = []convImpl{
	{Generic, WinoInput16Generic, WinoOutput16Generic, WinoGradOut16Generic, WinoInputRow16Generic, WinoInputGather16Generic},
	{AVX2, WinoInput16AVX2, WinoOutput16AVX2, WinoGradOut16AVX2, WinoInputRow16AVX2, WinoInputGather16AVX2},
	{AVX512, WinoInput16AVX512, WinoOutput16AVX512, WinoGradOut16AVX512, WinoInputRow16AVX512, WinoInputGather16AVX512},
}

func sentinelled(n int) []float32 {
	o := make([]float32, n+guard)
	for i := range o {
		o[i] = float32(math.NaN())
	}
	for i := n; i < n+guard; i++ {
		o[i] = -777
	}
	return o
}

func checkSentinels(t *testing.T, name string, o []float32, n int) {
	t.Helper()
	for i := n; i < len(o); i++ {
		if o[i] != -777 {
			t.Fatalf("%s: wrote past its output (element %d)", name, i)
		}
	}
}

// The transforms use only additions, so every path must match the twin
// exactly (same operations, same order per lane).
func TestWinogradTransformsMatchTwin(t *testing.T) {
	const seed = 701
	t.Logf("seed %d", seed)
	r := rand.New(rand.NewSource(seed))
	for _, impl := range convImpls {
		if !runnable(t, impl.path) {
			continue
		}
		for trial := 0; trial < 20; trial++ {
			s := make([]float32, 256)
			for i := range s {
				s[i] = float32(r.NormFloat64())
			}
			ist := 16 + r.Intn(40)
			n := 15*ist + 16
			want, got := sentinelled(n), sentinelled(n)
			WinoInput16Generic(s, want[:n], ist)
			impl.input(s, got[:n], ist)
			checkSentinels(t, impl.path.String()+" input", got, n)
			for i := 0; i < n; i++ {
				if math.Float32bits(got[i]) != math.Float32bits(want[i]) {
					t.Fatalf("%v input transform [%d] = %g, twin %g", impl.path, i, got[i], want[i])
				}
			}
			rs := 34 + r.Intn(30)
			rows := make([]float32, 3*rs+34)
			for i := range rows {
				rows[i] = float32(r.NormFloat64())
			}
			rw, rg := sentinelled(n), sentinelled(n)
			WinoInputRow16Generic(rows, rs, rw[:n], ist)
			impl.row(rows, rs, rg[:n], ist)
			checkSentinels(t, impl.path.String()+" row input", rg, n)
			for i := 0; i < n; i++ {
				if math.Float32bits(rg[i]) != math.Float32bits(rw[i]) {
					t.Fatalf("%v row input transform [%d] = %g, twin %g (rs %d)", impl.path, i, rg[i], rw[i], rs)
				}
			}
			// Gathered tiles: anywhere in a buffer, including its last
			// element, against WinoInput16Generic on the same patches.
			ps := 4 + r.Intn(40)
			buf := make([]float32, 3*ps+4+r.Intn(200))
			for i := range buf {
				buf[i] = float32(r.NormFloat64())
			}
			idx := make([]int32, 16)
			var sg [256]float32
			for l := range idx {
				idx[l] = int32(r.Intn(len(buf) - 3*ps - 3))
				if l == 15 {
					idx[l] = int32(len(buf) - 3*ps - 4)
				}
				for rr := 0; rr < 4; rr++ {
					for j := 0; j < 4; j++ {
						sg[64*rr+16*j+l] = buf[int(idx[l])+rr*ps+j]
					}
				}
			}
			gw, gg := sentinelled(n), sentinelled(n)
			WinoInput16Generic(sg[:], gw[:n], ist)
			impl.gather(buf, idx, ps, gg[:n], ist)
			checkSentinels(t, impl.path.String()+" gathered input", gg, n)
			for i := 0; i < n; i++ {
				if math.Float32bits(gg[i]) != math.Float32bits(gw[i]) {
					t.Fatalf("%v gathered input transform [%d] = %g, want %g (ps %d)", impl.path, i, gg[i], gw[i], ps)
				}
			}
			d := make([]float32, 64)
			for i := range d {
				d[i] = float32(r.NormFloat64())
			}
			gw, gg = sentinelled(n), sentinelled(n)
			WinoGradOut16Generic(d, gw[:n], ist)
			impl.grad(d, gg[:n], ist)
			checkSentinels(t, impl.path.String()+" grad", gg, n)
			for i := 0; i < n; i++ {
				if math.Float32bits(gg[i]) != math.Float32bits(gw[i]) {
					t.Fatalf("%v output-gradient transform [%d] = %g, twin %g", impl.path, i, gg[i], gw[i])
				}
			}
			stride := 16 + r.Intn(40)
			m := make([]float32, 15*stride+16)
			for i := range m {
				m[i] = float32(r.NormFloat64())
			}
			bias := float32(r.NormFloat64())
			wo, go_ := sentinelled(64), sentinelled(64)
			WinoOutput16Generic(m, stride, bias, wo[:64])
			impl.output(m, stride, bias, go_[:64])
			checkSentinels(t, impl.path.String()+" output", go_, 64)
			for i := 0; i < 64; i++ {
				if math.Float32bits(go_[i]) != math.Float32bits(wo[i]) {
					t.Fatalf("%v output transform [%d] = %g, twin %g (stride %d)", impl.path, i, go_[i], wo[i], stride)
				}
			}
		}
	}
}

// The twin itself against the definition with explicit matrices.
func TestWinogradTwinDefinition(t *testing.T) {
	r := rand.New(rand.NewSource(702))
	bt := [4][4]float64{{1, 0, -1, 0}, {0, 1, 1, 0}, {0, -1, 1, 0}, {0, 1, 0, -1}}
	at := [2][4]float64{{1, 1, 1, 0}, {0, 1, -1, -1}}
	s := make([]float32, 256)
	for i := range s {
		s[i] = float32(r.Intn(17) - 8)
	}
	o := make([]float32, 256)
	WinoInput16Generic(s, o, 16)
	for l := 0; l < 16; l++ {
		var d [4][4]float64
		for row := 0; row < 4; row++ {
			d[row] = [4]float64{float64(s[64*row+l]), float64(s[64*row+16+l]), float64(s[64*row+32+l]), float64(s[64*row+48+l])}
		}
		for i := 0; i < 4; i++ {
			for j := 0; j < 4; j++ {
				v := 0.0
				for a := 0; a < 4; a++ {
					for b := 0; b < 4; b++ {
						v += bt[i][a] * d[a][b] * bt[j][b]
					}
				}
				if float64(o[(4*i+j)*16+l]) != v {
					t.Fatalf("tile %d V[%d][%d] = %v, want %v", l, i, j, o[(4*i+j)*16+l], v)
				}
			}
		}
	}
	m := make([]float32, 16*20)
	for i := range m {
		m[i] = float32(r.Intn(17) - 8)
	}
	y := make([]float32, 64)
	WinoOutput16Generic(m, 20, 0.5, y)
	for l := 0; l < 16; l++ {
		for a := 0; a < 2; a++ {
			for b := 0; b < 2; b++ {
				v := 0.5
				for i := 0; i < 4; i++ {
					for j := 0; j < 4; j++ {
						v += at[a][i] * float64(m[(4*i+j)*20+l]) * at[b][j]
					}
				}
				if float64(y[(2*a+b)*16+l]) != v {
					t.Fatalf("tile %d Y[%d][%d] = %v, want %v", l, a, b, y[(2*a+b)*16+l], v)
				}
			}
		}
	}
}

// The row-segment output kernels against a layout built by hand from
// WinoOutput16Generic / for WinoGradOut16Generic, in both layouts the
// kernels package uses (16 adjacent tiles of a wide row; two 8-tile rows of
// a 16-wide plane).
func TestWinogradRowKernels(t *testing.T) {
	const seed = 709
	t.Logf("seed %d", seed)
	r := rand.New(rand.NewSource(seed))
	impls := []struct {
		path Path
		out  func(m []float32, stride int, bias float32, y []float32, o00, o01, o10, o11 int)
		grad func(dy []float32, o00, o01, o10, o11 int, o []float32, stride int)
	}{
		{Generic, WinoOutputRows16Generic, WinoGradOutRows16Generic},
		{AVX512, WinoOutputRows16AVX512, WinoGradOutRows16AVX512},
	}
	for _, im := range impls {
		if !runnable(t, im.path) {
			continue
		}
		for trial := 0; trial < 20; trial++ {
			W := []int{16, 32, 48, 64}[trial%4]
			b := 2 * W * r.Intn(3)
			offs := [4]int{b, b + 16, b + W, b + W + 16}
			if W == 16 {
				offs = [4]int{b, b + 32, b + 16, b + 48}
			} else if W > 32 {
				off := 2 * r.Intn((W-32)/2+1)
				for i := range offs {
					offs[i] += off
				}
			}
			size := b + 4*W + 64
			stride := 16 + r.Intn(40)
			m := make([]float32, 15*stride+16)
			for i := range m {
				m[i] = float32(r.NormFloat64())
			}
			bias := float32(r.NormFloat64())
			var o [64]float32
			WinoOutput16Generic(m, stride, bias, o[:])
			base := make([]float32, size)
			for i := range base {
				base[i] = float32(r.NormFloat64())
			}
			want := append([]float32(nil), base...)
			for l := 0; l < 16; l++ {
				for a := 0; a < 2; a++ {
					for bb := 0; bb < 2; bb++ {
						want[offs[2*a+l/8]+2*(l%8)+bb] = o[32*a+16*bb+l]
					}
				}
			}
			got := append([]float32(nil), base...)
			im.out(m, stride, bias, got, offs[0], offs[1], offs[2], offs[3])
			for i := range want {
				if math.Float32bits(got[i]) != math.Float32bits(want[i]) {
					t.Fatalf("%v output rows (W %d): y[%d] = %g, want %g", im.path, W, i, got[i], want[i])
				}
			}
			// The gradient kernel reads back what the output kernel wrote.
			var d [64]float32
			for l := 0; l < 16; l++ {
				for a := 0; a < 2; a++ {
					for bb := 0; bb < 2; bb++ {
						d[32*a+16*bb+l] = want[offs[2*a+l/8]+2*(l%8)+bb]
					}
				}
			}
			ist := 16 + r.Intn(40)
			n := 15*ist + 16
			gw, gg := sentinelled(n), sentinelled(n)
			WinoGradOut16Generic(d[:], gw[:n], ist)
			im.grad(want, offs[0], offs[1], offs[2], offs[3], gg[:n], ist)
			checkSentinels(t, im.path.String()+" grad rows", gg, n)
			for i := 0; i < n; i++ {
				if math.Float32bits(gg[i]) != math.Float32bits(gw[i]) {
					t.Fatalf("%v grad rows (W %d) [%d] = %g, want %g", im.path, W, i, gg[i], gw[i])
				}
			}
		}
	}
}

func TestMaxPool2x2Row16(t *testing.T) {
	const seed = 711
	t.Logf("seed %d", seed)
	r := rand.New(rand.NewSource(seed))
	simd := runnable(t, AVX512)
	if !simd {
		t.Log("no AVX-512 here: the twin alone is checked")
	}
	for trial := 0; trial < 200; trial++ {
		r0, r1 := make([]float32, 32), make([]float32, 32)
		for i := range r0 {
			// Few distinct values: ties, ±0, infinities and NaNs.
			pick := []float32{0, float32(math.Copysign(0, -1)), 1, -1, 2, float32(math.Inf(1)), float32(math.Inf(-1)), float32(math.NaN())}
			if trial%2 == 0 {
				r0[i], r1[i] = pick[r.Intn(7)], pick[r.Intn(7)]
			} else {
				r0[i], r1[i] = pick[r.Intn(8)], pick[r.Intn(8)]
			}
		}
		base, w := r.Intn(1000), 32+2*r.Intn(20)
		yw, yg := make([]float32, 16), make([]float32, 16)
		iw, ig := make([]int32, 16), make([]int32, 16)
		mw := MaxPool2x2Row16Generic(r0, r1, yw, iw, base, w)
		mg := mw
		if simd {
			mg = MaxPool2x2Row16AVX512(r0, r1, yg, ig, base, w)
		} else {
			copy(yg, yw)
			copy(ig, iw)
		}
		if mw != mg {
			t.Fatalf("NaN masks %#x (twin) and %#x (AVX-512)", mw, mg)
		}
		for j := 0; j < 16; j++ {
			if mw&(1<<j) != 0 {
				continue
			}
			// The first maximum in scan order, by hand.
			v := []float32{r0[2*j], r0[2*j+1], r1[2*j], r1[2*j+1]}
			off := []int{0, 1, w, w + 1}
			bi := 0
			for i := 1; i < 4; i++ {
				if v[i] > v[bi] {
					bi = i
				}
			}
			want, wi := v[bi], int32(base+2*j+off[bi])
			for _, got := range []struct {
				y float32
				i int32
			}{{yw[j], iw[j]}, {yg[j], ig[j]}} {
				if math.Float32bits(got.y) != math.Float32bits(want) || got.i != wi {
					t.Fatalf("window %d of %v %v: got %v at %d, want %v at %d", j, v[:2], v[2:], got.y, got.i, want, wi)
				}
			}
		}
	}
}

// Masked gathers from an unpadded plane: every element outside the plane
// holds NaN, so a lane that read one it should not would poison the result.
func TestWinoInputGatherMasked(t *testing.T) {
	const seed = 713
	t.Logf("seed %d", seed)
	r := rand.New(rand.NewSource(seed))
	impls := []struct {
		path Path
		f    func(x []float32, idx []int32, w int, masks []uint16, o []float32, stride int)
	}{
		{Generic, WinoInputGatherMasked16Generic},
		{AVX512, WinoInputGatherMasked16AVX512},
	}
	for trial := 0; trial < 50; trial++ {
		H, W := 1+r.Intn(12), 1+r.Intn(12)
		buf := make([]float32, 4*W+H*W+4*W+8)
		for i := range buf {
			buf[i] = float32(math.NaN())
		}
		p0 := 2*W + 2
		for i := 0; i < H*W; i++ {
			buf[p0+i] = float32(r.NormFloat64())
		}
		x := buf[p0:]
		tilesH, tilesW := (H+1)/2, (W+1)/2
		idx := make([]int32, 16)
		masks := make([]uint16, 8)
		var s [256]float32
		for l := 0; l < 16; l++ {
			th, tw := r.Intn(tilesH), r.Intn(tilesW)
			h0, w0 := 2*th-1, 2*tw-1
			idx[l] = int32(h0*W + w0)
			for k := 0; k < 4; k++ {
				if h := h0 + k; h >= 0 && h < H {
					masks[k] |= 1 << l
				}
				if c := w0 + k; c >= 0 && c < W {
					masks[4+k] |= 1 << l
				}
			}
			for rr := 0; rr < 4; rr++ {
				for j := 0; j < 4; j++ {
					if h, c := h0+rr, w0+j; h >= 0 && h < H && c >= 0 && c < W {
						s[64*rr+16*j+l] = x[h*W+c]
					}
				}
			}
		}
		ist := 16 + r.Intn(20)
		n := 15*ist + 16
		want := sentinelled(n)
		WinoInput16Generic(s[:], want[:n], ist)
		for _, im := range impls {
			if !runnable(t, im.path) {
				continue
			}
			checkTransform(t, fmt.Sprintf("%v masked gather (H %d W %d)", im.path, H, W), want[:n], func(o []float32) { im.f(x, idx, W, masks, o, ist) })
		}
	}
}

// The two-tile-row kernel of 16-wide planes against patches built by hand
// from a zero-padded plane; the rows around each input row hold NaN, so a
// load past column 15 or before column 0 that is not masked would show.
func TestWinoInputW16(t *testing.T) {
	const seed = 717
	t.Logf("seed %d", seed)
	r := rand.New(rand.NewSource(seed))
	for trial := 0; trial < 40; trial++ {
		H := 2 * (2 + r.Intn(7)) // even, ≥ 4
		th := 2 * r.Intn(H/4)    // first of two tile rows
		var pl [20][18]float32   // padded plane: rows −1…H, columns −1…16
		for h := 0; h < H; h++ {
			for c := 0; c < 16; c++ {
				pl[h+1][c+1] = float32(r.NormFloat64())
			}
		}
		zero := make([]float32, 16)
		var rows [6][]float32
		for i := range rows {
			h := 2*th - 1 + i
			if h < 0 || h >= H {
				rows[i] = zero
				continue
			}
			b := make([]float32, 24) // NaN, row, NaN
			for k := range b {
				b[k] = float32(math.NaN())
			}
			copy(b[4:20], pl[h+1][1:17])
			rows[i] = b[4:20]
		}
		var s [256]float32
		for l := 0; l < 16; l++ {
			trow, tw := th+l/8, l%8
			for rr := 0; rr < 4; rr++ {
				for j := 0; j < 4; j++ {
					s[64*rr+16*j+l] = pl[2*trow+rr][2*tw+j]
				}
			}
		}
		ist := 16 + r.Intn(20)
		n := 15*ist + 16
		want := sentinelled(n)
		WinoInput16Generic(s[:], want[:n], ist)
		for _, im := range []struct {
			path Path
			f    func(rows *[6][]float32, o []float32, stride int)
		}{{Generic, WinoInputW16Generic}, {AVX512, WinoInputW16AVX512}} {
			if !runnable(t, im.path) {
				continue
			}
			checkTransform(t, fmt.Sprintf("%v W16 input (H %d, th %d)", im.path, H, th), want[:n], func(o []float32) { im.f(&rows, o, ist) })
		}
	}
}

// The permutation kernel against its twin and a hand-built scratch, on
// random tables and masks (disjoint halves).
func TestWinoInputPerm16(t *testing.T) {
	const seed = 719
	t.Logf("seed %d", seed)
	r := rand.New(rand.NewSource(seed))
	for trial := 0; trial < 50; trial++ {
		var src [4][]float32
		for i := range src {
			src[i] = make([]float32, 16)
			for k := range src[i] {
				src[i][k] = float32(r.NormFloat64())
			}
		}
		var tbl [16][16]int32
		var msk [32]uint16
		var s [256]float32
		for e := 0; e < 16; e++ {
			for l := 0; l < 16; l++ {
				tbl[e][l] = int32(r.Intn(32))
				h := r.Intn(3) // 0, 1: that half; 2: zero
				if h < 2 {
					msk[2*e+h] |= 1 << l
					v := tbl[e][l]
					s[64*(e/4)+16*(e%4)+l] = src[2*h+int(v)/16][v%16]
				}
			}
		}
		ist := 16 + r.Intn(20)
		n := 15*ist + 16
		want := sentinelled(n)
		WinoInput16Generic(s[:], want[:n], ist)
		for _, im := range []struct {
			path Path
			f    func(src *[4][]float32, tbl *[16][16]int32, msk *[32]uint16, o []float32, stride int)
		}{{Generic, WinoInputPerm16Generic}, {AVX512, WinoInputPerm16AVX512}} {
			if !runnable(t, im.path) {
				continue
			}
			checkTransform(t, im.path.String()+" perm input", want[:n], func(o []float32) { im.f(&src, &tbl, &msk, o, ist) })
		}
	}
}

// The output and output-gradient permutation kernels against their twins
// and hand-built layouts, on random tables and disjoint masks.
func TestWinoOutputPerm16(t *testing.T) {
	const seed = 723
	t.Logf("seed %d", seed)
	r := rand.New(rand.NewSource(seed))
	for trial := 0; trial < 50; trial++ {
		var tbl [4][16]int32
		var msk [8]uint16
		for i := 0; i < 4; i++ {
			for l := 0; l < 16; l++ {
				tbl[i][l] = int32(r.Intn(32))
				if h := r.Intn(3); h < 2 {
					msk[2*i+h] |= 1 << l
				}
			}
		}
		stride := 16 + r.Intn(40)
		m := make([]float32, 15*stride+16)
		for i := range m {
			m[i] = float32(r.NormFloat64())
		}
		bias := float32(r.NormFloat64())
		var o [64]float32
		WinoOutput16Generic(m, stride, bias, o[:])
		var want [4][16]float32
		for i := 0; i < 4; i++ {
			for l := 0; l < 16; l++ {
				switch {
				case msk[2*i]>>l&1 != 0:
					want[i][l] = o[tbl[i][l]]
				case msk[2*i+1]>>l&1 != 0:
					want[i][l] = o[32+tbl[i][l]]
				}
			}
		}
		// Gradient side: dY_ab from four random vectors.
		var src [4][]float32
		for i := range src {
			src[i] = make([]float32, 16)
			for k := range src[i] {
				src[i][k] = float32(r.NormFloat64())
			}
		}
		var d [64]float32
		for e := 0; e < 4; e++ {
			for l := 0; l < 16; l++ {
				v := tbl[e][l]
				switch {
				case msk[2*e]>>l&1 != 0:
					d[16*e+l] = src[v/16][v%16]
				case msk[2*e+1]>>l&1 != 0:
					d[16*e+l] = src[2+v/16][v%16]
				}
			}
		}
		ist := 16 + r.Intn(20)
		n := 15*ist + 16
		gw := sentinelled(n)
		WinoGradOut16Generic(d[:], gw[:n], ist)
		for _, im := range []struct {
			path Path
			out  func(m []float32, stride int, bias float32, dst *[4][]float32, tbl *[4][16]int32, msk *[8]uint16)
			grad func(src *[4][]float32, tbl *[4][16]int32, msk *[8]uint16, o []float32, stride int)
		}{{Generic, WinoOutputPerm16Generic, WinoGradOutPerm16Generic}, {AVX512, WinoOutputPerm16AVX512, WinoGradOutPerm16AVX512}} {
			if !runnable(t, im.path) {
				continue
			}
			var dst [4][]float32
			for i := range dst {
				dst[i] = make([]float32, 16)
				for k := range dst[i] {
					dst[i][k] = float32(math.NaN())
				}
			}
			im.out(m, stride, bias, &dst, &tbl, &msk)
			for i := 0; i < 4; i++ {
				for l := 0; l < 16; l++ {
					if math.Float32bits(dst[i][l]) != math.Float32bits(want[i][l]) {
						t.Fatalf("%v output perm dst[%d][%d] = %g, want %g", im.path, i, l, dst[i][l], want[i][l])
					}
				}
			}
			gg := sentinelled(n)
			im.grad(&src, &tbl, &msk, gg[:n], ist)
			checkSentinels(t, im.path.String()+" grad perm", gg, n)
			for i := 0; i < n; i++ {
				if math.Float32bits(gg[i]) != math.Float32bits(gw[i]) {
					t.Fatalf("%v grad perm [%d] = %g, want %g", im.path, i, gg[i], gw[i])
				}
			}
		}
	}
}

// The direct 3×3 kernel against a float64 sum, at the left edge, inside and
// at the right edge of rows 16…48 wide, with zero rows above or below.
func TestDirect3x3K16(t *testing.T) {
	const seed = 727
	t.Logf("seed %d", seed)
	r := rand.New(rand.NewSource(seed))
	for trial := 0; trial < 40; trial++ {
		C := 1 + r.Intn(4)
		W := 16 * (1 + r.Intn(3))
		w0 := []int{0, W - 16, r.Intn(W - 15)}[trial%3]
		rows := make([][]float32, 3*C)
		for i := range rows {
			rows[i] = make([]float32, W)
			if r.Intn(5) == 0 {
				continue // a zero row (outside the plane)
			}
			for j := range rows[i] {
				rows[i][j] = float32(r.NormFloat64())
			}
		}
		w := make([]float32, 144*C)
		for i := range w {
			w[i] = float32(r.NormFloat64())
		}
		bias := make([]float32, 16)
		for i := range bias {
			bias[i] = float32(r.NormFloat64())
		}
		ys := 16 + r.Intn(10)
		for _, im := range []struct {
			path Path
			f    func(rows [][]float32, w0 int, w []float32, bias []float32, y []float32, ys int)
		}{{Generic, Direct3x3K16Generic}, {AVX512, Direct3x3K16AVX512}} {
			if !runnable(t, im.path) {
				continue
			}
			n := 15*ys + 16
			y := sentinelled(n)
			im.f(rows, w0, w, bias, y[:n], ys)
			checkSentinels(t, im.path.String()+" direct", y, n)
			for k := 0; k < 16; k++ {
				for i := 0; i < 16; i++ {
					want, abs := float64(bias[k]), math.Abs(float64(bias[k]))
					for ri, row := range rows {
						for s := 0; s < 3; s++ {
							if c := w0 + i + s - 1; c >= 0 && c < W {
								p := float64(w[(3*ri+s)*16+k]) * float64(row[c])
								want += p
								abs += math.Abs(p)
							}
						}
					}
					if got := float64(y[k*ys+i]); math.Abs(got-want) > 1e-6*abs+1e-6 {
						t.Fatalf("%v direct (C %d W %d w0 %d) y[%d][%d] = %g, want %g", im.path, C, W, w0, k, i, got, want)
					}
				}
			}
		}
	}
}

// The direct weight-gradient kernel against a float64 sum.
func TestDirectGradW3x3(t *testing.T) {
	const seed = 729
	t.Logf("seed %d", seed)
	r := rand.New(rand.NewSource(seed))
	for trial := 0; trial < 30; trial++ {
		P := 1 + r.Intn(40)
		dyT := make([]float32, 16*P)
		for i := range dyT {
			dyT[i] = float32(r.NormFloat64())
		}
		var rows [3][]float32
		for i := range rows {
			rows[i] = make([]float32, P+2)
			for j := range rows[i] {
				rows[i][j] = float32(r.NormFloat64())
			}
		}
		acc0 := make([]float32, 144)
		for i := range acc0 {
			acc0[i] = float32(r.NormFloat64())
		}
		for _, im := range []struct {
			path Path
			f    func(dyT []float32, rows *[3][]float32, acc []float32)
		}{{Generic, DirectGradW3x3Generic}, {AVX512, DirectGradW3x3AVX512}} {
			if !runnable(t, im.path) {
				continue
			}
			acc := append([]float32(nil), acc0...)
			im.f(dyT, &rows, acc)
			for rr := 0; rr < 3; rr++ {
				for s := 0; s < 3; s++ {
					for k := 0; k < 16; k++ {
						i := 16*(3*rr+s) + k
						want, abs := float64(acc0[i]), math.Abs(float64(acc0[i]))
						for p := 0; p < P; p++ {
							v := float64(dyT[16*p+k]) * float64(rows[rr][p+s])
							want += v
							abs += math.Abs(v)
						}
						if math.Abs(float64(acc[i])-want) > 1e-6*abs+1e-6 {
							t.Fatalf("%v gradW (P %d) acc[%d] = %g, want %g", im.path, P, i, acc[i], want)
						}
					}
				}
			}
		}
	}
}

// The one-tile-row kernel of 32-wide planes against hand-built patches;
// NaN around every row catches unmasked loads past either end.
func TestWinoInputW32(t *testing.T) {
	const seed = 731
	t.Logf("seed %d", seed)
	r := rand.New(rand.NewSource(seed))
	for trial := 0; trial < 30; trial++ {
		var rows [4][]float32
		var pl [4][34]float32 // zero-padded rows: column c at c+1
		for i := range rows {
			b := make([]float32, 40)
			for k := range b {
				b[k] = float32(math.NaN())
			}
			rows[i] = b[4:36]
			if r.Intn(4) == 0 {
				clear(rows[i]) // outside the plane
				continue
			}
			for c := range rows[i] {
				rows[i][c] = float32(r.NormFloat64())
				pl[i][c+1] = rows[i][c]
			}
		}
		var s [256]float32
		for l := 0; l < 16; l++ {
			for rr := 0; rr < 4; rr++ {
				for j := 0; j < 4; j++ {
					s[64*rr+16*j+l] = pl[rr][2*l+j]
				}
			}
		}
		ist := 16 + r.Intn(20)
		n := 15*ist + 16
		want := sentinelled(n)
		WinoInput16Generic(s[:], want[:n], ist)
		for _, im := range []struct {
			path Path
			f    func(rows *[4][]float32, o []float32, stride int)
		}{{Generic, WinoInputW32Generic}, {AVX512, WinoInputW32AVX512}} {
			if !runnable(t, im.path) {
				continue
			}
			checkTransform(t, im.path.String()+" W32 input", want[:n], func(o []float32) { im.f(&rows, o, ist) })
		}
	}
}

// checkTransform runs a 16-tile transform into a sentinelled output of
// len(want) floats and checks that it matches want bit for bit and wrote
// nothing past it.
func checkTransform(t *testing.T, name string, want []float32, run func(o []float32)) {
	t.Helper()
	n := len(want)
	got := sentinelled(n)
	run(got[:n])
	checkSentinels(t, name, got, n)
	for i := 0; i < n; i++ {
		if math.Float32bits(got[i]) != math.Float32bits(want[i]) {
			t.Fatalf("%s [%d] = %g, want %g", name, i, got[i], want[i])
		}
	}
}
