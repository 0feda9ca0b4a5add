package bench

import (
	"fmt"
	"math/rand/v2"
	"os"
	"strconv"
	"testing"
	"time"

	"github.com/ltransfer/ltransfer/kernels"
	"github.com/ltransfer/ltransfer/nn"
)

// Conv8 layer shapes at width 1 on 32×32 inputs: (Cin, Cout, H=W).
var conv8Layers = [][3]int{
	{3, 64, 32}, {64, 64, 32}, {64, 128, 16}, {128, 128, 16},
	{128, 256, 8}, {256, 256, 8}, {256, 512, 4}, {512, 512, 4},
}

func benchThreads() []int {
	if s := os.Getenv("LTRANSFER_BENCH_THREADS"); s != "" {
		n, err := strconv.Atoi(s)
		if err == nil {
			return []int{n}
		}
	}
	return []int{1, 2}
}

func benchBatch() int {
	if s := os.Getenv("LTRANSFER_BENCH_BATCH"); s != "" {
		if n, err := strconv.Atoi(s); err == nil && n > 0 {
			return n
		}
	}
	return 128
}

// minTimer keeps the fastest iteration: on a shared machine the minimum is
// the statistic least disturbed by other load (the peer script reports the
// same for PyTorch).
type minTimer struct {
	t0  time.Time
	min time.Duration
}

func (m *minTimer) start() { m.t0 = time.Now() }
func (m *minTimer) stop() {
	if d := time.Since(m.t0); m.min == 0 || d < m.min {
		m.min = d
	}
}
func (m *minTimer) report(b *testing.B) {
	b.ReportMetric(float64(m.min.Microseconds())/1e3, "ms-min")
}

func randF32(rng *rand.Rand, n int) []float32 {
	s := make([]float32, n)
	for i := range s {
		s[i] = float32(rng.Float64()*2 - 1)
	}
	return s
}

// BenchmarkConv8Layer times forward and backward (data + weight + bias) of
// every Conv8 3×3 layer shape, batch 128. GFLOP/s counts 2·N·K·H·W·C·9 per
// pass (backward: twice that).
func BenchmarkConv8Layer(b *testing.B) {
	N := benchBatch()
	for _, th := range benchThreads() {
		e, err := kernels.New(kernels.WithThreads(th))
		if err != nil {
			b.Fatal(err)
		}
		wf := 1.0
		if s := os.Getenv("LTRANSFER_BENCH_WIDTH"); s != "" {
			if f, err := strconv.ParseFloat(s, 64); err == nil && f > 0 {
				wf = f
			}
		}
		for _, l := range conv8Layers {
			if wf != 1 {
				in := 3
				if l[0] != 3 {
					in = int(float64(l[0]) * wf)
				}
				l = [3]int{in, int(float64(l[1]) * wf), l[2]}
			}
			p := kernels.ConvParams{N: N, C: l[0], H: l[2], W: l[2], K: l[1], R: 3, S: 3, StrideH: 1, StrideW: 1, PadH: 1, PadW: 1}
			rng := rand.New(rand.NewPCG(1, 2))
			x, w, bias := randF32(rng, p.InputLen()), randF32(rng, p.WeightLen()), randF32(rng, p.K)
			y, dy := make([]float32, p.OutputLen()), randF32(rng, p.OutputLen())
			dx, dw, db := make([]float32, p.InputLen()), make([]float32, p.WeightLen()), make([]float32, p.K)
			name := fmt.Sprintf("threads=%d/c=%d,k=%d,hw=%d", th, l[0], l[1], l[2])
			b.Run(name+"/fwd", func(b *testing.B) {
				var m minTimer
				for i := 0; i < b.N; i++ {
					m.start()
					e.Conv2D(p, x, w, bias, y)
					m.stop()
				}
				b.ReportMetric(p.FLOPs()/m.min.Seconds()/1e9, "GFLOP/s")
				m.report(b)
			})
			b.Run(name+"/bwd", func(b *testing.B) {
				var m minTimer
				for i := 0; i < b.N; i++ {
					m.start()
					if l[0] > 3 {
						e.Conv2DBackwardData(p, dy, w, dx)
					}
					e.Conv2DBackwardWeight(p, x, dy, dw, db)
					m.stop()
				}
				f := 2 * p.FLOPs()
				if l[0] == 3 {
					f = p.FLOPs()
				}
				b.ReportMetric(f/m.min.Seconds()/1e9, "GFLOP/s")
				m.report(b)
			})
		}
	}
}

// BenchmarkConv8Step times one training step (forward, backward, no
// optimiser) of Conv8 at width 1 and 0.25, batch 128.
func BenchmarkConv8Step(b *testing.B) {
	for _, th := range benchThreads() {
		for _, wf := range []float64{1, 0.25} {
			benchModelStep(b, fmt.Sprintf("threads=%d/width=%g", th, wf), th, "conv8", nn.ModelConfig{WidthFactor: wf})
		}
	}
}

// BenchmarkResNet20Step times one ResNet-20 training step (forward with
// batch statistics, backward, no optimiser), batch 128, on 32×32 inputs.
func BenchmarkResNet20Step(b *testing.B) {
	for _, th := range benchThreads() {
		benchModelStep(b, fmt.Sprintf("threads=%d", th), th, "resnet20", nn.ModelConfig{})
	}
}

// benchModelStep runs the sub-benchmark name: one training step of arch on
// a fixed random CIFAR-shaped batch, reporting the fastest repetition.
func benchModelStep(b *testing.B, name string, threads int, arch string, cfg nn.ModelConfig) {
	N := benchBatch()
	e, err := kernels.New(kernels.WithThreads(threads))
	if err != nil {
		b.Fatal(err)
	}
	m, err := nn.NewModel(arch, cfg)
	if err != nil {
		b.Fatal(err)
	}
	p := m.Init(1)
	g := p.ZerosLike()
	rng := rand.New(rand.NewPCG(3, 4))
	x := nn.NewTensor(N, 3, 32, 32)
	copy(x.Data, randF32(rng, len(x.Data)))
	y := make([]int32, N)
	for i := range y {
		y[i] = int32(rng.IntN(10))
	}
	batch := nn.Batch{X: x, Y: y}
	b.Run(name, func(b *testing.B) {
		var mt minTimer
		for i := 0; i < b.N; i++ {
			mt.start()
			if _, err := m.Forward(e, p, batch, g, true); err != nil {
				b.Fatal(err)
			}
			mt.stop()
		}
		mt.report(b)
	})
}
