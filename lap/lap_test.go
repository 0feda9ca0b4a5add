package lap

import (
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	"github.com/ltransfer/ltransfer/asm"
)

// solvers returns three Solvers per kernel path available here: dense
// scans only, candidate lists forced on at every size, and the automatic
// choice (which also detects tie-heavy matrices).
func solvers(t testing.TB) []*Solver {
	var ss []*Solver
	for _, mode := range []int{sparseOff, sparseOn, sparseAuto} {
		ss = append(ss, solversMode(t, mode)...)
	}
	return ss
}

func solversMode(t testing.TB, mode int) []*Solver {
	var ss []*Solver
	for _, p := range asm.Available() {
		s, err := NewSolver(p)
		if err != nil {
			t.Fatal(err)
		}
		s.sparse = mode
		ss = append(ss, s)
	}
	return ss
}

func (s *Solver) String() string {
	return fmt.Sprintf("%s/mode=%s", s.path, [...]string{"auto", "sparse", "dense"}[s.sparse])
}

func newRand(t testing.TB, seed uint64) *rand.Rand {
	t.Helper()
	t.Logf("seed %d", seed)
	return rand.New(rand.NewPCG(seed, 0x1a9))
}

// certify checks r against the minimisation form of cost: a valid
// assignment, dual feasibility, complementary slackness and, for n < m, the
// sign conditions on v; tol is relative to the largest |cost|.
func certify(t testing.TB, n, m int, cost []float64, maximize bool, r *Result, tol float64) {
	t.Helper()
	if len(r.RowToCol) != n || len(r.RowDual) != n || len(r.ColDual) != m {
		t.Fatalf("result lengths %d,%d,%d, want %d,%d,%d", len(r.RowToCol), len(r.RowDual), len(r.ColDual), n, m, m)
	}
	scale := 1.0
	for _, c := range cost {
		if !math.IsInf(c, 0) {
			scale = math.Max(scale, math.Abs(c))
		}
	}
	tol *= scale
	used := make([]bool, m)
	obj := 0.0
	for i, j := range r.RowToCol {
		if j < 0 || j >= m || used[j] {
			t.Fatalf("row %d assigned column %d (out of range or reused)", i, j)
		}
		used[j] = true
		obj += cost[i*m+j]
	}
	if obj != r.Objective && math.Abs(obj-r.Objective) > 1e-9*math.Abs(obj) {
		t.Fatalf("objective %v, assignment sums to %v", r.Objective, obj)
	}
	for i := 0; i < n; i++ {
		for j := 0; j < m; j++ {
			c := cost[i*m+j]
			if maximize {
				c = -c
			}
			if math.IsInf(c, 1) {
				if r.RowToCol[i] == j {
					t.Fatalf("row %d assigned forbidden column %d", i, j)
				}
				continue
			}
			red := c - r.RowDual[i] - r.ColDual[j]
			if red < -tol {
				t.Fatalf("reduced cost [%d][%d] = %g < 0 (tol %g)", i, j, red, tol)
			}
			if r.RowToCol[i] == j && math.Abs(red) > tol {
				t.Fatalf("reduced cost on the assignment [%d][%d] = %g ≠ 0 (tol %g)", i, j, red, tol)
			}
		}
	}
	if n < m {
		for j, v := range r.ColDual {
			if v > tol || (!used[j] && math.Abs(v) > tol) {
				t.Fatalf("rectangular: v[%d] = %g (assigned %v), want ≤ 0 and 0 when unassigned", j, v, used[j])
			}
		}
	}
}

// bruteForce returns the optimal objective over all injective row→column
// maps, or NaN when every map uses a forbidden pair.
func bruteForce(n, m int, cost []float64, maximize bool) float64 {
	best := math.NaN()
	used := make([]bool, m)
	var rec func(i int, acc float64)
	rec = func(i int, acc float64) {
		if i == n {
			if math.IsNaN(best) || (maximize && acc > best) || (!maximize && acc < best) {
				best = acc
			}
			return
		}
		for j := 0; j < m; j++ {
			c := cost[i*m+j]
			if used[j] || math.IsInf(c, 0) {
				continue
			}
			used[j] = true
			rec(i+1, acc+c)
			used[j] = false
		}
	}
	rec(0, 0)
	return best
}

