package main

import (
	"bytes"
	"compress/gzip"
	"encoding/binary"
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ltransfer/ltransfer/nn"
)

// writeBandsIdx writes a learnable dataset in MNIST's idx format: image i
// has class i%10, shown as a bright band of rows 2c…2c+2 over noise.
func writeBandsIdx(t *testing.T, dir string, nTrain, nTest int) {
	t.Helper()
	writeIdx(t, dir, nTrain, nTest, func(k, i int, pix []byte) byte {
		c := (i*7 + k) % 10
		for j := range pix {
			v := (i*31 + j*17 + (i*j)%13) % 90
			if r := j / 28; r >= 2*c && r < 2*c+3 {
				v += 150
			}
			pix[j] = byte(v)
		}
		return byte(c)
	})
}

// writeIdx writes MNIST's four gzipped idx files of 28×28 images into
// dir: sample fills image i of split k (0 train, 1 test) and returns its
// label, called in order.
func writeIdx(t *testing.T, dir string, nTrain, nTest int, sample func(k, i int, pix []byte) byte) {
	t.Helper()
	files := [4]string{"train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz", "t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"}
	pix := make([]byte, 784)
	for k, n := range []int{nTrain, nTest} {
		img := binary.BigEndian.AppendUint32(nil, 0x803)
		img = binary.BigEndian.AppendUint32(img, uint32(n))
		img = binary.BigEndian.AppendUint32(img, 28)
		img = binary.BigEndian.AppendUint32(img, 28)
		lbl := binary.BigEndian.AppendUint32(nil, 0x801)
		lbl = binary.BigEndian.AppendUint32(lbl, uint32(n))
		for i := 0; i < n; i++ {
			lbl = append(lbl, sample(k, i, pix))
			img = append(img, pix...)
		}
		for f, b := range map[string][]byte{files[2*k]: img, files[2*k+1]: lbl} {
			var buf bytes.Buffer
			zw := gzip.NewWriter(&buf)
			zw.Write(b)
			zw.Close()
			if err := os.WriteFile(filepath.Join(dir, f), buf.Bytes(), 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}
}

func runCLI(args ...string) (stdout, stderr string, code int) {
	var out, errb bytes.Buffer
	code = runMain(args, &out, &errb)
	return out.String(), errb.String(), code
}

// TestTrainEvalCLI trains a small MLP on 600 images in MNIST's format
// (generated: the real files take too long to inflate under -race),
// evaluates a checkpoint, and checks the errors on bad input.
func TestTrainEvalCLI(t *testing.T) {
	dir := t.TempDir()
	data := filepath.Join(dir, "data")
	os.MkdirAll(data, 0o755)
	writeBandsIdx(t, data, 600, 300)
	out := filepath.Join(dir, "run")
	so, se, code := runCLI("train", "--model", "mlp-relu", "--width", "24", "--depth", "2", "--epochs", "2", "--data", data,
		"--batch", "50", "--seed", "7", "--lr", "0.05", "--schedule", "cosine", "--warmup", "3", "--checkpoint-every", "5", "--out", out, "--json")
	if code != 0 {
		t.Fatalf("train failed: %s", se)
	}
	var sum trainSummary
	if err := json.Unmarshal([]byte(so), &sum); err != nil {
		t.Fatalf("train --json output %q: %v", so, err)
	}
	// 540 train samples / 50 = 11 steps per epoch, 22 in all: checkpoints
	// at 0, 5, 10, 15, 20, 22.
	if sum.Checkpoints != 6 || sum.TestAcc == nil || *sum.TestAcc < 0.8 || len(sum.EpochSeconds) != 2 {
		t.Fatalf("summary %+v", sum)
	}
	man, err := nn.ReadManifest(out)
	if err != nil {
		t.Fatal(err)
	}
	if man.Width != 24 || man.ModelConfig.Depth != 2 || man.Seed != 7 || man.Dataset != "mnist" || man.Schedule.Name != "cosine" || !man.Complete || man.TestAcc == nil {
		t.Errorf("manifest %+v", man)
	}
	// Same folder again: refused; --resume of a complete run: refused.
	if _, se, code := runCLI("train", "--model", "mlp-relu", "--width", "24", "--out", out, "--data", data); code == 0 || !strings.Contains(se, "already holds") {
		t.Errorf("rerun into the same folder: code %d, %s", code, se)
	}

	// eval: width and depth are inferred from the checkpoint.
	ckpt := filepath.Join(out, "ckpt-0005.safetensors")
	so, se, code = runCLI("eval", "--model", "mlp-relu", "--params", ckpt, "--split", "test", "--data", data, "--json")
	if code != 0 {
		t.Fatalf("eval failed: %s", se)
	}
	var ev map[string]any
	if err := json.Unmarshal([]byte(so), &ev); err != nil {
		t.Fatal(err)
	}
	if ev["n"].(float64) != 300 || math.Abs(ev["accuracy"].(float64)-*sum.TestAcc) > 1e-12 {
		t.Errorf("eval %v, train reported test acc %v", ev, *sum.TestAcc)
	}
	if _, se, code := runCLI("eval", "--model", "mlp", "--params", ckpt, "--data", data); code == 0 || !strings.Contains(se, "model mlp expects") {
		t.Errorf("eval with the wrong model: code %d, %s", code, se)
	}
	if _, se, code := runCLI("train", "--data", filepath.Join(dir, "nowhere"), "--out", filepath.Join(dir, "r2")); code == 0 || !strings.Contains(se, "nowhere") {
		t.Errorf("train with missing data: code %d, %s", code, se)
	}
	if _, err := os.Stat(filepath.Join(dir, "r2")); err == nil {
		t.Errorf("a failed train created its output folder")
	}
	if _, se, code := runCLI("train", "--data", data, "--out", filepath.Join(dir, "r3"), "--optimizer", "rmsprop"); code == 0 || !strings.Contains(se, "rmsprop") {
		t.Errorf("unknown optimiser: code %d, %s", code, se)
	}
	if _, se, code := runCLI("train", "--data", data, "--out", filepath.Join(dir, "r3"), "--init", "xavier"); code == 0 || !strings.Contains(se, `--init "xavier"`) {
		t.Errorf("unknown initialisation: code %d, %s", code, se)
	}
	if _, se, code := runCLI("train", "--data", data, "--out", filepath.Join(dir, "r3"), "--init", "kaiming-normal", "--init-from", ckpt); code == 0 || !strings.Contains(se, "--init-from") {
		t.Errorf("--init with --init-from: code %d, %s", code, se)
	}
	if _, err := os.Stat(filepath.Join(dir, "r3")); err == nil {
		t.Errorf("a refused train created its output folder")
	}
	if _, se, code := runCLI("train", "--data", data, "--out", filepath.Join(dir, "r3"), "--epochs", "-1"); code == 0 || !strings.Contains(se, "epochs") {
		t.Errorf("negative epochs: code %d, %s", code, se)
	}
	if _, se, code := runCLI("eval", "--model", "mlp-relu", "--params", filepath.Join(dir, "missing.safetensors")); code == 0 || !strings.Contains(se, "missing.safetensors") {
		t.Errorf("eval of a missing file: code %d, %s", code, se)
	}
	if _, se, code := runCLI("eval", "--model", "mlp-relu", "--params", ckpt, "--split", "dev", "--data", data); code == 0 || !strings.Contains(se, "dev") {
		t.Errorf("eval of an unknown split: code %d, %s", code, se)
	}
}

// TestGradCLIMatchesPyTorch feeds the golden fixture's mlp-relu case to
// `ltransfer grad` and compares the written gradients with PyTorch's.
func TestGradCLIMatchesPyTorch(t *testing.T) {
	f, err := nn.ReadSafetensorsFile("../../nn/testdata/golden.safetensors")
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	params, batch := nn.NewParamSet(), nn.NewParamSet()
	grads := map[string][]float32{}
	for _, e := range f.Entries {
		if name, ok := strings.CutPrefix(e.Name, "mlprelu.param."); ok {
			_ = params.Add(name, &nn.Tensor{Shape: e.Shape, Data: e.Float32()})
		}
		if name, ok := strings.CutPrefix(e.Name, "mlprelu.grad."); ok {
			grads[name] = e.Float32()
		}
	}
	x, y := f.Get("mlprelu.x"), f.Get("mlprelu.y")
	_ = batch.Add("x", &nn.Tensor{Shape: x.Shape, Data: x.Float32()})
	_ = batch.Add("y", &nn.Tensor{Shape: y.Shape, Data: y.Float32()})
	pf, bf, of := filepath.Join(dir, "p.safetensors"), filepath.Join(dir, "b.safetensors"), filepath.Join(dir, "g.safetensors")
	if err := nn.SaveSafetensors(pf, params, nn.SaveOptions{}); err != nil {
		t.Fatal(err)
	}
	if err := nn.SaveSafetensors(bf, batch, nn.SaveOptions{Int64: map[string]bool{"y": true}}); err != nil {
		t.Fatal(err)
	}
	so, se, code := runCLI("grad", "--model", "mlp-relu", "--classes", "7", "--params", pf, "--input", bf, "--out", of, "--json")
	if code != 0 {
		t.Fatalf("grad failed: %s", se)
	}
	var res map[string]any
	json.Unmarshal([]byte(so), &res)
	want := f.Get("mlprelu.loss").Float32()[0]
	if l := res["loss"].(float64); math.Abs(l-float64(want)) > 1e-5*float64(want) {
		t.Errorf("loss %v, PyTorch %v", l, want)
	}
	g, err := nn.ReadSafetensorsFile(of)
	if err != nil {
		t.Fatal(err)
	}
	if g.Get("loss") == nil || len(g.Entries) != len(grads)+1 {
		t.Fatalf("gradient file holds %d tensors, want %d + loss", len(g.Entries), len(grads))
	}
	for name, w := range grads {
		got := g.Get(name).Float32()
		var scale float64
		for _, v := range w {
			scale = math.Max(scale, math.Abs(float64(v)))
		}
		for i := range w {
			if math.Abs(float64(got[i]-w[i])) > 1e-5*math.Max(math.Abs(float64(w[i])), scale/10) {
				t.Fatalf("%s[%d] = %v, PyTorch %v", name, i, got[i], w[i])
			}
		}
	}
	// Bad batches are clear errors and write nothing.
	bad := nn.NewParamSet()
	_ = bad.Add("x", &nn.Tensor{Shape: x.Shape, Data: x.Float32()})
	_ = bad.Add("y", &nn.Tensor{Shape: []int{3}, Data: []float32{0, 1, 2}})
	badf := filepath.Join(dir, "bad.safetensors")
	nn.SaveSafetensors(badf, bad, nn.SaveOptions{})
	of2 := filepath.Join(dir, "g2.safetensors")
	if _, se, code := runCLI("grad", "--model", "mlp-relu", "--classes", "7", "--params", pf, "--input", badf, "--out", of2); code == 0 || !strings.Contains(se, "y has shape [3]") {
		t.Errorf("bad labels: code %d, %s", code, se)
	}
	if _, err := os.Stat(of2); err == nil {
		t.Error("a failed grad wrote its output")
	}
	if _, se, code := runCLI("grad", "--model", "mlp-relu", "--params", pf, "--input", bf); code == 0 || !strings.Contains(se, "--out") {
		t.Errorf("missing --out: code %d, %s", code, se)
	}
}

// TestDataCacheEnv checks where the commands keep decoded data: the folder
// LTRANSFER_DATA_CACHE names (a second run reads the same file), none with
// "off", and the user's cache folder by default.
func TestDataCacheEnv(t *testing.T) {
	data := t.TempDir()
	writeBandsIdx(t, data, 200, 50)
	cache := t.TempDir()
	for _, c := range []struct{ env, want string }{{cache, "one file"}, {"off", "none"}} {
		t.Setenv(envDataCache, c.env)
		for k := 0; k < 2; k++ {
			out := filepath.Join(t.TempDir(), "run")
			if _, errs, code := runCLI("train", "--model", "mlp", "--width", "16", "--data", data, "--epochs", "0", "--no-test", "--out", out); code != 0 {
				t.Fatalf("%s=%s: exit %d: %s", envDataCache, c.env, code, errs)
			}
		}
	}
	files, _ := filepath.Glob(filepath.Join(cache, "*.ltdata"))
	if len(files) != 1 {
		t.Fatalf("cache folder holds %v, want one file", files)
	}
	t.Setenv(envDataCache, "")
	t.Setenv("XDG_CACHE_HOME", "/x/cache")
	if got := dataCacheDir(); got != "/x/cache/ltransfer/data" {
		t.Errorf("default cache folder %q, want /x/cache/ltransfer/data", got)
	}
	t.Setenv(envDataCache, "off")
	if got := dataCacheDir(); got != "" {
		t.Errorf("off: cache folder %q", got)
	}
}
