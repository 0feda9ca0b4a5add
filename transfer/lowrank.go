package transfer

import (
	"math"
	"math/rand/v2"

	"github.com/ltransfer/ltransfer/internal/hugemem"
	"github.com/ltransfer/ltransfer/kernels"
	"github.com/ltransfer/ltransfer/nn"
)

// Cost matrices are sums of products A·Bᵀ of n×k unfoldings. When k is
// small (the input axis of a classifier head) the factors are appended
// as they are; when B is numerically low-rank (the gradient of a layer on
// a mini-batch of b samples has rank ≤ b, and far less for the paper's
// MLP) B = (B·Q)·Qᵀ for an orthonormal basis Q (k×r) of its row space, so
// A·Bᵀ = (A·Q)·(B·Q)ᵀ. All factors of one group are concatenated and
// multiplied in one GEMM of inner size Σr instead of one of size k per
// pair: for GMT on the W=4096 MLP that is 20·s columns instead of 794·s.
// The basis is verified (‖B − B·Q·Qᵀ‖ ≤ lowRankTol·‖B‖) before use, so
// the result equals the direct product up to float32 rounding; a B that
// is not low-rank takes the direct product.

const (
	// skinnyK: unfoldings with at most this many columns are used as
	// their own factors.
	skinnyK = 64
	// lowRankTol is the relative Frobenius residual accepted for a basis.
	lowRankTol = 1e-5
)

// factor is the cached low-rank form of one source unfolding.
type factor struct {
	ok bool
	r  int
	q  []float32 // k×r, orthonormal columns
	bq []float32 // n×r = B·Q
}

type factorKey struct {
	t    *nn.Tensor
	axis int
}

// lowRankBasis tries to find an orthonormal basis of the row space of the
// n×k matrix b (row-major) with rank well below k.
func lowRankBasis(e *kernels.Engine, b []float32, n, k int) *factor {
	var norm2 float64
	for _, v := range b[:n*k] {
		norm2 += float64(v) * float64(v)
	}
	if norm2 == 0 {
		return &factor{ok: true, r: 0}
	}
	rng := rand.New(rand.NewPCG(uint64(n)*31+uint64(k), 0x6a09e667f3bcc908))
	for w := 16; w <= k/4; w *= 4 {
		om := hugemem.Float32s(n * w)
		for i := range om {
			om[i] = float32(rng.NormFloat64())
		}
		y := hugemem.Float32s(k * w) // Y = Bᵀ·Ω, k×w
		e.Sgemm(true, false, k, w, n, 1, b, k, om, w, 0, y, w)
		q := orthonormalColumns(y, k, w)
		r := len(q) / k
		if r == w {
			continue // the sketch is saturated: the rank may be higher
		}
		qf := hugemem.Float32s(k * r)
		for i := range qf {
			qf[i] = float32(q[i])
		}
		bq := hugemem.Float32s(n * r)
		if r > 0 {
			e.Sgemm(false, false, n, r, k, 1, b, k, qf, r, 0, bq, r)
		}
		// Residual B − (B·Q)·Qᵀ.
		res := hugemem.Clone(b[:n*k])
		if r > 0 {
			e.Sgemm(false, true, n, k, r, -1, bq, r, qf, r, 1, res, k)
		}
		var res2 float64
		for _, v := range res {
			res2 += float64(v) * float64(v)
		}
		if res2 <= lowRankTol*lowRankTol*norm2 {
			return &factor{ok: true, r: r, q: qf, bq: bq}
		}
	}
	return &factor{}
}