// hungarian is an independent O(n²m) reference (the potentials form of the
// Hungarian method, rows added one at a time) on a minimisation matrix
// with finite entries; it returns the optimal objective.
func hungarian(n, m int, a []float64) float64 {
	u := make([]float64, n+1)
	v := make([]float64, m+1)
	p := make([]int, m+1) // p[j] = row (1-based) matched to column j
	way := make([]int, m+1)
	for i := 1; i <= n; i++ {
		p[0] = i
		j0 := 0
		minv := make([]float64, m+1)
		usedc := make([]bool, m+1)
		for j := range minv {
			minv[j] = math.Inf(1)
		}
		for {
			usedc[j0] = true
			i0, delta, j1 := p[j0], math.Inf(1), 0
			for j := 1; j <= m; j++ {
				if !usedc[j] {
					cur := a[(i0-1)*m+j-1] - u[i0] - v[j]
					if cur < minv[j] {
						minv[j], way[j] = cur, j0
					}
					if minv[j] < delta {
						delta, j1 = minv[j], j
					}
				}
			}
			for j := 0; j <= m; j++ {
				if usedc[j] {
					u[p[j]] += delta
					v[j] -= delta
				} else {
					minv[j] -= delta
				}
			}
			j0 = j1
			if p[j0] == 0 {
				break
			}
		}
		for j0 != 0 {
			j1 := way[j0]
			p[j0] = p[j1]
			j0 = j1
		}
	}
	obj := 0.0
	for j := 1; j <= m; j++ {
		if p[j] != 0 {
			obj += a[(p[j]-1)*m+j-1]
		}
	}
	return obj
}

type class struct {
	name string
	gen  func(r *rand.Rand, n, m int) []float64
}

var classes = []class{
	{"uniform", func(r *rand.Rand, n, m int) []float64 {
		c := make([]float64, n*m)
		for k := range c {
			c[k] = r.Float64()
		}
		return c
	}},
	{"int10", func(r *rand.Rand, n, m int) []float64 {
		c := make([]float64, n*m)
		for k := range c {
			c[k] = float64(r.IntN(10))
		}
		return c
	}},
	{"int100neg", func(r *rand.Rand, n, m int) []float64 {
		c := make([]float64, n*m)
		for k := range c {
			c[k] = float64(r.IntN(100) - 50)
		}
		return c
	}},
	{"lowrank2", func(r *rand.Rand, n, m int) []float64 { return lowRank(r, n, m, 2) }},
	{"binary", func(r *rand.Rand, n, m int) []float64 {
		c := make([]float64, n*m)
		for k := range c {
			c[k] = float64(r.IntN(2))
		}
		return c
	}},
}

func lowRank(r *rand.Rand, n, m, k int) []float64 {
	u := make([]float64, n*k)
	w := make([]float64, m*k)
	for i := range u {
		u[i] = r.NormFloat64()
	}
	for i := range w {
		w[i] = r.NormFloat64()
	}
	c := make([]float64, n*m)
	for i := 0; i < n; i++ {
		for j := 0; j < m; j++ {
			s := 0.0
			for l := 0; l < k; l++ {
				s += u[i*k+l] * w[j*k+l]
			}
			c[i*m+j] = s
		}
	}
	return c
}

func negate(c []float64) []float64 {
	out := make([]float64, len(c))
	for k, x := range c {
		out[k] = -x
	}
	return out
}

func closeTo(a, b float64) bool {
	return a == b || math.Abs(a-b) <= 1e-9*math.Max(1, math.Max(math.Abs(a), math.Abs(b)))
}

