// Package nn holds everything needed to train and evaluate networks on the
// CPU kernels of package kernels: float32 tensors and named parameter sets
// (PyTorch state_dicts), layers with reverse-mode gradients, models built
// from them and found by name in a registry, softmax cross-entropy, SGD and
// AdamW with learning-rate schedules, datasets (MNIST, Fashion-MNIST,
// CIFAR-10, image folders) with seeded splits, augmentation and batches
// prepared ahead of the compute, safetensors checkpoints, the training loop,
// and learning trajectories (recorded while training, or interpolated).
//
// Data flow: a Dataset yields mini-batches (Loader); a Model runs a Batch
// through its layers with a ParamSet of weights (Forward), writing
// gradients into a second ParamSet; an Optimizer updates the weights from
// the gradients; Train drives this for some epochs, calling a progress
// callback and recording checkpoints into a trajectory folder. Parameters
// always live outside the model, so one Model serves many parameter sets
// (what trajectory transfer needs).
//
// The paper's mlp is linear, so it runs factored (LinearPair): the same
// parameters, function and gradients computed through M = W2·W1 instead of
// the batch×4096 hidden layer, about 8× fewer flops per step;
// ModelConfig.NoFactor selects the layer-by-layer route.
//
// Layers are the extension point: a Layer owns its workspaces, reads its
// parameters by full state_dict name from the Pass, and is composed by
// Sequential (or by composite layers such as residual blocks defined in
// other files). RegisterArch adds an architecture to NewModel.
//
// The package never prints or reads flags or the environment, and never
// looks for data: LoadData reads the path in DataConfig (finding it is the
// CLI's job). Long operations take a context.Context and report progress
// through callbacks.
//
// Input files (idx, CIFAR-10 batches, image folders and tars, safetensors,
// manifests) are untrusted: every reader checks declared sizes against the
// file's own size (or a documented limit such as MaxManifestBytes) before
// allocating, and its errors wrap ErrFormat (bad or truncated file),
// ErrTooLarge (over a limit), ErrShape (shapes that disagree) or
// ErrNonFinite (NaN or ±Inf), so callers can tell them apart with
// errors.Is.
//
// Concurrency: a Model, its Layers and an Optimizer own workspaces and are
// used by one goroutine at a time (make one per goroutine; they are cheap
// until first used). A ParamSet or Tensor may be read by several goroutines
// at once (evaluate one set of parameters on several models) but not
// written while read. Datasets must allow concurrent Sample calls (ImageSet
// and TensorSet do). Configurations, records, manifests and results
// (…Config, Manifest, CheckpointRecord, EvalResult, TrainResult) are plain
// values owned by the caller. Train, TrainDataset and Evaluate take a
// context.Context and return an error wrapping ctx's when it is done.
package nn
