package nn

import (
	"testing"

	"github.com/ltransfer/ltransfer/kernels"
)

// TestStepAllocations checks that a steady-state training step (forward,
// backward, optimiser) allocates nothing in nn: the step may allocate no
// more than the same GEMMs called directly (the kernels package answers
// for those).
func TestStepAllocations(t *testing.T) {
	if raceEnabled {
		t.Skip("allocation counts differ under -race")
	}
	e, _ := kernels.New(kernels.WithThreads(1))
	const n, in, w, k = 16, 20, 32, 5
	a := make([]float32, 4096)
	bb := make([]float32, 4096)
	c := make([]float32, 4096)
	gemms := func(hidden int) {
		// Forward: x·W1ᵀ, (h·Wᵢᵀ)…, h·W2ᵀ; backward: dyᵀ·h and dy·W per
		// layer, and dyᵀ·x for the first (no input gradient).
		e.Sgemm(false, true, n, w, in, 1, a, in, bb, in, 0, c, w)
		for i := 1; i < hidden; i++ {
			e.Sgemm(false, true, n, w, w, 1, a, w, bb, w, 1, c, w)
			e.Sgemm(true, false, w, w, n, 1, a, w, bb, w, 0, c, w)
			e.Sgemm(false, false, n, w, w, 1, a, w, bb, w, 0, c, w)
		}
		e.Sgemm(false, true, n, k, w, 1, a, w, bb, w, 0, c, k)
		e.Sgemm(true, false, k, w, n, 1, a, k, bb, w, 0, c, w)
		e.Sgemm(false, false, n, w, k, 1, a, k, bb, w, 0, c, w)
		e.Sgemm(true, false, w, in, n, 1, a, w, bb, in, 0, c, in)
	}
	factored := func() {
		e.Sgemm(false, false, k, in, w, 1, a, w, bb, in, 0, c, in)
		e.Sgemm(false, true, n, k, in, 1, a, in, bb, in, 0, c, k)
		e.Sgemm(true, false, k, in, n, 1, a, k, bb, in, 0, c, in)
		e.Sgemm(true, false, w, in, k, 1, a, w, bb, in, 0, c, in)
		e.Sgemm(false, true, w, k, in, 1, a, in, bb, in, 0, c, k)
	}
	for _, tc := range []struct {
		arch  string
		depth int
		mode  int
	}{{"mlp", 1, -1}, {"mlp", 1, 1}, {"mlp-relu", 2, 0}} {
		m, _ := NewModel(tc.arch, ModelConfig{Width: w, Depth: tc.depth, InputShape: []int{in}, NumClasses: k})
		setPairMode(m, tc.mode)
		p := m.Init(1)
		g := p.ZerosLike()
		for _, oc := range []OptimConfig{{Name: "sgd", LR: 0.01, Momentum: 0.9}, {Name: "adamw", LR: 0.01}} {
			opt, _ := NewOptimizer(oc, m.State())
			b := Batch{X: NewTensor(n, in), Y: make([]int32, n)}
			step := func() {
				if _, err := m.Forward(e, p, b, g, true); err != nil {
					t.Fatal(err)
				}
				opt.Step(e, p, g, 0.01)
			}
			step()
			got := testing.AllocsPerRun(20, step)
			base := testing.AllocsPerRun(20, func() { gemms(tc.depth) })
			if tc.mode > 0 {
				base = testing.AllocsPerRun(20, factored)
			}
			if got > base {
				t.Errorf("%s/%s/route=%d: %.1f allocations per training step, the GEMMs alone make %.1f", tc.arch, oc.Name, tc.mode, got, base)
			} else {
				t.Logf("%s/%s/route=%d: %.1f allocations per step (GEMMs alone: %.1f)", tc.arch, oc.Name, tc.mode, got, base)
			}
		}
	}
}
