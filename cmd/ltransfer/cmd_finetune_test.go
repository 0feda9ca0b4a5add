package main

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/ltransfer/ltransfer/nn"
)

// TestFineTuneScenarioCLI runs the paper's fine-tuning scenario in small:
// two MLPs pretrained on classes 0-4 of generated idx data, each
// fine-tuned on classes 5-9 with a new head, A's recorded fine-tuning
// trajectory transferred onto B's starting point (the class subset comes
// from the source manifest), and the errors on bad input.
func TestFineTuneScenarioCLI(t *testing.T) {
	dir := t.TempDir()
	data := filepath.Join(dir, "data")
	os.MkdirAll(data, 0o755)
	writeBandsIdx(t, data, 600, 200)
	common := []string{"--model", "mlp-relu", "--width", "16", "--data", data, "--batch", "50", "--lr", "0.05", "--threads", "2", "--no-test"}
	train := func(args ...string) (string, int) {
		t.Helper()
		_, e, code := runCLI(append(append([]string{"train"}, common...), args...)...)
		return e, code
	}
	preA, preB := filepath.Join(dir, "preA"), filepath.Join(dir, "preB")
	for _, c := range [][2]string{{preA, "201"}, {preB, "202"}} {
		if e, code := train("--class-subset", "0-4", "--epochs", "1", "--seed", c[1], "--out", c[0]); code != 0 {
			t.Fatalf("pretrain: %s", e)
		}
	}
	man, err := nn.ReadManifest(preA)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(man.ClassSubset, []int{0, 1, 2, 3, 4}) || man.ModelConfig.NumClasses != 5 || man.TrainSamples != 270 {
		t.Fatalf("pretrain manifest: subset %v, %d classes, %d train samples", man.ClassSubset, man.ModelConfig.NumClasses, man.TrainSamples)
	}
	ftA, ftB := filepath.Join(dir, "ftA"), filepath.Join(dir, "ftB")
	for _, c := range [][3]string{{ftA, preA, "11"}, {ftB, preB, "12"}} {
		if e, code := train("--class-subset", "5,6,7,8,9", "--init-from", c[1], "--reset-head", "--epochs", "2", "--seed", c[2], "--out", c[0]); code != 0 {
			t.Fatalf("fine-tune: %s", e)
		}
	}
	man, _ = nn.ReadManifest(ftA)
	last := filepath.Join(preA, "ckpt-0001.safetensors")
	if man.InitFrom == nil || man.InitFrom.From != last || !man.InitFrom.ResetHead || man.InitFrom.HeadSeed != 11 ||
		!reflect.DeepEqual(man.ClassSubset, []int{5, 6, 7, 8, 9}) || len(man.Checkpoints) != 3 {
		t.Fatalf("fine-tune manifest: init %+v subset %v, %d checkpoints", man.InitFrom, man.ClassSubset, len(man.Checkpoints))
	}
	// ckpt-0000 is the starting point used: pretrained body, fresh head.
	m, _ := nn.NewModel("mlp-relu", man.ModelConfig)
	start, err := nn.LoadCheckpoint(filepath.Join(ftA, "ckpt-0000.safetensors"), m)
	if err != nil {
		t.Fatal(err)
	}
	pre, _ := nn.LoadCheckpoint(last, m)
	fresh := m.Init(11)
	for _, n := range start.Names() {
		want := pre.Get(n)
		if strings.HasPrefix(n, "linear2.") {
			want = fresh.Get(n)
		}
		if !reflect.DeepEqual(start.Get(n).Data, want.Data) {
			t.Fatalf("ckpt-0000 tensor %s is not the expected starting point", n)
		}
	}
	// A recorded-trajectory transfer of A's fine-tuning onto B's start.
	out := filepath.Join(dir, "fgmt")
	if _, e, code := runCLI("transfer", "--source", ftA, "--target-init", ftB, "--method", "fgmt", "--trajectory", "recorded",
		"--batch", "32", "--threads", "2", "--out", out); code != 0 {
		t.Fatalf("transfer: %s", e)
	}
	tman, err := nn.ReadManifest(out)
	if err != nil || !reflect.DeepEqual(tman.ClassSubset, []int{5, 6, 7, 8, 9}) || len(tman.Checkpoints) != 3 {
		t.Fatalf("transfer manifest: %v %+v", err, tman)
	}
	// Resuming with another subset is refused.
	if e, code := train("--class-subset", "0-4", "--init-from", preA, "--reset-head", "--epochs", "2", "--seed", "11", "--resume", "--out", ftA); code == 0 || !strings.Contains(e, "class subset differs") {
		t.Errorf("resume with another subset: code %d, %s", code, e)
	}
	for _, c := range []struct {
		args []string
		msg  string
	}{
		{[]string{"--reset-head"}, "--reset-head needs --init-from"},
		{[]string{"--class-subset", "3,3"}, "class 3 twice"},
		{[]string{"--class-subset", "8-12"}, "class 10 outside [0, 10)"},
		{[]string{"--init-from", filepath.Join(dir, "nope")}, "--init-from"},
		{[]string{"--init-from", preA, "--width", "32"}, `tensor "linear1.weight" has shape [16 784], model mlp-relu expects [32 784]`},
		{[]string{"--init-from", preA}, `"linear2.weight" has shape [5 16], model mlp-relu expects [10 16] (a head for another number of classes needs a head reset)`},
	} {
		args := append(append([]string{}, c.args...), "--epochs", "1", "--out", filepath.Join(dir, "bad"))
		e, code := train(args...)
		if code == 0 || !strings.Contains(e, c.msg) {
			t.Errorf("train %v: code %d, stderr %q, want %q", c.args, code, e, c.msg)
		}
		if _, err := os.Stat(filepath.Join(dir, "bad")); err == nil {
			t.Errorf("train %v left an output folder behind", c.args)
		}
	}
}
