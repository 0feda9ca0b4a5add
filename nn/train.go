package nn

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"math"
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"time"

	"github.com/ltransfer/ltransfer/kernels"
)

// TrainConfig configures Train.
//
// Train only reads it; Progress is called on Train's goroutine.
type TrainConfig struct {
	// ModelConfig and Dataset are recorded in the manifest (the model
	// itself is passed to Train).
	ModelConfig ModelConfig
	Dataset     string
	DataPath    string
	// Limit, ValFraction and SplitSeed, recorded in the manifest, are the
	// DataConfig the data was loaded with (so a transfer from the run
	// validates on the same split); they do not change the run.
	Limit       int
	ValFraction float64
	SplitSeed   int64
	// ClassSubset, recorded in the manifest, is the original class index of
	// every label (nil: all classes); Train sets it from Data.ClassSubset.
	ClassSubset []int
	// Epochs is the number of passes over the training set; 0 records the
	// initialisation only (checkpoint 0, validated, and a complete
	// manifest): a starting point other runs can use.
	Epochs    int
	BatchSize int
	// Seed drives the initialisation (unless Init is given), the shuffle
	// order and the augmentation.
	Seed     int64
	Optim    OptimConfig
	Schedule ScheduleConfig
	// Init, if non-nil, is the starting point instead of Model.Init(Seed);
	// it is not modified.
	Init *ParamSet
	// InitScheme is the initialisation of a fresh run (InitSchemes; empty:
	// InitPyTorch); it must be empty when Init is given.
	InitScheme string
	// InitFrom, recorded in the manifest, says where Init came from (see
	// FineTuneInit); it does not change the run.
	InitFrom *InitRecord
	// CheckpointEvery records a checkpoint every this many steps; 0 means
	// at the end of every epoch.
	CheckpointEvery int
	// ExtraCheckpoints lists further steps (counted from 1) after which a
	// checkpoint is recorded, e.g. 10, 50, 100, 200 to watch early training.
	ExtraCheckpoints []int
	// Out is the trajectory folder; empty records nothing on disk (the
	// checkpoint records are still returned, with validation accuracies).
	Out string
	// Resume continues an interrupted run recorded in Out (and starts one
	// when Out holds none, so a restarted job script needs no special
	// case); without it an existing trajectory in Out is an error.
	Resume bool
	// NoVal skips the validation pass at checkpoints.
	NoVal bool
	// Progress, if non-nil, is called after every step and at every
	// validation pass and checkpoint; it must return quickly.
	Progress func(TrainProgress)
}

// TrainProgress reports the state of a training run.
type TrainProgress struct {
	// Phase is "train" after a step, "val" during validation (Done/Total
	// count samples), "checkpoint" after a checkpoint is recorded.
	Phase         string
	Epoch         int // 0-based
	Epochs        int
	Step          int // optimiser steps done in the whole run
	StepsPerEpoch int
	TotalSteps    int
	LR            float64
	// Loss and Acc are running means over the current epoch.
	Loss, Acc   float64
	Done, Total int
	Checkpoint  *CheckpointRecord
}

// TrainResult is the outcome of Train.
//
// It is the caller's; nothing keeps a reference.
type TrainResult struct {
	Params      *ParamSet
	Checkpoints []CheckpointRecord
	Manifest    *Manifest
	// Trajectory holds the parameters at every checkpoint (parallel to
	// Checkpoints) when the run records nothing on disk (TrainConfig.Out
	// empty); nil otherwise (read the folder with OpenTrajectory).
	Trajectory *MemoryTrajectory
	// EpochSeconds is the wall time of each epoch run in this call,
	// including validation and checkpoint writing.
	EpochSeconds []float64
}

// Train trains m on data.Train with cfg, evaluating on data.Val at every
// checkpoint: TrainDataset on data's sets, with data.ClassSubset recorded
// in the manifest.
func Train(ctx context.Context, e *kernels.Engine, m Model, data *Data, cfg TrainConfig) (*TrainResult, error) {
	if data == nil || data.Train == nil {
		return nil, fmt.Errorf("nn: train: no training data")
	}
	var val Dataset
	if data.Val != nil {
		val = data.Val
	}
	cfg.ClassSubset = data.ClassSubset
	return TrainDataset(ctx, e, m, data.Train, val, cfg)
}

