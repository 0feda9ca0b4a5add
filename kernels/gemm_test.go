package kernels

import (
	"fmt"
	"math"
	"math/rand"
	"testing"

	"github.com/ltransfer/ltransfer/asm"
)

const sentinel = float32(-7777.25)

// gemmCase is one Sgemm call on padded (strided) storage.
type gemmCase struct {
	transA, transB bool
	m, n, k        int
	alpha, beta    float32
	padA, padB     int // extra columns in the leading dimensions
	padC           int
	nanC           bool // fill C with NaN (only with beta = 0)
}

func (tc gemmCase) String() string {
	t := func(b bool) string {
		if b {
			return "T"
		}
		return "N"
	}
	return fmt.Sprintf("%s%s/m=%d,n=%d,k=%d/alpha=%g,beta=%g/pad=%d,%d,%d/nanC=%v",
		t(tc.transA), t(tc.transB), tc.m, tc.n, tc.k, tc.alpha, tc.beta, tc.padA, tc.padB, tc.padC, tc.nanC)
}

type gemmData struct {
	a, b, c       []float32
	lda, ldb, ldc int
}

func (tc gemmCase) data(r *rand.Rand) gemmData {
	ar, ac := tc.m, tc.k
	if tc.transA {
		ar, ac = tc.k, tc.m
	}
	br, bc := tc.k, tc.n
	if tc.transB {
		br, bc = tc.n, tc.k
	}
	d := gemmData{lda: max(1, ac+tc.padA), ldb: max(1, bc+tc.padB), ldc: max(1, tc.n+tc.padC)}
	fill := func(rows, cols, ld int) []float32 {
		x := make([]float32, rows*ld)
		for i := range x {
			x[i] = sentinel
		}
		for i := 0; i < rows; i++ {
			for j := 0; j < cols; j++ {
				x[i*ld+j] = float32(r.Float64()*2 - 1)
			}
		}
		return x
	}
	d.a, d.b, d.c = fill(ar, ac, d.lda), fill(br, bc, d.ldb), fill(tc.m, tc.n, d.ldc)
	if tc.nanC {
		for i := 0; i < tc.m; i++ {
			for j := 0; j < tc.n; j++ {
				d.c[i*d.ldc+j] = float32(math.NaN())
			}
		}
	}
	return d
}

// check runs e.Sgemm on tc and compares with a float64 reference, the
// sentinels around C and the unchanged inputs.
func (tc gemmCase) check(t *testing.T, e *Engine, r *rand.Rand) []float32 {
	t.Helper()
	d := tc.data(r)
	a0, b0, c0 := append([]float32(nil), d.a...), append([]float32(nil), d.b...), append([]float32(nil), d.c...)
	e.Sgemm(tc.transA, tc.transB, tc.m, tc.n, tc.k, tc.alpha, d.a, d.lda, d.b, d.ldb, tc.beta, d.c, d.ldc)
	for i := range d.a {
		if math.Float32bits(d.a[i]) != math.Float32bits(a0[i]) {
			t.Fatalf("%v: A[%d] changed", tc, i)
		}
	}
	for i := range d.b {
		if math.Float32bits(d.b[i]) != math.Float32bits(b0[i]) {
			t.Fatalf("%v: B[%d] changed", tc, i)
		}
	}
	// Relative bound: float32 rounding of a k-term dot product plus the beta
	// term; a dropped K step or a wrong tile is off by O(1/k) of the scale.
	eps := 4 * float64(tc.k+4) * 0x1p-24
	for i := 0; i < tc.m; i++ {
		for j := 0; j < tc.n; j++ {
			var s, sa float64
			for p := 0; p < tc.k; p++ {
				var av, bv float32
				if tc.transA {
					av = d.a[p*d.lda+i]
				} else {
					av = d.a[i*d.lda+p]
				}
				if tc.transB {
					bv = d.b[j*d.ldb+p]
				} else {
					bv = d.b[p*d.ldb+j]
				}
				s += float64(av) * float64(bv)
				sa += math.Abs(float64(av) * float64(bv))
			}
			want := float64(tc.alpha) * s
			scale := math.Abs(float64(tc.alpha)) * sa
			if tc.beta != 0 {
				cv := float64(c0[i*d.ldc+j])
				want += float64(tc.beta) * cv
				scale += math.Abs(float64(tc.beta) * cv)
			}
			got := float64(d.c[i*d.ldc+j])
			if math.IsNaN(got) || math.Abs(got-want) > eps*scale+1e-30 {
				t.Fatalf("%v: C[%d,%d] = %v, want %v (tolerance %g)", tc, i, j, got, want, eps*scale)
			}
		}
		for j := tc.n; j < d.ldc && i*d.ldc+j < len(d.c); j++ {
			if d.c[i*d.ldc+j] != sentinel {
				t.Fatalf("%v: wrote C[%d,%d] outside the view", tc, i, j)
			}
		}
	}
	return d.c
}

func enginesUnderTest(t *testing.T, threads int) []*Engine {
	var es []*Engine
	for _, p := range asm.Available() {
		e, err := New(WithPath(p), WithThreads(threads))
		if err != nil {
			t.Fatal(err)
		}
		es = append(es, e)
	}
	return es
}

