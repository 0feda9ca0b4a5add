package main

import (
	"fmt"
	"io"
	"math"
	"math/rand"

	"github.com/ltransfer/ltransfer/asm"
	"github.com/ltransfer/ltransfer/kernels"
)

func init() {
	register("selftest", "check every kernel path (GEMM, vector, convolution, pooling, batch-norm, LAP) against the pure-Go oracle", runSelftest)
}

func runSelftest(args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("selftest", stderr, "selftest [--seed S] [--shapes N]")
	seed := fs.Int64("seed", 1, "random seed for shapes and data")
	shapes := fs.Int("shapes", 40, "random GEMM shapes per path")
	if done, err := parseFlags(fs, args); done {
		return err
	}
	if *shapes < 1 {
		return fmt.Errorf("--shapes %d, want ≥ 1", *shapes)
	}
	fmt.Fprintf(stdout, "cpu: %s\n", asm.CPUDescription())
	fmt.Fprintf(stdout, "paths available: %v; selected: %s", asm.Available(), asm.Selected())
	if env := asm.Selected(); env != asm.Best() {
		fmt.Fprintf(stdout, " (forced by %s)", asm.EnvVar)
	}
	fmt.Fprintf(stdout, "\nseed: %d\n", *seed)
	oracle, err := kernels.New(kernels.WithPath(asm.Generic), kernels.WithThreads(1))
	if err != nil {
		return err
	}
	failed := 0
	for _, p := range asm.Available() {
		e, err := kernels.New(kernels.WithPath(p))
		if err != nil {
			return err
		}
		r := rand.New(rand.NewSource(*seed))
		gemmErr, bad := selftestGemm(e, oracle, r, *shapes)
		vecErr, vbad := selftestVec(e, oracle, r)
		status := "ok"
		if bad != "" || vbad != "" {
			status = "FAIL"
			failed++
		}
		fmt.Fprintf(stdout, "%-8s %-4s sgemm: %d shapes, worst error %.2g of the bound; vector kernels: worst %.2g of the bound\n",
			p, status, *shapes, gemmErr, vecErr)
		for _, s := range []string{bad, vbad} {
			if s != "" {
				fmt.Fprintf(stdout, "         %s\n", s)
			}
		}
		for _, t := range []struct {
			name string
			run  func(asm.Path, *rand.Rand) (check, error)
		}{
			{"conv (im2col, winograd, direct; 3 passes)", selftestConv},
			{"pooling (max, average; 2 passes)", selftestPool},
			{"batch-norm (train, eval, backward)", selftestBatchNorm},
			{"lap scans and solves", selftestLap},
		} {
			c, err := t.run(p, r)
			if err != nil {
				return fmt.Errorf("%s on %s: %w", t.name, p, err)
			}
			status := "ok"
			if c.bad != "" {
				status = "FAIL"
				failed++
			}
			fmt.Fprintf(stdout, "%-8s %-4s %s: worst error %.2g of the bound\n", p, status, t.name, c.worst)
			if c.bad != "" {
				fmt.Fprintf(stdout, "         %s\n", c.bad)
			}
		}
	}
	if failed > 0 {
		return fmt.Errorf("%d kernel check(s) disagree with the pure-Go oracle", failed)
	}
	return nil
}

func randMatrix(r *rand.Rand, n int) []float32 {
	x := make([]float32, n)
	for i := range x {
		x[i] = float32(r.Float64()*2 - 1)
	}
	return x
}

