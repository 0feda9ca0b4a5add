package nn

import "fmt"

func init() {
	RegisterArch("conv4", func(cfg ModelConfig) (Model, error) { return newConvNet("conv4", 4, cfg) })
	RegisterArch("conv6", func(cfg ModelConfig) (Model, error) { return newConvNet("conv6", 6, cfg) })
	RegisterArch("conv8", func(cfg ModelConfig) (Model, error) { return newConvNet("conv8", 8, cfg) })
}

// newConvNet builds the paper's Conv4/Conv6/Conv8 (its models/conv.py, after
// Ramanujan et al.): pairs of 3×3 stride-1 pad-1 convolutions with bias and
// ReLU, 64·f, 128·f, 256·f, 512·f channels (f the width factor, int()
// truncation), a 2×2 max-pool after each pair, in one nn.Sequential
// "convs", so the convolutions are convs.0, convs.2, convs.5, convs.7,
// convs.10, convs.12, convs.15, convs.17; then a head "linear" of 1×1
// convolutions with bias: linear.0 (→ 256·f), ReLU, linear.2 (256·f →
// 256·f), ReLU, linear.4 (→ classes).
//
// How the features reach the head follows the paper's code exactly:
//   - conv4: two 2×2 pools leave 8×8; the features are viewed as
//     [128·f·64, 1, 1], so linear.0 has weight [256·f, 128·f·64, 1, 1].
//   - conv6: the last pool is 8×8 (replacing the third 2×2 pool), leaving 1×1,
//     so linear.0 is [256·f, 256·f, 1, 1].
//   - conv8: the paper replaced the fourth 2×2 pool (convs.19) by a 4×4 pool
//     ("due to permutation issue"): 32 → 16 → 8 → 4 → 1, so linear.0 is
//     [256·f, 512·f, 1, 1] and every head input channel is one permutable
//     unit. This is the "final 4×4 pool" of the issue.
//
// The input must be [3 32 32] as in the paper (its code asserts it).
func newConvNet(arch string, depth int, cfg ModelConfig) (Model, error) {
	in := cfg.InputShape
	if in == nil {
		in = []int{3, 32, 32}
	}
	if len(in) != 3 || in[1] != 32 || in[2] != 32 || in[0] < 1 {
		return nil, fmt.Errorf("nn: model %s is defined for [C 32 32] inputs (CIFAR-10), got %v", arch, in)
	}
	k := orDefault(cfg.NumClasses, 10)
	head, err := widthOf(arch, cfg, 256)
	if err != nil {
		return nil, err
	}
	var layers []Layer
	idx := 0 // position in the PyTorch nn.Sequential "convs"
	prev := in[0]
	for stage := 0; stage < depth/2; stage++ {
		w, err := widthOf(arch, cfg, 64<<stage)
		if err != nil {
			return nil, err
		}
		for j := 0; j < 2; j++ {
			layers = append(layers, NewConv2d(fmt.Sprintf("convs.%d", idx), prev, w, 3, 1, 1, true), &ReLU{})
			idx += 2
			prev = w
		}
		pool := 2
		switch {
		case depth == 6 && stage == 2:
			pool = 8
		case depth == 8 && stage == 3:
			pool = 4
		}
		layers = append(layers, NewMaxPool2d(pool))
		idx++
	}
	if depth == 4 {
		// out.view(N, 128·f·8·8, 1, 1)
		layers = append(layers, &Reshape{Shape: []int{prev * 64, 1, 1}})
		prev *= 64
	}
	layers = append(layers,
		NewConv2d("linear.0", prev, head, 1, 1, 0, true), &ReLU{},
		NewConv2d("linear.2", head, head, 1, 1, 0, true), &ReLU{},
		NewConv2d("linear.4", head, k, 1, 1, 0, true),
		&Flatten{}) // out.squeeze()
	return NewLayerModel(arch, in, k, NewSequential(layers...))
}
