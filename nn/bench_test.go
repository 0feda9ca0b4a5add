package nn

import (
	"context"
	"fmt"
	"testing"

	"github.com/ltransfer/ltransfer/kernels"
)

// BenchmarkTrainStep times one SGD training step of the paper's MLP
// (784→4096→10, batch 128) and its parts.
func BenchmarkTrainStep(b *testing.B) {
	for _, route := range []string{"factored", "plain"} {
		for _, threads := range []int{1, 2} {
			e, _ := kernels.New(kernels.WithThreads(threads))
			m, _ := NewModel("mlp", ModelConfig{NoFactor: route == "plain"})
			p := m.Init(1)
			g := p.ZerosLike()
			opt, _ := NewOptimizer(OptimConfig{Name: "sgd", LR: 0.01, Momentum: 0.9}, m.State())
			x := NewTensor(128, 1, 28, 28)
			for i := range x.Data {
				x.Data[i] = float32(i%7) * 0.1
			}
			bt := Batch{X: x, Y: make([]int32, 128)}
			b.Run(fmt.Sprintf("route=%s/part=step/threads=%d", route, threads), func(b *testing.B) {
				for i := 0; i < b.N; i++ {
					m.Forward(e, p, bt, g, true)
					opt.Step(e, p, g, 0.01)
				}
			})
			b.Run(fmt.Sprintf("route=%s/part=forward/threads=%d", route, threads), func(b *testing.B) {
				for i := 0; i < b.N; i++ {
					m.Forward(e, p, bt, nil, false)
				}
			})
			if route == "plain" {
				continue
			}
			b.Run(fmt.Sprintf("part=optimizer/threads=%d", threads), func(b *testing.B) {
				b.SetBytes(int64(4 * 4 * (4096*784 + 4096*10)))
				for i := 0; i < b.N; i++ {
					opt.Step(e, p, g, 0.01)
				}
			})
		}
	}
}

// BenchmarkLoader times preparing MNIST-sized batches (synthetic pixels).
func BenchmarkLoader(b *testing.B) {
	s := &ImageSet{C: 1, H: 28, W: 28, Pix: make([]uint8, 6000*784), Labels: make([]int32, 6000), Classes: make([]string, 10), Mean: []float32{0.1307}, Std: []float32{0.3081}}
	l := &Loader{Data: s, BatchSize: 128, Shuffle: true}
	b.SetBytes(int64(s.Len() * 784 * 4))
	for i := 0; i < b.N; i++ {
		it, _ := l.Epoch(context.Background(), i, 0)
		for {
			if _, _, ok := it.Next(); !ok {
				break
			}
		}
		it.Close()
	}
}

// BenchmarkMLPGemms times the GEMMs of one paper-MLP step in the layouts
// nn uses (W is [out, in] as PyTorch stores it).
func BenchmarkMLPGemms(b *testing.B) {
	x := make([]float32, 128*784)
	w := make([]float32, 4096*784)
	h := make([]float32, 128*4096)
	for i := range w {
		w[i] = float32(i%13) * 0.01
	}
	for _, threads := range []int{1, 2} {
		e, _ := kernels.New(kernels.WithThreads(threads))
		for _, s := range []struct {
			name string
			f    func()
		}{
			{"fwd_NT_128x4096x784", func() { e.Sgemm(false, true, 128, 4096, 784, 1, x, 784, w, 784, 0, h, 4096) }},
			{"fwd_NN_128x4096x784", func() { e.Sgemm(false, false, 128, 4096, 784, 1, x, 784, w, 4096, 0, h, 4096) }},
			{"fwdT_NN_4096x128x784", func() { e.Sgemm(false, false, 4096, 128, 784, 1, w, 784, x, 128, 0, h, 128) }},
			{"dx_NN_128x784x4096", func() { e.Sgemm(false, false, 128, 784, 4096, 1, h, 4096, w, 784, 0, x, 784) }},
			{"dW_TN_4096x784x128", func() { e.Sgemm(true, false, 4096, 784, 128, 1, h, 4096, x, 784, 0, w, 784) }},
		} {
			b.Run(fmt.Sprintf("%s/threads=%d", s.name, threads), func(b *testing.B) {
				for i := 0; i < b.N; i++ {
					s.f()
				}
				b.ReportMetric(2*128*4096*784*float64(b.N)/b.Elapsed().Seconds()/1e9, "GFLOP/s")
			})
		}
	}
}

// BenchmarkFactoredGemms compares ways to run LinearPair's products for
// the paper's MLP (In 784, Hidden 4096, Out 10).
func BenchmarkFactoredGemms(b *testing.B) {
	const in, h, out = 784, 4096, 10
	w1 := make([]float32, h*in)
	w2 := make([]float32, out*h)
	t := make([]float32, out*in)
	c := make([]float32, h*in)
	for i := range w1 {
		w1[i] = float32(i%13) * 0.01
	}
	e, _ := kernels.New(kernels.WithThreads(1))
	for _, s := range []struct {
		name string
		f    func()
	}{
		{"Mt=W1t.W2t_TT", func() { e.Sgemm(true, true, in, out, h, 1, w1, in, w2, h, 0, c, out) }},
		{"M=W2.W1_NN", func() { e.Sgemm(false, false, out, in, h, 1, w2, h, w1, in, 0, c, in) }},
		{"dW2t=W1.Tt_NT", func() { e.Sgemm(false, true, h, out, in, 1, w1, in, t, in, 0, c, out) }},
		{"dW2=T.W1t_NT", func() { e.Sgemm(false, true, out, h, in, 1, t, in, w1, in, 0, c, h) }},
		{"dW1=W2t.T_TN", func() { e.Sgemm(true, false, h, in, out, 1, w2, h, t, in, 0, c, in) }},
	} {
		b.Run(s.name, func(b *testing.B) {
			for i := 0; i < b.N; i++ {
				s.f()
			}
			b.ReportMetric(2*in*h*out*float64(b.N)/b.Elapsed().Seconds()/1e9, "GFLOP/s")
		})
	}
}
