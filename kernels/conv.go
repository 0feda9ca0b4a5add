package kernels

// Convolution, float32 NCHW, any kernel size, stride and padding:
//
//   - 3×3 stride-1 pad-1 layers with enough channels run Winograd
//     F(2×2, 3×3) (conv_winograd.go): 16 GEMMs per block of tiles around
//     avo-generated transform kernels (asm/conv_amd64.s), 2.25× fewer
//     multiplies than direct convolution, for all three passes.
//   - The forward of 3×3 layers with at most 4 input channels (the first
//     layers) runs a direct kernel on AVX-512 (simd.Direct3x3K16*).
//   - Everything else (first layers, strides, 1×1, 5×5, small planes) runs
//     im2col tiles of a few hundred KiB, never a full-batch buffer, feeding
//     the GEMM; 1×1 stride-1 unpadded layers multiply in place.
//
// Work is split into tasks fixed by the shape alone (tiles, image groups,
// tile groups for the weight gradient, summed in a fixed order), so results
// are bit-identical for every thread count. With fewer tasks than threads,
// the tasks run in turn and each GEMM gets all the threads.

import (
	"fmt"
	"sync"

	"github.com/ltransfer/ltransfer/asm"
	"github.com/ltransfer/ltransfer/internal/simd"
)

// ConvParams describes a 2-D convolution (cross-correlation, as PyTorch's
// Conv2d) over float32 NCHW tensors:
//
//	x [N, C, H, W], w [K, C, R, S], bias [K] (optional), y [N, K, OutH, OutW]
//	y[n,k,i,j] = bias[k] + Σ_{c,r,s} w[k,c,r,s] · x[n, c, i·StrideH − PadH + r, j·StrideW − PadW + s]
//
// with taps outside the input reading zero.
//
// It is a plain value: copy and share it freely.
type ConvParams struct {
	N, C, H, W       int // input batch, channels, height, width
	K                int // output channels
	R, S             int // kernel height and width
	StrideH, StrideW int
	PadH, PadW       int
}

// OutH is the output height ⌊(H + 2·PadH − R)/StrideH⌋ + 1.
func (p ConvParams) OutH() int { return (p.H+2*p.PadH-p.R)/p.StrideH + 1 }

// OutW is the output width ⌊(W + 2·PadW − S)/StrideW⌋ + 1.
func (p ConvParams) OutW() int { return (p.W+2*p.PadW-p.S)/p.StrideW + 1 }

// InputLen is N·C·H·W.
func (p ConvParams) InputLen() int { return p.N * p.C * p.H * p.W }

// WeightLen is K·C·R·S.
func (p ConvParams) WeightLen() int { return p.K * p.C * p.R * p.S }

// OutputLen is N·K·OutH·OutW.
func (p ConvParams) OutputLen() int { return p.N * p.K * p.OutH() * p.OutW() }

// FLOPs is the multiply-add count of the forward pass times two
// (2·N·K·OutH·OutW·C·R·S), padding taps included.
func (p ConvParams) FLOPs() float64 {
	return 2 * float64(p.N) * float64(p.K) * float64(p.OutH()*p.OutW()) * float64(p.C*p.R*p.S)
}

// Validate reports the first inconsistency in p: non-positive sizes or
// strides, negative padding, or a kernel larger than the padded input.
func (p ConvParams) Validate() error {
	switch {
	case p.N < 1 || p.C < 1 || p.H < 1 || p.W < 1:
		return fmt.Errorf("kernels: convolution input shape [%d %d %d %d] (N C H W): every size must be ≥ 1", p.N, p.C, p.H, p.W)
	case p.K < 1:
		return fmt.Errorf("kernels: convolution with %d output channels, want ≥ 1", p.K)
	case p.R < 1 || p.S < 1:
		return fmt.Errorf("kernels: convolution kernel %d×%d, want ≥ 1×1", p.R, p.S)
	case p.StrideH < 1 || p.StrideW < 1:
		return fmt.Errorf("kernels: convolution stride %d×%d, want ≥ 1", p.StrideH, p.StrideW)
	case p.PadH < 0 || p.PadW < 0:
		return fmt.Errorf("kernels: convolution padding %d×%d, want ≥ 0", p.PadH, p.PadW)
	case p.H+2*p.PadH < p.R || p.W+2*p.PadW < p.S:
		return fmt.Errorf("kernels: convolution kernel %d×%d is larger than the padded input %d×%d", p.R, p.S, p.H+2*p.PadH, p.W+2*p.PadW)
	}
	return nil
}

