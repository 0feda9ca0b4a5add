package nn

import "github.com/ltransfer/ltransfer/kernels"

// ParamInfo describes one state_dict entry of a model.
type ParamInfo struct {
	Name  string
	Shape []int
	// Buffer marks non-trainable state (BN running statistics and
	// num_batches_tracked): saved in checkpoints, never given gradients.
	Buffer bool
	// Int64 marks an integer buffer (BN num_batches_tracked): held as
	// float32 in a ParamSet (exact up to 2^24), stored as I64 in
	// checkpoints so PyTorch loads it unchanged.
	Int64 bool
}

// Batch is one mini-batch: X is N×features (MLPs) or N×C×H×W (conv nets),
// Y holds N class labels.
//
// A pass only reads its Batch, so one may feed several goroutines' models at
// once.
type Batch struct {
	X *Tensor
	Y []int32
}

// Result is what one forward (and optional backward) pass reports.
type Result struct {
	Loss    float64 // mean softmax cross-entropy over the batch, as PyTorch
	Correct int     // number of argmax predictions equal to the label
	N       int     // batch size
}

// Model is a network architecture; its parameters live outside it, in a
// ParamSet with the PyTorch state_dict names, so one Model serves many
// parameter sets. A Model owns activation workspaces and is not safe for
// concurrent use: make one per goroutine (they are cheap until first used).
type Model interface {
	// Arch is the architecture name ("mlp", "mlp-relu", "conv8", "resnet20", ...).
	Arch() string
	// State lists the state_dict entries in PyTorch order.
	State() []ParamInfo
	// Init returns parameters initialised as PyTorch's defaults would,
	// reproducibly from seed.
	Init(seed int64) *ParamSet
	// Forward runs the batch through the network. With grads non-nil it
	// also back-propagates the mean loss and writes (overwrites) the
	// gradient of every trainable entry of grads (same names as p).
	// train selects training-mode behaviour (BN batch statistics, running
	// statistics updated in p); false is evaluation mode.
	Forward(e *kernels.Engine, p *ParamSet, b Batch, grads *ParamSet, train bool) (Result, error)
}
