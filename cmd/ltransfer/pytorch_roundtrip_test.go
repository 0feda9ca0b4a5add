package main

import (
	"encoding/json"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/ltransfer/ltransfer/nn"
)

// python3WithTorch is the interpreter the PyTorch tests use: Debian's,
// where CI installs python3-torch.
const python3WithTorch = "/usr/bin/python3"

// torchOrSkip skips a test only when python3 cannot import torch and
// numpy.
func torchOrSkip(t *testing.T) {
	t.Helper()
	if err := exec.Command(python3WithTorch, "-c", "import torch, numpy").Run(); err != nil {
		t.Skipf("%s cannot import torch and numpy (%v): apt-get install python3-torch python3-numpy", python3WithTorch, err)
	}
}

// writeRandomIdx writes MNIST idx files of random pixels and labels.
func writeRandomIdx(t *testing.T, dir string, nTrain, nTest int, r *rand.Rand) {
	t.Helper()
	writeIdx(t, dir, nTrain, nTest, func(_, _ int, pix []byte) byte {
		for j := range pix {
			pix[j] = byte(r.IntN(256))
		}
		return byte(r.IntN(10))
	})
}

// writeRandomCIFAR writes CIFAR-10 binary batches of random pixels and
// labels: nTrain records in each training batch, nTest in the test batch.
func writeRandomCIFAR(t *testing.T, dir string, nTrain, nTest int, r *rand.Rand) {
	t.Helper()
	for _, name := range []string{"data_batch_1.bin", "data_batch_2.bin", "data_batch_3.bin", "data_batch_4.bin", "data_batch_5.bin", "test_batch.bin"} {
		n := nTrain
		if name == "test_batch.bin" {
			n = nTest
		}
		b := make([]byte, 0, n*3073)
		for i := 0; i < n; i++ {
			b = append(b, byte(r.IntN(10)))
			for p := 0; p < 3072; p++ {
				b = append(b, byte(r.IntN(256)))
			}
		}
		if err := os.WriteFile(filepath.Join(dir, name), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

type roundTripModel struct {
	Name    string         `json:"name"`
	Arch    string         `json:"arch"`
	Kwargs  map[string]any `json:"kwargs"`
	Dataset string         `json:"dataset"`
	Seed    int            `json:"seed"`
}

// roundTripModels are every built-in model at a small size. conv8 at 0.1
// has channel counts (6, 12, 25, 51) that only the truncation-aware width
// inference recovers.
var roundTripModels = []roundTripModel{
	{"mlp", "mlp", map[string]any{"width": 32}, nn.MNIST, 1},
	{"mlp-relu", "mlp-relu", map[string]any{"width": 24, "depth": 2}, nn.MNIST, 2},
	{"conv4", "conv4", map[string]any{"width_factor": 0.125}, nn.CIFAR10, 3},
	{"conv6", "conv6", map[string]any{"width_factor": 0.125}, nn.CIFAR10, 4},
	{"conv8", "conv8", map[string]any{"width_factor": 0.1}, nn.CIFAR10, 5},
	{"resnet20", "resnet20", map[string]any{"width_factor": 0.25}, nn.CIFAR10, 6},
	{"resnet18", "resnet18", map[string]any{"width_factor": 0.0625}, nn.CIFAR10, 7},
}

const roundTripSamples = 256

// TestPyTorchRoundTrip checks PyTorch interop for every built-in model,
// both ways, on generated MNIST and CIFAR-10 files:
//
//   - PyTorch (python/ltransfer_models.py, seeded, BatchNorm state made
//     non-trivial) → state_dict .pt → python/pt2safetensors.py → `ltransfer
//     eval` without size flags gives PyTorch's accuracy exactly and its
//     mean loss within 1e-5, and nn.Logits gives PyTorch's logits; the
//     Python side reads the data itself and normalises it as
//     ltransfer_models documents, so the documentation is checked too.
//   - ltransfer (Init, BatchNorm buffers set) → nn.SaveCheckpoint →
//     PyTorch strict load_state_dict (and the reverse converter) gives
//     ltransfer's logits.
//   - A folder of ckpt-N.pt converted in folder mode becomes a trajectory
//     with `ltransfer trajectory import`, in numeric order.
func TestPyTorchRoundTrip(t *testing.T) {
	torchOrSkip(t)
	work := t.TempDir()
	r := rand.New(rand.NewPCG(21, 1))
	dataDir := map[string]string{nn.MNIST: filepath.Join(work, "data", nn.MNIST), nn.CIFAR10: filepath.Join(work, "data", nn.CIFAR10)}
	for _, d := range dataDir {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	writeRandomIdx(t, dataDir[nn.MNIST], 20, roundTripSamples, r)
	writeRandomCIFAR(t, dataDir[nn.CIFAR10], 4, roundTripSamples, r)
	spec, _ := json.Marshal(roundTripModels)
	if err := os.WriteFile(filepath.Join(work, "models.json"), spec, 0o644); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	py := func(mode string) {
		t.Helper()
		defer func(t0 time.Time) { t.Logf("torch_roundtrip.py %s: %.1f s", mode, time.Since(t0).Seconds()) }(time.Now())
		cmd := exec.Command(python3WithTorch, "testdata/torch_roundtrip.py", mode, work)
		cmd.Env = append(os.Environ(), "OMP_NUM_THREADS=1")
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("torch_roundtrip.py %s: %v\n%s", mode, err, out)
		}
	}
	py("export")
	var torchRes map[string]struct {
		Loss, Accuracy float64
		N              int
	}
	b, err := os.ReadFile(filepath.Join(work, "torch.json"))
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, &torchRes); err != nil {
		t.Fatal(err)
	}

	data := map[string]*nn.Data{}
	for name, dir := range dataDir {
		d, err := nn.LoadData(nn.DataConfig{Name: name, Path: dir})
		if err != nil {
			t.Fatal(err)
		}
		data[name] = d
	}
	batchOf := func(ds string) nn.Batch {
		set := data[ds].Test
		per := nn.Numel(set.SampleShape())
		x := nn.NewTensor(append([]int{set.Len()}, set.SampleShape()...)...)
		y := make([]int32, set.Len())
		for i := range y {
			y[i] = set.Sample(i, x.Data[i*per:(i+1)*per], nil)
		}
		return nn.Batch{X: x, Y: y}
	}
	readLogits := func(path string) []float32 {
		t.Helper()
		f, err := nn.ReadSafetensorsFile(path)
		if err != nil {
			t.Fatal(err)
		}
		e := f.Get("logits")
		if e == nil || len(e.Shape) != 2 || e.Shape[0] != roundTripSamples {
			t.Fatalf("%s: no logits [%d k]", path, roundTripSamples)
		}
		return e.Float32()
	}
	backDir := filepath.Join(work, "back")
	os.MkdirAll(backDir, 0o755)
	goLogits := map[string][]float32{}

	for _, m := range roundTripModels {
		st := filepath.Join(work, "st", m.Name+".safetensors")
		// PyTorch → ltransfer eval: no size flag, the file gives them.
		so, se, code := runCLI("eval", "--model", m.Arch, "--params", st, "--dataset", m.Dataset, "--data", dataDir[m.Dataset], "--json")
		if code != 0 {
			t.Fatalf("%s: eval: %s", m.Name, se)
		}
		var ev struct {
			Accuracy, Loss float64
			N              int
		}
		if err := json.Unmarshal([]byte(so), &ev); err != nil {
			t.Fatalf("%s: eval output %q: %v", m.Name, so, err)
		}
		want := torchRes[m.Name]
		if ev.N != want.N || ev.Accuracy != want.Accuracy || math.Abs(ev.Loss-want.Loss) > 1e-5*math.Max(1, want.Loss) {
			t.Errorf("%s: ltransfer eval: accuracy %v, loss %.7f on %d; PyTorch %v, %.7f on %d", m.Name, ev.Accuracy, ev.Loss, ev.N, want.Accuracy, want.Loss, want.N)
		}
		t.Logf("%s: accuracy %.4f, loss %.6f (PyTorch %.6f)", m.Name, ev.Accuracy, ev.Loss, want.Loss)

		f, err := nn.ReadSafetensorsFile(st)
		if err != nil {
			t.Fatal(err)
		}
		d := data[m.Dataset]
		cfg, err := nn.InferModelConfig(m.Arch, nn.ShapesOf(f), nn.ModelConfig{InputShape: d.SampleShape, NumClasses: len(d.Classes)})
		if err != nil {
			t.Fatal(err)
		}
		model, err := nn.NewModel(m.Arch, cfg)
		if err != nil {
			t.Fatal(err)
		}
		p, err := nn.CheckpointFromFile(f, model)
		if err != nil {
			t.Fatal(err)
		}
		batch := batchOf(m.Dataset)
		z, err := nn.Logits(nil, model, p, batch)
		if err != nil {
			t.Fatal(err)
		}
		closeLogits(t, m.Name+" PyTorch→ltransfer", z, readLogits(filepath.Join(work, "torch", m.Name+".safetensors")))

		// ltransfer → PyTorch: a fresh init with BatchNorm buffers set.
		q := model.Init(int64(100 + m.Seed))
		rb := rand.New(rand.NewPCG(uint64(m.Seed), 9))
		for _, pi := range model.State() {
			if !pi.Buffer {
				continue
			}
			for i, v := range q.Get(pi.Name).Data {
				switch {
				case pi.Int64:
					q.Get(pi.Name).Data[i] = float32(m.Seed)
				case v == 0: // running_mean
					q.Get(pi.Name).Data[i] = 0.2 * float32(rb.NormFloat64())
				default: // running_var
					q.Get(pi.Name).Data[i] = 0.5 + rb.Float32()
				}
			}
		}
		if err := nn.SaveCheckpoint(filepath.Join(backDir, m.Name+".safetensors"), model, q, nil); err != nil {
			t.Fatal(err)
		}
		if goLogits[m.Name], err = nn.Logits(nil, model, q, batch); err != nil {
			t.Fatal(err)
		}
	}
	t.Logf("Go side: %.1f s so far", time.Since(start).Seconds())
	py("back")
	for _, m := range roundTripModels {
		closeLogits(t, m.Name+" ltransfer→PyTorch", goLogits[m.Name], readLogits(filepath.Join(work, "back_torch", m.Name+".safetensors")))
	}

	// Converted ckpt-0, 1, 2, 10.pt → a trajectory in numeric order.
	traj := filepath.Join(work, "traj")
	if _, se, code := runCLI("trajectory", "import", "--model", "mlp", "--dataset", "mnist", "--data", dataDir[nn.MNIST], "--from", filepath.Join(work, "traj_st"), "--out", traj); code != 0 {
		t.Fatalf("trajectory import: %s", se)
	}
	tr, err := nn.OpenTrajectory(traj, nil)
	if err != nil {
		t.Fatal(err)
	}
	if tr.Len() != 4 || tr.Manifest.ModelConfig.Width != 16 {
		t.Fatalf("imported trajectory: %d checkpoints, config %+v", tr.Len(), tr.Manifest.ModelConfig)
	}
	for i, step := range []int{0, 1, 2, 10} {
		got, err := tr.At(i)
		if err != nil {
			t.Fatal(err)
		}
		src, err := nn.LoadCheckpoint(filepath.Join(work, "traj_st", fmt.Sprintf("ckpt-%d.safetensors", step)), tr.Model())
		if err != nil {
			t.Fatal(err)
		}
		for _, name := range src.Names() {
			if !slices.Equal(got.Get(name).Data, src.Get(name).Data) {
				t.Errorf("checkpoint %d of the imported trajectory is not ckpt-%d (%s)", i, step, name)
			}
		}
	}
}

// closeLogits compares logits with a tolerance relative to their scale:
// the two sides sum in other orders (float32).
func closeLogits(t *testing.T, what string, got, want []float32) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%s: %d logits, want %d", what, len(got), len(want))
	}
	var scale, worst float64
	for _, v := range want {
		scale = math.Max(scale, math.Abs(float64(v)))
	}
	for i := range got {
		worst = math.Max(worst, math.Abs(float64(got[i]-want[i])))
	}
	if worst > 1e-5*math.Max(scale, 1) {
		t.Errorf("%s: logits differ by up to %.3g (scale %.3g)", what, worst, scale)
	} else {
		t.Logf("%s: logits agree within %.3g (scale %.3g)", what, worst, scale)
	}
}