func (p ConvParams) mustValidate(op string) {
	if err := p.Validate(); err != nil {
		panic(fmt.Sprintf("%v (in %s)", err, op))
	}
}

func checkConvLen(op, name string, got, want int) {
	if got != want {
		panic(fmt.Sprintf("kernels: %s: %s has %d elements, want %d", op, name, got, want))
	}
}

// pointwise reports whether the convolution is a plain matrix product per
// image (1×1 kernel, stride 1, no padding): no im2col needed.
func (p ConvParams) pointwise() bool {
	return p.R == 1 && p.S == 1 && p.StrideH == 1 && p.StrideW == 1 && p.PadH == 0 && p.PadW == 0
}

// ConvAlgo names a convolution algorithm (WithConvAlgo). Every algorithm
// computes the same convolution; they differ in speed and in rounding (the
// results of two algorithms agree to a tolerance, not bit for bit).
type ConvAlgo uint8

const (
	// ConvAuto chooses by shape, as measured (see Engine.useWinograd).
	ConvAuto ConvAlgo = iota
	// ConvIm2col always uses im2col tiles and the GEMM.
	ConvIm2col
	// ConvWinograd uses Winograd F(2×2, 3×3) wherever it applies (3×3,
	// stride 1, pad 1), im2col elsewhere.
	ConvWinograd
	// ConvDirect uses the direct 3×3 kernel wherever it applies (forward and
	// weight gradient on AVX-512, see directOK), else chooses as ConvAuto.
	ConvDirect
)

func (a ConvAlgo) String() string {
	switch a {
	case ConvAuto:
		return "auto"
	case ConvIm2col:
		return "im2col"
	case ConvWinograd:
		return "winograd"
	case ConvDirect:
		return "direct"
	}
	return fmt.Sprintf("ConvAlgo(%d)", uint8(a))
}

// useWinograd selects Winograd F(2×2, 3×3) (conv_winograd.go) for 3×3
// stride-1 pad-1 layers; everything else uses im2col tiles and the GEMM.
// Chosen by measurement on the Conv8 shapes at widths 1 and 0.25
// (BenchmarkConvAlgo, fastest of several runs; bench/RESULTS.md, Convolution): with
// the SIMD transforms Winograd wins or ties all three passes from 32
// channels on planes down to 4×4, and at 16 channels on planes from 16×16
// (16→32 @ 16², batch 128: fwd 4.6 vs 7.2 ms, bwd 12.6 vs 14.3);
// below that (the 3-channel first layer, tiny planes) the im2col GEMM with
// its 9× longer inner dimension is faster.
func (e *Engine) useWinograd(p ConvParams) bool {
	switch e.conv {
	case ConvIm2col:
		return false
	case ConvWinograd:
		return p.winogradOK()
	}
	if !p.winogradOK() {
		return false
	}
	c, hw := min(p.C, p.K), min(p.H, p.W)
	return hw >= 4 && (c >= 32 || (c >= 16 && hw >= 16))
}

// directOK reports whether the direct 3×3 kernel (simd.Direct3x3K16*)
// applies: 3×3, stride 1, pad 1, output channels a multiple of 16, rows a
// multiple of 16 wide, and few input channels (there im2col is mostly copying
// and Winograd does not apply or pay).
func (p ConvParams) directOK() bool {
	return p.R == 3 && p.S == 3 && p.StrideH == 1 && p.StrideW == 1 && p.PadH == 1 && p.PadW == 1 &&
		p.K%16 == 0 && p.W%16 == 0 && p.C <= 4
}

// useDirect: the forward of the first layers of the conv nets (3 input
// channels): about 2–3× im2col + GEMM there (bench/RESULTS.md). AVX-512 only.
func (e *Engine) useDirect(p ConvParams) bool {
	switch e.conv {
	case ConvIm2col, ConvWinograd:
		return false
	}
	return e.path == asm.AVX512 && p.directOK()
}

// convTile is one block of output columns: either a pixel range [p0, p1) of
// a single image n0 (n1 = n0+1), or whole images [n0, n1) (p0 = 0, p1 = P).
type convTile struct {
	n0, n1, p0, p1 int
}

