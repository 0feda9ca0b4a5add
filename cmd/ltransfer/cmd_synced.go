package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"strings"

	"github.com/ltransfer/ltransfer/nn"
	"github.com/ltransfer/ltransfer/transfer"
)

func init() {
	register("synced", "transfer while the source trains: source and target trained on the same batches, the permutation updated as the source moves (the paper code's synced transfer)", runSynced)
}

func runSynced(args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("synced", stderr, "synced --model mlp --width 4096 --dataset mnist --epochs 10 --lr 0.01 --splits 4 --mode gmt|fgmt|true-grads|random --seed-source 101 --seed-target 102 --out DIR")
	mf := addModelFlags(fs)
	df := addDataFlags(fs)
	epochs := fs.Int("epochs", 10, "training epochs of source and target")
	batch := fs.Int("batch", 128, "mini-batch size")
	lr := fs.Float64("lr", 0.01, "SGD learning rate")
	momentum := fs.Float64("momentum", 0.9, "SGD momentum")
	wd := fs.Float64("wd", 0, "SGD weight decay")
	sched := fs.String("schedule", "constant", "LR schedule: constant or cosine")
	initScheme := fs.String("init", nn.InitPyTorch, "initialisation: pytorch or kaiming-normal")
	seedS := fs.Int64("seed-source", 101, "seed of the source's initialisation (and of the batch order)")
	seedT := fs.Int64("seed-target", 102, "seed of the target's initialisation")
	splits := fs.Int("splits", 4, "permutation updates per epoch (the paper code's num_splits)")
	mode := fs.String("mode", "gmt", "gmt (every stored point recomputed), fgmt (the newest only), true-grads (match the target's own training gradients: a reference) or random (one random permutation)")
	threads := fs.Int("threads", 0, "worker threads (0: GOMAXPROCS)")
	out := fs.String("out", "", "output folder: report.json, synced.png, source/target/transferred.safetensors, perms.json (required)")
	force := fs.Bool("force", false, "replace a finished synced transfer in --out")
	asJSON := fs.Bool("json", false, "print report.json to stdout instead of a table")
	if err := movedFlags(args, map[string]string{"target-seed": "--seed-target S", "method": "--mode gmt|fgmt|true-grads|random"}); err != nil {
		return err
	}
	if done, err := parseFlags(fs, args); done {
		return err
	}
	switch {
	case *out == "":
		return errors.New("--out DIR is required")
	case *epochs < 1 || *epochs > 100000:
		return fmt.Errorf("--epochs %d: want 1…100000", *epochs)
	case *batch < 1 || *splits < 1:
		return fmt.Errorf("--batch %d and --splits %d must be ≥ 1", *batch, *splits)
	case !finite(*lr, *momentum, *wd) || *lr < 0 || *momentum < 0 || *wd < 0:
		return fmt.Errorf("--lr %v, --momentum %v and --wd %v must be finite and ≥ 0", *lr, *momentum, *wd)
	}
	s := strings.ToLower(*sched)
	if s != "constant" && s != "cosine" {
		return fmt.Errorf("--schedule %q: want constant or cosine", *sched)
	}
	if err := checkOutDir(*out, *force); err != nil {
		return err
	}
	e, err := engineFor(*threads)
	if err != nil {
		return err
	}
	data, err := df.load()
	if err != nil {
		return err
	}
	mcfg := mf.config(data.Train.SampleShape(), data.Train.NumClasses(), nil)
	model, err := nn.NewModel(mf.arch, mcfg)
	if err != nil {
		return err
	}
	src0, err := nn.InitParams(model, *seedS, *initScheme)
	if err != nil {
		return err
	}
	tgt0, err := nn.InitParams(model, *seedT, *initScheme)
	if err != nil {
		return err
	}
	val := nn.Dataset(data.Val)
	if data.Val == nil || data.Val.Len() == 0 {
		val = data.Test
	}
	nb := (data.Train.Len() + *batch - 1) / *batch
	bar := newProgress(stderr, "synced "+*mode, int64(*epochs*nb)).Units("step", *batch)
	o := transfer.SyncedOptions{Mode: transfer.SyncedMode(strings.ToLower(*mode)), NewModel: func() (nn.Model, error) { return nn.NewModel(mf.arch, mcfg) },
		SourceInit: src0, TargetInit: tgt0, Train: data.Train, Val: val, Augment: !df.noAugment && data.TrainAugmentation != (nn.Augmentation{}),
		Optim: nn.OptimConfig{Name: "sgd", LR: *lr, Momentum: *momentum, WeightDecay: *wd}, Schedule: nn.ScheduleConfig{Name: s},
		Epochs: *epochs, BatchSize: *batch, Splits: *splits, Seed: *seedS, Engine: e,
		Progress: func(ep, b, n int) { bar.Set(int64(ep*n+b), fmt.Sprintf("epoch %d/%d", ep+1, *epochs)) }}
	ctx, stop := signalContext()
	defer stop()
	fmt.Fprintf(stderr, "synced %s: %s on %s, seeds %d → %d, %d epochs, %d permutation updates per epoch, %d threads\n", o.Mode, mf.arch, data.Name, *seedS, *seedT, *epochs, *splits, e.Threads())
	rep, err := transfer.Synced(ctx, o)
	bar.Finish()
	if err != nil {
		if ctx.Err() != nil {
			return errors.New("interrupted; rerun the same command to start again")
		}
		return err
	}
	tmp := partialDir(*out)
	if err := os.RemoveAll(tmp); err != nil {
		return err
	}
	if err := os.MkdirAll(tmp, 0o755); err != nil {
		return err
	}
	write := func() error {
		for _, f := range []struct {
			name string
			p    *nn.ParamSet
		}{{"source.safetensors", rep.Source}, {"target.safetensors", rep.Target}, {"transferred.safetensors", rep.Transferred}} {
			if err := nn.SaveCheckpoint(filepath.Join(tmp, f.name), model, f.p, map[string]string{"synced": string(o.Mode)}); err != nil {
				return err
			}
		}
		if err := transfer.SavePerms(filepath.Join(tmp, "perms.json"), rep.Perms); err != nil {
			return err
		}
		curves := []demoCurve{{Name: "source"}, {Name: "target (trained)"}, {Name: "transferred (" + string(o.Mode) + ")"}}
		for _, ep := range rep.Epochs {
			for i, a := range []float64{ep.Source, ep.Target, ep.Transferred} {
				curves[i].Steps = append(curves[i].Steps, ep.Epoch)
				curves[i].Acc = append(curves[i].Acc, a)
			}
		}
		if err := plotCurves(filepath.Join(tmp, "synced.png"), fmt.Sprintf("synced transfer (%s), %s on %s", o.Mode, mf.arch, data.Name), "epoch", curves, false); err != nil {
			return err
		}
		return writeJSONAtomic(filepath.Join(tmp, "report.json"), rep)
	}
	if err := write(); err != nil {
		_ = os.RemoveAll(tmp)
		return err
	}
	if err := replaceDir(tmp, *out); err != nil {
		return err
	}
	if *asJSON {
		return json.NewEncoder(stdout).Encode(rep)
	}
	fmt.Fprintf(stdout, "| epoch | source | target | transferred (%s) |\n|---|---|---|---|\n", o.Mode)
	for _, ep := range rep.Epochs {
		fmt.Fprintf(stdout, "| %d | %.2f%% | %.2f%% | %.2f%% |\n", ep.Epoch, 100*ep.Source, 100*ep.Target, 100*ep.Transferred)
	}
	fmt.Fprintf(stdout, "%d permutation updates in %.1f s; wrote %s (report.json, synced.png, checkpoints, perms.json)\n", rep.Matchings, rep.Seconds, *out)
	return nil
}

func finite(xs ...float64) bool {
	for _, x := range xs {
		if math.IsNaN(x) || math.IsInf(x, 0) {
			return false
		}
	}
	return true
}