func TestBruteForce(t *testing.T) {
	r := newRand(t, 1)
	ss := solvers(t)
	for _, cl := range classes {
		for n := 1; n <= 8; n++ {
			for _, m := range []int{n, n + 1, 8} {
				if m < n || (n == 8 && cl.name != "int10" && cl.name != "binary") {
					continue // 8×8 brute force only for the tie-heavy classes
				}
				for _, maximize := range []bool{false, true} {
					cost := cl.gen(r, n, m)
					if cl.name != "uniform" && r.IntN(2) == 0 {
						// forbidden pairs, sparse enough to stay mostly feasible
						for k := range cost {
							if r.IntN(6) == 0 {
								cost[k] = math.Inf(1)
								if maximize {
									cost[k] = math.Inf(-1)
								}
							}
						}
					}
					want := bruteForce(n, m, cost, maximize)
					for _, s := range ss {
						res, err := s.SolveFloat64(n, m, cost, &Options{Maximize: maximize})
						name := fmt.Sprintf("%s/%s/%dx%d/max=%v", s, cl.name, n, m, maximize)
						if math.IsNaN(want) {
							if !errors.Is(err, ErrInfeasible) {
								t.Fatalf("%s: infeasible problem gave err=%v", name, err)
							}
							continue
						}
						if err != nil {
							t.Fatalf("%s: %v", name, err)
						}
						if !closeTo(res.Objective, want) {
							t.Fatalf("%s: objective %v, brute force %v\ncost %v", name, res.Objective, want, cost)
						}
						certify(t, n, m, cost, maximize, res, 1e-12)
					}
				}
			}
		}
	}
}

func TestHungarian(t *testing.T) {
	r := newRand(t, 2)
	sizes := [][2]int{{1, 1}, {2, 3}, {17, 17}, {33, 40}, {64, 64}, {100, 131}, {150, 300}, {300, 300}}
	if raceEnabled {
		sizes = sizes[:len(sizes)-1]
	}
	ss := solvers(t)
	for _, cl := range classes {
		for _, sz := range sizes {
			n, m := sz[0], sz[1]
			for _, maximize := range []bool{false, true} {
				cost := cl.gen(r, n, m)
				min := cost
				if maximize {
					min = negate(cost)
				}
				want := hungarian(n, m, min)
				if maximize {
					want = -want
				}
				for _, s := range ss {
					res, err := s.SolveFloat64(n, m, cost, &Options{Maximize: maximize})
					name := fmt.Sprintf("%s/%s/%dx%d/max=%v", s, cl.name, n, m, maximize)
					if err != nil {
						t.Fatalf("%s: %v", name, err)
					}
					if !closeTo(res.Objective, want) {
						t.Fatalf("%s: objective %v, Hungarian %v", name, res.Objective, want)
					}
					certify(t, n, m, cost, maximize, res, 1e-12)
					if cl.name == "uniform" || cl.name == "lowrank2" {
						continue
					}
					// Integer costs are exact in float32: the float32 kernels
					// must find the same optimum.
					c32 := make([]float32, len(cost))
					for k, x := range cost {
						c32[k] = float32(x)
					}
					res32, err := s.SolveFloat32(n, m, c32, &Options{Maximize: maximize})
					if err != nil {
						t.Fatalf("%s float32: %v", name, err)
					}
					if res32.Objective != want {
						t.Fatalf("%s float32: objective %v, Hungarian %v", name, res32.Objective, want)
					}
					certify(t, n, m, cost, maximize, res32, 0)
				}
			}
		}
	}
}

// TestForbiddenHungarian compares problems with forbidden pairs against the
// reference run with a large finite penalty instead.
func TestForbiddenHungarian(t *testing.T) {
	r := newRand(t, 3)
	const big = 1e7
	for _, s := range solvers(t) {
		for _, sz := range [][2]int{{20, 20}, {50, 64}, {120, 120}} {
			n, m := sz[0], sz[1]
			for _, p := range []int{2, 5, 20} {
				cost := make([]float64, n*m)
				pen := make([]float64, n*m)
				for k := range cost {
					cost[k] = float64(r.IntN(20))
					pen[k] = cost[k]
					if r.IntN(p) == 0 {
						cost[k], pen[k] = math.Inf(1), big
					}
				}
				want := hungarian(n, m, pen)
				res, err := s.SolveFloat64(n, m, cost, nil)
				name := fmt.Sprintf("%s/%dx%d/p=1/%d", s, n, m, p)
				if want >= big {
					if !errors.Is(err, ErrInfeasible) {
						t.Fatalf("%s: infeasible problem gave err=%v", name, err)
					}
					continue
				}
				if err != nil {
					t.Fatalf("%s: %v", name, err)
				}
				if res.Objective != want {
					t.Fatalf("%s: objective %v, Hungarian %v", name, res.Objective, want)
				}
				certify(t, n, m, cost, false, res, 0)
			}
		}
	}
}

