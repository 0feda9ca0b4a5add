package nn

import (
	"context"
	"errors"
	"math"
	"testing"

	"github.com/ltransfer/ltransfer/kernels"
)

// repairModels are the architectures Repair supports, small.
var repairModels = []struct {
	arch string
	cfg  ModelConfig
}{
	{"mlp", ModelConfig{Width: 24, InputShape: []int{1, 6, 6}}},
	{"mlp-relu", ModelConfig{Width: 20, Depth: 2, InputShape: []int{1, 6, 6}}},
	{"conv4", ModelConfig{WidthFactor: 0.125, InputShape: []int{3, 32, 32}}},
}

func repairFixture(t *testing.T, arch string, cfg ModelConfig) (Model, []Batch) {
	t.Helper()
	m, err := NewModel(arch, cfg)
	if err != nil {
		t.Fatal(err)
	}
	rng := NewRand(7, 1)
	in := m.(*LayerModel).InputShape()
	return m, []Batch{randBatch(rng, 16, in, 10), randBatch(rng, 9, in, 10)}
}

// hiddenLayers lists the weight and bias names of the layers Repair
// renormalises (every affine layer but the last), and whether each has a bias.
func hiddenLayers(t *testing.T, m Model) (names []string, bias []bool) {
	leaves, err := repairLeaves(m.(*LayerModel).Net())
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range leaves {
		switch v := l.(type) {
		case *Linear:
			names, bias = append(names, v.Name), append(bias, v.Bias)
		case *Conv2d:
			names, bias = append(names, v.Name), append(bias, v.Bias)
		}
	}
	return names[:len(names)-1], bias[:len(bias)-1]
}

// TestRepairUndoesUnitRescaling: a network whose hidden units are the
// reference's, each scaled by its own positive factor and (with a bias)
// shifted, has the same units up to that affine map; Repair must find and
// undo it, returning the reference's parameters.
func TestRepairUndoesUnitRescaling(t *testing.T) {
	e, _ := kernels.New(kernels.WithThreads(1))
	for _, tc := range repairModels {
		t.Run(tc.arch, func(t *testing.T) {
			m, batches := repairFixture(t, tc.arch, tc.cfg)
			ref := m.Init(3)
			p := ref.Clone()
			rng := NewRand(11, 2)
			names, bias := hiddenLayers(t, m)
			for i, name := range names {
				w := p.Get(name + ".weight")
				units := w.Shape[0]
				rows := len(w.Data) / units
				for u := 0; u < units; u++ {
					a := float32(0.2 + 3*rng.Float64())
					for k := u * rows; k < (u+1)*rows; k++ {
						w.Data[k] *= a
					}
					if bias[i] {
						b := p.Get(name + ".bias")
						b.Data[u] = a*b.Data[u] + float32(rng.NormFloat64())
					}
				}
			}
			if err := Repair(context.Background(), e, m, p, ref, batches); err != nil {
				t.Fatal(err)
			}
			closeParams(t, ref, p, "reference", "repaired")
		})
	}
}

// TestRepairIdempotentAndThreadFree: repairing an unrelated network twice
// changes nothing the second time (its units already have the reference's
// statistics), the first repair does change it, and the result has the
// same bits on 1 and 3 threads.
func TestRepairIdempotentAndThreadFree(t *testing.T) {
	e1, _ := kernels.New(kernels.WithThreads(1))
	e3, _ := kernels.New(kernels.WithThreads(3))
	for _, tc := range repairModels {
		t.Run(tc.arch, func(t *testing.T) {
			m, batches := repairFixture(t, tc.arch, tc.cfg)
			ref, orig := m.Init(3), m.Init(4)
			p1, p3 := orig.Clone(), orig.Clone()
			if err := Repair(context.Background(), e1, m, p1, ref, batches); err != nil {
				t.Fatal(err)
			}
			if err := Repair(context.Background(), e3, m, p3, ref, batches); err != nil {
				t.Fatal(err)
			}
			changed := false
			for _, name := range orig.Names() {
				a, b, o := p1.Get(name).Data, p3.Get(name).Data, orig.Get(name).Data
				for k := range a {
					if math.Float32bits(a[k]) != math.Float32bits(b[k]) {
						t.Fatalf("%s[%d]: %g on 1 thread, %g on 3", name, k, a[k], b[k])
					}
					changed = changed || a[k] != o[k]
				}
			}
			if !changed {
				t.Fatal("repair left an unrelated network unchanged")
			}
			again := p1.Clone()
			if err := Repair(context.Background(), e1, m, again, ref, batches); err != nil {
				t.Fatal(err)
			}
			closeParams(t, p1, again, "after one repair", "after two")
		})
	}
}

// TestRepairRefusesBN: a network with batch normalisation is not
// renormalised (its BN statistics are recomputed instead).
func TestRepairRefusesBN(t *testing.T) {
	m, err := NewModel("resnet20", ModelConfig{WidthFactor: 0.25, InputShape: []int{3, 32, 32}})
	if err != nil {
		t.Fatal(err)
	}
	if err := CanRepair(m); !errors.Is(err, ErrRepairUnsupported) {
		t.Fatalf("CanRepair(resnet20) = %v", err)
	}
	e, _ := kernels.New(kernels.WithThreads(1))
	p := m.Init(1)
	b := randBatch(NewRand(1, 1), 2, []int{3, 32, 32}, 10)
	if err := Repair(context.Background(), e, m, p.Clone(), p, []Batch{b}); !errors.Is(err, ErrRepairUnsupported) {
		t.Fatalf("Repair(resnet20) = %v", err)
	}
}

// closeParams fails unless every entry of b is within 1e-4 (relative) of a's.
func closeParams(t *testing.T, a, b *ParamSet, aName, bName string) {
	t.Helper()
	for _, name := range a.Names() {
		x, y := a.Get(name).Data, b.Get(name).Data
		for k := range x {
			if d := math.Abs(float64(x[k] - y[k])); d > 1e-4*(1+math.Abs(float64(x[k]))) {
				t.Fatalf("%s[%d]: %g %s, %g %s", name, k, x[k], aName, y[k], bName)
			}
		}
	}
}
