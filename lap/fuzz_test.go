package lap

import (
	"errors"
	"math"
	"strings"
	"testing"
)

// FuzzSolve decodes bytes into a small problem with special values (NaN,
// ±Inf, huge, ties) and an optional warm start, and checks that every
// solver returns either an error naming the problem or a certified optimum
// (cross-checked by brute force), never a panic or a hang.
func FuzzSolve(f *testing.F) {
	f.Add([]byte{3, 3, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9})
	f.Add([]byte{2, 4, 1, 250, 251, 252, 253, 1, 2, 3, 4, 5})
	f.Add([]byte{4, 4, 2, 255, 255, 255, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0})
	f.Add([]byte{1, 1, 0, 254})
	f.Add([]byte{5, 6, 3, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9})
	ss := solvers(f)
	f.Fuzz(func(t *testing.T, b []byte) {
		if len(b) < 3 {
			return
		}
		n, m, flags := int(b[0]%7), int(b[1]%8), b[2]
		b = b[3:]
		maximize := flags&1 != 0
		cost := make([]float64, n*m)
		for k := range cost {
			var x byte
			if k < len(b) {
				x = b[k]
			}
			switch x {
			case 255:
				cost[k] = math.Inf(1)
			case 254:
				cost[k] = math.Inf(-1)
			case 253:
				cost[k] = math.NaN()
			case 252:
				cost[k] = 1e308
			default:
				cost[k] = float64(int(x%16) - 4)
				if flags&2 != 0 {
					cost[k] += float64(x) / 997
				}
			}
		}
		var opt Options
		opt.Maximize = maximize
		if flags&4 != 0 && n <= m {
			opt.RowToCol = make([]int, n)
			for i := range opt.RowToCol {
				opt.RowToCol[i] = (i*int(flags>>3)+1)%(m+1) - 1
			}
			seen := map[int]bool{}
			for i, j := range opt.RowToCol {
				if j >= 0 && seen[j] {
					opt.RowToCol[i] = -1
				}
				seen[j] = true
			}
		}
		if flags&8 != 0 {
			opt.ColDual = make([]float64, m)
			for j := range opt.ColDual {
				opt.ColDual[j] = float64(int(flags>>4) - j)
			}
		}
		want := math.NaN()
		valid := n <= m
		for _, x := range cost {
			if x != x || x == 1e308 || (math.IsInf(x, -1) && !maximize) || (math.IsInf(x, 1) && maximize) {
				valid = false
			}
		}
		if valid {
			want = bruteForce(n, m, cost, maximize)
		}
		for _, s := range ss {
			res, err := s.SolveFloat64(n, m, cost, &opt)
			if err != nil {
				if !strings.HasPrefix(err.Error(), "lap: ") {
					t.Fatalf("%s: error without the package prefix: %v", s, err)
				}
				if valid && !(math.IsNaN(want) && errors.Is(err, ErrInfeasible)) {
					t.Fatalf("%s: valid problem (optimum %v) failed: %v", s, want, err)
				}
				continue
			}
			if !valid || math.IsNaN(want) {
				t.Fatalf("%s: invalid or infeasible problem solved: %+v", s, res)
			}
			if !closeTo(res.Objective, want) {
				t.Fatalf("%s: objective %v, brute force %v", s, res.Objective, want)
			}
			certify(t, n, m, cost, maximize, res, 1e-9)
		}
	})
}
