package nn

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math"
	"path/filepath"
	"strings"
)

// ManifestFormat identifies a trajectory folder's manifest.json.
const ManifestFormat = "ltransfer-trajectory/1"

// Manifest describes a recorded trajectory folder: the run's configuration
// and one record per checkpoint file, in trajectory order.
type Manifest struct {
	Format      string         `json:"format"`
	Model       string         `json:"model"`
	ModelConfig ModelConfig    `json:"model_config"`
	Width       int            `json:"width,omitempty"`
	Dataset     string         `json:"dataset"`
	DataPath    string         `json:"data_path,omitempty"`
	Seed        int64          `json:"seed"`
	Optimizer   OptimConfig    `json:"optimizer"`
	Schedule    ScheduleConfig `json:"schedule"`
	Epochs      int            `json:"epochs"`
	BatchSize   int            `json:"batch_size"`
	// StepsPerEpoch and TotalSteps count optimiser steps.
	StepsPerEpoch int `json:"steps_per_epoch"`
	TotalSteps    int `json:"total_steps"`
	// CheckpointEvery is the step interval between checkpoints (0: every
	// epoch).
	CheckpointEvery int                `json:"checkpoint_every,omitempty"`
	TrainSamples    int                `json:"train_samples"`
	ValSamples      int                `json:"val_samples"`
	Checkpoints     []CheckpointRecord `json:"checkpoints"`
	// OptimizerState is the file holding the optimiser state after the
	// last checkpoint (training runs; what --resume continues from).
	OptimizerState string `json:"optimizer_state,omitempty"`
	// EpochSeconds is the wall time of each finished epoch, including the
	// validation pass and checkpoint writing.
	EpochSeconds []float64 `json:"epoch_seconds,omitempty"`
	Complete     bool      `json:"complete"`
	// TestAcc and TestLoss are the final model's, when evaluated.
	TestAcc  *float64 `json:"test_acc,omitempty"`
	TestLoss *float64 `json:"test_loss,omitempty"`

	// ClassSubset is the run's class subset (Data.ClassSubset): label k
	// is the dataset's class ClassSubset[k]; nil means every class.
	ClassSubset []int `json:"class_subset,omitempty"`
	// Limit, ValFraction and SplitSeed are the DataConfig the data was
	// loaded with (0: none, the default fraction, seed 0).
	Limit       int     `json:"limit,omitempty"`
	ValFraction float64 `json:"val_fraction,omitempty"`
	SplitSeed   int64   `json:"split_seed,omitempty"`
	// InitFrom says where a fine-tuning run started (nil: Model.Init(Seed)).
	InitFrom *InitRecord `json:"init_from,omitempty"`
	// InitScheme is the initialisation of a fresh run (empty: InitPyTorch).
	InitScheme string `json:"init_scheme,omitempty"`
}

// CheckpointRecord is one checkpoint of a trajectory. Accuracies are
// fractions in [0, 1]; train figures are running means over the steps
// since the previous checkpoint (absent for the initialisation).
type CheckpointRecord struct {
	Index     int      `json:"index"`
	File      string   `json:"file"`
	Epoch     float64  `json:"epoch"`
	Step      int      `json:"step"`
	TrainAcc  *float64 `json:"train_acc,omitempty"`
	TrainLoss *float64 `json:"train_loss,omitempty"`
	ValAcc    *float64 `json:"val_acc,omitempty"`
	ValLoss   *float64 `json:"val_loss,omitempty"`
}

// CheckpointFile is the file name of checkpoint i.
func CheckpointFile(i int) string { return fmt.Sprintf("ckpt-%04d.safetensors", i) }

func optimStateFile(i int) string { return fmt.Sprintf("optim-%04d.safetensors", i) }

// ManifestName is the manifest's file name inside a trajectory folder.
const ManifestName = "manifest.json"

// ReadManifest reads and checks dir/manifest.json.
func ReadManifest(dir string) (*Manifest, error) {
	p := filepath.Join(dir, ManifestName)
	b, err := ReadFileLimit(p, MaxManifestBytes)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, fmt.Errorf("trajectory %q: no %s (not a trajectory folder written by ltransfer train?)", dir, ManifestName)
		}
		return nil, fmt.Errorf("trajectory %q: %w", dir, err)
	}
	return parseManifest(dir, b)
}