// TrainDataset trains m on train with cfg, evaluating on val (may be nil)
// at every checkpoint, recording the trajectory in cfg.Out when set, or
// returning it in memory (TrainResult.Trajectory) when not. train and val
// are any Dataset: image sets (which augment training samples), float
// tensors (TensorSet), or the caller's own. It stops with an error wrapping
// ctx's when ctx is cancelled; the trajectory recorded so far stays valid
// and resumable (cfg.Resume), as does one whose process was killed at any
// point. A run this call started that fails otherwise before its first
// training checkpoint removes what it wrote.
func TrainDataset(ctx context.Context, e *kernels.Engine, m Model, train, val Dataset, cfg TrainConfig) (*TrainResult, error) {
	if e == nil {
		e = kernels.Default()
	}
	r, err := newTrainRun(ctx, e, m, train, val, cfg)
	if err != nil {
		return nil, err
	}
	if res, err := r.open(); err != nil {
		return res, err
	}
	if err := r.run(); err != nil {
		r.undoFailedStart(err)
		return nil, err
	}
	if cfg.Out != "" && len(r.man.EpochSeconds) > 0 {
		// Record the last epoch's time too.
		if err := WriteManifest(cfg.Out, r.man); err != nil {
			return nil, err
		}
	}
	r.res.Params = r.p
	r.res.Checkpoints = r.man.Checkpoints
	return r.res, nil
}

// run trains from the opened state to the end.
func (r *trainRun) run() error {
	if err := r.initParams(); err != nil {
		return err
	}
	if r.step == 0 && len(r.man.Checkpoints) == 0 {
		if err := r.checkpoint(0); err != nil {
			return err
		}
	}
	for epoch := r.step / r.spe; epoch < r.cfg.Epochs && r.step < r.total; epoch++ {
		if err := r.epoch(epoch); err != nil {
			return err
		}
	}
	return nil
}

// undoFailedStart removes what a run started in this call wrote when it
// fails, other than by cancellation, before recording anything past its
// initialisation (a diverging learning rate, a data error): such a folder
// holds nothing worth resuming, and a rerun would fail the same way. An
// interrupted run, or one with training checkpoints, is kept (resumable,
// and the checkpoints are results).
func (r *trainRun) undoFailedStart(err error) {
	out := r.cfg.Out
	if out == "" || !r.fresh || len(r.man.Checkpoints) > 1 || errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return
	}
	if r.createdDir {
		_ = os.RemoveAll(out)
		return
	}
	if names, ok, err := ownRunFiles(out); err == nil && ok {
		for _, n := range names {
			_ = os.Remove(filepath.Join(out, n))
		}
	}
}

// trainRun is the state of one TrainDataset call.
type trainRun struct {
	ctx        context.Context
	e          *kernels.Engine
	m          Model
	train, val Dataset
	cfg        TrainConfig
	opt        Optimizer
	loader     *Loader
	spe, total int
	extra      map[int]bool
	man        *Manifest
	res        *TrainResult
	p, g       *ParamSet
	step       int
	// fresh: this call started the run in cfg.Out; createdDir: and made
	// the folder.
	fresh, createdDir bool
	// running sums since the last checkpoint
	runLoss, runCorrect float64
	runN                int
}

