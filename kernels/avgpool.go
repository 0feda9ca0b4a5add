package kernels

// AvgPool2D computes y[n,c,i,j] = (Σ over the window of x) / (KH·KW),
// padding taps counting as zeros (PyTorch's count_include_pad=True default).
// y is overwritten.
func (e *Engine) AvgPool2D(p PoolParams, x, y []float32) {
	const op = "AvgPool2D"
	p.mustValidate(op)
	checkConvLen(op, "x", len(x), p.InputLen())
	checkConvLen(op, "y", len(y), p.OutputLen())
	OH, OW := p.OutH(), p.OutW()
	HW, P := p.H*p.W, OH*OW
	inv := 1 / float32(p.KH*p.KW)
	e.planes(p.N*p.C, func(pl int) {
		xp := x[pl*HW : (pl+1)*HW]
		yp := y[pl*P : (pl+1)*P]
		for i := 0; i < OH; i++ {
			h0 := i*p.StrideH - p.PadH
			hLo, hHi := max(h0, 0), min(h0+p.KH, p.H)
			for j := 0; j < OW; j++ {
				w0 := j*p.StrideW - p.PadW
				wLo, wHi := max(w0, 0), min(w0+p.KW, p.W)
				var s float32
				for h := hLo; h < hHi; h++ {
					for _, v := range xp[h*p.W+wLo : h*p.W+wHi] {
						s += v
					}
				}
				yp[i*OW+j] = s * inv
			}
		}
	})
}

// AvgPool2DBackward computes dx = Σ over the windows covering each input
// element of dy/(KH·KW). dx is overwritten.
func (e *Engine) AvgPool2DBackward(p PoolParams, dy, dx []float32) {
	const op = "AvgPool2DBackward"
	p.mustValidate(op)
	checkConvLen(op, "dy", len(dy), p.OutputLen())
	checkConvLen(op, "dx", len(dx), p.InputLen())
	OH, OW := p.OutH(), p.OutW()
	HW, P := p.H*p.W, OH*OW
	inv := 1 / float32(p.KH*p.KW)
	e.planes(p.N*p.C, func(pl int) {
		dxp := dx[pl*HW : (pl+1)*HW]
		clear(dxp)
		dyp := dy[pl*P : (pl+1)*P]
		for i := 0; i < OH; i++ {
			h0 := i*p.StrideH - p.PadH
			hLo, hHi := max(h0, 0), min(h0+p.KH, p.H)
			for j := 0; j < OW; j++ {
				w0 := j*p.StrideW - p.PadW
				wLo, wHi := max(w0, 0), min(w0+p.KW, p.W)
				g := dyp[i*OW+j] * inv
				for h := hLo; h < hHi; h++ {
					row := dxp[h*p.W+wLo : h*p.W+wHi]
					for k := range row {
						row[k] += g
					}
				}
			}
		}
	})
}
