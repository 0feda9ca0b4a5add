package nn

import (
	"context"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"
)

// folderFiles lists dir's entries, sorted.
func folderFiles(t *testing.T, dir string) []string {
	t.Helper()
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range ents {
		names = append(names, e.Name())
	}
	sort.Strings(names)
	return names
}

// listedFiles is what a finished training folder must hold: the manifest,
// its checkpoints and its optimiser state.
func listedFiles(man *Manifest) []string {
	names := []string{ManifestName}
	for _, c := range man.Checkpoints {
		names = append(names, c.File)
	}
	if man.OptimizerState != "" {
		names = append(names, man.OptimizerState)
	}
	sort.Strings(names)
	return names
}

func copyDir(t *testing.T, src, dst string) {
	t.Helper()
	if err := os.MkdirAll(dst, 0o755); err != nil {
		t.Fatal(err)
	}
	for _, n := range folderFiles(t, src) {
		b, err := os.ReadFile(filepath.Join(src, n))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dst, n), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// TestResumeAfterKill builds, from a finished run, the folders a kill -9
// leaves at each point of the first checkpoint and of a later one, and
// checks that --resume finishes every one of them to the same bits as the
// uninterrupted run, leaving exactly the files the manifest lists.
func TestResumeAfterKill(t *testing.T) {
	d, m, cfg := synthData(t)
	base := TrainConfig{ModelConfig: cfg, Dataset: "synth", Epochs: 2, BatchSize: 32, Seed: 9,
		Optim: OptimConfig{Name: "sgd", LR: 0.05, Momentum: 0.9}, CheckpointEvery: 5}
	root := t.TempDir()
	full := base
	full.Out = filepath.Join(root, "full")
	want, err := Train(context.Background(), nil, m, d, full)
	if err != nil {
		t.Fatal(err)
	}
	wantMan, err := ReadManifest(full.Out)
	if err != nil {
		t.Fatal(err)
	}
	if got := folderFiles(t, full.Out); !slices.Equal(got, listedFiles(wantMan)) {
		t.Fatalf("finished folder holds %v, manifest lists %v", got, listedFiles(wantMan))
	}
	ckpt0, _ := os.ReadFile(filepath.Join(full.Out, CheckpointFile(0)))
	ckpt3, _ := os.ReadFile(filepath.Join(full.Out, CheckpointFile(3)))
	write := func(dir, name string, b []byte) {
		if err := os.WriteFile(filepath.Join(dir, name), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	// Manifest of the run killed after checkpoint 2 (written, listed).
	mid := *wantMan
	mid.Checkpoints = wantMan.Checkpoints[:3]
	mid.Complete = false
	mid.OptimizerState = optimStateFile(2)
	mid.EpochSeconds = nil
	cases := []struct {
		name  string
		setup func(dir string)
	}{
		{"temporary file of checkpoint 0, no manifest", func(dir string) {
			write(dir, "."+CheckpointFile(0)+".tmp-123456", ckpt0[:len(ckpt0)/2])
		}},
		{"checkpoint 0 renamed, no manifest", func(dir string) {
			write(dir, CheckpointFile(0), ckpt0)
			write(dir, "."+ManifestName+".tmp-42", []byte(`{"form`))
		}},
		{"manifest without checkpoints, checkpoint 0 half written", func(dir string) {
			m0 := *wantMan
			m0.Checkpoints, m0.Complete, m0.OptimizerState, m0.EpochSeconds = []CheckpointRecord{}, false, "", nil
			if err := WriteManifest(dir, &m0); err != nil {
				t.Fatal(err)
			}
			write(dir, "."+CheckpointFile(0)+".tmp-99", ckpt0[:100])
		}},
		{"manifest without checkpoints, checkpoint 0 renamed", func(dir string) {
			m0 := *wantMan
			m0.Checkpoints, m0.Complete, m0.OptimizerState, m0.EpochSeconds = []CheckpointRecord{}, false, "", nil
			if err := WriteManifest(dir, &m0); err != nil {
				t.Fatal(err)
			}
			write(dir, CheckpointFile(0), ckpt0)
		}},
		{"killed while writing checkpoint 3", func(dir string) {
			copyDir(t, full.Out, dir)
			for _, n := range []string{CheckpointFile(3), CheckpointFile(4), CheckpointFile(5), optimStateFile(5)} {
				os.Remove(filepath.Join(dir, n))
			}
			// The optimiser state of checkpoint 2, which the finished run
			// deleted, is written below from a run stopped there.
			if err := WriteManifest(dir, &mid); err != nil {
				t.Fatal(err)
			}
			write(dir, "."+CheckpointFile(3)+".tmp-7", ckpt3[:50])
			write(dir, "."+optimStateFile(3)+".tmp-8", []byte("xx"))
		}},
		{"checkpoint 3 renamed, manifest not yet updated", func(dir string) {
			copyDir(t, full.Out, dir)
			for _, n := range []string{CheckpointFile(4), CheckpointFile(5), optimStateFile(5)} {
				os.Remove(filepath.Join(dir, n))
			}
			if err := WriteManifest(dir, &mid); err != nil {
				t.Fatal(err)
			}
			write(dir, optimStateFile(3), []byte("stale optimiser state"))
		}},
	}
	// The optimiser state after checkpoint 2: from a run stopped there.
	stop := base
	stop.Out = filepath.Join(root, "stop")
	ctx, cancel := context.WithCancel(context.Background())
	stop.Progress = func(p TrainProgress) {
		if p.Phase == "checkpoint" && p.Checkpoint.Index == 2 {
			cancel()
		}
	}
	if _, err := Train(ctx, nil, m, d, stop); !errors.Is(err, context.Canceled) {
		t.Fatalf("stopped run: %v", err)
	}
	optim2, err := os.ReadFile(filepath.Join(stop.Out, optimStateFile(2)))
	if err != nil {
		t.Fatal(err)
	}
	for i, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			dir := filepath.Join(root, "case", string(rune('a'+i)))
			if err := os.MkdirAll(dir, 0o755); err != nil {
				t.Fatal(err)
			}
			c.setup(dir)
			if _, err := os.Stat(filepath.Join(dir, CheckpointFile(2))); err == nil {
				write(dir, optimStateFile(2), optim2)
			}
			before := folderFiles(t, dir)
			run := base
			run.Out = dir
			if _, err := Train(context.Background(), nil, m, d, run); err == nil {
				t.Fatal("a killed run's folder was taken without --resume")
			}
			if got := folderFiles(t, dir); !slices.Equal(got, before) {
				t.Fatalf("a refused run changed the folder: %v → %v", before, got)
			}
			run.Resume = true
			got, err := Train(context.Background(), nil, m, d, run)
			if err != nil {
				t.Fatalf("resume: %v", err)
			}
			sameParams(t, "resumed vs uninterrupted", got.Params, want.Params)
			man, err := ReadManifest(dir)
			if err != nil {
				t.Fatal(err)
			}
			if !man.Complete || len(man.Checkpoints) != len(wantMan.Checkpoints) {
				t.Fatalf("resumed manifest: complete %v, %d checkpoints", man.Complete, len(man.Checkpoints))
			}
			if files := folderFiles(t, dir); !slices.Equal(files, listedFiles(man)) {
				t.Errorf("resumed folder holds %v, manifest lists %v", files, listedFiles(man))
			}
			for k := range man.Checkpoints {
				a, _ := os.ReadFile(filepath.Join(dir, CheckpointFile(k)))
				b, _ := os.ReadFile(filepath.Join(full.Out, CheckpointFile(k)))
				if string(a) != string(b) {
					t.Errorf("checkpoint %d differs from the uninterrupted run's", k)
				}
			}
			if _, err := OpenTrajectory(dir, m); err != nil {
				t.Errorf("resumed trajectory does not open: %v", err)
			}
		})
	}
	// A folder holding anything else is never taken, even with --resume.
	other := filepath.Join(root, "other")
	os.MkdirAll(other, 0o755)
	write(other, CheckpointFile(0), ckpt0)
	write(other, "notes.txt", []byte("mine"))
	run := base
	run.Out, run.Resume = other, true
	if _, err := Train(context.Background(), nil, m, d, run); err == nil || !strings.Contains(err.Error(), "not empty") {
		t.Errorf("foreign folder: %v", err)
	}
	if got := folderFiles(t, other); !slices.Equal(got, []string{CheckpointFile(0), "notes.txt"}) {
		t.Errorf("foreign folder changed: %v", got)
	}
}

