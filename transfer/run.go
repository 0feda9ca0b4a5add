package transfer

import (
	"fmt"
	"math/rand/v2"
	"strings"

	"github.com/ltransfer/ltransfer/internal/hugemem"
	"github.com/ltransfer/ltransfer/kernels"
	"github.com/ltransfer/ltransfer/nn"
)

// Method is a transfer method.
type Method string

const (
	// GMT is gradient matching along the trajectory (the paper's
	// Algorithm 1): at step s every earlier point t < s contributes a
	// gradient pair recomputed with the current permutation.
	GMT Method = "gmt"
	// FGMT (fast GMT) keeps the earlier pairs and adds only the newest.
	FGMT Method = "fgmt"
	// Naive adds the source's updates unpermuted (π = identity).
	Naive Method = "naive"
	// Oracle matches the target's own (final − init) against the source's.
	Oracle Method = "oracle"
	// Random adds the source's updates under one uniformly random
	// permutation drawn from Seed: the ablation baseline that tells how
	// much of a method's gain is the matching and not any permutation.
	Random Method = "random"
)

// matchesGradients reports whether the method takes gradients (GMT, FGMT).
func (m Method) matchesGradients() bool { return m == GMT || m == FGMT }

// ParseMethod parses a method name.
func ParseMethod(s string) (Method, error) {
	switch Method(strings.ToLower(s)) {
	case GMT, FGMT, Naive, Oracle, Random:
		return Method(strings.ToLower(s)), nil
	}
	return "", fmt.Errorf("transfer: unknown method %q (want gmt, fgmt, naive, oracle or random)", s)
}

// Examples is an in-memory labelled data set of float tensors: X is
// N×features or N×C×H×W, already normalised. It is nn.TensorSet.
type Examples = nn.TensorSet

// gather builds a batch of the samples idx of d, augmented (where d has
// augmentation) with draws from aug, or as they are when aug is nil.
func gather(d nn.Dataset, idx []int, aug *rand.Rand) nn.Batch {
	shape := d.SampleShape()
	per := nn.Numel(shape)
	x := &nn.Tensor{Shape: append([]int{len(idx)}, shape...), Data: hugemem.Float32s(len(idx) * per)}
	y := make([]int32, len(idx))
	for i, j := range idx {
		y[i] = d.Sample(j, x.Data[i*per:(i+1)*per], aug)
	}
	return nn.Batch{X: x, Y: y}
}

func checkData(d nn.Dataset, what string) error {
	if ex, ok := d.(*Examples); ok {
		if err := ex.Validate(); err != nil {
			return fmt.Errorf("transfer: %s data: %w", what, err)
		}
		if i := firstNonFinite(ex.X.Data); i >= 0 {
			return fmt.Errorf("transfer: %s data: X has a non-finite value %v at index %d: %w", what, ex.X.Data[i], i, nn.ErrNonFinite)
		}
	}
	if d == nil || d.Len() == 0 {
		return fmt.Errorf("transfer: %s data set is empty", what)
	}
	if nn.Numel(d.SampleShape()) <= 0 {
		return fmt.Errorf("transfer: %s data has sample shape %v", what, d.SampleShape())
	}
	if c := d.NumClasses(); c < 1 {
		return fmt.Errorf("transfer: %s data has %d classes", what, c)
	}
	return nil
}

// Progress reports where a transfer is: target Target (its index in
// RunMany's targets; 0 in Run) is at step Step of Steps, in Phase
// ("gradients", "matching", "eval", "step"), with Done of Total units of
// that phase finished: the target's gradient mini-batches of the step
// (gradient pairs × GradBatches), assignment solves, or steps completed.
// "eval" runs beside the next step's phases and has no units (Total 0).
type Progress struct {
	Target      int
	Phase       string
	Step, Steps int
	Done, Total int
}

// DefaultWorkspaceMemory is Options.WorkspaceMemory's default, 1 GiB:
// one ResNet-20 ×1 workspace (batch 128, about 580 MB), three of ResNet-20
// ×0.5 (290 MB), ten of Conv8 ×0.25 (100 MB), and one per thread of the
// MNIST MLP (about 1 MB) on any machine.
const DefaultWorkspaceMemory = 1 << 30

