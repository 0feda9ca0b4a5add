package kernels

import (
	"fmt"
	"math/rand/v2"
	"os"
	"strconv"
	"testing"
	"time"
)

// BenchmarkConvAlgo compares im2col+GEMM with Winograd F(2×2,3×3) on the
// Conv8 layer shapes, pass by pass (fwd, bwd-data, bwd-weight), one thread.
// LTRANSFER_BENCH_BATCH sets the batch (default 32).
func BenchmarkConvAlgo(b *testing.B) {
	N := 32
	if s := os.Getenv("LTRANSFER_BENCH_BATCH"); s != "" {
		N, _ = strconv.Atoi(s)
	}
	e, err := New(WithThreads(1))
	if err != nil {
		b.Fatal(err)
	}
	wf := 1.0
	if s := os.Getenv("LTRANSFER_BENCH_WIDTH"); s != "" {
		wf, _ = strconv.ParseFloat(s, 64)
	}
	for _, l := range [][3]int{{3, 64, 32}, {64, 64, 32}, {64, 128, 16}, {128, 128, 16}, {128, 256, 8}, {256, 256, 8}, {256, 512, 4}, {512, 512, 4}} {
		if l[0] != 3 {
			l[0] = int(float64(l[0]) * wf)
		}
		l[1] = int(float64(l[1]) * wf)
		p := ConvParams{N: N, C: l[0], H: l[2], W: l[2], K: l[1], R: 3, S: 3, StrideH: 1, StrideW: 1, PadH: 1, PadW: 1}
		rng := rand.New(rand.NewPCG(1, 2))
		x, w, dy := randSlice(rng, p.InputLen()), randSlice(rng, p.WeightLen()), randSlice(rng, p.OutputLen())
		y, dx, dw := make([]float32, p.OutputLen()), make([]float32, p.InputLen()), make([]float32, p.WeightLen())
		for _, algo := range []int{1, 2} {
			name := fmt.Sprintf("c=%d,k=%d,hw=%d/algo=%s", l[0], l[1], l[2], map[int]string{1: "im2col", 2: "winograd"}[algo])
			e := e.withConv(ConvAlgo(algo))
			for _, pass := range []string{"fwd", "bwddata", "bwdweight"} {
				b.Run(name+"/"+pass, func(b *testing.B) {
					var best time.Duration
					for i := 0; i < b.N; i++ {
						t0 := time.Now()
						switch pass {
						case "fwd":
							e.Conv2D(p, x, w, nil, y)
						case "bwddata":
							e.Conv2DBackwardData(p, dy, w, dx)
						case "bwdweight":
							e.Conv2DBackwardWeight(p, x, dy, dw, nil)
						}
						if d := time.Since(t0); best == 0 || d < best {
							best = d
						}
					}
					// The fastest iteration: least disturbed by other load.
					b.ReportMetric(p.FLOPs()/best.Seconds()/1e9, "GFLOP/s")
					b.ReportMetric(float64(best.Microseconds())/1e3, "ms-min")
				})
			}
		}
	}
}