// newTrainRun checks the configuration and the data against the model and
// builds the run's optimiser, loader and manifest.
func newTrainRun(ctx context.Context, e *kernels.Engine, m Model, train, val Dataset, cfg TrainConfig) (*trainRun, error) {
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	if train == nil || train.Len() == 0 {
		return nil, fmt.Errorf("nn: train: no training data")
	}
	if err := checkDataset("training", train, m); err != nil {
		return nil, err
	}
	if val != nil {
		if err := checkDataset("validation", val, m); err != nil {
			return nil, err
		}
	}
	opt, err := NewOptimizer(cfg.Optim, m.State())
	if err != nil {
		return nil, err
	}
	r := &trainRun{ctx: ctx, e: e, m: m, train: train, val: val, cfg: cfg, opt: opt}
	r.loader = &Loader{Data: train, BatchSize: cfg.BatchSize, Shuffle: true, Augment: true, Seed: cfg.Seed}
	r.spe = r.loader.NumBatches()
	if cfg.Epochs > math.MaxInt32/r.spe {
		return nil, fmt.Errorf("nn: train: %d epochs of %d steps exceed the %d-step limit", cfg.Epochs, r.spe, math.MaxInt32)
	}
	r.total = r.spe * cfg.Epochs
	r.extra = map[int]bool{}
	for _, s := range cfg.ExtraCheckpoints {
		if s < 1 || s > r.total {
			return nil, fmt.Errorf("nn: train: extra checkpoint step %d outside [1, %d]", s, r.total)
		}
		r.extra[s] = true
	}
	r.man = &Manifest{
		Format: ManifestFormat, Model: m.Arch(), ModelConfig: cfg.ModelConfig, Width: cfg.ModelConfig.Width,
		Dataset: cfg.Dataset, DataPath: cfg.DataPath, Limit: cfg.Limit, ValFraction: cfg.ValFraction, SplitSeed: cfg.SplitSeed, Seed: cfg.Seed, Optimizer: cfg.Optim, Schedule: cfg.Schedule,
		ClassSubset: cfg.ClassSubset, InitFrom: cfg.InitFrom, InitScheme: cfg.InitScheme,
		Epochs: cfg.Epochs, BatchSize: cfg.BatchSize, StepsPerEpoch: r.spe, TotalSteps: r.total,
		CheckpointEvery: cfg.CheckpointEvery, TrainSamples: train.Len(),
	}
	if val != nil {
		r.man.ValSamples = val.Len()
	}
	r.res = &TrainResult{Manifest: r.man}
	if cfg.Out == "" {
		r.res.Trajectory = &MemoryTrajectory{}
	}
	return r, nil
}

// validate checks cfg's numbers and names (and normalises InitScheme).
func (cfg *TrainConfig) validate() error {
	if cfg.Epochs < 0 {
		return fmt.Errorf("nn: train: epochs %d, want ≥ 0", cfg.Epochs)
	}
	if cfg.BatchSize < 1 {
		return fmt.Errorf("nn: train: batch size %d, want ≥ 1", cfg.BatchSize)
	}
	if cfg.CheckpointEvery < 0 {
		return fmt.Errorf("nn: train: checkpoint interval %d, want ≥ 0", cfg.CheckpointEvery)
	}
	if err := cfg.Schedule.Validate(); err != nil {
		return err
	}
	if err := checkInitScheme(cfg.InitScheme); err != nil {
		return fmt.Errorf("nn: train: %w", err)
	}
	if cfg.InitScheme == InitPyTorch {
		cfg.InitScheme = "" // the default: manifests record no scheme
	}
	if cfg.InitScheme != "" && cfg.Init != nil {
		return fmt.Errorf("nn: train: initialisation scheme %q given with starting parameters", cfg.InitScheme)
	}
	return nil
}

// checkDataset checks that d's samples fit m's input and d's classes its
// output.
func checkDataset(role string, d Dataset, m Model) error {
	if v, ok := d.(interface{ Validate() error }); ok {
		if err := v.Validate(); err != nil {
			return fmt.Errorf("nn: train: %s set: %w", role, err)
		}
	}
	if lm, ok := m.(interface{ InputShape() []int }); ok && Numel(lm.InputShape()) != Numel(d.SampleShape()) {
		return fmt.Errorf("nn: train: model %s takes inputs of shape %v, the %s set has samples of shape %v", m.Arch(), lm.InputShape(), role, d.SampleShape())
	}
	return nil
}

