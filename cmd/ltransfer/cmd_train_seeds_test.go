package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ltransfer/ltransfer/nn"
)

// sameTrajectories checks that two multi-seed folders hold the same
// trajectories: the same files, every checkpoint byte-identical, and
// manifests equal but for the epoch timings.
func sameTrajectories(t *testing.T, a, b string) {
	t.Helper()
	fa, fb := treeFiles(t, a), treeFiles(t, b)
	if strings.Join(fa, ",") != strings.Join(fb, ",") {
		t.Fatalf("%s and %s hold different files:\n%v\n%v", a, b, fa, fb)
	}
	for _, f := range fa {
		x, _ := os.ReadFile(filepath.Join(a, f))
		y, _ := os.ReadFile(filepath.Join(b, f))
		switch filepath.Base(f) {
		case "manifest.json":
			x, y = stripTimings(t, x, "epoch_seconds"), stripTimings(t, y, "epoch_seconds")
		case "seeds.json":
			x, y = stripTimings(t, x, "shards"), stripTimings(t, y, "shards")
		}
		if !bytes.Equal(x, y) {
			t.Errorf("%s differs between %s and %s", f, a, b)
		}
	}
}

// TestTrainSeedsCLI trains three seeds whole, in two shards (one from
// SLURM_ARRAY_TASK_ID, one from JOB_COMPLETION_INDEX), and after a
// simulated kill, and checks the same bytes come out every way; bad shard
// arguments and other flags are refused with nothing written.
func TestTrainSeedsCLI(t *testing.T) {
	mnistOrSkip(t)
	dir := t.TempDir()
	common := []string{"--model", "mlp", "--width", "16", "--epochs", "2", "--limit", "600", "--batch", "32", "--threads", "1", "--no-test"}
	train := func(out string, extra ...string) (string, string, int) {
		args := append([]string{"train", "--seeds", "101-103"}, common...)
		return run(t, append(append(args, "--out", out), extra...)...)
	}
	whole := filepath.Join(dir, "whole")
	o, e, code := train(whole)
	if code != 0 || !strings.Contains(o, "wrote "+whole+" (3 trajectories)") {
		t.Fatalf("train --seeds: code %d\n%s\n%s", code, o, e)
	}
	for _, s := range []string{"seed-101", "seed-102", "seed-103"} {
		man, err := nn.ReadManifest(filepath.Join(whole, s))
		if err != nil || !man.Complete || man.Seed != map[string]int64{"seed-101": 101, "seed-102": 102, "seed-103": 103}[s] {
			t.Fatalf("%s: %+v, %v", s, man, err)
		}
	}
	// Each seed is the trajectory a plain train --seed writes.
	single := filepath.Join(dir, "single")
	if _, e, code := run(t, append(append([]string{"train", "--seed", "102"}, common...), "--out", single)...); code != 0 {
		t.Fatalf("train --seed 102: %s", e)
	}
	for _, f := range []string{"ckpt-0000.safetensors", "ckpt-0002.safetensors"} {
		x, _ := os.ReadFile(filepath.Join(single, f))
		y, _ := os.ReadFile(filepath.Join(whole, "seed-102", f))
		if len(x) == 0 || !bytes.Equal(x, y) {
			t.Errorf("seed-102/%s differs from train --seed 102's", f)
		}
	}
	// A rerun trains nothing.
	if _, e, code := train(whole); code != 0 || !strings.Contains(e, "0 to train, 3 finished") {
		t.Fatalf("rerun: code %d, %s", code, e)
	}

	sh := filepath.Join(dir, "sharded")
	t.Setenv("SLURM_ARRAY_TASK_ID", "5")
	t.Setenv("SLURM_ARRAY_TASK_MIN", "4")
	t.Setenv("SLURM_ARRAY_TASK_COUNT", "2")
	if o, e, code := train(sh); code != 0 || !strings.Contains(o, "waiting for: seed-101, seed-103") {
		t.Fatalf("shard 1/2 from SLURM_ARRAY_TASK_ID 5 of 4-5: code %d\n%s\n%s", code, o, e)
	}
	t.Setenv("SLURM_ARRAY_TASK_ID", "")
	before := treeFiles(t, sh)
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"--shard", "2/2"}, "0 ≤ I < N"},
		{[]string{"--shard", "0/3"}, "started with 2 shards"},
		{[]string{"--shard", "0/2", "--lr", "0.5"}, "other settings"},
		{[]string{"--shard", "0/2", "--seed", "4"}, "exclude each other"},
		{[]string{"--shard", "0/2", "--resume"}, "drop --resume"},
		{[]string{"--shard", "0/2", "--epochs", "x"}, "invalid value"},
		{[]string{"--shard-count", "2"}, "needs --shard"},
	} {
		if _, e, code := train(sh, c.args...); code == 0 || !strings.Contains(e, c.want) {
			t.Errorf("%v: code %d, stderr %q, want %q", c.args, code, e, c.want)
		}
	}
	if after := treeFiles(t, sh); strings.Join(after, ",") != strings.Join(before, ",") {
		t.Errorf("refused runs changed the folder: %v → %v", before, after)
	}
	for _, c := range []struct{ seeds, want string }{{"5-3", "empty"}, {"1,2,1", "twice"}, {"a", "not a seed"}, {"", "no seeds"}} {
		if _, e, code := run(t, "train", "--seeds", c.seeds, "--out", filepath.Join(dir, "bad")); code == 0 || !strings.Contains(e, c.want) {
			t.Errorf("--seeds %q: code %d, %q, want %q", c.seeds, code, e, c.want)
		}
	}
	if _, err := os.Stat(filepath.Join(dir, "bad")); err == nil {
		t.Error("a refused --seeds run created its folder")
	}
	if _, e, code := run(t, "train", "--shard", "0/2", "--out", filepath.Join(dir, "bad")); code == 0 || !strings.Contains(e, "needs --seeds") {
		t.Errorf("--shard without --seeds: code %d, %q", code, e)
	}

	// Shard 0 from a Kubernetes completion index, killed after its first
	// epoch of seed-103: the rerun resumes and gives the same bytes.
	t.Setenv("JOB_COMPLETION_INDEX", "0")
	t.Setenv("LTRANSFER_SHARD_COUNT", "2")
	if _, e, code := train(sh); code != 0 {
		t.Fatalf("shard 0/2 from JOB_COMPLETION_INDEX: %s", e)
	}
	sameTrajectories(t, whole, sh)
	final := filepath.Join(sh, "seed-103")
	part := partialDir(final)
	if err := os.Rename(final, part); err != nil {
		t.Fatal(err)
	}
	man, err := nn.ReadManifest(part)
	if err != nil {
		t.Fatal(err)
	}
	// Killed in the first epoch: the manifest lists the initialisation
	// only, the first epoch's checkpoint is half-written, nothing later
	// exists.
	for _, c := range man.Checkpoints[1:] {
		os.Remove(filepath.Join(part, c.File))
		os.Remove(filepath.Join(part, strings.Replace(c.File, "ckpt-", "optim-", 1)))
	}
	man.Checkpoints, man.Complete, man.EpochSeconds = man.Checkpoints[:1], false, nil
	if err := nn.WriteManifest(part, man); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(part, nn.CheckpointFile(1)), []byte("half"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, e, code := train(sh); code != 0 || !strings.Contains(e, "1 to train, 1 finished") {
		t.Fatalf("rerun after a kill: code %d, %s", code, e)
	}
	if _, err := os.Stat(part); err == nil {
		t.Error("the partial folder is still there")
	}
	sameTrajectories(t, whole, sh)
}
