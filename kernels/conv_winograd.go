package kernels

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
//
// This file holds the filter transforms and the three passes;
// conv_winograd_geom.go the tile geometry, conv_winograd_input.go the
// input transforms and conv_winograd_output.go the output transforms.
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