// open prepares cfg.Out: refuses an existing trajectory unless resuming,
// and on resume loads the last checkpoint and optimiser state. A complete
// trajectory returns its result with an error.
//
// A fresh run writes its manifest (no checkpoints yet) before anything
// else, so a run killed at any point leaves a folder it recognises as its
// own: --resume continues from the last listed checkpoint, or starts over
// when none is listed, and removes what the killed run left unlisted
// (temporary files, a checkpoint written but not yet in the manifest).
func (r *trainRun) open() (*TrainResult, error) {
	cfg := r.cfg
	if cfg.Out == "" {
		return nil, nil
	}
	if st, err := os.Stat(cfg.Out); err == nil && !st.IsDir() {
		return nil, fmt.Errorf("nn: train: output %q exists and is not a folder", cfg.Out)
	}
	prev, err := ReadManifest(cfg.Out)
	switch {
	case err == nil && len(prev.Checkpoints) == 0:
		if !cfg.Resume {
			return nil, fmt.Errorf("nn: train: %q holds a training run interrupted before its first checkpoint; resume it (it starts over) or choose another output folder", cfg.Out)
		}
		return nil, r.startFresh()
	case err == nil && !cfg.Resume:
		return nil, fmt.Errorf("nn: train: %q already holds a trajectory; resume it or choose another output folder", cfg.Out)
	case err == nil:
		if err := sameRun(prev, r.man); err != nil {
			return nil, fmt.Errorf("nn: train: cannot resume %q: %w", cfg.Out, err)
		}
		if prev.Complete {
			return &TrainResult{Checkpoints: prev.Checkpoints, Manifest: prev}, fmt.Errorf("nn: train: trajectory %q is already complete", cfg.Out)
		}
		last := prev.Checkpoints[len(prev.Checkpoints)-1]
		if r.p, err = LoadCheckpoint(filepath.Join(cfg.Out, last.File), r.m); err != nil {
			return nil, err
		}
		keep := ""
		if last.Step > 0 {
			keep = prev.OptimizerState
			if keep == "" {
				keep = optimStateFile(last.Index)
			}
			sf, err := ReadSafetensorsFile(filepath.Join(cfg.Out, keep))
			if err != nil {
				return nil, fmt.Errorf("nn: train: cannot resume: optimiser state of checkpoint %d: %w", last.Index, err)
			}
			if err := r.opt.LoadState(sf.ParamSet()); err != nil {
				return nil, fmt.Errorf("nn: train: cannot resume from %q: %w", sf.Source, err)
			}
		}
		if err := removeStale(cfg.Out, prev, keep); err != nil {
			return nil, fmt.Errorf("nn: train: %w", err)
		}
		r.step = last.Step
		r.man = prev
		r.res.Manifest = prev
		return nil, nil
	case fileExists(filepath.Join(cfg.Out, ManifestName)):
		// A manifest that cannot be read: never overwrite it.
		return nil, err
	}
	own, ok, err := ownRunFiles(cfg.Out)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		// Nothing recorded yet (a resumed run starts from scratch).
	case err != nil:
		return nil, fmt.Errorf("nn: train: %w", err)
	case !ok:
		return nil, fmt.Errorf("nn: train: output folder %q exists and is not empty (and holds no trajectory)", cfg.Out)
	case len(own) > 0 && !cfg.Resume:
		// Only a training run's file names: one killed before its first
		// manifest.
		return nil, fmt.Errorf("nn: train: %q holds the files of a training run interrupted before its first checkpoint (%s); resume it (it starts over) or choose another output folder", cfg.Out, strings.Join(own, ", "))
	}
	return nil, r.startFresh()
}

// startFresh makes cfg.Out, removes what an interrupted run of it left,
// and writes the run's manifest with no checkpoints: from here on the
// folder is recognisably this run's.
func (r *trainRun) startFresh() error {
	out := r.cfg.Out
	if _, err := os.Stat(out); errors.Is(err, fs.ErrNotExist) {
		r.createdDir = true
	}
	if err := os.MkdirAll(out, 0o755); err != nil {
		return fmt.Errorf("nn: train: %w", err)
	}
	r.fresh = true
	if err := removeStale(out, &Manifest{}, ""); err != nil {
		return fmt.Errorf("nn: train: %w", err)
	}
	r.man.Checkpoints = []CheckpointRecord{}
	if err := WriteManifest(out, r.man); err != nil {
		return fmt.Errorf("nn: train: %w", err)
	}
	return nil
}

