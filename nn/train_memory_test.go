package nn

import (
	"context"
	"math"
	"path/filepath"
	"testing"
)

// tensorSetOf turns an image set into the float tensors it normalises to
// (no augmentation), so the two can be trained side by side.
func tensorSetOf(s *ImageSet) *TensorSet {
	shape := s.SampleShape()
	n := Numel(shape)
	t := &TensorSet{X: &Tensor{Shape: append([]int{s.Len()}, shape...), Data: make([]float32, s.Len()*n)}, Classes: s.NumClasses()}
	for i := 0; i < s.Len(); i++ {
		t.Y = append(t.Y, s.Sample(i, t.X.Data[i*n:(i+1)*n], nil))
	}
	return t
}

func sameParams(t *testing.T, what string, a, b *ParamSet) {
	t.Helper()
	if a.Len() != b.Len() {
		t.Fatalf("%s: %d vs %d tensors", what, a.Len(), b.Len())
	}
	for _, n := range a.Names() {
		x, y := a.Get(n), b.Get(n)
		if y == nil || len(x.Data) != len(y.Data) {
			t.Fatalf("%s: tensor %q differs in shape", what, n)
		}
		for i := range x.Data {
			if math.Float32bits(x.Data[i]) != math.Float32bits(y.Data[i]) {
				t.Fatalf("%s: %s[%d] = %g vs %g", what, n, i, x.Data[i], y.Data[i])
			}
		}
	}
}

// Training on float tensors (a TensorSet) without an output folder returns
// the whole trajectory in memory, bit-identical to the checkpoints the same
// run writes to disk from the image set those tensors came from.
func TestTrainDatasetInMemoryTrajectory(t *testing.T) {
	d, m, cfg := synthData(t)
	tc := TrainConfig{
		ModelConfig: cfg, Dataset: "synth", Epochs: 2, BatchSize: 32, Seed: 5,
		Optim: OptimConfig{Name: "sgd", LR: 0.05, Momentum: 0.9}, CheckpointEvery: 5,
	}
	train, val := tensorSetOf(d.Train), tensorSetOf(d.Val)
	mem, err := TrainDataset(context.Background(), nil, m, train, val, tc)
	if err != nil {
		t.Fatal(err)
	}
	if mem.Trajectory == nil || mem.Trajectory.Len() != len(mem.Checkpoints) || len(mem.Checkpoints) < 3 {
		t.Fatalf("in-memory trajectory %v for %d checkpoints", mem.Trajectory, len(mem.Checkpoints))
	}
	last, err := mem.Trajectory.At(mem.Trajectory.Len() - 1)
	if err != nil {
		t.Fatal(err)
	}
	sameParams(t, "last point vs Params", last, mem.Params)
	if _, err := mem.Trajectory.At(mem.Trajectory.Len()); err == nil {
		t.Error("At past the end: no error")
	}
	if acc := *mem.Checkpoints[len(mem.Checkpoints)-1].ValAcc; acc < 0.8 {
		t.Errorf("val accuracy %.3f after training on tensors", acc)
	}

	dir := filepath.Join(t.TempDir(), "run")
	tc.Out = dir
	disk, err := TrainDataset(context.Background(), nil, m, train, val, tc)
	if err != nil {
		t.Fatal(err)
	}
	if disk.Trajectory != nil {
		t.Error("a run recorded on disk also returned an in-memory trajectory")
	}
	rec, err := OpenTrajectory(dir, m)
	if err != nil {
		t.Fatal(err)
	}
	if rec.Len() != mem.Trajectory.Len() {
		t.Fatalf("%d checkpoints on disk, %d in memory", rec.Len(), mem.Trajectory.Len())
	}
	for i := 0; i < rec.Len(); i++ {
		a, err := rec.At(i)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := mem.Trajectory.At(i)
		sameParams(t, "checkpoint "+CheckpointFile(i), a, b)
	}
}

func TestTensorSetValidate(t *testing.T) {
	good := &TensorSet{X: &Tensor{Shape: []int{2, 3}, Data: make([]float32, 6)}, Y: []int32{0, 1}}
	if err := good.Validate(); err != nil {
		t.Fatal(err)
	}
	if b := good.Batch([]int{1}); len(b.Y) != 1 || b.Y[0] != 1 || len(b.X.Data) != 3 {
		t.Errorf("Batch: %+v", b)
	}
	for name, s := range map[string]*TensorSet{
		"nil X":      {Y: []int32{0}},
		"N ≠ len(Y)": {X: &Tensor{Shape: []int{3, 3}, Data: make([]float32, 9)}, Y: []int32{0, 1}},
		"short data": {X: &Tensor{Shape: []int{2, 3}, Data: make([]float32, 5)}, Y: []int32{0, 1}},
		"label ≥ C":  {X: &Tensor{Shape: []int{2, 3}, Data: make([]float32, 6)}, Y: []int32{0, 2}, Classes: 2},
		"label < 0":  {X: &Tensor{Shape: []int{2, 3}, Data: make([]float32, 6)}, Y: []int32{0, -1}},
	} {
		if err := s.Validate(); err == nil {
			t.Errorf("%s: no error", name)
		}
	}
	_, m, cfg := synthData(t)
	bad := &TensorSet{X: &Tensor{Shape: []int{3, 32}, Data: make([]float32, 96)}, Y: []int32{0, 1}}
	if _, err := TrainDataset(context.Background(), nil, m, bad, nil, TrainConfig{ModelConfig: cfg, Epochs: 1, BatchSize: 2, Optim: OptimConfig{Name: "sgd", LR: 0.1}}); err == nil {
		t.Error("TrainDataset accepted an inconsistent tensor set")
	}
}
