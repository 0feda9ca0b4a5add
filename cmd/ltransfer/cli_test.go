package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"runtime"
	"sort"
	"strings"
	"testing"

	"github.com/ltransfer/ltransfer/asm"
	"github.com/ltransfer/ltransfer/nn"
)

// Every command, and the top level, answers --help and -h with its usage
// and exit status 0.
func TestHelpExitsZero(t *testing.T) {
	var cmds [][]string
	for name := range commands {
		cmds = append(cmds, []string{name})
	}
	cmds = append(cmds, []string{"bench", "gemm"}, []string{"bench", "step"}, []string{"trajectory", "import"})
	sort.Slice(cmds, func(i, j int) bool { return strings.Join(cmds[i], " ") < strings.Join(cmds[j], " ") })
	if len(cmds) < 12 {
		t.Fatalf("only %d commands registered", len(cmds))
	}
	for _, c := range cmds {
		for _, h := range []string{"--help", "-h"} {
			out, errs, code := runCLI(append(append([]string(nil), c...), h)...)
			if code != 0 {
				t.Errorf("ltransfer %s %s: exit %d\n%s%s", strings.Join(c, " "), h, code, out, errs)
			}
			if !strings.Contains(out+errs, "usage: ltransfer "+c[0]) {
				t.Errorf("ltransfer %s %s prints no usage:\n%s%s", strings.Join(c, " "), h, out, errs)
			}
		}
	}
	for _, args := range [][]string{{"--help"}, {"-h"}, {"help"}, {"help", "train"}} {
		out, errs, code := runCLI(args...)
		if code != 0 || !strings.Contains(out+errs, "usage: ltransfer") {
			t.Errorf("ltransfer %s: exit %d\n%s%s", strings.Join(args, " "), code, out, errs)
		}
	}
	if _, _, code := runCLI(); code != 2 {
		t.Errorf("ltransfer without a command: exit %d, want 2", code)
	}
}

func TestVersion(t *testing.T) {
	for _, args := range [][]string{{"version"}, {"--version"}} {
		out, errs, code := runCLI(args...)
		if code != 0 {
			t.Fatalf("ltransfer %s: exit %d: %s", args[0], code, errs)
		}
		for _, want := range []string{"ltransfer ", "go: " + runtime.Version(), "kernels: " + asm.Selected().String()} {
			if !strings.Contains(out, want) {
				t.Errorf("ltransfer %s lacks %q:\n%s", args[0], want, out)
			}
		}
	}
	if _, _, code := runCLI("version", "extra"); code == 0 {
		t.Error("version with an argument succeeded")
	}
}

// A flag that means something else in this command is refused with a
// pointer to the right one, before anything runs.
func TestMovedFlags(t *testing.T) {
	for _, args := range [][]string{
		{"grad", "--params", "p.safetensors", "--batch", "b.safetensors", "--out", "g.safetensors"},
		{"grad", "-batch=b.safetensors"},
	} {
		_, errs, code := runCLI(args...)
		if code == 0 || !strings.Contains(errs, "--input FILE") {
			t.Errorf("%v: exit %d, %s", args, code, errs)
		}
	}
	// --schedule is a learning-rate schedule (train, synced); the spacing
	// of transfer's and demo's linear trajectory is --spacing.
	for _, args := range [][]string{
		{"transfer", "--source", "s", "--targets", "2", "--schedule", "uniform", "--out", "o"},
		{"transfer", "--schedule=cosine"},
		{"demo", "--schedule", "uniform"},
	} {
		_, errs, code := runCLI(args...)
		if code == 0 || !strings.Contains(errs, "use --spacing cosine|uniform") {
			t.Errorf("%v: exit %d, %s", args, code, errs)
		}
	}
	// The spellings another command uses for the same thing.
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"transfer", "--seed-target", "3"}, "use --target-seed"},
		{[]string{"transfer", "--mode", "gmt"}, "use --method"},
		{[]string{"synced", "--target-seed", "3"}, "use --seed-target"},
		{[]string{"synced", "--method", "gmt"}, "use --mode"},
		{[]string{"demo", "--method=gmt"}, "use --methods"},
	} {
		_, errs, code := runCLI(c.args...)
		if code == 0 || !strings.Contains(errs, c.want) {
			t.Errorf("%v: exit %d, %s", c.args, code, errs)
		}
	}
	if err := movedFlags([]string{"--", "--batch"}, map[string]string{"batch": "x"}); err != nil {
		t.Errorf("a flag after -- is an argument: %v", err)
	}
}

