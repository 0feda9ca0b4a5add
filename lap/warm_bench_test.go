package lap

import (
	"fmt"
	"math/rand/v2"
	"testing"
)

// warmSequence is a sequence of slowly changing matrices: each adds
// Gaussian noise of scale eps·std(cost) to the previous one.
func warmSequence(class string, n, steps int, eps float64) [][]float64 {
	r := rand.New(rand.NewPCG(uint64(n), 99))
	c := benchMatrix(class, n)
	mean, sq := 0.0, 0.0
	for _, x := range c {
		mean += x
		sq += x * x
	}
	mean /= float64(len(c))
	std := sq/float64(len(c)) - mean*mean
	if std > 0 {
		std = sqrtf(std)
	}
	seq := [][]float64{c}
	for s := 1; s < steps; s++ {
		next := append([]float64(nil), seq[s-1]...)
		for k := range next {
			next[k] += eps * std * r.NormFloat64()
		}
		seq = append(seq, next)
	}
	return seq
}

func sqrtf(x float64) float64 {
	z := x
	for i := 0; i < 60; i++ {
		z = (z + x/z) / 2
	}
	return z
}

// BenchmarkWarmStart solves a sequence of 6 slowly changing matrices per
// op, cold or warm started from the previous solve's assignment and duals:
// go test ./lap -run '^$' -bench WarmStart -benchtime 3x
func BenchmarkWarmStart(b *testing.B) {
	for _, cl := range []string{"uniform", "lowrank10"} {
		for _, n := range []int{1024, 2048} {
			for _, eps := range []float64{1e-3, 1e-2} {
				seq := warmSequence(cl, n, 6, eps)
				for _, warm := range []bool{false, true} {
					b.Run(fmt.Sprintf("class=%s/n=%d/eps=%g/warm=%v", cl, n, eps, warm), func(b *testing.B) {
						s, _ := NewSolver(solversMode(b, sparseAuto)[len(solversMode(b, sparseAuto))-1].path)
						var kept, free int
						for b.Loop() {
							var prev *Result
							kept, free = 0, 0
							for _, c := range seq {
								opt := &Options{}
								if warm && prev != nil {
									opt.RowToCol, opt.ColDual = prev.RowToCol, prev.ColDual
								}
								res, err := s.SolveFloat64(n, n, c, opt)
								if err != nil {
									b.Fatal(err)
								}
								kept += res.Stats.WarmKept
								free += res.Stats.FreeAfterInit
								prev = res
							}
						}
						b.ReportMetric(float64(kept)/float64(len(seq)-1), "kept/solve")
						b.ReportMetric(float64(free)/float64(len(seq)), "free/solve")
					})
				}
			}
		}
	}
}

// BenchmarkWarmParallel solves 3 warm-started float32 matrices per op (a
// sequence of 4 slowly changing low-rank ones, the first solved cold
// outside the timing), with Options.Parallel granting 1 or 2 goroutines:
// go test ./lap -run '^$' -bench WarmParallel -benchtime 5x
func BenchmarkWarmParallel(b *testing.B) {
	for _, n := range []int{2048, 4096} {
		seq64 := warmSequence("lowrank10", n, 4, 1e-2)
		seq := make([][]float32, len(seq64))
		for s, c := range seq64 {
			seq[s] = make([]float32, len(c))
			for k, x := range c {
				seq[s][k] = float32(x)
			}
		}
		seq64 = nil
		for _, threads := range []int{1, 2} {
			b.Run(fmt.Sprintf("n=%d/threads=%d", n, threads), func(b *testing.B) {
				s, _ := NewSolver(solversMode(b, sparseAuto)[len(solversMode(b, sparseAuto))-1].path)
				par := func() (int, func()) { return threads, nil }
				first, err := s.SolveFloat32(n, n, seq[0], &Options{})
				if err != nil {
					b.Fatal(err)
				}
				for b.Loop() {
					prev := first
					for _, c := range seq[1:] {
						res, err := s.SolveFloat32(n, n, c, &Options{RowToCol: prev.RowToCol, ColDual: prev.ColDual, Parallel: par})
						if err != nil {
							b.Fatal(err)
						}
						prev = res
					}
				}
			})
		}
	}
}
