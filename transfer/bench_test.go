package transfer

import (
	"context"
	"fmt"
	"testing"

	"github.com/ltransfer/ltransfer/asm"
	"github.com/ltransfer/ltransfer/kernels"
	"github.com/ltransfer/ltransfer/nn"
)

// benchProblem is an MLP (784 → 512 → 10) on generated data, trained for a
// few steps: a whole transfer of it takes well under a second, so every
// kernel path and thread count fits in a minute.
func benchProblem(b *testing.B) (func() (nn.Model, error), Trajectory, []*nn.ParamSet, *Examples, *Examples) {
	b.Helper()
	cfg := nn.ModelConfig{Width: 512, InputShape: []int{784}, NumClasses: 10}
	newModel := func() (nn.Model, error) { return nn.NewModel("mlp", cfg) }
	m, err := newModel()
	if err != nil {
		b.Fatal(err)
	}
	tr, va := blobs(11, 2048, 784, 10), blobs(12, 1000, 784, 10)
	src0 := m.Init(101)
	src1 := train(b, m, src0, tr, 40, 64, 0.01, 101)
	traj, err := Linear(src0, src1, 10, Cosine)
	if err != nil {
		b.Fatal(err)
	}
	var inits []*nn.ParamSet
	for s := int64(0); s < 4; s++ {
		inits = append(inits, m.Init(200+s))
	}
	return newModel, traj, inits, tr, va
}

// BenchmarkTransfer times whole transfers (T = 10) per kernel path and
// thread count, one target (targets=1) or four at once with RunMany
// (targets=4, reported per target as well).
func BenchmarkTransfer(b *testing.B) {
	newModel, traj, inits, tr, va := benchProblem(b)
	for _, method := range []Method{GMT, FGMT} {
		for _, p := range asm.Available() {
			for _, threads := range []int{1, 2} {
				for _, nt := range []int{1, 4} {
					name := fmt.Sprintf("model=mlp/method=%s/impl=%s/threads=%d/targets=%d", method, p, threads, nt)
					b.Run(name, func(b *testing.B) {
						e, err := kernels.New(kernels.WithPath(p), kernels.WithThreads(threads))
						if err != nil {
							b.Fatal(err)
						}
						o := Options{Method: method, NewModel: newModel, Source: traj, Train: tr, Val: va, BatchSize: 128, Seed: 1, Engine: e}
						targets := make([]Target, nt)
						for i := range targets {
							targets[i] = Target{Init: inits[i]}
						}
						b.ResetTimer()
						for i := 0; i < b.N; i++ {
							var err error
							if nt == 1 {
								o.TargetInit = inits[0]
								_, err = Run(context.Background(), o)
								o.TargetInit = nil
							} else {
								_, err = RunMany(context.Background(), o, targets)
							}
							if err != nil {
								b.Fatal(err)
							}
						}
						b.ReportMetric(float64(b.Elapsed().Seconds())/float64(b.N*nt), "s/target")
					})
				}
			}
		}
	}
}
