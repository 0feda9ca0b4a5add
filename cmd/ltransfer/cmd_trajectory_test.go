package main

import (
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"github.com/ltransfer/ltransfer/nn"
)

// TestTrajectoryImportCLI imports a folder of checkpoints named as a
// PyTorch loop names them (ckpt-0, ckpt-3, ckpt-12), checks the manifest,
// the numeric order, the hard links and the inferred width, uses the
// result as a transfer source, and checks that bad inputs are refused
// with nothing written.
func TestTrajectoryImportCLI(t *testing.T) {
	dir := t.TempDir()
	data := filepath.Join(dir, "data")
	os.MkdirAll(data, 0o755)
	writeBandsIdx(t, data, 300, 100)
	m, err := nn.NewModel("mlp", nn.ModelConfig{Width: 16})
	if err != nil {
		t.Fatal(err)
	}
	src := filepath.Join(dir, "src")
	os.MkdirAll(src, 0o755)
	a, b := m.Init(1), m.Init(2)
	steps := []int{12, 0, 3} // written out of order
	for _, s := range steps {
		lt, _ := nn.NewLinearTrajectory(a, b, 12, nn.Uniform)
		p, _ := lt.At(s)
		if err := nn.SaveCheckpoint(filepath.Join(src, "ckpt-"+strconv.Itoa(s)+".safetensors"), m, p, nil); err != nil {
			t.Fatal(err)
		}
	}
	os.WriteFile(filepath.Join(src, "notes.txt"), []byte("not a checkpoint"), 0o644)

	traj := filepath.Join(dir, "traj")
	so, se, code := runCLI("trajectory", "import", "--model", "mlp", "--dataset", "mnist", "--data", data, "--from", src, "--out", traj)
	if code != 0 {
		t.Fatalf("import: %s", se)
	}
	if !strings.Contains(so, "imported 3 checkpoints of mlp (width 16)") || !strings.Contains(so, "steps 0, 3, 12") {
		t.Errorf("import output: %q", so)
	}
	tr, err := nn.OpenTrajectory(traj, nil)
	if err != nil {
		t.Fatal(err)
	}
	man := tr.Manifest
	if man.Model != "mlp" || man.ModelConfig.Width != 16 || man.Dataset != "mnist" || man.DataPath != data || !man.Complete || tr.Len() != 3 {
		t.Fatalf("manifest: %+v", man)
	}
	for i, s := range []int{0, 3, 12} {
		c := man.Checkpoints[i]
		if c.Step != s || c.File != nn.CheckpointFile(i) {
			t.Errorf("checkpoint %d: %+v, want step %d", i, c, s)
		}
		st1, _ := os.Stat(filepath.Join(traj, c.File))
		st2, _ := os.Stat(filepath.Join(src, "ckpt-"+strconv.Itoa(s)+".safetensors"))
		if !os.SameFile(st1, st2) {
			t.Errorf("checkpoint %d is not a hard link of ckpt-%d", i, s)
		}
	}
	ents, _ := os.ReadDir(traj)
	if len(ents) != 4 {
		t.Errorf("trajectory folder holds %d files, want 3 checkpoints + manifest", len(ents))
	}
	if ents, _ := os.ReadDir(dir); len(ents) != 3 {
		t.Errorf("left %d entries next to the trajectory, want data, src, traj", len(ents))
	}

	// A copy (--copy), listed files in the order given.
	cp := filepath.Join(dir, "copied")
	if _, se, code := runCLI("trajectory", "import", "--model", "mlp", "--copy", "--out", cp,
		filepath.Join(src, "ckpt-12.safetensors"), filepath.Join(src, "ckpt-0.safetensors")); code != 0 {
		t.Fatalf("import of listed files: %s", se)
	}
	st1, _ := os.Stat(filepath.Join(cp, nn.CheckpointFile(0)))
	st2, _ := os.Stat(filepath.Join(src, "ckpt-12.safetensors"))
	if os.SameFile(st1, st2) || st1.Size() != st2.Size() {
		t.Errorf("--copy: not a copy of ckpt-12")
	}
	if st, ok := st1.Sys().(*syscall.Stat_t); ok && st.Nlink != 1 {
		t.Errorf("--copy: %d links", st.Nlink)
	}

	// The imported trajectory is a transfer source.
	tgt := filepath.Join(dir, "target.safetensors")
	if err := nn.SaveCheckpoint(tgt, m, m.Init(7), nil); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(dir, "transfer")
	so, se, code = runCLI("transfer", "--source", traj, "--target-init", tgt, "--method", "fgmt", "--steps", "3", "--batch", "32", "--threads", "1", "--out", out, "--json")
	if code != 0 {
		t.Fatalf("transfer from the imported trajectory: %s", se)
	}
	var rep struct {
		Steps []struct{ ValAcc float64 } `json:"steps"`
	}
	if err := json.Unmarshal([]byte(so), &rep); err != nil || len(rep.Steps) != 4 {
		t.Fatalf("transfer report %q: %v", so, err)
	}

	// Refusals: nothing written, nothing touched.
	nan := filepath.Join(dir, "nan")
	os.MkdirAll(nan, 0o755)
	p := m.Init(3)
	p.Get("linear2.weight").Data[5] = float32(math.NaN())
	nn.SaveSafetensors(filepath.Join(nan, "ckpt-1.safetensors"), p, nn.SaveOptions{})
	nn.SaveCheckpoint(filepath.Join(nan, "ckpt-0.safetensors"), m, m.Init(3), nil)
	wide, _ := nn.NewModel("mlp", nn.ModelConfig{Width: 32})
	other := filepath.Join(dir, "other")
	os.MkdirAll(other, 0o755)
	nn.SaveCheckpoint(filepath.Join(other, "a-1.safetensors"), m, m.Init(3), nil)
	nn.SaveCheckpoint(filepath.Join(other, "a-2.safetensors"), wide, wide.Init(3), nil)
	dup := filepath.Join(dir, "dup")
	os.MkdirAll(dup, 0o755)
	nn.SaveCheckpoint(filepath.Join(dup, "ckpt-1.safetensors"), m, m.Init(3), nil)
	nn.SaveCheckpoint(filepath.Join(dup, "ckpt-01.safetensors"), m, m.Init(3), nil)
	nn.SaveCheckpoint(filepath.Join(dup, "final.safetensors"), m, m.Init(3), nil)
	cases := []struct {
		name string
		args []string
		want string
	}{
		{"existing out", []string{"--from", src, "--out", traj}, "is not empty; not touching it"},
		{"NaN", []string{"--from", nan, "--out", filepath.Join(dir, "x1")}, `checkpoint 2 of 2: checkpoint "` + filepath.Join(nan, "ckpt-1.safetensors") + `": tensor "linear2.weight" has a non-finite value NaN at index 5`},
		{"other width", []string{"--from", other, "--out", filepath.Join(dir, "x2")}, `tensor "linear1.weight" has shape [32 784], model mlp expects [16 784]; the file is an mlp checkpoint of width 32`},
		{"same number", []string{"--from", dup, "--pattern", "ckpt-*", "--out", filepath.Join(dir, "x3")}, "both carry number 1"},
		{"no number", []string{"--from", dup, "--pattern", "final*", "--out", filepath.Join(dir, "x4")}, "final.safetensors has no number in its name"},
		{"no match", []string{"--from", dup, "--pattern", "*.pt", "--out", filepath.Join(dir, "x5")}, `no file matches "*.pt"`},
		{"no input", []string{"--out", filepath.Join(dir, "x6")}, "no checkpoints"},
		{"unknown model", []string{"--model", "vgg", "--from", src, "--out", filepath.Join(dir, "x7")}, `unknown model "vgg"`},
		{"missing file", []string{"--out", filepath.Join(dir, "x8"), filepath.Join(dir, "nope.safetensors")}, "no such file"},
	}
	before := treeFiles(t, dir)
	for _, c := range cases {
		args := append([]string{"trajectory", "import"}, c.args...)
		if !strings.Contains(strings.Join(c.args, " "), "--model") {
			args = append(args, "--model", "mlp")
		}
		_, se, code := runCLI(args...)
		if code == 0 || !strings.Contains(se, c.want) {
			t.Errorf("%s: code %d, stderr %q, want %q", c.name, code, se, c.want)
		}
	}
	if after := treeFiles(t, dir); strings.Join(after, "\n") != strings.Join(before, "\n") {
		t.Errorf("refused imports changed the tree:\nbefore %v\nafter  %v", before, after)
	}
	ents, _ = os.ReadDir(dir)
	for _, e := range ents {
		if n := strings.TrimPrefix(e.Name(), "."); strings.HasPrefix(n, "x") {
			t.Errorf("a refused import left %s", e.Name())
		}
	}
	if _, _, code := runCLI("trajectory", "--help"); code != 0 {
		t.Errorf("trajectory --help: code %d", code)
	}
	if _, _, code := runCLI("trajectory", "import", "--help"); code != 0 {
		t.Errorf("trajectory import --help: code %d", code)
	}
}