// selftestGemm compares e.Sgemm with the oracle on random shapes, transposes,
// strides and alpha/beta; it returns the worst error as a fraction of the
// rounding bound and a description of the first failure.
func selftestGemm(e, oracle *kernels.Engine, r *rand.Rand, shapes int) (worst float64, bad string) {
	for s := 0; s < shapes; s++ {
		m, n, k := 1+r.Intn(200), 1+r.Intn(200), 1+r.Intn(600)
		tA, tB := r.Intn(2) == 1, r.Intn(2) == 1
		ar, ac, br, bc := m, k, k, n
		if tA {
			ar, ac = k, m
		}
		if tB {
			br, bc = n, k
		}
		lda, ldb, ldc := ac+r.Intn(4), bc+r.Intn(4), n+r.Intn(4)
		a, b := randMatrix(r, ar*lda), randMatrix(r, br*ldb)
		c := randMatrix(r, m*ldc)
		alpha, beta := float32(r.NormFloat64()), float32(0)
		if r.Intn(2) == 1 {
			beta = float32(r.NormFloat64())
		} else {
			for i := range c {
				c[i] = float32(math.NaN()) // beta = 0 must overwrite NaN
			}
		}
		want := append([]float32(nil), c...)
		got := append([]float32(nil), c...)
		oracle.Sgemm(tA, tB, m, n, k, alpha, a, lda, b, ldb, beta, want, ldc)
		e.Sgemm(tA, tB, m, n, k, alpha, a, lda, b, ldb, beta, got, ldc)
		// Bound: |alpha|·|A|·|B| + |beta·C| times the rounding of a k-term sum.
		abs := func(x []float32) []float32 {
			y := make([]float32, len(x))
			for i, v := range x {
				y[i] = float32(math.Abs(float64(v)))
			}
			return y
		}
		scale := make([]float32, len(c))
		oracle.Sgemm(tA, tB, m, n, k, float32(math.Abs(float64(alpha))), abs(a), lda, abs(b), ldb, 0, scale, ldc)
		eps := 4 * float64(k+4) * 0x1p-24
		for i := 0; i < m; i++ {
			for j := 0; j < n; j++ {
				x := i*ldc + j
				bound := eps * float64(scale[x])
				if beta != 0 {
					bound += eps * math.Abs(float64(beta)*float64(c[x]))
				}
				d := math.Abs(float64(got[x]) - float64(want[x]))
				if math.IsNaN(float64(got[x])) {
					d = math.Inf(1)
				}
				worst = max(worst, d/(bound+1e-30))
				if d > bound && bad == "" {
					bad = fmt.Sprintf("sgemm trans=%v,%v m=%d n=%d k=%d: C[%d,%d] = %v, oracle %v", tA, tB, m, n, k, i, j, got[x], want[x])
				}
			}
			for j := n; j < ldc && i*ldc+j < len(c); j++ {
				if math.Float32bits(got[i*ldc+j]) != math.Float32bits(c[i*ldc+j]) && bad == "" {
					bad = fmt.Sprintf("sgemm m=%d n=%d k=%d wrote outside C at [%d,%d]", m, n, k, i, j)
				}
			}
		}
	}
	return worst, bad
}

// selftestVec checks the vector kernels on lengths around the vector widths.
func selftestVec(e, oracle *kernels.Engine, r *rand.Rand) (worst float64, bad string) {
	fail := func(format string, a ...any) {
		if bad == "" {
			bad = fmt.Sprintf(format, a...)
		}
	}
	for _, n := range []int{0, 1, 7, 8, 9, 15, 16, 17, 31, 33, 63, 64, 65, 100, 1000, 4097} {
		x, y := randMatrix(r, n), randMatrix(r, n)
		alpha := float32(r.NormFloat64())
		type op struct {
			name string
			run  func(e *kernels.Engine, d []float32)
		}
		for _, o := range []op{
			{"axpy", func(e *kernels.Engine, d []float32) { e.Axpy(alpha, x, d) }},
			{"scale", func(e *kernels.Engine, d []float32) { e.Scale(alpha, d) }},
			{"add", func(e *kernels.Engine, d []float32) { e.Add(d, x, y) }},
			{"mul", func(e *kernels.Engine, d []float32) { e.Mul(d, x, y) }},
			{"relu", func(e *kernels.Engine, d []float32) { e.ReLU(d, x) }},
			{"relu-backward", func(e *kernels.Engine, d []float32) { e.ReLUBackward(d, y, x) }},
		} {
			got, want := append([]float32(nil), y...), append([]float32(nil), y...)
			o.run(e, got)
			o.run(oracle, want)
			for i := range got {
				d := math.Abs(float64(got[i]) - float64(want[i]))
				bound := 4 * 0x1p-24 * (math.Abs(float64(want[i])) + math.Abs(float64(alpha*x[i])))
				worst = max(worst, d/(bound+1e-30))
				if d > bound {
					fail("%s n=%d: [%d] = %v, oracle %v", o.name, n, i, got[i], want[i])
				}
			}
		}
		var sa, da float64
		for i := range x {
			sa += math.Abs(float64(x[i]))
			da += math.Abs(float64(x[i] * y[i]))
		}
		eps := 2 * float64(n+2) * 0x1p-24
		if d := math.Abs(float64(e.Sum(x) - oracle.Sum(x))); d > eps*sa+1e-30 {
			fail("sum n=%d: %v, oracle %v", n, e.Sum(x), oracle.Sum(x))
		} else {
			worst = max(worst, d/(eps*sa+1e-30))
		}
		if d := math.Abs(float64(e.Dot(x, y) - oracle.Dot(x, y))); d > eps*da+1e-30 {
			fail("dot n=%d: %v, oracle %v", n, e.Dot(x, y), oracle.Dot(x, y))
		} else {
			worst = max(worst, d/(eps*da+1e-30))
		}
	}
	return worst, bad
}