// TestOpenTrajectoryConsistency: a manifest that disagrees with its folder
// is refused with ErrInconsistentTrajectory, naming the problem.
func TestOpenTrajectoryConsistency(t *testing.T) {
	d, m, cfg := synthData(t)
	root := t.TempDir()
	good := filepath.Join(root, "good")
	if _, err := Train(context.Background(), nil, m, d, TrainConfig{ModelConfig: cfg, Dataset: "synth", Epochs: 2, BatchSize: 32, Seed: 9,
		Optim: OptimConfig{Name: "sgd", LR: 0.05}, CheckpointEvery: 7, Out: good}); err != nil {
		t.Fatal(err)
	}
	if _, err := OpenTrajectory(good, m); err != nil {
		t.Fatal(err)
	}
	man, _ := ReadManifest(good)
	if len(man.Checkpoints) < 4 {
		t.Fatalf("%d checkpoints", len(man.Checkpoints))
	}
	other, _ := NewModel("mlp-relu", ModelConfig{Width: 8, Depth: 1, InputShape: cfg.InputShape, NumClasses: 4})
	otherP, _ := InitParams(other, 1, "")
	cases := []struct {
		name, want string
		edit       func(dir string, man *Manifest)
	}{
		{"2 of 4 listed, complete", "lists no checkpoint at step", func(dir string, man *Manifest) {
			man.Checkpoints = man.Checkpoints[:2]
			man.Checkpoints = append(man.Checkpoints[:1:1], man.Checkpoints[len(man.Checkpoints)-1])
			man.Checkpoints[1].Index = 1
			man.Checkpoints[1].File = CheckpointFile(1)
			man.Checkpoints[1].Step = man.TotalSteps
		}},
		{"last step short of the total", "last checkpoint is at step", func(dir string, man *Manifest) {
			man.Checkpoints = man.Checkpoints[:2]
		}},
		{"listed file missing", "no such file", func(dir string, man *Manifest) {
			os.Remove(filepath.Join(dir, CheckpointFile(1)))
		}},
		{"listed file truncated", "truncated", func(dir string, man *Manifest) {
			p := filepath.Join(dir, CheckpointFile(2))
			b, _ := os.ReadFile(p)
			os.WriteFile(p, b[:len(b)-4], 0o644)
		}},
		{"listed file of another width", "has shape", func(dir string, man *Manifest) {
			if err := SaveCheckpoint(filepath.Join(dir, CheckpointFile(1)), other, otherP, nil); err != nil {
				t.Fatal(err)
			}
		}},
		{"unlisted checkpoint in a complete folder", "does not list", func(dir string, man *Manifest) {
			b, _ := os.ReadFile(filepath.Join(dir, CheckpointFile(0)))
			os.WriteFile(filepath.Join(dir, CheckpointFile(len(man.Checkpoints))), b, 0o644)
		}},
		{"steps out of order", "not after", func(dir string, man *Manifest) {
			man.Checkpoints[2].Step = man.Checkpoints[1].Step
		}},
		{"optimiser state missing", "optimiser state", func(dir string, man *Manifest) {
			os.Remove(filepath.Join(dir, man.OptimizerState))
		}},
	}
	for i, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			dir := filepath.Join(root, "case", string(rune('a'+i)))
			copyDir(t, good, dir)
			man, _ := ReadManifest(dir)
			c.edit(dir, man)
			if err := WriteManifest(dir, man); err != nil {
				t.Fatal(err)
			}
			_, err := OpenTrajectory(dir, m)
			if !errors.Is(err, ErrInconsistentTrajectory) || !strings.Contains(err.Error(), c.want) {
				t.Errorf("got %v, want ErrInconsistentTrajectory mentioning %q", err, c.want)
			}
		})
	}
	// A manifest written by hand for checkpoints from elsewhere: other file
	// names, no steps, no total, not marked complete.
	hand := filepath.Join(root, "hand")
	os.MkdirAll(hand, 0o755)
	hm := &Manifest{Format: ManifestFormat, Model: man.Model, ModelConfig: man.ModelConfig, Dataset: "synth"}
	for i := 0; i < 3; i++ {
		b, _ := os.ReadFile(filepath.Join(good, CheckpointFile(i)))
		name := fmt.Sprintf("epoch-%02d.safetensors", i)
		os.WriteFile(filepath.Join(hand, name), b, 0o644)
		hm.Checkpoints = append(hm.Checkpoints, CheckpointRecord{Index: i, File: name})
	}
	WriteManifest(hand, hm)
	if _, err := OpenTrajectory(hand, m); err != nil {
		t.Errorf("hand-written manifest: %v", err)
	}
	// An interrupted run opens; its manifest says it is incomplete.
	dir := filepath.Join(root, "partial")
	copyDir(t, good, dir)
	pm, _ := ReadManifest(dir)
	pm.Checkpoints, pm.Complete = pm.Checkpoints[:2], false
	WriteManifest(dir, pm)
	tr, err := OpenTrajectory(dir, m)
	if err != nil || tr.Manifest.Complete {
		t.Errorf("interrupted run: %v", err)
	}
}

