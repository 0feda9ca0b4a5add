package nn

import (
	"fmt"
	"sort"
	"strings"
	"sync"
)

// ModelConfig sizes an architecture. Zero fields take the architecture's
// defaults, so ModelConfig{} builds the paper's configuration.
//
// It is a plain value.
type ModelConfig struct {
	// Width is the hidden width of MLPs (mlp: 4096 in the paper).
	Width int `json:"width,omitempty"`
	// WidthFactor multiplies the channel counts of conv nets (conv8 at
	// 0.25 has a quarter of the channels); 0 means 1.
	WidthFactor float64 `json:"width_factor,omitempty"`
	// Depth is the number of hidden layers of mlp-relu (default 1); conv
	// families may use it to pick a variant.
	Depth int `json:"depth,omitempty"`
	// InputShape is the per-sample input shape, e.g. [1 28 28] for MNIST
	// or [3 32 32] for CIFAR-10; nil takes the architecture's default.
	InputShape []int `json:"input_shape,omitempty"`
	// NumClasses is the number of outputs (default 10).
	NumClasses int `json:"num_classes,omitempty"`
	// NoFactor makes mlp materialise its hidden layer (x·W1ᵀ, then ·W2ᵀ)
	// instead of the factored products of LinearPair: same parameters and
	// mathematics, other rounding, ~8× the flops at batch 128. For
	// benchmarks and cross-checks.
	NoFactor bool `json:"no_factor,omitempty"`
}

// ArchFunc builds a model of one architecture.
type ArchFunc func(cfg ModelConfig) (Model, error)

// The registry is written only by init functions (RegisterArch), like
// database/sql drivers, and read afterwards.
var (
	archMu sync.RWMutex
	archs  = map[string]ArchFunc{}
)

// RegisterArch makes an architecture available to NewModel. It is meant to
// be called from init functions; registering a name twice panics.
func RegisterArch(name string, f ArchFunc) {
	archMu.Lock()
	defer archMu.Unlock()
	if _, dup := archs[name]; dup {
		panic("nn: architecture registered twice: " + name)
	}
	archs[name] = f
}

// Archs lists the registered architecture names, sorted.
func Archs() []string {
	archMu.RLock()
	defer archMu.RUnlock()
	names := make([]string, 0, len(archs))
	for n := range archs {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// NewModel builds a registered architecture.
func NewModel(arch string, cfg ModelConfig) (Model, error) {
	archMu.RLock()
	f, ok := archs[arch]
	archMu.RUnlock()
	if !ok {
		return nil, fmt.Errorf("nn: unknown model %q (known: %s)", arch, strings.Join(Archs(), ", "))
	}
	if cfg.Width < 0 || cfg.Depth < 0 || cfg.NumClasses < 0 || cfg.WidthFactor < 0 {
		return nil, fmt.Errorf("nn: model %s: negative size in config %+v", arch, cfg)
	}
	for _, d := range cfg.InputShape {
		if d <= 0 {
			return nil, fmt.Errorf("nn: model %s: input shape %v has a non-positive dimension", arch, cfg.InputShape)
		}
	}
	return f(cfg)
}

// orDefault returns v, or def when v is zero.
func orDefault(v, def int) int {
	if v == 0 {
		return def
	}
	return v
}