// initParams sets the starting point (unless resumed) and the gradient
// buffers.
func (r *trainRun) initParams() error {
	if r.p == nil {
		if r.cfg.Init != nil {
			if err := CheckParams(r.m, r.cfg.Init, "initial parameters"); err != nil {
				return err
			}
			r.p = r.cfg.Init.Clone()
		} else {
			var err error
			if r.p, err = InitParams(r.m, r.cfg.Seed, r.cfg.InitScheme); err != nil {
				return err
			}
		}
	}
	r.g = NewParamSet()
	for _, pi := range r.m.State() {
		if !pi.Buffer {
			_ = r.g.Add(pi.Name, NewTensor(pi.Shape...))
		}
	}
	return nil
}

func (r *trainRun) report(tp TrainProgress) {
	if r.cfg.Progress != nil {
		tp.Epochs, tp.StepsPerEpoch, tp.TotalSteps = r.cfg.Epochs, r.spe, r.total
		r.cfg.Progress(tp)
	}
}

// epoch runs the steps of one epoch (from the resumed step on), with the
// checkpoints that fall in it.
func (r *trainRun) epoch(epoch int) error {
	start := time.Now()
	it, err := r.loader.Epoch(r.ctx, epoch, r.step-epoch*r.spe)
	if err != nil {
		return err
	}
	defer it.Close()
	var epLoss, epCorrect float64
	var epN int
	for {
		b, _, ok := it.Next()
		if !ok {
			break
		}
		lr := r.cfg.Schedule.LR(r.cfg.Optim.LR, r.step, r.spe, r.total)
		fr, err := r.m.Forward(r.e, r.p, b, r.g, true)
		if err != nil {
			return err
		}
		if math.IsNaN(fr.Loss) || math.IsInf(fr.Loss, 0) {
			return fmt.Errorf("nn: train: loss is %v at epoch %d, step %d (learning rate %g too high?)", fr.Loss, epoch+1, r.step+1, lr)
		}
		r.opt.Step(r.e, r.p, r.g, lr)
		r.step++
		r.runLoss += fr.Loss * float64(fr.N)
		r.runCorrect += float64(fr.Correct)
		r.runN += fr.N
		epLoss += fr.Loss * float64(fr.N)
		epCorrect += float64(fr.Correct)
		epN += fr.N
		r.report(TrainProgress{Phase: "train", Epoch: epoch, Step: r.step, LR: lr, Loss: epLoss / float64(epN), Acc: epCorrect / float64(epN)})
		if r.checkpointDue() {
			if err := r.checkpoint(epoch); err != nil {
				return err
			}
		}
		if err := r.ctx.Err(); err != nil {
			return err
		}
	}
	if err := r.ctx.Err(); err != nil {
		return err
	}
	secs := time.Since(start).Seconds()
	r.res.EpochSeconds = append(r.res.EpochSeconds, secs)
	r.man.EpochSeconds = append(r.man.EpochSeconds, secs)
	return nil
}

// checkpointDue reports whether a checkpoint follows the step just taken.
func (r *trainRun) checkpointDue() bool {
	every := r.cfg.CheckpointEvery
	if every > 0 {
		return r.step%every == 0 || r.step == r.total || r.extra[r.step]
	}
	return r.step%r.spe == 0 || r.extra[r.step]
}