// train --epochs 0 writes an initialisation (checkpoint 0 and a complete
// manifest) that is a transfer target, alone or in a folder of targets;
// the transfer loads the data as the source was loaded (--limit, split).
func TestTrainEpochsZeroIsATarget(t *testing.T) {
	dir := t.TempDir()
	data := filepath.Join(dir, "data")
	if err := os.Mkdir(data, 0o755); err != nil {
		t.Fatal(err)
	}
	writeBandsIdx(t, data, 600, 100)
	src, tgts := filepath.Join(dir, "src"), filepath.Join(dir, "targets")
	common := []string{"--model", "mlp", "--width", "16", "--data", data, "--batch", "50", "--threads", "2", "--limit", "400",
		"--val-fraction", "0.2", "--split-seed", "3", "--no-test"}
	if _, e, code := runCLI(append([]string{"train", "--epochs", "1", "--seed", "1", "--out", src}, common...)...); code != 0 {
		t.Fatalf("train source: %s", e)
	}
	for _, seed := range []string{"2", "3"} {
		out := filepath.Join(tgts, "s"+seed)
		so, e, code := runCLI(append([]string{"train", "--epochs", "0", "--seed", seed, "--out", out}, common...)...)
		if code != 0 {
			t.Fatalf("train --epochs 0: %s", e)
		}
		if !strings.Contains(so, "initialised mlp") {
			t.Errorf("train --epochs 0 says: %s", so)
		}
		man, err := nn.ReadManifest(out)
		if err != nil {
			t.Fatal(err)
		}
		if !man.Complete || man.Epochs != 0 || len(man.Checkpoints) != 1 || man.Checkpoints[0].Step != 0 ||
			man.Limit != 400 || man.ValFraction != 0.2 || man.SplitSeed != 3 || man.TrainSamples != 320 {
			t.Fatalf("init manifest: %+v", man)
		}
		if ents, _ := os.ReadDir(out); len(ents) != 2 {
			t.Errorf("init folder holds %d files, want ckpt-0000.safetensors and manifest.json", len(ents))
		}
	}
	// One target: --limit, --val-fraction and --split-seed come from the
	// source manifest; step 0 is the initialisation, evaluated on the
	// same validation samples as when it was written.
	out := filepath.Join(dir, "one")
	_, e, code := runCLI("transfer", "--source", src, "--target-init", filepath.Join(tgts, "s2"), "--steps", "2", "--batch", "50",
		"--threads", "2", "--out", out)
	if code != 0 {
		t.Fatalf("transfer onto an --epochs 0 init: %s", e)
	}
	if !strings.Contains(e, "320 train / 80 val samples, limit 400") {
		t.Errorf("transfer did not load the source's data (limit 400, val fraction 0.2):\n%s", e)
	}
	var rep struct {
		Steps []struct {
			ValAcc float64 `json:"val_acc"`
		} `json:"steps"`
	}
	b, err := os.ReadFile(filepath.Join(out, "report.json"))
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, &rep); err != nil {
		t.Fatal(err)
	}
	man, _ := nn.ReadManifest(filepath.Join(tgts, "s2"))
	if len(rep.Steps) != 3 || rep.Steps[0].ValAcc != *man.Checkpoints[0].ValAcc {
		t.Errorf("step 0 val acc %v, the init recorded %v", rep.Steps, *man.Checkpoints[0].ValAcc)
	}
	// --limit 0 overrides the manifest: every sample.
	_, e, code = runCLI("transfer", "--source", src, "--target-init", filepath.Join(tgts, "s2"), "--steps", "1", "--batch", "50",
		"--threads", "2", "--limit", "0", "--method", "naive", "--out", filepath.Join(dir, "all"))
	if code != 0 || !strings.Contains(e, "480 train / 120 val samples\n") {
		t.Errorf("--limit 0: exit %d\n%s", code, e)
	}
	// A folder of --epochs 0 inits: one transfer per target.
	if _, e, code := runCLI("transfer", "--source", src, "--target-init", tgts, "--steps", "2", "--batch", "50", "--method", "fgmt",
		"--threads", "2", "--out", filepath.Join(dir, "many")); code != 0 {
		t.Fatalf("transfer onto a folder of --epochs 0 inits: %s", e)
	}
	for _, s := range []string{"target-000", "target-001"} {
		if _, err := os.Stat(filepath.Join(dir, "many", s, "report.json")); err != nil {
			t.Errorf("target %s: %v", s, err)
		}
	}
	if _, e, code := runCLI("transfer", "--source", src, "--target-init", filepath.Join(tgts, "s2"), "--limit", "-2", "--out", filepath.Join(dir, "bad")); code == 0 || !strings.Contains(e, "--limit -2") {
		t.Errorf("--limit -2: exit %d, %s", code, e)
	}
}