// TestPathsAgree checks that every kernel path gives the same assignment
// and duals bit for bit (the kernels are exact twins), at sizes with and
// without a column tail.
func TestPathsAgree(t *testing.T) {
	r := newRand(t, 4)
	for _, mode := range []int{sparseOff, sparseOn, sparseAuto} {
		testPathsAgree(t, r, solversMode(t, mode))
	}
}

func testPathsAgree(t *testing.T, r *rand.Rand, ss []*Solver) {
	for _, cl := range classes {
		for _, sz := range [][2]int{{160, 160}, {203, 203}, {90, 301}} {
			n, m := sz[0], sz[1]
			cost := cl.gen(r, n, m)
			var ref *Result
			for _, s := range ss {
				res, err := s.SolveFloat64(n, m, cost, nil)
				if err != nil {
					t.Fatal(err)
				}
				if ref == nil {
					ref = res
					continue
				}
				for i := range res.RowToCol {
					if res.RowToCol[i] != ref.RowToCol[i] || res.RowDual[i] != ref.RowDual[i] {
						t.Fatalf("%s %dx%d: path %s differs from %s at row %d", cl.name, n, m, s, ss[0], i)
					}
				}
				for j := range res.ColDual {
					if res.ColDual[j] != ref.ColDual[j] {
						t.Fatalf("%s %dx%d: path %s v[%d] differs", cl.name, n, m, s, j)
					}
				}
			}
		}
	}
}

// TestCertificateLarge checks the optimality certificate on larger
// problems of every class, on every path.
func TestCertificateLarge(t *testing.T) {
	n := 600
	if testing.Short() || raceEnabled {
		n = 160
	}
	r := newRand(t, 5)
	all := append(classes, class{"lowrank10", func(r *rand.Rand, n, m int) []float64 { return lowRank(r, n, m, 10) }})
	for _, cl := range all {
		cost := cl.gen(r, n, n+7)
		cost32 := make([]float32, len(cost))
		for k, x := range cost {
			cost32[k] = float32(x)
		}
		wide := make([]float64, len(cost))
		for k, x := range cost32 {
			wide[k] = float64(x)
		}
		for _, s := range solvers(t) {
			for _, m := range []int{n, n + 7} {
				c := cost[:n*m]
				res, err := s.SolveFloat64(n, m, c, nil)
				if err != nil {
					t.Fatal(err)
				}
				certify(t, n, m, c, false, res, 1e-12)
				res32, err := s.SolveFloat32(n, m, cost32[:n*m], &Options{Maximize: true})
				if err != nil {
					t.Fatal(err)
				}
				certify(t, n, m, wide[:n*m], true, res32, 1e-12)
			}
		}
	}
}