// checkpoint records the current parameters: validation, then the files
// and manifest in cfg.Out, or a copy in memory.
func (r *trainRun) checkpoint(epoch int) error {
	rec := CheckpointRecord{Index: len(r.man.Checkpoints), Step: r.step, Epoch: float64(r.step) / float64(r.spe)}
	rec.File = CheckpointFile(rec.Index)
	if r.runN > 0 {
		acc, loss := r.runCorrect/float64(r.runN), r.runLoss/float64(r.runN)
		rec.TrainAcc, rec.TrainLoss = &acc, &loss
	}
	r.runLoss, r.runCorrect, r.runN = 0, 0, 0
	if !r.cfg.NoVal && r.val != nil && r.val.Len() > 0 {
		ev, err := Evaluate(r.ctx, r.e, r.m, r.p, r.val, func(done, tot int) {
			r.report(TrainProgress{Phase: "val", Epoch: epoch, Step: r.step, Done: done, Total: tot})
		})
		if err != nil {
			return err
		}
		rec.ValAcc, rec.ValLoss = &ev.Accuracy, &ev.Loss
	}
	if r.cfg.Out != "" {
		if err := r.writeCheckpoint(rec); err != nil {
			return err
		}
	} else {
		r.man.Checkpoints = append(r.man.Checkpoints, rec)
		r.man.Complete = r.step == r.total
		r.res.Trajectory.Points = append(r.res.Trajectory.Points, r.p.Clone())
	}
	r.report(TrainProgress{Phase: "checkpoint", Epoch: epoch, Step: r.step, Checkpoint: &rec})
	return nil
}

// writeCheckpoint writes checkpoint rec, the optimiser state and the
// manifest that lists them into cfg.Out.
func (r *trainRun) writeCheckpoint(rec CheckpointRecord) error {
	out := r.cfg.Out
	meta := map[string]string{"model": r.m.Arch(), "step": strconv.Itoa(r.step), "epoch": strconv.FormatFloat(rec.Epoch, 'g', -1, 64)}
	if err := SaveCheckpoint(filepath.Join(out, rec.File), r.m, r.p, meta); err != nil {
		return err
	}
	if r.step > 0 {
		if err := SaveSafetensors(filepath.Join(out, optimStateFile(rec.Index)), r.opt.State(), SaveOptions{Metadata: map[string]string{"step": strconv.Itoa(r.step)}}); err != nil {
			return err
		}
	}
	prevState := r.man.OptimizerState
	r.man.Checkpoints = append(r.man.Checkpoints, rec)
	r.man.Complete = r.step == r.total
	if r.step > 0 {
		r.man.OptimizerState = optimStateFile(rec.Index)
	}
	if err := WriteManifest(out, r.man); err != nil {
		r.man.Checkpoints = r.man.Checkpoints[:len(r.man.Checkpoints)-1]
		r.man.OptimizerState = prevState
		return err
	}
	// Only the newest optimiser state is needed to resume.
	if rec.Index > 0 && r.man.OptimizerState != optimStateFile(rec.Index-1) {
		os.Remove(filepath.Join(out, optimStateFile(rec.Index-1)))
	}
	return nil
}

// sameRun reports how a recorded manifest differs from a new run's.
func sameRun(prev, cur *Manifest) error {
	type field struct {
		name string
		a, b any
	}
	for _, f := range []field{
		{"model", prev.Model, cur.Model}, {"model config", prev.ModelConfig, cur.ModelConfig},
		{"dataset", prev.Dataset, cur.Dataset}, {"class subset", prev.ClassSubset, cur.ClassSubset},
		{"initialisation", prev.InitFrom, cur.InitFrom}, {"initialisation scheme", prev.InitScheme, cur.InitScheme},
		{"seed", prev.Seed, cur.Seed},
		{"optimiser", prev.Optimizer, cur.Optimizer}, {"schedule", prev.Schedule, cur.Schedule},
		{"epochs", prev.Epochs, cur.Epochs}, {"batch size", prev.BatchSize, cur.BatchSize},
		{"steps per epoch", prev.StepsPerEpoch, cur.StepsPerEpoch}, {"checkpoint interval", prev.CheckpointEvery, cur.CheckpointEvery},
	} {
		if !reflect.DeepEqual(f.a, f.b) {
			return fmt.Errorf("%s differs: recorded %v, now %v", f.name, f.a, f.b)
		}
	}
	return nil
}
