package transfer_test

import (
	"context"
	"fmt"
	"math/rand/v2"

	"github.com/ltransfer/ltransfer/kernels"
	"github.com/ltransfer/ltransfer/nn"
	"github.com/ltransfer/ltransfer/transfer"
)

// Example transfers the (linear) learning trajectory of one small MLP onto
// another initialisation with GMT, as a service embedding the library would.
func Example() {
	cfg := nn.ModelConfig{Width: 32, InputShape: []int{8}, NumClasses: 3}
	newModel := func() (nn.Model, error) { return nn.NewModel("mlp", cfg) }
	m, _ := newModel()

	// A generated data set: three Gaussian blobs in 8 dimensions.
	r := rand.New(rand.NewPCG(1, 2))
	data := &transfer.Examples{X: nn.NewTensor(300, 8), Y: make([]int32, 300)}
	for i := range data.Y {
		c := r.IntN(3)
		data.Y[i] = int32(c)
		for j := 0; j < 8; j++ {
			data.X.Data[i*8+j] = float32(c-1)*float32(j%3) + 0.5*float32(r.NormFloat64())
		}
	}

	// The source: trained a little with plain SGD from seed 1.
	e, _ := kernels.New(kernels.WithThreads(1))
	src0 := m.Init(1)
	src1 := src0.Clone()
	g := src1.ZerosLike()
	for step := 0; step < 100; step++ {
		_, _ = m.Forward(e, src1, data.Batch([]int{step % 300, (step * 7) % 300, (step * 13) % 300, (step * 29) % 300}), g, true)
		for _, name := range src1.Names() {
			e.Axpy(-0.05, g.Get(name).Data, src1.Get(name).Data)
		}
	}
	traj, _ := transfer.Linear(src0, src1, 5, transfer.Cosine)

	rep, err := transfer.Run(context.Background(), transfer.Options{
		Method:     transfer.GMT,
		NewModel:   newModel,
		Source:     traj,
		TargetInit: m.Init(2),
		Train:      data,
		Val:        data,
		BatchSize:  64,
		Seed:       1,
		Engine:     e,
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println("method:", rep.Method)
	fmt.Println("points:", len(rep.Steps))
	fmt.Println("better than the initialisation:", rep.BestValAcc > rep.Steps[0].ValAcc)
	// Output:
	// method: gmt
	// points: 6
	// better than the initialisation: true
}