// parseManifest checks the manifest b read from dir. Errors wrap ErrFormat.
func parseManifest(dir string, b []byte) (*Manifest, error) {
	var m Manifest
	if err := json.Unmarshal(b, &m); err != nil {
		return nil, errFormatf("trajectory %q: malformed %s: %w", dir, ManifestName, err)
	}
	if m.Format != ManifestFormat {
		return nil, errFormatf("trajectory %q: %s has format %q, want %q", dir, ManifestName, m.Format, ManifestFormat)
	}
	for i, c := range m.Checkpoints {
		if c.Index != i || c.File == "" || strings.ContainsAny(c.File, `/\`) {
			return nil, errFormatf("trajectory %q: checkpoint record %d is inconsistent (index %d, file %q)", dir, i, c.Index, c.File)
		}
	}
	return &m, nil
}

// WriteManifest writes dir/manifest.json atomically.
func WriteManifest(dir string, m *Manifest) error {
	b, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		return err
	}
	b = append(b, '\n')
	return WriteFileAtomic(filepath.Join(dir, ManifestName), func(w io.Writer) error {
		_, err := w.Write(b)
		return err
	})
}

// Trajectory is a sequence of parameter sets θ⁰ … θᵀ read on demand.
type Trajectory interface {
	// Len is the number of points (T+1).
	Len() int
	// At returns point i, freshly allocated or loaded.
	At(i int) (*ParamSet, error)
}

// RecordedTrajectory is a trajectory folder; checkpoints load lazily.
//
// At loads a fresh copy each call, so several goroutines may read one at
// once.
type RecordedTrajectory struct {
	Dir      string
	Manifest *Manifest
	model    Model
}

// OpenTrajectory opens a trajectory folder for model m (nil: built from
// the manifest's model and config) and checks that the folder agrees with
// its manifest (errors wrap ErrInconsistentTrajectory): every listed
// checkpoint present, complete and of m's shapes; a complete run with every
// checkpoint its interval implies and none unlisted. An interrupted run
// opens (Manifest.Complete is false): callers decide whether a partial
// trajectory will do.
func OpenTrajectory(dir string, m Model) (*RecordedTrajectory, error) {
	man, err := ReadManifest(dir)
	if err != nil {
		return nil, err
	}
	if m == nil {
		if m, err = NewModel(man.Model, man.ModelConfig); err != nil {
			return nil, fmt.Errorf("trajectory %q: %w", dir, err)
		}
	} else if m.Arch() != man.Model {
		return nil, fmt.Errorf("trajectory %q holds model %s, not %s", dir, man.Model, m.Arch())
	}
	if len(man.Checkpoints) == 0 {
		return nil, fmt.Errorf("trajectory %q has no checkpoints yet (a training run interrupted before its first; ltransfer train --resume finishes it)", dir)
	}
	t := &RecordedTrajectory{Dir: dir, Manifest: man, model: m}
	if err := t.checkConsistency(); err != nil {
		return nil, err
	}
	return t, nil
}

// Model is the trajectory's model.
func (t *RecordedTrajectory) Model() Model { return t.model }

// Len is the number of checkpoints.
func (t *RecordedTrajectory) Len() int { return len(t.Manifest.Checkpoints) }

// At loads checkpoint i.
func (t *RecordedTrajectory) At(i int) (*ParamSet, error) {
	if i < 0 || i >= t.Len() {
		return nil, fmt.Errorf("trajectory %q: checkpoint %d outside [0, %d)", t.Dir, i, t.Len())
	}
	return LoadCheckpoint(filepath.Join(t.Dir, t.Manifest.Checkpoints[i].File), t.model)
}

// InterpSchedule names the spacing of an interpolated trajectory.
type InterpSchedule string

const (
	// Uniform spacing: λₜ = t/T.
	Uniform InterpSchedule = "uniform"
	// Cosine spacing, the paper's: step t (from point t to t+1) is
	// proportional to 1+cos(πt/T), like a cosine learning-rate schedule:
	// long steps first, short ones near the end.
	Cosine InterpSchedule = "cosine"
)

// InterpLambdas returns λ₀ … λ_T, the interpolation weights of the T+1
// points of a linear trajectory (λ₀ = 0, λ_T = 1) under sched.
func InterpLambdas(T int, sched InterpSchedule) ([]float64, error) {
	if T < 1 {
		return nil, fmt.Errorf("nn: interpolated trajectory needs ≥ 1 step, got %d", T)
	}
	w := make([]float64, T)
	for t := range w {
		switch sched {
		case Uniform:
			w[t] = 1
		case Cosine:
			w[t] = 1 + math.Cos(math.Pi*float64(t)/float64(T))
		default:
			return nil, fmt.Errorf("nn: unknown interpolation schedule %q (want uniform or cosine)", sched)
		}
	}
	var z float64
	for _, v := range w {
		z += v
	}
	l := make([]float64, T+1)
	var acc float64
	for t := 1; t < T; t++ {
		acc += w[t-1]
		l[t] = acc / z
	}
	l[T] = 1
	return l, nil
}

// LinearTrajectory is the straight path θᵗ = A + λₜ·(B − A), t = 0…T,
// computed on demand from the two end points (memory: two parameter sets
// plus the one returned).
//
// At allocates its result and only reads the end points, so several
// goroutines may call At at once; Into writes dst only.
type LinearTrajectory struct {
	A, B     *ParamSet
	T        int
	Schedule InterpSchedule
	lambdas  []float64
}

// NewLinearTrajectory checks that a and b hold the same tensors and
// returns the path between them with steps T ≥ 1.
func NewLinearTrajectory(a, b *ParamSet, steps int, sched InterpSchedule) (*LinearTrajectory, error) {
	if steps < 1 {
		return nil, fmt.Errorf("nn: interpolated trajectory needs ≥ 1 step, got %d", steps)
	}
	switch sched {
	case Uniform, Cosine:
	case "":
		sched = Cosine
	default:
		return nil, fmt.Errorf("nn: unknown interpolation schedule %q (want uniform or cosine)", sched)
	}
	if a.Len() != b.Len() {
		return nil, fmt.Errorf("nn: trajectory end points hold %d and %d tensors", a.Len(), b.Len())
	}
	for _, name := range a.Names() {
		ta, tb := a.Get(name), b.Get(name)
		if tb == nil {
			return nil, fmt.Errorf("nn: trajectory end point lacks tensor %q", name)
		}
		if !shapeEq(ta.Shape, tb.Shape) {
			return nil, fmt.Errorf("nn: tensor %q has shapes %v and %v at the two end points", name, ta.Shape, tb.Shape)
		}
	}
	lam, err := InterpLambdas(steps, sched)
	if err != nil {
		return nil, err
	}
	return &LinearTrajectory{A: a, B: b, T: steps, Schedule: sched, lambdas: lam}, nil
}

// Len is T+1.
func (l *LinearTrajectory) Len() int { return l.T + 1 }

// Lambda is the interpolation weight λₜ of B at point t.
func (l *LinearTrajectory) Lambda(t int) float64 {
	if t <= 0 {
		return 0
	}
	if t >= l.T {
		return 1
	}
	return l.lambdas[t]
}

// At returns point t in a new parameter set.
func (l *LinearTrajectory) At(t int) (*ParamSet, error) {
	if t < 0 || t > l.T {
		return nil, fmt.Errorf("nn: trajectory point %d outside [0, %d]", t, l.T)
	}
	dst := l.A.ZerosLike()
	l.Into(t, dst)
	return dst, nil
}

// Into writes point t into dst (same names and shapes as A), so a caller
// walking the path reuses one set. The end points are A and B exactly.
func (l *LinearTrajectory) Into(t int, dst *ParamSet) {
	lam := float32(l.Lambda(t))
	for _, name := range l.A.Names() {
		a, b, d := l.A.Get(name).Data, l.B.Get(name).Data, dst.Get(name).Data
		switch {
		case t <= 0:
			copy(d, a)
			continue
		case t >= l.T:
			copy(d, b)
			continue
		}
		for i := range d {
			d[i] = a[i] + lam*(b[i]-a[i])
		}
	}
}