// orthonormalColumns orthonormalises the columns of the k×w matrix y
// (row-major) by modified Gram–Schmidt, applied twice, in float64; columns
// that are numerically dependent are dropped. It returns k×r row-major.
func orthonormalColumns(y []float32, k, w int) []float64 {
	cols := make([][]float64, 0, w)
	var maxNorm float64
	for j := 0; j < w; j++ {
		v := make([]float64, k)
		var s float64
		for i := 0; i < k; i++ {
			v[i] = float64(y[i*w+j])
			s += v[i] * v[i]
		}
		maxNorm = math.Max(maxNorm, math.Sqrt(s))
		for pass := 0; pass < 2; pass++ {
			for _, c := range cols {
				var d float64
				for i := range v {
					d += v[i] * c[i]
				}
				for i := range v {
					v[i] -= d * c[i]
				}
			}
		}
		var nv float64
		for _, x := range v {
			nv += x * x
		}
		nv = math.Sqrt(nv)
		if nv <= 1e-5*maxNorm || nv == 0 {
			continue
		}
		for i := range v {
			v[i] /= nv
		}
		cols = append(cols, v)
	}
	r := len(cols)
	out := make([]float64, k*r)
	for j, c := range cols {
		for i := 0; i < k; i++ {
			out[i*r+j] = c[i]
		}
	}
	return out
}

// factorFor returns the cached basis of the source unfolding of s along
// axis (only for axes whose tensor has no other grouped axis, so the
// unfolding does not depend on other permutations).
func (m *Matcher) factorFor(s *nn.Tensor, axis, n, k int, su []float32) *factor {
	key := factorKey{s, axis}
	if f, ok := m.factors[key]; ok {
		return f
	}
	f := lowRankBasis(m.e, su, n, k)
	m.factors[key] = f
	return f
}

// factorCols collects the factor columns of one group's contributions:
// cost += L·Rᵀ with L, R n×K built column block by column block.
type factorCols struct {
	n      int
	blocks [][2][]float32 // (coef·A_f, B_f), each n×r row-major
	widths []int
	k      int
}

func (f *factorCols) add(a, b []float32, r int) {
	f.blocks = append(f.blocks, [2][]float32{a, b})
	f.widths = append(f.widths, r)
	f.k += r
}

// apply adds L·Rᵀ to c (n×n), or with overwrite writes it there. l and r
// are buffers for L and R, reused when large enough; it returns the
// buffers it used.
func (f *factorCols) apply(e *kernels.Engine, c []float32, overwrite bool, l, r []float32) ([]float32, []float32) {
	if f.k == 0 {
		return l, r
	}
	n, K := f.n, f.k
	if cap(l) < n*K {
		l, r = hugemem.Float32s(n*K), hugemem.Float32s(n*K)
	}
	l, r = l[:n*K], r[:n*K]
	off := 0
	for bi, blk := range f.blocks {
		w := f.widths[bi]
		for i := 0; i < n; i++ {
			copy(l[i*K+off:i*K+off+w], blk[0][i*w:(i+1)*w])
			copy(r[i*K+off:i*K+off+w], blk[1][i*w:(i+1)*w])
		}
		off += w
	}
	beta := float32(1)
	if overwrite {
		beta = 0
	}
	e.Sgemm(false, true, n, n, K, 1, l, K, r, K, beta, c, n)
	return l, r
}

// factorContribution tries to express coef·T_(a)·S̃_(a)ᵀ as factor columns;
// it returns false when the direct product should be used.
func (m *Matcher) factorContribution(fc *factorCols, n int, ref axisRef, ts *TensorSpec, t, s *nn.Tensor, coef float32) bool {
	for b, h := range ts.Axes {
		if b != ref.axis && h != "" {
			return false // the unfolding depends on other permutations
		}
	}
	outer, _, inner := ts.axisView(t.Shape, ref.axis)
	k := outer * inner
	unf := func(x []float32) []float32 {
		if outer == 1 {
			return x
		}
		return unfold(x, outer, n, inner)
	}
	if k <= skinnyK {
		a := hugemem.Clone(unf(t.Data))
		if coef != 1 {
			m.e.Scale(coef, a)
		}
		fc.add(a, unf(s.Data), k)
		return true
	}
	if k < 4*16 || n < 2*skinnyK {
		return false
	}
	f := m.factorFor(s, ref.axis, n, k, unf(s.Data))
	if !f.ok {
		return false
	}
	if f.r == 0 {
		return true
	}
	aq := hugemem.Float32s(n * f.r)
	m.e.Sgemm(false, false, n, f.r, k, coef, unf(t.Data), k, f.q, f.r, 0, aq, f.r)
	fc.add(aq, f.bq, f.r)
	return true
}