func TestBadInput(t *testing.T) {
	nan := math.NaN()
	cases := []struct {
		name   string
		n, m   int
		cost   []float64
		opt    *Options
		substr string
	}{
		{"nan", 2, 2, []float64{1, 2, nan, 4}, nil, "cost[1][0] is NaN"},
		{"neginf-min", 2, 2, []float64{1, math.Inf(-1), 3, 4}, nil, "cost[0][1] = -Inf"},
		{"posinf-max", 2, 2, []float64{1, math.Inf(1), 3, 4}, &Options{Maximize: true}, "cost[0][1] = +Inf"},
		{"huge", 2, 2, []float64{1, 1e307, 3, 4}, nil, "too large"},
		{"dims", 2, 2, []float64{1, 2, 3}, nil, "3 entries"},
		{"tall", 3, 2, make([]float64, 6), nil, "3 rows > 2 columns"},
		{"neg", -1, 2, nil, nil, "negative"},
		{"infeasible-col", 2, 2, []float64{1, math.Inf(1), 3, math.Inf(1)}, nil, "no feasible"},
		{"infeasible-row", 2, 3, []float64{math.Inf(1), math.Inf(1), math.Inf(1), 1, 2, 3}, nil, "row 0"},
		{"infeasible-hall", 3, 3, []float64{1, inf, inf, 2, inf, inf, 1, 2, 3}, nil, "no feasible"},
		{"warm-len", 2, 2, []float64{1, 2, 3, 4}, &Options{RowToCol: []int{0}}, "RowToCol has 1"},
		{"warm-range", 2, 2, []float64{1, 2, 3, 4}, &Options{RowToCol: []int{0, 2}}, "RowToCol[1] = 2"},
		{"warm-dup", 2, 2, []float64{1, 2, 3, 4}, &Options{RowToCol: []int{1, 1}}, "column 1"},
		{"warm-dual", 2, 2, []float64{1, 2, 3, 4}, &Options{ColDual: []float64{0, nan}}, "ColDual[1]"},
		{"warm-dual-len", 2, 2, []float64{1, 2, 3, 4}, &Options{ColDual: []float64{0}}, "ColDual has 1"},
	}
	for _, s := range solvers(t) {
		for _, tc := range cases {
			_, err := s.SolveFloat64(tc.n, tc.m, tc.cost, tc.opt)
			if err == nil || !strings.Contains(err.Error(), tc.substr) {
				t.Errorf("%s/%s: err = %v, want one containing %q", s, tc.name, err, tc.substr)
			}
		}
	}
	if _, err := SolveFloat32(1, 2, []float32{float32(nan), 1}, nil); err == nil || !strings.Contains(err.Error(), "cost[0][0] is NaN") {
		t.Errorf("float32 NaN: err = %v", err)
	}
}

func TestEmptyAndTrivial(t *testing.T) {
	r, err := SolveFloat64(0, 0, nil, nil)
	if err != nil || len(r.RowToCol) != 0 {
		t.Fatalf("0×0: %v %v", r, err)
	}
	r, err = SolveFloat64(0, 3, nil, nil)
	if err != nil || len(r.ColDual) != 3 {
		t.Fatalf("0×3: %v %v", r, err)
	}
	r, err = SolveFloat64(1, 3, []float64{5, -2, 7}, nil)
	if err != nil || r.RowToCol[0] != 1 || r.Objective != -2 {
		t.Fatalf("1×3: %+v %v", r, err)
	}
}

// TestWarmStart solves a sequence of slowly changing matrices, each warm
// started from the previous result, and checks it matches a cold solve.
func TestWarmStart(t *testing.T) {
	r := newRand(t, 6)
	for _, s := range solvers(t) {
		for _, sz := range [][2]int{{150, 150}, {100, 140}} {
			n, m := sz[0], sz[1]
			for _, maximize := range []bool{false, true} {
				cost := classes[0].gen(r, n, m)
				var prev *Result
				for step := 0; step < 4; step++ {
					for k := range cost {
						cost[k] += 0.01 * r.NormFloat64()
					}
					cold, err := s.SolveFloat64(n, m, cost, &Options{Maximize: maximize})
					if err != nil {
						t.Fatal(err)
					}
					opt := &Options{Maximize: maximize}
					if prev != nil {
						opt.RowToCol, opt.ColDual = prev.RowToCol, prev.ColDual
					}
					warm, err := s.SolveFloat64(n, m, cost, opt)
					if err != nil {
						t.Fatal(err)
					}
					if !closeTo(warm.Objective, cold.Objective) {
						t.Fatalf("%s %dx%d step %d: warm objective %v, cold %v", s, n, m, step, warm.Objective, cold.Objective)
					}
					certify(t, n, m, cost, maximize, warm, 1e-12)
					prev = warm
				}
			}
			// Assignment only, and arbitrary duals.
			cost := classes[1].gen(r, n, m)
			want := hungarian(n, m, cost)
			perm := r.Perm(m)[:n]
			duals := make([]float64, m)
			for j := range duals {
				duals[j] = float64(r.IntN(7) - 3)
			}
			for _, opt := range []*Options{{RowToCol: perm}, {ColDual: duals}, {RowToCol: perm, ColDual: duals}} {
				res, err := s.SolveFloat64(n, m, cost, opt)
				if err != nil {
					t.Fatal(err)
				}
				if res.Objective != want {
					t.Fatalf("%s %dx%d warm %v: objective %v, want %v", s, n, m, opt.ColDual != nil, res.Objective, want)
				}
				certify(t, n, m, cost, false, res, 0)
			}
		}
	}
}

