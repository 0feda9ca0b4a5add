package nn_test

import (
	"context"
	"fmt"

	"github.com/ltransfer/ltransfer/nn"
)

// Train a small MLP and read back its recorded trajectory. Real runs load
// a dataset with nn.LoadData(nn.DataConfig{Name: "mnist", Path: dir}); here a tiny
// generated set stands in for it.
func Example() {
	// 400 images of 1×8×4 pixels; the class is the brighter half.
	set := &nn.ImageSet{C: 1, H: 8, W: 4, Classes: []string{"top", "bottom"}, Mean: []float32{0.5}, Std: []float32{0.25}}
	rng := nn.NewRand(1, 0)
	for i := 0; i < 400; i++ {
		c := i % 2
		for j := 0; j < 32; j++ {
			v := rng.IntN(128)
			if j/16 == c {
				v += 100
			}
			set.Pix = append(set.Pix, uint8(v))
		}
		set.Labels = append(set.Labels, int32(c))
	}
	train, val, _ := set.Split(0.1, 0)
	data := &nn.Data{Name: "halves", Train: train, Val: val, SampleShape: set.SampleShape(), Classes: set.Classes}

	cfg := nn.ModelConfig{Width: 16, InputShape: set.SampleShape(), NumClasses: 2}
	model, err := nn.NewModel("mlp-relu", cfg)
	if err != nil {
		fmt.Println(err)
		return
	}
	res, err := nn.Train(context.Background(), nil, model, data, nn.TrainConfig{
		ModelConfig: cfg, Dataset: data.Name, Epochs: 3, BatchSize: 32, Seed: 101,
		Optim: nn.OptimConfig{Name: "sgd", LR: 0.05, Momentum: 0.9},
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	last := res.Checkpoints[len(res.Checkpoints)-1]
	fmt.Printf("%d checkpoints, last after step %d, val acc ≥ 0.9: %v\n", len(res.Checkpoints), last.Step, *last.ValAcc >= 0.9)

	// The straight path from the initialisation to the trained weights,
	// with the paper's cosine spacing, computed lazily.
	init := model.Init(101)
	path, _ := nn.NewLinearTrajectory(init, res.Params, 10, nn.Cosine)
	mid, _ := path.At(5)
	ev, _ := nn.Evaluate(context.Background(), nil, model, mid, val, nil)
	fmt.Printf("path of %d points, midpoint λ = %.2f, evaluated on %d samples\n", path.Len(), path.Lambda(5), ev.N)
	// Output:
	// 4 checkpoints, last after step 36, val acc ≥ 0.9: true
	// path of 11 points, midpoint λ = 0.79, evaluated on 40 samples
}

// Train on float tensors entirely in memory: with no output folder the
// trajectory comes back in the result, ready to evaluate (or to transfer).
func ExampleTrainDataset() {
	// 300 samples of 8 floats; the class is the sign of their sum's first half.
	rng := nn.NewRand(7, 0)
	x := &nn.Tensor{Shape: []int{300, 8}, Data: make([]float32, 300*8)}
	y := make([]int32, 300)
	for i := range y {
		var s float64
		for j := 0; j < 8; j++ {
			v := rng.NormFloat64()
			x.Data[i*8+j] = float32(v)
			if j < 4 {
				s += v
			}
		}
		if s > 0 {
			y[i] = 1
		}
	}
	train := &nn.TensorSet{X: &nn.Tensor{Shape: []int{250, 8}, Data: x.Data[:250*8]}, Y: y[:250], Classes: 2}
	val := &nn.TensorSet{X: &nn.Tensor{Shape: []int{50, 8}, Data: x.Data[250*8:]}, Y: y[250:], Classes: 2}

	cfg := nn.ModelConfig{Width: 16, InputShape: []int{8}, NumClasses: 2}
	model, err := nn.NewModel("mlp-relu", cfg)
	if err != nil {
		fmt.Println(err)
		return
	}
	res, err := nn.TrainDataset(context.Background(), nil, model, train, val, nn.TrainConfig{
		ModelConfig: cfg, Epochs: 4, BatchSize: 25, Seed: 3, CheckpointEvery: 10,
		Optim: nn.OptimConfig{Name: "sgd", LR: 0.1, Momentum: 0.9},
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	first, _ := res.Trajectory.At(0)
	before, _ := nn.Evaluate(context.Background(), nil, model, first, val, nil)
	after, _ := nn.Evaluate(context.Background(), nil, model, res.Params, val, nil)
	fmt.Printf("%d points in memory\n", res.Trajectory.Len())
	fmt.Printf("val accuracy at the start < 0.85: %v, after training > 0.85: %v\n", before.Accuracy < 0.85, after.Accuracy > 0.85)
	// Output:
	// 5 points in memory
	// val accuracy at the start < 0.85: true, after training > 0.85: true
}
