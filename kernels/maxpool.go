package kernels

import (
	"fmt"
	"math"

	"github.com/ltransfer/ltransfer/asm"
	"github.com/ltransfer/ltransfer/internal/simd"
)

// PoolParams describes a 2-D pooling window over float32 NCHW tensors
// (PyTorch MaxPool2d / AvgPool2d with ceil_mode=False, dilation 1):
// x [N, C, H, W] → y [N, C, OutH, OutW].
//
// It is a plain value: copy and share it freely.
type PoolParams struct {
	N, C, H, W       int
	KH, KW           int // window
	StrideH, StrideW int
	PadH, PadW       int
}

// OutH is ⌊(H + 2·PadH − KH)/StrideH⌋ + 1.
func (p PoolParams) OutH() int { return (p.H+2*p.PadH-p.KH)/p.StrideH + 1 }

// OutW is ⌊(W + 2·PadW − KW)/StrideW⌋ + 1.
func (p PoolParams) OutW() int { return (p.W+2*p.PadW-p.KW)/p.StrideW + 1 }

// InputLen is N·C·H·W.
func (p PoolParams) InputLen() int { return p.N * p.C * p.H * p.W }

// OutputLen is N·C·OutH·OutW.
func (p PoolParams) OutputLen() int { return p.N * p.C * p.OutH() * p.OutW() }

// Validate reports the first inconsistency: non-positive sizes, windows or
// strides, padding negative or above half the window (PyTorch's rule, which
// guarantees every window overlaps the input), or a window larger than the
// padded input.
func (p PoolParams) Validate() error {
	switch {
	case p.N < 1 || p.C < 1 || p.H < 1 || p.W < 1:
		return fmt.Errorf("kernels: pooling input shape [%d %d %d %d] (N C H W): every size must be ≥ 1", p.N, p.C, p.H, p.W)
	case p.KH < 1 || p.KW < 1:
		return fmt.Errorf("kernels: pooling window %d×%d, want ≥ 1×1", p.KH, p.KW)
	case p.StrideH < 1 || p.StrideW < 1:
		return fmt.Errorf("kernels: pooling stride %d×%d, want ≥ 1", p.StrideH, p.StrideW)
	case p.PadH < 0 || p.PadW < 0 || 2*p.PadH > p.KH || 2*p.PadW > p.KW:
		return fmt.Errorf("kernels: pooling padding %d×%d with window %d×%d: want 0 ≤ padding ≤ window/2", p.PadH, p.PadW, p.KH, p.KW)
	case p.H+2*p.PadH < p.KH || p.W+2*p.PadW < p.KW:
		return fmt.Errorf("kernels: pooling window %d×%d is larger than the padded input %d×%d", p.KH, p.KW, p.H+2*p.PadH, p.W+2*p.PadW)
	}
	return nil
}

func (p PoolParams) mustValidate(op string) {
	if err := p.Validate(); err != nil {
		panic(fmt.Sprintf("%v (in %s)", err, op))
	}
}

// planes runs fn over the N·C independent planes on e's threads.
func (e *Engine) planes(n int, fn func(i int)) {
	_, threads := e.split(n / 4) // a few planes per task keeps hand-off overhead small
	e.parallel(n, threads, func(_ *convBufs, i int) { fn(i) })
}

// MaxPool2D computes y[n,c,i,j] = max over the window of x (padding taps
// never win; NaN propagates as in PyTorch) and records in idx the offset
// h·W + w of the winning element within its input plane, for
// MaxPool2DBackward. y and idx are overwritten.
func (e *Engine) MaxPool2D(p PoolParams, x, y []float32, idx []int32) {
	const op = "MaxPool2D"
	p.mustValidate(op)
	checkConvLen(op, "x", len(x), p.InputLen())
	checkConvLen(op, "y", len(y), p.OutputLen())
	checkConvLen(op, "idx", len(idx), p.OutputLen())
	if p.H*p.W > math.MaxInt32 {
		panic("kernels: MaxPool2D plane too large for int32 indices")
	}
	OH, OW := p.OutH(), p.OutW()
	HW, P := p.H*p.W, OH*OW
	e.planes(p.N*p.C, func(pl int) {
		xp := x[pl*HW : (pl+1)*HW]
		yp := y[pl*P : (pl+1)*P]
		ip := idx[pl*P : (pl+1)*P]
		if p.KH == 2 && p.KW == 2 && p.StrideH == 2 && p.StrideW == 2 && p.PadH == 0 && p.PadW == 0 {
			if e.path == asm.AVX512 && OW >= 16 {
				maxPool2x2AVX512(xp, yp, ip, p.W, OH, OW)
				return
			}
			maxPool2x2(xp, yp, ip, p.W, OH, OW)
			return
		}
		for i := 0; i < OH; i++ {
			h0 := i*p.StrideH - p.PadH
			hLo, hHi := max(h0, 0), min(h0+p.KH, p.H)
			for j := 0; j < OW; j++ {
				w0 := j*p.StrideW - p.PadW
				wLo, wHi := max(w0, 0), min(w0+p.KW, p.W)
				best := float32(math.Inf(-1))
				bi := hLo*p.W + wLo
				for h := hLo; h < hHi; h++ {
					for w := wLo; w < wHi; w++ {
						v := xp[h*p.W+w]
						if v > best || v != v {
							best, bi = v, h*p.W+w
							if v != v {
								goto done
							}
						}
					}
				}
			done:
				yp[i*OW+j] = best
				ip[i*OW+j] = int32(bi)
			}
		}
	})
}

