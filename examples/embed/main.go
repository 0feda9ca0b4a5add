// Command embed is what a Go service does with ltransfer: train two MLPs
// in memory, transfer one's trajectory onto the other's initialisation,
// and cancel a second, long transfer after one second. It is its own
// module (with a replace of ltransfer), as a service's code would be.
package main

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"time"

	"github.com/ltransfer/ltransfer/nn"
	"github.com/ltransfer/ltransfer/transfer"
)

func main() {
	rep, err := run(time.Second)
	fmt.Printf("GMT: best accuracy %.1f%% at step %d; second transfer: %v\n", 100*rep.BestValAcc, rep.BestStep, err)
}

// run returns the first transfer's report and the second's error.
func run(timeout time.Duration) (*transfer.Report, error) {
	ctx, data := context.Background(), blobs(3000, 64, 4)
	newModel := func() (nn.Model, error) {
		return nn.NewModel("mlp", nn.ModelConfig{Width: 256, InputShape: []int{64}, NumClasses: 4})
	}
	m, _ := newModel()
	var nets [2]*nn.TrainResult
	for i := range nets {
		cfg := nn.TrainConfig{Epochs: 2, BatchSize: 64, Seed: int64(101 + i), Optim: nn.OptimConfig{Name: "sgd", LR: 0.01, Momentum: 0.9}}
		var err error
		if nets[i], err = nn.TrainDataset(ctx, nil, m, data, data, cfg); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
	}
	src0, tgt0 := nets[0].Trajectory.Points[0], nets[1].Trajectory.Points[0]
	traj, _ := transfer.Linear(src0, nets[0].Params, 10, transfer.Cosine)
	o := transfer.Options{Method: transfer.GMT, NewModel: newModel, Source: traj, TargetInit: tgt0, Train: data, Val: data}
	rep, err := transfer.Run(ctx, o)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	o.Source, _ = transfer.Linear(src0, nets[0].Params, 2000, transfer.Cosine) // far more than a second
	ctx2, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	_, err = transfer.Run(ctx2, o)
	return rep, err
}

// blobs draws n samples of dim features around one random centre per class.
func blobs(n, dim, classes int) *nn.TensorSet {
	r, c := rand.New(rand.NewPCG(1, 2)), make([]float32, classes*dim)
	for i := range c {
		c[i] = float32(r.NormFloat64())
	}
	d := &nn.TensorSet{X: nn.NewTensor(n, dim), Y: make([]int32, n), Classes: classes}
	for i := range d.Y {
		d.Y[i] = int32(r.IntN(classes))
		for j := 0; j < dim; j++ {
			d.X.Data[i*dim+j] = c[int(d.Y[i])*dim+j] + 1.5*float32(r.NormFloat64())
		}
	}
	return d
}