func (t convTile) cols() int { return (t.n1 - t.n0) * (t.p1 - t.p0) }

// convColBudget is the size, in floats, we aim for per column tile
// (CRS × cols): a few hundred KiB, so that the im2col tile stays in L2
// between being written and being packed by the GEMM.
const convColBudget = 96 * 1024

// convTileCols picks the number of output columns per tile. It depends only
// on the shape, never on the thread count, so every reduction order is fixed.
func (p ConvParams) convTileCols() int {
	crs := p.C * p.R * p.S
	t := convColBudget / crs
	t = max(t, 128)
	t = min(t, 2048)
	return t
}

// tiles splits the N·P output columns into tiles; groups[i] lists tiles that
// write overlapping input-gradient pixels (same image) and must run in order.
func (p ConvParams) tiles() (tiles []convTile, groups [][2]int) {
	P := p.OutH() * p.OutW()
	T := p.convTileCols()
	if P >= T {
		for n := 0; n < p.N; n++ {
			start := len(tiles)
			// Equal-sized tiles: fewer ragged GEMM edges.
			nt := (P + T - 1) / T
			per := (P + nt - 1) / nt
			for p0 := 0; p0 < P; p0 += per {
				tiles = append(tiles, convTile{n, n + 1, p0, min(P, p0+per)})
			}
			groups = append(groups, [2]int{start, len(tiles)})
		}
		return tiles, groups
	}
	g := max(1, T/P)
	for n := 0; n < p.N; n += g {
		tiles = append(tiles, convTile{n, min(p.N, n+g), 0, P})
		groups = append(groups, [2]int{len(tiles) - 1, len(tiles)})
	}
	return tiles, groups
}

// Conv2D computes the forward convolution y = conv(x, w) + bias (see
// ConvParams); bias may be nil. y is overwritten. It panics with a
// "kernels:" message on invalid parameters or lengths, before writing.
func (e *Engine) Conv2D(p ConvParams, x, w, bias, y []float32) {
	const op = "Conv2D"
	p.mustValidate(op)
	checkConvLen(op, "x", len(x), p.InputLen())
	checkConvLen(op, "w", len(w), p.WeightLen())
	checkConvLen(op, "y", len(y), p.OutputLen())
	if bias != nil {
		checkConvLen(op, "bias", len(bias), p.K)
	}
	if e.useDirect(p) {
		e.conv2DDirect(p, x, w, bias, y)
		return
	}
	if e.useWinograd(p) {
		e.conv2DWinograd(p, x, w, bias, y)
		return
	}
	tiles, _ := p.tiles()
	crs := p.C * p.R * p.S
	P := p.OutH() * p.OutW()
	inner, threads := e.split(len(tiles))
	e.parallel(len(tiles), threads, func(b *convBufs, i int) {
		t := tiles[i]
		cols := t.cols()
		if t.n1-t.n0 == 1 {
			n := t.n0
			yn := y[n*p.K*P:]
			if p.pointwise() {
				inner.Sgemm(false, false, p.K, cols, p.C, 1, w, p.C, x[n*p.C*P+t.p0:], P, 0, yn[t.p0:], P)
			} else {
				col := b.col(crs * cols)
				p.im2col(col, cols, x, t, 0, p.C)
				inner.Sgemm(false, false, p.K, cols, crs, 1, w, crs, col, cols, 0, yn[t.p0:], P)
			}
			if bias != nil {
				for k := 0; k < p.K; k++ {
					addConst(yn[k*P+t.p0:k*P+t.p1], bias[k])
				}
			}
			return
		}
		// Several whole images: one GEMM into a scratch K × cols, then
		// scatter (and add the bias) image by image.
		col := b.col(crs * cols)
		p.im2col(col, cols, x, t, 0, p.C)
		tmp := b.aux(p.K * cols)
		inner.Sgemm(false, false, p.K, cols, crs, 1, w, crs, col, cols, 0, tmp, cols)
		for n := t.n0; n < t.n1; n++ {
			off := (n - t.n0) * P
			for k := 0; k < p.K; k++ {
				dst := y[(n*p.K+k)*P : (n*p.K+k+1)*P]
				copy(dst, tmp[k*cols+off:k*cols+off+P])
				if bias != nil {
					addConst(dst, bias[k])
				}
			}
		}
	})
}