// TestTieHeavy checks the plain shortest-augmenting-path route taken for
// integer matrices full of ties (detected by sampling rows), against the
// Jonker–Volgenant route, on every path.
func TestTieHeavy(t *testing.T) {
	r := newRand(t, 7)
	n := 1024
	cost := make([]float64, n*n)
	for k := range cost {
		cost[k] = float64(r.IntN(10))
	}
	ref, err := solversMode(t, sparseOff)[0].SolveFloat64(n, n, cost, nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range solversMode(t, sparseAuto) {
		res, err := s.SolveFloat64(n, n, cost, nil)
		if err != nil {
			t.Fatal(err)
		}
		if res.Stats.RowReductions != 0 || res.Stats.FreeAfterInit != n {
			t.Fatalf("%s: tie-heavy matrix not detected: %+v", s, res.Stats)
		}
		if res.Objective != ref.Objective {
			t.Fatalf("%s: objective %v, Jonker–Volgenant route %v", s, res.Objective, ref.Objective)
		}
		certify(t, n, n, cost, false, res, 0)
	}
}

// TestParallelSameResult checks that Options.Parallel changes nothing:
// cold and warm solves of float32 and float64 matrices large enough for
// the row-parallel phases (and the candidate lists) give the same
// assignment, duals and work counts with 1, 2, 3 and 4 goroutines, and
// that each phase gives back what it was granted.
func TestParallelSameResult(t *testing.T) {
	r := newRand(t, 11)
	n := 1536 // float32 at this size solves on candidate lists
	c64 := lowRank(r, n, n, 10)
	c32 := make([]float32, len(c64))
	for k, x := range c64 {
		c32[k] = float32(x)
	}
	for _, s := range solversMode(t, sparseAuto) {
		testParallelSameResult(t, s, n, c64, c32)
	}
}

func testParallelSameResult(t *testing.T, s *Solver, n int, c64 []float64, c32 []float32) {
	solve := func(threads int, warm *Result, f32 bool) (*Result, int) {
		granted, asked := 0, 0
		opt := &Options{Parallel: func() (int, func()) {
			asked++
			granted += threads
			return threads, func() { granted -= threads }
		}}
		if warm != nil {
			opt.RowToCol, opt.ColDual = warm.RowToCol, warm.ColDual
		}
		var res *Result
		var err error
		if f32 {
			res, err = s.SolveFloat32(n, n, c32, opt)
		} else {
			res, err = s.SolveFloat64(n, n, c64, opt)
		}
		if err != nil {
			t.Fatal(err)
		}
		if granted != 0 {
			t.Fatalf("%d goroutines' worth of grants not given back", granted)
		}
		return res, asked
	}
	for _, f32 := range []bool{true, false} {
		cold, _ := solve(1, nil, f32)
		// A warm start from a shifted assignment and the cold duals.
		shifted := &Result{RowToCol: append([]int(nil), cold.RowToCol...), ColDual: cold.ColDual}
		for i := 0; i < n/2; i += 2 {
			shifted.RowToCol[i], shifted.RowToCol[i+1] = shifted.RowToCol[i+1], shifted.RowToCol[i]
		}
		warm, _ := solve(1, shifted, f32)
		for _, threads := range []int{2, 3, 4} {
			for _, c := range []struct {
				from, want *Result
			}{{nil, cold}, {shifted, warm}} {
				got, asked := solve(threads, c.from, f32)
				if asked == 0 {
					t.Fatalf("%s, f32 %v, %d threads: Parallel never asked", s, f32, threads)
				}
				if !slices.Equal(got.RowToCol, c.want.RowToCol) || !slices.Equal(got.ColDual, c.want.ColDual) || got.Stats != c.want.Stats {
					t.Fatalf("%s, f32 %v, warm %v, %d threads: result differs from 1 thread (stats %+v, want %+v)",
						s, f32, c.from != nil, threads, got.Stats, c.want.Stats)
				}
			}
		}
	}
}
