package transfer

import (
	"context"
	"testing"

	"github.com/ltransfer/ltransfer/kernels"
	"github.com/ltransfer/ltransfer/nn"
)

// TestSynced checks the synced transfer: the source and target it trains
// are exactly what training each alone on the same batches gives, the
// transferred point is θ₂⁰ + π(θ₁ − θ₁⁰) with its permutation, each mode
// matches as often as it should, and matching beats a random permutation.
func TestSynced(t *testing.T) {
	p := newTinyProblem(t)
	e, _ := kernels.New(kernels.WithThreads(2))
	optim := nn.OptimConfig{Name: "sgd", LR: 0.01, Momentum: 0.9}
	base := SyncedOptions{NewModel: p.newModel, SourceInit: p.src0, TargetInit: p.tgt0, Train: p.trainSet, Val: p.valSet,
		Optim: optim, Epochs: 2, BatchSize: 32, Splits: 3, Seed: 4, Engine: e}
	// The source trained alone on the same batches.
	alone := func(init *nn.ParamSet) *nn.ParamSet {
		m, _ := p.newModel()
		opt, err := nn.NewOptimizer(optim, m.State())
		if err != nil {
			t.Fatal(err)
		}
		q, g := init.Clone(), init.ZerosLike()
		l := &nn.Loader{Data: p.trainSet, BatchSize: 32, Shuffle: true, Seed: 4}
		for ep := 0; ep < 2; ep++ {
			it, err := l.Epoch(context.Background(), ep, 0)
			if err != nil {
				t.Fatal(err)
			}
			for {
				b, _, ok := it.Next()
				if !ok {
					break
				}
				if _, err := m.Forward(e, q, b, g, true); err != nil {
					t.Fatal(err)
				}
				opt.Step(e, q, g, optim.LR)
			}
			it.Close()
		}
		return q
	}
	src, tgt := alone(p.src0), alone(p.tgt0)
	_, spec := specSizes(t, p)
	acc := map[SyncedMode]float64{}
	for _, mode := range []SyncedMode{SyncedGMT, SyncedFGMT, SyncedTrueGrads, SyncedRandom} {
		o := base
		o.Mode = mode
		rep, err := Synced(context.Background(), o)
		if err != nil {
			t.Fatalf("%s: %v", mode, err)
		}
		if !sameParams(rep.Source, src) || !sameParams(rep.Target, tgt) {
			t.Fatalf("%s: the trained source or target differs from training it alone", mode)
		}
		d, err := Apply(spec, diff(rep.Source, p.src0), rep.Perms)
		if err != nil {
			t.Fatal(err)
		}
		for _, name := range d.Names() {
			x, y, z := rep.Transferred.Get(name).Data, d.Get(name).Data, p.tgt0.Get(name).Data
			for i := range x {
				if dd := x[i] - z[i] - y[i]; dd > 1e-5 || dd < -1e-5 {
					t.Fatalf("%s: transferred %s[%d] is not θ₂⁰ + π(θ₁ − θ₁⁰)", mode, name, i)
				}
			}
		}
		want := map[SyncedMode]int{SyncedGMT: 6, SyncedFGMT: 6, SyncedTrueGrads: 6, SyncedRandom: 0}[mode]
		if rep.Matchings != want || len(rep.Epochs) != 2 {
			t.Errorf("%s: %d matchings over %d epochs, want %d over 2", mode, rep.Matchings, len(rep.Epochs), want)
		}
		acc[mode] = rep.Epochs[1].Transferred
		t.Logf("%s: %+v", mode, rep.Epochs)
	}
	for _, mode := range []SyncedMode{SyncedGMT, SyncedFGMT, SyncedTrueGrads} {
		if acc[mode] <= acc[SyncedRandom]+0.05 {
			t.Errorf("%s transfers to %.3f, a random permutation to %.3f", mode, acc[mode], acc[SyncedRandom])
		}
	}
	o := base
	o.Mode = "nope"
	if _, err := Synced(context.Background(), o); err == nil {
		t.Error("unknown mode: no error")
	}
}

// TestSyncedBatchNorm runs a synced transfer of a small ResNet (BN layers:
// gradients in evaluation mode, BN statistics recomputed for the transfer).
func TestSyncedBatchNorm(t *testing.T) {
	cfg := nn.ModelConfig{WidthFactor: 1.0 / 16, InputShape: []int{3, 32, 32}, NumClasses: 4}
	newModel := func() (nn.Model, error) { return nn.NewModel("resnet20", cfg) }
	m, err := newModel()
	if err != nil {
		t.Fatal(err)
	}
	data := &Examples{X: nn.NewTensor(32, 3, 32, 32), Y: make([]int32, 32), Classes: 4}
	for i := range data.X.Data {
		data.X.Data[i] = float32(i%7) - 3
	}
	for i := range data.Y {
		data.Y[i] = int32(i % 4)
	}
	for _, mode := range []SyncedMode{SyncedGMT, SyncedTrueGrads} {
		rep, err := Synced(context.Background(), SyncedOptions{Mode: mode, NewModel: newModel, SourceInit: m.Init(1), TargetInit: m.Init(2),
			Train: data, Val: data, Optim: nn.OptimConfig{Name: "sgd", LR: 0.05}, Epochs: 1, BatchSize: 8, Splits: 2, BNBatches: 2, Seed: 1})
		if err != nil {
			t.Fatalf("%s: %v", mode, err)
		}
		if len(rep.Epochs) != 1 || rep.Matchings != 2 {
			t.Fatalf("%s: %+v", mode, rep)
		}
	}
}