// Conv2DBackwardData computes the input gradient dx = ∂L/∂x from dy = ∂L/∂y
// (the transposed convolution of dy with w). dx is overwritten.
func (e *Engine) Conv2DBackwardData(p ConvParams, dy, w, dx []float32) {
	const op = "Conv2DBackwardData"
	p.mustValidate(op)
	checkConvLen(op, "dy", len(dy), p.OutputLen())
	checkConvLen(op, "w", len(w), p.WeightLen())
	checkConvLen(op, "dx", len(dx), p.InputLen())
	if e.useWinograd(p) {
		e.conv2DBackwardDataWinograd(p, dy, w, dx)
		return
	}
	tiles, groups := p.tiles()
	crs := p.C * p.R * p.S
	P := p.OutH() * p.OutW()
	HW := p.H * p.W
	inner, threads := e.split(len(groups))
	e.parallel(len(groups), threads, func(b *convBufs, gi int) {
		g := groups[gi]
		first := tiles[g[0]]
		last := tiles[g[1]-1]
		dxg := dx[first.n0*p.C*HW : last.n1*p.C*HW]
		if p.pointwise() {
			for n := first.n0; n < last.n1; n++ {
				inner.Sgemm(true, false, p.C, P, p.K, 1, w, p.C, dy[n*p.K*P:], P, 0, dx[n*p.C*HW:], HW)
			}
			return
		}
		clear(dxg)
		for _, t := range tiles[g[0]:g[1]] {
			cols := t.cols()
			col := b.col(crs * cols)
			if t.n1-t.n0 == 1 {
				inner.Sgemm(true, false, crs, cols, p.K, 1, w, crs, dy[t.n0*p.K*P+t.p0:], P, 0, col, cols)
			} else {
				tmp := b.aux(p.K * cols)
				p.gatherDy(tmp, cols, dy, t)
				inner.Sgemm(true, false, crs, cols, p.K, 1, w, crs, tmp, cols, 0, col, cols)
			}
			p.col2im(dx, col, cols, t)
		}
	})
}

// convWeightGroups is the number of groups the column tiles are split into
// for the weight gradient: each group sums its tiles, in order, into its own
// K × C·R·S partial, and the partials are added in group order. The groups
// depend only on the shape (never on the thread count), so every gradient
// element is reduced in a fixed order.
const convWeightGroups = 4

// Conv2DBackwardWeight computes the weight gradient dw = ∂L/∂w, and, when
// dbias is non-nil, the bias gradient dbias[k] = Σ dy[·,k,·,·]; both are
// overwritten. Each element is summed over the batch in a fixed order, so
// the result is identical for every thread count.
func (e *Engine) Conv2DBackwardWeight(p ConvParams, x, dy, dw, dbias []float32) {
	const op = "Conv2DBackwardWeight"
	p.mustValidate(op)
	checkConvLen(op, "x", len(x), p.InputLen())
	checkConvLen(op, "dy", len(dy), p.OutputLen())
	checkConvLen(op, "dw", len(dw), p.WeightLen())
	if dbias != nil {
		checkConvLen(op, "dbias", len(dbias), p.K)
	}
	switch {
	case e.useDirect(p):
		e.conv2DBackwardWeightDirect(p, x, dy, dw)
	case e.useWinograd(p):
		e.conv2DBackwardWeightWinograd(p, x, dy, dw)
	default:
		e.conv2DBackwardWeightIm2col(p, x, dy, dw)
	}
	if dbias != nil {
		e.convBiasGrad(p, dy, dbias)
	}
}