// Options configures Run. Zero values take the documented defaults.
type Options struct {
	Method Method
	// NewModel builds the architecture. Models own the activation
	// workspaces of one forward/backward pass; at most Workers are made.
	NewModel func() (nn.Model, error)
	// Spec is the permutation spec (nil: BuiltinSpec of the model).
	Spec *Spec
	// Source is the source trajectory θ₁⁰ … θ₁ᵀ.
	Source Trajectory
	// TargetInit is θ₂⁰.
	TargetInit *nn.ParamSet
	// TargetFinal is the trained target (Oracle only); TargetStart is the
	// target's own initialisation for the oracle (default TargetInit).
	TargetFinal, TargetStart *nn.ParamSet
	// Train supplies the gradient mini-batches; Val is evaluated at every
	// step (nil: no evaluation, accuracies reported as 0).
	Train, Val nn.Dataset
	// BNBatches training batches recompute the BN statistics of every
	// transferred point of a model with BN (default 10).
	BNBatches int
	// GradBatches mini-batches of BatchSize per gradient pair (default 1
	// and 128). The batches of point t are drawn once from Seed and t.
	GradBatches, BatchSize int
	// GradAugment applies Train's training augmentation (CIFAR-10's pad-4
	// crop and flip, see nn.DataConfig) to the gradient batches, as the
	// paper's code does by drawing them from its training loader. The
	// augmentation of point t's batches is fixed by Seed and t, so GMT's
	// recomputed gradients still see the same images. Without it, and
	// always for the BN batches, the samples are taken as they are.
	GradAugment bool
	// EvalBatch is the evaluation batch size: the validation set is
	// evaluated in slices of this size, so its workspace does not grow with
	// the set. Default: BatchSize for convolutional models (no larger
	// workspace than the gradients need), 512 for fully connected ones
	// (their per-call weight packing dominates small slices). Accuracies
	// do not depend on it.
	EvalBatch int
	// Seed fixes batches and the matching order.
	Seed uint64
	// Match tunes weight matching (its Seed defaults to Seed).
	Match MatchOptions
	// FreshStart starts each GMT/FGMT step's coordinate descent from the
	// identity, as the paper's code does (wm_use_prev_perm = false),
	// instead of from the previous step's permutations. The gradients of
	// the step are still taken at the point the previous permutations
	// transferred.
	FreshStart bool
	// Segments splits the trajectory into that many segments of equal
	// numbers of steps (GMT and FGMT; default 1, which T must be a
	// multiple of), each with its own permutation, as the paper code's
	// num_perms: a segment's points are its base plus the permuted source
	// update since its start, its base is where the previous segment's
	// last permutation transferred to, and its matching adds a pair that
	// ties its permutation to the previous one on the previous segment's
	// source update.
	Segments int
	// BranchAtBest starts each segment from the best point so far (and its
	// permutation) instead of the last (the paper code's branch_at_best).
	BranchAtBest bool
	// Engine runs the kernels (nil: kernels.Default()); its thread count
	// bounds the CPU use of the whole transfer (or of all of RunMany's
	// targets together).
	Engine *kernels.Engine
	// Workers bounds the memory of the transfer independently of the
	// thread count: at most Workers models (activation workspaces) exist
	// at once, and RunMany runs at most Workers targets at a time
	// (default: the engine's thread count; at least 1). Results do not
	// depend on it.
	Workers int
	// WorkspaceMemory bounds the models' activation workspaces together,
	// in bytes (default DefaultWorkspaceMemory; negative: no bound): a
	// second or later workspace is made only while one more of the
	// largest measured so far (nn.WorkspaceBytes) fits, so a large model
	// runs its gradients on fewer workspaces, with more threads each,
	// instead of one workspace per thread. Results do not depend on it.
	WorkspaceMemory int64
	// Progress, if set, receives progress reports. It may be called from
	// goroutines the transfer starts, but never concurrently.
	Progress func(Progress)
	// OnStep, if set, receives every transferred point θ₂ˢ (s = 0 … T)
	// in order, with the permutations used. The transfer does not change
	// the set after the call: the callee may keep it, but must not modify
	// it (it may be Report.BestParams, and step 0's is TargetInit itself
	// unless the model has buffers).
	// Run only; RunMany takes one per Target.
	OnStep func(step int, params *nn.ParamSet, perms Perms) error
	// KeepBest keeps the best point in Report.BestParams.
	KeepBest bool
	// KeepBestLogits keeps the best point's logits on Val in
	// Report.BestLogits, taken from the evaluation that chose it (no
	// extra forward pass), so that an ensemble of transferred points can
	// be scored without evaluating them again (EnsembleOfLogits). For
	// models that expose their logits (nn.Logits: every built-in one)
	// with one output per class of Val; for others BestLogits stays nil.
	KeepBestLogits bool
	// Repair renormalises every transferred point θ₂ˢ (s ≥ 1) before it is
	// evaluated and handed over: each hidden unit's pre-activation is given
	// the mean and deviation the same unit of the permuted source point
	// π(θ₁ˢ) has on RepairBatches fixed training batches (nn.Repair, after
	// REPAIR for merged networks). The permutations, and the points the
	// gradients are taken at, are the method's own; only the reported,
	// streamed and kept points change. For models without normalisation
	// layers (MLPs, Conv4/6/8); models with BN recompute their statistics
	// at every point instead.
	Repair bool
	// RepairBatches mini-batches of BatchSize calibrate Repair (default 4).
	RepairBatches int
	// SelectPerms (GMT and FGMT) gives every point the permutation, of
	// those the method has found up to that step, that carries the whole
	// source update across best: the one whose endpoint
	// θ₂⁰ + π(θ₁ᵀ − θ₁⁰) has the lowest mean training loss on
	// SelectBatches fixed training batches (BN statistics recomputed, and
	// renormalised with Repair, as for evaluation). On ResNet-20 GMT's
	// successive permutations transfer to networks several points of
	// accuracy apart; the training loss of the transferred endpoint ranks
	// them nearly as validation does. The method's own
	// permutations, and the points its gradients are taken at, are
	// unchanged: only the points reported, streamed and kept are. Not
	// with Segments.
	SelectPerms bool
	// SelectBatches mini-batches of BatchSize score SelectPerms' candidates
	// (default 20).
	SelectBatches int
}