// TestTrainRejectsNonFinite: non-finite hyperparameters and an epoch count
// whose step count overflows fail before anything is written.
func TestTrainRejectsNonFinite(t *testing.T) {
	d, m, cfg := synthData(t)
	nan, inf := math.NaN(), math.Inf(1)
	base := TrainConfig{ModelConfig: cfg, Dataset: "synth", Epochs: 1, BatchSize: 32, Optim: OptimConfig{Name: "sgd", LR: 0.05}}
	for _, c := range []struct {
		name string
		edit func(*TrainConfig)
	}{
		{"lr Inf", func(c *TrainConfig) { c.Optim.LR = inf }},
		{"lr NaN", func(c *TrainConfig) { c.Optim.LR = nan }},
		{"momentum NaN", func(c *TrainConfig) { c.Optim.Momentum = nan }},
		{"weight decay NaN", func(c *TrainConfig) { c.Optim.WeightDecay = nan }},
		{"adamw eps Inf", func(c *TrainConfig) { c.Optim.Name, c.Optim.Eps = "adamw", inf }},
		{"gamma NaN", func(c *TrainConfig) { c.Schedule = ScheduleConfig{Name: "multistep", Gamma: nan, Milestones: []int{1}} }},
		{"min LR Inf", func(c *TrainConfig) { c.Schedule = ScheduleConfig{Name: "cosine", MinLR: inf} }},
		{"epochs overflow", func(c *TrainConfig) { c.Epochs = math.MaxInt }},
	} {
		t.Run(c.name, func(t *testing.T) {
			tc := base
			tc.Out = filepath.Join(t.TempDir(), "run")
			c.edit(&tc)
			if _, err := Train(context.Background(), nil, m, d, tc); err == nil {
				t.Fatal("accepted")
			}
			if _, err := os.Stat(tc.Out); err == nil {
				t.Errorf("a refused run wrote %s", tc.Out)
			}
		})
	}
}