func TestSgemmShapes(t *testing.T) {
	const seed = 1
	t.Logf("seed %d", seed)
	r := rand.New(rand.NewSource(seed))
	// Sizes at and around every register tile (6, 12 rows; 16, 32 columns)
	// and cache block (KC = 256, MC = 120/264), primes, 0 and 1.
	ms := []int{0, 1, 2, 5, 6, 7, 11, 12, 13, 23, 24, 25, 37, 119, 121, 191, 193, 265, 277}
	ns := []int{0, 1, 3, 15, 16, 17, 31, 32, 33, 47, 63, 65, 97}
	ks := []int{0, 1, 2, 3, 7, 17, 255, 256, 257, 300, 513}
	var cases []gemmCase
	for _, ta := range []bool{false, true} {
		for _, tb := range []bool{false, true} {
			// The race detector slows the generic path tenfold: fewer shapes.
			perCombo := 40
			if raceEnabled {
				perCombo = 10
			}
			for i := 0; i < perCombo; i++ {
				tc := gemmCase{transA: ta, transB: tb, m: ms[r.Intn(len(ms))], n: ns[r.Intn(len(ns))], k: ks[r.Intn(len(ks))],
					alpha: 1, padA: r.Intn(3) * 5, padB: r.Intn(3) * 3, padC: r.Intn(3) * 7}
				switch i % 5 {
				case 0:
					tc.beta, tc.nanC = 0, true
				case 1:
					tc.alpha, tc.beta = -0.5, 1
				case 2:
					tc.alpha, tc.beta = 2, -1.5
				case 3:
					tc.alpha, tc.beta = 0, 0.5
				case 4:
					tc.alpha, tc.beta = 1.25, 0
				}
				if tc.m*tc.n*tc.k > 1<<21 {
					tc.k = 17
				}
				cases = append(cases, tc)
			}
			// Tall-skinny and wide-short.
			cases = append(cases,
				gemmCase{transA: ta, transB: tb, m: 301, n: 1, k: 33, alpha: 1, nanC: true},
				gemmCase{transA: ta, transB: tb, m: 1, n: 301, k: 33, alpha: 1, beta: 1},
				gemmCase{transA: ta, transB: tb, m: 130, n: 10, k: 400, alpha: 1, padC: 3},
				gemmCase{transA: ta, transB: tb, m: 3, n: 1, k: 1000, alpha: 1, beta: 2},
			)
		}
	}
	for _, e := range enginesUnderTest(t, 2) {
		t.Run("path="+e.Path().String(), func(t *testing.T) {
			for _, tc := range cases {
				tc.check(t, e, r)
			}
		})
	}
}

func TestSgemmSameBitsAnyThreads(t *testing.T) {
	const seed = 2
	t.Logf("seed %d", seed)
	for _, p := range asm.Available() {
		for _, tc := range []gemmCase{
			{m: 150, n: 100, k: 300, alpha: 1, beta: 0},
			{transA: true, transB: true, m: 61, n: 200, k: 520, alpha: 0.5, beta: 1, padC: 4},
			{transB: true, m: 290, n: 70, k: 300, alpha: 1, beta: 0, nanC: true},
			{m: 130, n: 10, k: 700, alpha: 1, beta: -1},
		} {
			var ref []float32
			for _, threads := range []int{1, 2, 3} {
				e, _ := New(WithPath(p), WithThreads(threads))
				if ref == nil {
					ref = tc.check(t, e, rand.New(rand.NewSource(seed)))
					continue
				}
				// Same data (same seed); only the bits need comparing now.
				d := tc.data(rand.New(rand.NewSource(seed)))
				e.Sgemm(tc.transA, tc.transB, tc.m, tc.n, tc.k, tc.alpha, d.a, d.lda, d.b, d.ldb, tc.beta, d.c, d.ldc)
				c := d.c
				for i := range c {
					if math.Float32bits(c[i]) != math.Float32bits(ref[i]) {
						t.Fatalf("path %s %v: %d threads differ from 1 thread at %d", p, tc, threads, i)
					}
				}
			}
		}
	}
}

func TestSgemmPanicsBeforeWriting(t *testing.T) {
	c := []float32{1, 2, 3, 4}
	for _, f := range []func(){
		func() {
			Default().Sgemm(false, false, 2, 2, 2, 1, make([]float32, 3), 2, make([]float32, 4), 2, 0, c, 2)
		},
		func() {
			Default().Sgemm(false, false, 2, 2, 2, 1, make([]float32, 4), 1, make([]float32, 4), 2, 0, c, 2)
		},
		func() { Default().Sgemm(false, false, -1, 2, 2, 1, nil, 2, nil, 2, 0, c, 2) },
	} {
		func() {
			defer func() {
				if recover() == nil {
					t.Fatal("no panic on inconsistent sizes")
				}
			}()
			f()
		}()
		if c[0] != 1 || c[3] != 4 {
			t.Fatal("C written before the panic")
		}
	}
}