// conv2DBackwardWeightDirect is the weight gradient by the direct kernel
// (see directOK): the N·H output rows split into convWeightGroups fixed
// groups, each accumulating its own [K/16][C][9][16] partial sums row by
// row (output gradient transposed to 16 channels per pixel, input rows
// zero-padded), the partials then added in group order: the same result
// for any thread count.
func (e *Engine) conv2DBackwardWeightDirect(p ConvParams, x, dy, dw []float32) {
	C, K, H, W := p.C, p.K, p.H, p.W
	HW, KB := H*W, K/16
	rowsN := p.N * H
	G := min(convWeightGroups, rowsN)
	pb := getBufs()
	defer putBufs(pb)
	for len(pb.parts) < G {
		pb.parts = append(pb.parts, nil)
	}
	parts := pb.parts[:G]
	for g := range parts {
		parts[g] = grow(&parts[g], KB*C*144)
	}
	_, threads := e.split(G)
	e.parallel(G, threads, func(b *convBufs, g int) {
		acc := parts[g]
		clear(acc)
		dyT := grow(&b.c, 16*W)
		pad := grow(&b.a, 3*(W+2))
		var rows [3][]float32
		for i := range rows {
			rows[i] = pad[i*(W+2) : (i+1)*(W+2)]
		}
		for ri := g * rowsN / G; ri < (g+1)*rowsN/G; ri++ {
			n, h := ri/H, ri%H
			for kb := 0; kb < KB; kb++ {
				src := dy[(n*K+16*kb)*HW+h*W:]
				for w0 := 0; w0 < W; w0 += 16 {
					simd.Transpose16AVX512(src[w0:], HW, dyT[16*w0:], 16, 16, 16)
				}
				for c := 0; c < C; c++ {
					for r := range rows {
						row := rows[r]
						if hh := h + r - 1; hh >= 0 && hh < H {
							row[0], row[W+1] = 0, 0
							copy(row[1:W+1], x[(n*C+c)*HW+hh*W:(n*C+c)*HW+hh*W+W])
						} else {
							clear(row)
						}
					}
					simd.DirectGradW3x3AVX512(dyT, &rows, acc[(kb*C+c)*144:(kb*C+c+1)*144])
				}
			}
		}
	})
	for kb := 0; kb < KB; kb++ {
		for c := 0; c < C; c++ {
			for tap := 0; tap < 9; tap++ {
				for kk := 0; kk < 16; kk++ {
					var v float32
					for g := range parts { // group order: fixed
						v += parts[g][(kb*C+c)*144+16*tap+kk]
					}
					dw[((16*kb+kk)*C+c)*9+tap] = v
				}
			}
		}
	}
}

func (e *Engine) conv2DBackwardWeightIm2col(p ConvParams, x, dy, dw []float32) {
	tiles, _ := p.tiles()
	crs := p.C * p.R * p.S
	P := p.OutH() * p.OutW()
	G := min(convWeightGroups, len(tiles))
	pb := getBufs()
	defer putBufs(pb)
	for len(pb.parts) < G {
		pb.parts = append(pb.parts, nil)
	}
	parts := pb.parts[:G]
	parts[0] = dw
	for g := 1; g < G; g++ {
		parts[g] = grow(&parts[g], len(dw))
	}
	defer func() { parts[0] = nil }()
	inner, threads := e.split(G)
	e.parallel(G, threads, func(b *convBufs, g int) {
		part := parts[g]
		lo, hi := g*len(tiles)/G, (g+1)*len(tiles)/G
		for ti, t := range tiles[lo:hi] {
			cols := t.cols()
			beta := float32(1)
			if ti == 0 {
				beta = 0
			}
			B, ldb := x[t.n0*p.C*P+t.p0:], P
			if !p.pointwise() || t.n1-t.n0 > 1 {
				B, ldb = b.col(crs*cols), cols
				p.im2col(B, cols, x, t, 0, p.C)
			}
			if t.n1-t.n0 == 1 {
				inner.Sgemm(false, true, p.K, crs, cols, 1, dy[t.n0*p.K*P+t.p0:], P, B, ldb, beta, part, crs)
			} else {
				tmp := b.aux(p.K * cols)
				p.gatherDy(tmp, cols, dy, t)
				inner.Sgemm(false, true, p.K, crs, cols, 1, tmp, cols, B, ldb, beta, part, crs)
			}
		}
	})
	for g := 1; g < G; g++ {
		e.Axpy(1, parts[g], dw)
	}
}

// convBiasGrad sums dy over batch and pixels per output channel: each
// image's plane with the engine's vector sum (fixed order per path), the
// planes in float64, image by image in order.
func (e *Engine) convBiasGrad(p ConvParams, dy, dbias []float32) {
	P := p.OutH() * p.OutW()
	_, threads := e.split(p.K / 4)
	e.parallel(p.K, threads, func(_ *convBufs, k int) {
		var s float64
		for n := 0; n < p.N; n++ {
			s += float64(e.Sum(dy[(n*p.K+k)*P : (n*p.K+k+1)*P]))
		}
		dbias[k] = float32(s)
	})
}

