package lap

import (
	"fmt"
	"math/rand/v2"
	"testing"
)

func benchMatrix(name string, n int) []float64 {
	r := rand.New(rand.NewPCG(uint64(n), 7))
	switch name {
	case "uniform":
		return classes[0].gen(r, n, n)
	case "int100":
		c := make([]float64, n*n)
		for k := range c {
			c[k] = float64(r.IntN(100))
		}
		return c
	case "lowrank10":
		return lowRank(r, n, n, 10)
	case "lowrank40":
		return lowRank(r, n, n, 40)
	}
	panic(name)
}

// BenchmarkSolve times one solve per class, size and kernel path, and
// reports the phase counts of the last solve (Stats) as metrics:
// go test ./lap -run '^$' -bench 'Solve/class=int100/n=1024' -benchtime 5x
func BenchmarkSolve(b *testing.B) {
	for _, cl := range []string{"uniform", "int100", "lowrank10", "lowrank40"} {
		for _, n := range []int{256, 1024, 2048, 4096} {
			var cost []float64
			for _, s := range solversMode(b, sparseAuto) {
				b.Run(fmt.Sprintf("class=%s/n=%d/impl=%s", cl, n, s.Path()), func(b *testing.B) {
					if cost == nil {
						cost = benchMatrix(cl, n)
					}
					var r *Result
					for b.Loop() {
						var err error
						if r, err = s.SolveFloat64(n, n, cost, nil); err != nil {
							b.Fatal(err)
						}
					}
					st := r.Stats
					for _, m := range []struct {
						v    int
						name string
					}{{st.FreeAfterInit, "free-after-init"}, {st.RowReductions, "row-reductions"}, {st.RowScans, "row-scans"},
						{st.SparseScans, "sparse-scans"}, {st.Expansions, "expansions"}, {st.ListRefreshes, "list-refreshes"}} {
						b.ReportMetric(float64(m.v), m.name)
					}
				})
			}
		}
	}
}