// StepReport is one point of the transferred trajectory.
type StepReport struct {
	Step      int     `json:"step"`
	ValAcc    float64 `json:"val_acc"`
	Objective float64 `json:"objective"`
	// With Options.SelectPerms: the endpoint loss of the permutation the
	// method found at this step (0 when it is not finite; such a
	// permutation is kept only until one with a finite loss is found), and
	// the step whose permutation the point uses (the one with the lowest
	// endpoint loss so far).
	EndpointLoss float64 `json:"endpoint_loss,omitempty"`
	PermsFrom    int     `json:"perms_from,omitempty"`
}

// Timings are wall-clock seconds per phase. The evaluation of a point
// overlaps the next step's matching, so the phases can sum to more than
// Total.
type Timings struct {
	Gradients    float64 `json:"gradients"`
	CostMatrices float64 `json:"cost_matrices"`
	LAP          float64 `json:"lap"`
	Eval         float64 `json:"eval"`
	// Repair is the part of Eval spent renormalising points (Options.Repair).
	Repair float64 `json:"repair,omitempty"`
	// Select is the time spent scoring permutations (Options.SelectPerms).
	Select float64 `json:"select,omitempty"`
	Total  float64 `json:"total"`
}

// Report is the result of a transfer.
type Report struct {
	Method     Method       `json:"method"`
	Steps      []StepReport `json:"steps"`
	BestStep   int          `json:"best_step"`
	BestValAcc float64      `json:"best_val_acc"`
	Timings    Timings      `json:"timings_s"`
	LAPCalls   int          `json:"lap_calls"`
	Threads    int          `json:"threads"`
	// Normalize names the objective's normalisation: "pair", "tensor"
	// (MatchOptions.Normalize, NormalizeTensors) or empty for none.
	Normalize string `json:"normalize,omitempty"`
	// GradAugment is Options.GradAugment for GMT and FGMT (the methods
	// that take gradients).
	GradAugment bool `json:"gm_augment,omitempty"`
	// Segments and BranchAtBest are the options of the same names.
	Segments     int  `json:"segments,omitempty"`
	BranchAtBest bool `json:"branch_at_best,omitempty"`
	// Repair is Options.Repair.
	Repair bool `json:"repair,omitempty"`
	// SelectPerms is Options.SelectPerms.
	SelectPerms bool `json:"select_perms,omitempty"`
	// PeakRSSMB is the process's peak resident memory in MiB, for callers
	// that run one transfer per process (the CLI sets it); the library
	// leaves it zero.
	PeakRSSMB float64 `json:"peak_rss_mb,omitempty"`
	// Perms are the permutations of the last step.
	Perms Perms `json:"-"`
	// BestParams is θ₂ at BestStep (with Options.KeepBest).
	BestParams *nn.ParamSet `json:"-"`
	// BestLogits are the logits of the best point on Options.Val, one row
	// of NumClasses per example in order (with Options.KeepBestLogits).
	BestLogits []float32 `json:"-"`
}
