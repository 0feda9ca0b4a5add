package transfer

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/ltransfer/ltransfer/kernels"
)

// assignMax solves the n×n assignment problem maximising Σ cost[i·n+π[i]]
// and returns π. It is the shortest-augmenting-path method (Jonker–Volgenant
// without initialisation heuristics) in float64, the test oracle for
// package lap as the matcher calls it; warm is ignored.
func assignMax(n int, cost []float32, warm []int) ([]int, error) {
	_ = warm
	for i, v := range cost[:n*n] {
		if math.IsNaN(float64(v)) || math.IsInf(float64(v), 0) {
			return nil, fmt.Errorf("transfer: matching cost matrix has a non-finite value %v at row %d column %d", v, i/n, i%n)
		}
	}
	// Minimise −cost with potentials u (rows), v (columns); 1-based as
	// the classic e-maxx formulation.
	inf := math.Inf(1)
	u := make([]float64, n+1)
	v := make([]float64, n+1)
	p := make([]int, n+1) // p[j] = row matched to column j
	way := make([]int, n+1)
	minv := make([]float64, n+1)
	used := make([]bool, n+1)
	for i := 1; i <= n; i++ {
		p[0] = i
		j0 := 0
		for j := range minv {
			minv[j] = inf
			used[j] = false
		}
		for {
			used[j0] = true
			i0 := p[j0]
			delta := inf
			j1 := 0
			row := cost[(i0-1)*n : i0*n]
			ui := u[i0]
			for j := 1; j <= n; j++ {
				if used[j] {
					continue
				}
				cur := -float64(row[j-1]) - ui - v[j]
				if cur < minv[j] {
					minv[j] = cur
					way[j] = j0
				}
				if minv[j] < delta {
					delta = minv[j]
					j1 = j
				}
			}
			for j := 0; j <= n; j++ {
				if used[j] {
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
		for {
			j1 := way[j0]
			p[j0] = p[j1]
			j0 = j1
			if j0 == 0 {
				break
			}
		}
	}
	pi := make([]int, n)
	for j := 1; j <= n; j++ {
		pi[p[j]-1] = j - 1
	}
	return pi, nil
}

// TestLAPAgreesWithReference checks the matcher's solver against the plain
// shortest-augmenting-path solver above on random and tied matrices.
func TestLAPAgreesWithReference(t *testing.T) {
	const seed = 3
	t.Logf("seed %d", seed)
	r := rand.New(rand.NewPCG(seed, 9))
	for _, n := range []int{1, 2, 5, 17, 64} {
		for _, ties := range []bool{false, true} {
			c := make([]float32, n*n)
			for i := range c {
				if ties {
					c[i] = float32(r.IntN(3))
				} else {
					c[i] = float32(r.NormFloat64())
				}
			}
			want, err := assignMax(n, c, nil)
			if err != nil {
				t.Fatal(err)
			}
			m := &Matcher{e: kernels.Default(), duals: map[string][]float64{}}
			neg := make([]float32, len(c)) // solveLAP takes −C, as costMatrix makes it
			for i, x := range c {
				neg[i] = -x
			}
			got, err := m.solveLAP(context.Background(), "g", n, neg, nil, MatchOptions{})
			if err != nil {
				t.Fatal(err)
			}
			var a, b float64
			for i := 0; i < n; i++ {
				a += float64(c[i*n+want[i]])
				b += float64(c[i*n+got[i]])
			}
			if math.Abs(a-b) > 1e-4*math.Max(1, math.Abs(a)) {
				t.Fatalf("n=%d ties=%v: lap objective %v, reference %v", n, ties, b, a)
			}
		}
	}
}
