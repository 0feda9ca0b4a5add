package nn

import "fmt"

func init() {
	RegisterArch("mlp", newMLP)
	RegisterArch("mlp-relu", newMLPReLU)
}

// Default sizes of the MLPs: the paper's MNIST network.
const (
	DefaultMLPWidth = 4096
)

var defaultMLPInput = []int{1, 28, 28}

// newMLP is the paper's MLP: 784→W→10, no bias, no activation, parameters
// linear1.weight [W, 784] and linear2.weight [10, W]. Being linear, it
// runs factored (LinearPair) unless cfg.NoFactor.
func newMLP(cfg ModelConfig) (Model, error) {
	in := cfg.InputShape
	if in == nil {
		in = defaultMLPInput
	}
	w := orDefault(cfg.Width, DefaultMLPWidth)
	k := orDefault(cfg.NumClasses, 10)
	if cfg.Depth > 1 {
		return nil, fmt.Errorf("nn: model mlp has one hidden layer (depth %d requested; use mlp-relu)", cfg.Depth)
	}
	f := Numel(in)
	pair := NewLinearPair("linear1", "linear2", f, w, k)
	if cfg.NoFactor {
		pair.Mode = -1
	}
	return NewLayerModel("mlp", in, k, NewSequential(&Flatten{}, pair))
}

// newMLPReLU is an MLP with biases and ReLU: Depth hidden layers of Width
// units, parameters linear1.{weight,bias} … linear{Depth+1}.{weight,bias}.
func newMLPReLU(cfg ModelConfig) (Model, error) {
	in := cfg.InputShape
	if in == nil {
		in = defaultMLPInput
	}
	w := orDefault(cfg.Width, DefaultMLPWidth)
	k := orDefault(cfg.NumClasses, 10)
	depth := orDefault(cfg.Depth, 1)
	layers := []Layer{&Flatten{}}
	prev := Numel(in)
	for i := 1; i <= depth; i++ {
		layers = append(layers, NewLinear(fmt.Sprintf("linear%d", i), prev, w, true), &ReLU{})
		prev = w
	}
	layers = append(layers, NewLinear(fmt.Sprintf("linear%d", depth+1), prev, k, true))
	return NewLayerModel("mlp-relu", in, k, NewSequential(layers...))
}