// gatherDy copies the dy columns of a multi-image tile into dst (K × cols).
func (p ConvParams) gatherDy(dst []float32, cols int, dy []float32, t convTile) {
	P := p.OutH() * p.OutW()
	for n := t.n0; n < t.n1; n++ {
		off := (n - t.n0) * P
		for k := 0; k < p.K; k++ {
			copy(dst[k*cols+off:k*cols+off+P], dy[(n*p.K+k)*P:(n*p.K+k+1)*P])
		}
	}
}

func addConst(x []float32, v float32) {
	for i := range x {
		x[i] += v
	}
}

// im2col writes rows (c, r, s) for c in [c0, c1) of the column matrix of
// tile t into col ((c1−c0)·R·S × cols, leading dimension cols):
// col[((c−c0)·R + r)·S + s][j] = x[n, c, oh·sh − ph + r, ow·sw − pw + s] for
// output column j = (n − n0)·(p1 − p0) + (oh·OutW + ow − p0), zero outside x.
func (p ConvParams) im2col(col []float32, cols int, x []float32, t convTile, c0, c1 int) {
	OW := p.OutW()
	HW := p.H * p.W
	tw := t.p1 - t.p0
	row := 0
	for c := c0; c < c1; c++ {
		for r := 0; r < p.R; r++ {
			for s := 0; s < p.S; s++ {
				dst := col[row*cols : row*cols+cols]
				row++
				for n := t.n0; n < t.n1; n++ {
					xc := x[(n*p.C+c)*HW : (n*p.C+c+1)*HW]
					d := dst[(n-t.n0)*tw : (n-t.n0+1)*tw]
					p.im2colRow(d, xc, r, s, t.p0, t.p1, OW)
				}
			}
		}
	}
}

// im2colRow fills d[j] for output pixels q in [p0, p1): the input value at
// tap (r, s) of output pixel q of one channel image xc, or zero. Rows are
// walked directly (no division per pixel) and the short edge runs are
// written inline: output rows are only a few dozen pixels long.
func (p ConvParams) im2colRow(d, xc []float32, r, s, p0, p1, OW int) {
	oh := p0 / OW
	ow := p0 - oh*OW
	j := 0
	for q := p0; q < p1; oh++ {
		n := min(OW-ow, p1-q) // pixels left in this output row
		ih := oh*p.StrideH - p.PadH + r
		seg := d[j : j+n]
		if ih < 0 || ih >= p.H {
			for i := range seg {
				seg[i] = 0
			}
		} else {
			xr := xc[ih*p.W : (ih+1)*p.W]
			iw0 := ow*p.StrideW - p.PadW + s
			if p.StrideW == 1 {
				// Valid ow range: 0 ≤ iw0+i < W.
				lo := min(max(0, -iw0), n)
				hi := max(min(n, p.W-iw0), lo)
				for i := 0; i < lo; i++ {
					seg[i] = 0
				}
				if hi > lo {
					src := xr[iw0+lo : iw0+hi]
					dst := seg[lo:hi]
					for i := range dst {
						dst[i] = src[i]
					}
				}
				for i := hi; i < n; i++ {
					seg[i] = 0
				}
			} else {
				for i := range seg {
					iw := iw0 + i*p.StrideW
					if iw >= 0 && iw < p.W {
						seg[i] = xr[iw]
					} else {
						seg[i] = 0
					}
				}
			}
		}
		q += n
		j += n
		ow = 0
	}
}

// col2im accumulates the column gradient of tile t (C·R·S × cols) into dx:
// the adjoint of im2col.
func (p ConvParams) col2im(dx, col []float32, cols int, t convTile) {
	OW := p.OutW()
	HW := p.H * p.W
	tw := t.p1 - t.p0
	row := 0
	for c := 0; c < p.C; c++ {
		for r := 0; r < p.R; r++ {
			for s := 0; s < p.S; s++ {
				src := col[row*cols : row*cols+cols]
				row++
				for n := t.n0; n < t.n1; n++ {
					xc := dx[(n*p.C+c)*HW : (n*p.C+c+1)*HW]
					d := src[(n-t.n0)*tw : (n-t.n0+1)*tw]
					p.col2imRow(xc, d, r, s, t.p0, t.p1, OW)
				}
			}
		}
	}
}