// TestTrainFailedStartLeavesNothing: a fresh run that fails before its
// first training checkpoint (here: the loss diverges at once) removes what
// it wrote, its folder too when it made it; an interrupted one is kept.
func TestTrainFailedStartLeavesNothing(t *testing.T) {
	d, m, cfg := synthData(t)
	tc := TrainConfig{ModelConfig: cfg, Dataset: "synth", Epochs: 1, BatchSize: 16, Optim: OptimConfig{Name: "sgd", LR: 1e6}}
	tc.Out = filepath.Join(t.TempDir(), "new")
	if _, err := Train(context.Background(), nil, m, d, tc); err == nil || !strings.Contains(err.Error(), "loss is") {
		t.Fatalf("diverging run: %v", err)
	}
	if _, err := os.Stat(tc.Out); err == nil {
		t.Errorf("a failed fresh run left %s", tc.Out)
	}
	tc.Out = t.TempDir() // exists, empty: kept, and left empty
	if _, err := Train(context.Background(), nil, m, d, tc); err == nil {
		t.Fatal("diverging run succeeded")
	}
	if got := folderFiles(t, tc.Out); len(got) != 0 {
		t.Errorf("a failed fresh run left %v", got)
	}
	// Cancelled after checkpoint 0: kept, resumable.
	tc.Optim.LR = 0.05
	tc.Out = filepath.Join(t.TempDir(), "cancelled")
	ctx, cancel := context.WithCancel(context.Background())
	tc.Progress = func(p TrainProgress) {
		if p.Phase == "train" {
			cancel()
		}
	}
	if _, err := Train(ctx, nil, m, d, tc); !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled run: %v", err)
	}
	if _, err := ReadManifest(tc.Out); err != nil {
		t.Errorf("an interrupted run's folder was not kept: %v", err)
	}
}