// maxPool2x2 is the 2×2 stride-2 case (every pool of the conv nets), with
// the same result as the general loop: the first maximum in scan order (a,
// b, c, d), the first NaN if any. Values are compared as integers that
// order like the floats (poolKey), so the compiler emits conditional moves
// instead of branches on the data, which random activations mispredicted
// about half the time; windows with a NaN take the scanning loop.
func maxPool2x2(xp, yp []float32, ip []int32, W, OH, OW int) {
	for i := 0; i < OH; i++ {
		r0 := xp[2*i*W : 2*i*W+W]
		r1 := xp[(2*i+1)*W : (2*i+1)*W+W]
		yr := yp[i*OW : i*OW+OW]
		ir := ip[i*OW : i*OW+OW]
		for j := range yr {
			a, b, c, d := r0[2*j], r0[2*j+1], r1[2*j], r1[2*j+1]
			ua, ub, uc, ud := math.Float32bits(a), math.Float32bits(b), math.Float32bits(c), math.Float32bits(d)
			if (poolOdd(ua)|poolOdd(ub)|poolOdd(uc)|poolOdd(ud))&(1<<31) != 0 {
				yr[j], ir[j] = maxPool2x2Scan(a, b, c, d, 2*i*W+2*j, W)
				continue
			}
			ka, kb, kc, kd := poolKey(ua), poolKey(ub), poolKey(uc), poolKey(ud)
			best, off := ka, 0
			if kb > best {
				best, off = kb, 1
			}
			if kc > best {
				best, off = kc, W
			}
			if kd > best {
				off = W + 1
			}
			o := 2*i*W + 2*j + off
			yr[j], ir[j] = xp[o], int32(o)
		}
	}
}

// maxPool2x2AVX512 is maxPool2x2 with 16 windows per kernel call (rows
// with OW ≥ 16); the windows of a row past the last whole 16 and those the
// kernel reports as holding a NaN take the scalar code.
func maxPool2x2AVX512(xp, yp []float32, ip []int32, W, OH, OW int) {
	for i := 0; i < OH; i++ {
		r0 := xp[2*i*W : 2*i*W+W]
		r1 := xp[(2*i+1)*W : (2*i+1)*W+W]
		yr := yp[i*OW : i*OW+OW]
		ir := ip[i*OW : i*OW+OW]
		j := 0
		for ; j+16 <= OW; j += 16 {
			if nan := simd.MaxPool2x2Row16AVX512(r0[2*j:], r1[2*j:], yr[j:], ir[j:], 2*i*W+2*j, W); nan != 0 {
				for l := 0; l < 16; l++ {
					if nan&(1<<l) != 0 {
						jj := j + l
						yr[jj], ir[jj] = maxPool2x2Scan(r0[2*jj], r0[2*jj+1], r1[2*jj], r1[2*jj+1], 2*i*W+2*jj, W)
					}
				}
			}
		}
		for ; j < OW; j++ {
			yr[j], ir[j] = maxPool2x2Scan(r0[2*j], r0[2*j+1], r1[2*j], r1[2*j+1], 2*i*W+2*j, W)
		}
	}
}

// poolOdd has bit 31 set exactly when the float with bits u is a NaN
// (|u| > the infinity's bits).
func poolOdd(u uint32) uint32 { return u&0x7fffffff + 0x007fffff }

// poolKey maps the bits of a non-NaN float to an integer in the floats'
// order, ties included (sign-magnitude to two's complement, −0 onto +0).
func poolKey(u uint32) int32 {
	k := int32(u)
	s := k >> 31
	return k ^ s&0x7fffffff - s
}

// maxPool2x2Scan is one window of maxPool2x2 by the scanning loop; base is
// the offset of a within the plane.
func maxPool2x2Scan(a, b, c, d float32, base, W int) (float32, int32) {
	best, bi := a, base
	if a != a {
		return a, int32(bi)
	}
	if b > best || b != b {
		best, bi = b, base+1
	}
	if best == best && (c > best || c != c) {
		best, bi = c, base+W
	}
	if best == best && (d > best || d != d) {
		best, bi = d, base+W+1
	}
	return best, int32(bi)
}

// MaxPool2DBackward computes dx: zero except dx[plane][idx] += dy for every
// output (overlapping windows accumulate). dx is overwritten.
func (e *Engine) MaxPool2DBackward(p PoolParams, dy []float32, idx []int32, dx []float32) {
	const op = "MaxPool2DBackward"
	p.mustValidate(op)
	checkConvLen(op, "dy", len(dy), p.OutputLen())
	checkConvLen(op, "idx", len(idx), p.OutputLen())
	checkConvLen(op, "dx", len(dx), p.InputLen())
	HW, P := p.H*p.W, p.OutH()*p.OutW()
	for _, v := range idx {
		if v < 0 || int(v) >= HW {
			panic(fmt.Sprintf("kernels: MaxPool2DBackward index %d outside a %d×%d plane", v, p.H, p.W))
		}
	}
	e.planes(p.N*p.C, func(pl int) {
		dxp := dx[pl*HW : (pl+1)*HW]
		clear(dxp)
		ip := idx[pl*P : (pl+1)*P]
		for j, g := range dy[pl*P : (pl+1)*P] {
			dxp[ip[j]] += g
		}
	})
}