func (p ConvParams) col2imRow(xc, d []float32, r, s, p0, p1, OW int) {
	oh := p0 / OW
	ow := p0 - oh*OW
	j := 0
	for q := p0; q < p1; oh++ {
		n := min(OW-ow, p1-q)
		ih := oh*p.StrideH - p.PadH + r
		if ih >= 0 && ih < p.H {
			xr := xc[ih*p.W : (ih+1)*p.W]
			seg := d[j : j+n]
			iw0 := ow*p.StrideW - p.PadW + s
			if p.StrideW == 1 {
				lo := max(0, -iw0)
				hi := min(n, p.W-iw0)
				if hi > lo {
					dst := xr[iw0+lo : iw0+hi]
					src := seg[lo:hi]
					for i := range dst {
						dst[i] += src[i]
					}
				}
			} else {
				for i, v := range seg {
					iw := iw0 + i*p.StrideW
					if iw >= 0 && iw < p.W {
						xr[iw] += v
					}
				}
			}
		}
		q += n
		j += n
		ow = 0
	}
}

// convBufs is one worker's scratch: the im2col tile, an auxiliary K × cols
// block, the small transform scratch, and the per-call buffers of the
// Winograd and weight-gradient paths, grown on demand. Scratch is recycled
// through convPool: allocating (and zeroing) megabytes per call made the
// garbage collector a visible share of a training step. Contents are never
// assumed zero.
type convBufs struct {
	c, a, s []float32
	u, v, m []float32
	p       []float32   // zero-padded planes (winoInputNarrow)
	rows    [][]float32 // input rows of one output row (conv2DDirect)
	idx     []int32     // tile offsets into p (or x)
	msk     []uint16    // in-plane row and column masks per 16 tiles (winoInputNarrow)
	parts   [][]float32
}

var convPool = sync.Pool{New: func() any { return new(convBufs) }}

func getBufs() *convBufs  { return convPool.Get().(*convBufs) }
func putBufs(b *convBufs) { convPool.Put(b) }

func grow(buf *[]float32, n int) []float32 {
	if cap(*buf) < n {
		*buf = make([]float32, n)
	}
	return (*buf)[:n]
}

func (b *convBufs) col(n int) []float32 { return grow(&b.c, n) }
func (b *convBufs) aux(n int) []float32 { return grow(&b.a, n) }

// conv2DDirect is Conv2D by the direct 3×3 kernel (see directOK): weights
// repacked per 16 output channels as [9C][16], then every output row of
// every image, 16 columns and 16 channels per kernel call, split over
// threads by rows (each output written once: the same for any thread
// count).
func (e *Engine) conv2DDirect(p ConvParams, x, w, bias, y []float32) {
	C, K, H, W := p.C, p.K, p.H, p.W
	wb := getBufs()
	defer putBufs(wb)
	wp := grow(&wb.u, K*9*C+K+W)
	bp, zero := wp[K*9*C:K*9*C+K], wp[K*9*C+K:]
	for kb := 0; kb < K/16; kb++ {
		for kk := 0; kk < 16; kk++ {
			k := 16*kb + kk
			for j := 0; j < 9*C; j++ { // j = 9c + 3r + s
				wp[kb*144*C+16*j+kk] = w[k*9*C+j]
			}
		}
	}
	if bias != nil {
		copy(bp, bias)
	} else {
		clear(bp)
	}
	clear(zero)
	HW := H * W
	_, threads := e.split(p.N * H)
	e.parallel(p.N*H, threads, func(b *convBufs, i int) {
		n, h := i/H, i%H
		if cap(b.rows) < 3*C {
			b.rows = make([][]float32, 3*C)
		}
		rows := b.rows[:3*C]
		for c := 0; c < C; c++ {
			for r := 0; r < 3; r++ {
				if hh := h + r - 1; hh >= 0 && hh < H {
					rows[3*c+r] = x[(n*C+c)*HW+hh*W : (n*C+c)*HW+hh*W+W]
				} else {
					rows[3*c+r] = zero
				}
			}
		}
		for kb := 0; kb < K/16; kb++ {
			yk := y[(n*K+16*kb)*HW+h*W:]
			for w0 := 0; w0 < W; w0 += 16 {
				simd.Direct3x3K16AVX512(rows, w0, wp[kb*144*C:], bp[16*kb:], yk[w0:], HW)
			}
		}
	})
}
