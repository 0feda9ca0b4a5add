package nn

import (
	"context"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"time"

	"github.com/ltransfer/ltransfer/kernels"
)

// TrainConfig configures Train.
type TrainConfig struct {
	// ModelConfig and Dataset are recorded in the manifest (the model
	// itself is passed to Train).
	ModelConfig ModelConfig
	Dataset     string
	DataPath    string
	Epochs      int
	BatchSize   int
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
type TrainResult struct {
	Params      *ParamSet
	Checkpoints []CheckpointRecord
	Manifest    *Manifest
	// EpochSeconds is the wall time of each epoch run in this call,
	// including validation and checkpoint writing.
	EpochSeconds []float64
}

// Train trains m on data.Train with cfg, evaluating on data.Val at every
// checkpoint, recording the trajectory in cfg.Out when set. It stops with
// ctx's error when ctx is cancelled; the trajectory recorded so far stays
// valid and resumable.
func Train(ctx context.Context, e *kernels.Engine, m Model, data *Data, cfg TrainConfig) (*TrainResult, error) {
	if e == nil {
		e = kernels.Default()
	}
	if cfg.Epochs < 1 {
		return nil, fmt.Errorf("nn: train: epochs %d, want ≥ 1", cfg.Epochs)
	}
	if cfg.BatchSize < 1 {
		return nil, fmt.Errorf("nn: train: batch size %d, want ≥ 1", cfg.BatchSize)
	}
	if cfg.CheckpointEvery < 0 {
		return nil, fmt.Errorf("nn: train: checkpoint interval %d, want ≥ 0", cfg.CheckpointEvery)
	}
	if err := cfg.Schedule.Validate(); err != nil {
		return nil, err
	}
	if err := checkInitScheme(cfg.InitScheme); err != nil {
		return nil, fmt.Errorf("nn: train: %w", err)
	}
	if cfg.InitScheme == InitPyTorch {
		cfg.InitScheme = "" // the default: manifests record no scheme
	}
	if cfg.InitScheme != "" && cfg.Init != nil {
		return nil, fmt.Errorf("nn: train: initialisation scheme %q given with starting parameters", cfg.InitScheme)
	}
	if data == nil || data.Train == nil || data.Train.Len() == 0 {
		return nil, fmt.Errorf("nn: train: no training data")
	}
	if lm, ok := m.(interface{ InputShape() []int }); ok && Numel(lm.InputShape()) != Numel(data.Train.SampleShape()) {
		return nil, fmt.Errorf("nn: train: model %s takes inputs of shape %v, dataset %s has samples of shape %v", m.Arch(), lm.InputShape(), data.Name, data.Train.SampleShape())
	}
	opt, err := NewOptimizer(cfg.Optim, m.State())
	if err != nil {
		return nil, err
	}
	loader := &Loader{Data: data.Train, BatchSize: cfg.BatchSize, Shuffle: true, Augment: true, Seed: cfg.Seed}
	spe := loader.NumBatches()
	total := spe * cfg.Epochs
	extra := map[int]bool{}
	for _, s := range cfg.ExtraCheckpoints {
		if s < 1 || s > total {
			return nil, fmt.Errorf("nn: train: extra checkpoint step %d outside [1, %d]", s, total)
		}
		extra[s] = true
	}
	man := &Manifest{
		Format: ManifestFormat, Model: m.Arch(), ModelConfig: cfg.ModelConfig, Width: cfg.ModelConfig.Width,
		Dataset: cfg.Dataset, DataPath: cfg.DataPath, Seed: cfg.Seed, Optimizer: cfg.Optim, Schedule: cfg.Schedule,
		ClassSubset: data.ClassSubset, InitFrom: cfg.InitFrom, InitScheme: cfg.InitScheme,
		Epochs: cfg.Epochs, BatchSize: cfg.BatchSize, StepsPerEpoch: spe, TotalSteps: total,
		CheckpointEvery: cfg.CheckpointEvery, TrainSamples: data.Train.Len(),
	}
	if data.Val != nil {
		man.ValSamples = data.Val.Len()
	}
	var p *ParamSet
	step := 0
	if cfg.Out != "" {
		prev, err := ReadManifest(cfg.Out)
		switch {
		case err == nil && !cfg.Resume:
			return nil, fmt.Errorf("nn: train: %q already holds a trajectory; resume it or choose another output folder", cfg.Out)
		case err == nil:
			if err := sameRun(prev, man); err != nil {
				return nil, fmt.Errorf("nn: train: cannot resume %q: %w", cfg.Out, err)
			}
			if prev.Complete {
				return &TrainResult{Checkpoints: prev.Checkpoints, Manifest: prev}, fmt.Errorf("nn: train: trajectory %q is already complete", cfg.Out)
			}
			last := prev.Checkpoints[len(prev.Checkpoints)-1]
			if p, err = LoadCheckpoint(filepath.Join(cfg.Out, last.File), m); err != nil {
				return nil, err
			}
			if last.Step > 0 {
				sf, err := ReadSafetensorsFile(filepath.Join(cfg.Out, optimStateFile(last.Index)))
				if err != nil {
					return nil, fmt.Errorf("nn: train: cannot resume: optimiser state of checkpoint %d: %w", last.Index, err)
				}
				if err := opt.LoadState(sf.ParamSet()); err != nil {
					return nil, fmt.Errorf("nn: train: cannot resume from %q: %w", sf.Source, err)
				}
			}
			step = last.Step
			man = prev
		case fileExists(filepath.Join(cfg.Out, ManifestName)):
			// A manifest that cannot be read: never overwrite it.
			return nil, err
		default:
			// Nothing recorded yet (a resumed run starts from scratch).
			if err := prepareOut(cfg.Out); err != nil {
				return nil, err
			}
		}
	}
	if p == nil {
		if cfg.Init != nil {
			if err := CheckParams(m, cfg.Init, "initial parameters"); err != nil {
				return nil, err
			}
			p = cfg.Init.Clone()
		} else if p, err = InitParams(m, cfg.Seed, cfg.InitScheme); err != nil {
			return nil, err
		}
	}
	g := NewParamSet()
	for _, pi := range m.State() {
		if !pi.Buffer {
			_ = g.Add(pi.Name, NewTensor(pi.Shape...))
		}
	}
	res := &TrainResult{Params: p, Manifest: man}
	report := func(tp TrainProgress) {
		if cfg.Progress != nil {
			tp.Epochs, tp.StepsPerEpoch, tp.TotalSteps = cfg.Epochs, spe, total
			cfg.Progress(tp)
		}
	}
	var runLoss, runCorrect float64
	var runN int
	checkpoint := func(epoch int) error {
		rec := CheckpointRecord{Index: len(man.Checkpoints), Step: step, Epoch: float64(step) / float64(spe)}
		rec.File = CheckpointFile(rec.Index)
		if runN > 0 {
			acc, loss := runCorrect/float64(runN), runLoss/float64(runN)
			rec.TrainAcc, rec.TrainLoss = &acc, &loss
		}
		runLoss, runCorrect, runN = 0, 0, 0
		if !cfg.NoVal && data.Val != nil && data.Val.Len() > 0 {
			ev, err := Evaluate(ctx, e, m, p, data.Val, func(done, tot int) {
				report(TrainProgress{Phase: "val", Epoch: epoch, Step: step, Done: done, Total: tot})
			})
			if err != nil {
				return err
			}
			rec.ValAcc, rec.ValLoss = &ev.Accuracy, &ev.Loss
		}
		if cfg.Out != "" {
			meta := map[string]string{"model": m.Arch(), "step": strconv.Itoa(step), "epoch": strconv.FormatFloat(rec.Epoch, 'g', -1, 64)}
			if err := SaveCheckpoint(filepath.Join(cfg.Out, rec.File), m, p, meta); err != nil {
				return err
			}
			if step > 0 {
				if err := SaveSafetensors(filepath.Join(cfg.Out, optimStateFile(rec.Index)), opt.State(), SaveOptions{Metadata: map[string]string{"step": strconv.Itoa(step)}}); err != nil {
					return err
				}
			}
			man.Checkpoints = append(man.Checkpoints, rec)
			man.Complete = step == total
			if err := WriteManifest(cfg.Out, man); err != nil {
				man.Checkpoints = man.Checkpoints[:len(man.Checkpoints)-1]
				return err
			}
			// Only the newest optimiser state is needed to resume.
			if rec.Index > 0 {
				os.Remove(filepath.Join(cfg.Out, optimStateFile(rec.Index-1)))
			}
		} else {
			man.Checkpoints = append(man.Checkpoints, rec)
			man.Complete = step == total
		}
		report(TrainProgress{Phase: "checkpoint", Epoch: epoch, Step: step, Checkpoint: &rec})
		return nil
	}
	if step == 0 && len(man.Checkpoints) == 0 {
		if err := checkpoint(0); err != nil {
			return nil, err
		}
	}
	for epoch := step / spe; epoch < cfg.Epochs && step < total; epoch++ {
		start := time.Now()
		it, err := loader.Epoch(ctx, epoch, step-epoch*spe)
		if err != nil {
			return nil, err
		}
		var epLoss, epCorrect float64
		var epN int
		for {
			b, _, ok := it.Next()
			if !ok {
				break
			}
			lr := cfg.Schedule.LR(cfg.Optim.LR, step, spe, total)
			r, err := m.Forward(e, p, b, g, true)
			if err != nil {
				it.Close()
				return nil, err
			}
			if math.IsNaN(r.Loss) || math.IsInf(r.Loss, 0) {
				it.Close()
				return nil, fmt.Errorf("nn: train: loss is %v at epoch %d, step %d (learning rate %g too high?)", r.Loss, epoch+1, step+1, lr)
			}
			opt.Step(e, p, g, lr)
			step++
			runLoss += r.Loss * float64(r.N)
			runCorrect += float64(r.Correct)
			runN += r.N
			epLoss += r.Loss * float64(r.N)
			epCorrect += float64(r.Correct)
			epN += r.N
			report(TrainProgress{Phase: "train", Epoch: epoch, Step: step, LR: lr, Loss: epLoss / float64(epN), Acc: epCorrect / float64(epN)})
			endOfEpoch := step%spe == 0
			if (cfg.CheckpointEvery > 0 && (step%cfg.CheckpointEvery == 0 || step == total)) ||
				(cfg.CheckpointEvery == 0 && endOfEpoch) || extra[step] {
				if err := checkpoint(epoch); err != nil {
					it.Close()
					return nil, err
				}
			}
			if err := ctx.Err(); err != nil {
				it.Close()
				return nil, err
			}
		}
		it.Close()
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		secs := time.Since(start).Seconds()
		res.EpochSeconds = append(res.EpochSeconds, secs)
		man.EpochSeconds = append(man.EpochSeconds, secs)
	}
	if cfg.Out != "" && len(man.EpochSeconds) > 0 {
		// Record the last epoch's time too.
		if err := WriteManifest(cfg.Out, man); err != nil {
			return nil, err
		}
	}
	res.Checkpoints = man.Checkpoints
	return res, nil
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
	if len(prev.Checkpoints) == 0 {
		return fmt.Errorf("no checkpoint recorded yet")
	}
	return nil
}

// prepareOut creates the output folder; an existing non-empty folder
// without a manifest is refused so nothing unrelated is overwritten.
func prepareOut(dir string) error {
	ents, err := os.ReadDir(dir)
	if err == nil && len(ents) > 0 {
		return fmt.Errorf("nn: train: output folder %q exists and is not empty (and holds no trajectory)", dir)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("nn: train: %w", err)
	}
	return nil
}
