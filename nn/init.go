package nn

import (
	"fmt"
	"math"
	"slices"
	"strings"
)

// Initialisation schemes of a fresh model (TrainConfig.InitScheme).
const (
	// InitPyTorch is PyTorch's default: kaiming_uniform_(a=√5) weights,
	// U(±1/√fanIn) biases, unit/zero batch-norm affine parameters.
	InitPyTorch = "pytorch"
	// InitKaimingNormal redraws every weight of two or more dimensions
	// (linear and convolution weights) from N(0, 2/fanIn), He et al.'s
	// ReLU initialisation, and zeroes those layers' biases; batch norms
	// keep their defaults. It is torch.nn.init.kaiming_normal_(w,
	// mode="fan_in", nonlinearity="relu") with zeros_(b). Plain deep ReLU
	// networks (Conv8) keep their signal with it, where the PyTorch default
	// shrinks it sixfold per layer and can leave SGD on the loss plateau
	// at ln(classes).
	InitKaimingNormal = "kaiming-normal"
)

// InitSchemes lists the accepted initialisation schemes.
var InitSchemes = []string{InitPyTorch, InitKaimingNormal}

// InitParams returns the fresh parameters of m under scheme (empty:
// InitPyTorch), reproducible from seed.
func InitParams(m Model, seed int64, scheme string) (*ParamSet, error) {
	if err := checkInitScheme(scheme); err != nil {
		return nil, err
	}
	p := m.Init(seed)
	if scheme != InitKaimingNormal {
		return p, nil
	}
	rng := NewRand(seed, 2)
	for _, pi := range m.State() {
		if pi.Buffer || len(pi.Shape) < 2 || !strings.HasSuffix(pi.Name, ".weight") {
			continue
		}
		w := p.Get(pi.Name)
		fanIn := len(w.Data) / pi.Shape[0]
		std := math.Sqrt(2 / float64(fanIn))
		for i := range w.Data {
			w.Data[i] = float32(rng.NormFloat64() * std)
		}
		if b := p.Get(strings.TrimSuffix(pi.Name, ".weight") + ".bias"); b != nil {
			clear(b.Data)
		}
	}
	return p, nil
}

// checkInitScheme accepts the empty scheme and InitSchemes.
func checkInitScheme(scheme string) error {
	if scheme != "" && !slices.Contains(InitSchemes, scheme) {
		return fmt.Errorf("nn: unknown initialisation %q (want %s)", scheme, strings.Join(InitSchemes, " or "))
	}
	return nil
}
