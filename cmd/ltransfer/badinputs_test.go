package main

import (
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"encoding/binary"
	"flag"
	"fmt"
	"io/fs"
	"math"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/ltransfer/ltransfer/nn"
)

var update = flag.Bool("update", false, "rewrite docs/bad-inputs.md from the bad-input cases")

// badInput is one row of docs/bad-inputs.md: a command given one bad
// input, the exit code and a part of the message it must give, and a setup
// that makes the bad file in the case's folder. Arguments starting with
// "@" name a shared fixture under the test's root (data, src, tgt, …),
// with "%" a path in the case's own folder.
type badInput struct {
	what  string
	args  []string
	code  int
	want  string
	setup func(t *testing.T, dir string, fx *badFixtures)
}

// badFixtures are the files every case may read: a tiny dataset in MNIST's
// format, a finished source and target trajectory, and variants.
type badFixtures struct {
	root string
	ckpt []byte // src's ckpt-0001
}

func writeFile(t *testing.T, path string, b []byte) {
	t.Helper()
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
}

// npyFile is a .npy version 1.0 file with the header dictionary hdr.
func npyFile(hdr string, body []byte) []byte {
	h := []byte(hdr)
	pad := 64 - (10+len(h)+1)%64
	h = append(append(h, bytes.Repeat([]byte(" "), pad)...), '\n')
	b := append([]byte("\x93NUMPY\x01\x00"), 0, 0)
	binary.LittleEndian.PutUint16(b[8:], uint16(len(h)))
	return append(append(b, h...), body...)
}

// stFile is a safetensors file with the given header JSON and data bytes.
func stFile(header string, data []byte) []byte {
	b := binary.LittleEndian.AppendUint64(nil, uint64(len(header)))
	return append(append(b, header...), data...)
}

func f32s(v ...float32) []byte {
	var b []byte
	for _, x := range v {
		b = binary.LittleEndian.AppendUint32(b, math.Float32bits(x))
	}
	return b
}

// gradBatch is a grad --batch file: x of shape [2 784] filled with v, y
// labels 0 and 1.
func gradBatch(v float32) []byte {
	x := make([]float32, 2*784)
	for i := range x {
		x[i] = 0.5
	}
	x[7] = v
	xb := f32s(x...)
	yb := binary.LittleEndian.AppendUint64(binary.LittleEndian.AppendUint64(nil, 0), 1)
	h := fmt.Sprintf(`{"x":{"dtype":"F32","shape":[2,784],"data_offsets":[0,%d]},"y":{"dtype":"I64","shape":[2],"data_offsets":[%d,%d]}}`, len(xb), len(xb), len(xb)+16)
	return stFile(h, append(xb, yb...))
}

// editManifest copies trajectory src to dst and lets edit change dst's
// manifest.
func editManifest(t *testing.T, src, dst string, edit func(m *nn.Manifest)) {
	t.Helper()
	if err := os.CopyFS(dst, os.DirFS(src)); err != nil {
		t.Fatal(err)
	}
	m, err := nn.ReadManifest(dst)
	if err != nil {
		t.Fatal(err)
	}
	edit(m)
	if err := nn.WriteManifest(dst, m); err != nil {
		t.Fatal(err)
	}
}

var trainArgs = []string{"train", "--model", "mlp-relu", "--width", "8", "--data", "@data", "--batch", "30", "--no-test"}

func tr(extra ...string) []string { return append(append([]string(nil), trainArgs...), extra...) }

func badInputs() []badInput {
	xfer := func(extra ...string) []string {
		return append([]string{"transfer", "--target-init", "@tgt", "--steps", "2", "--batch", "30"}, extra...)
	}
	evalArgs := func(params string) []string {
		return []string{"eval", "--model", "mlp-relu", "--data", "@data", "--params", params}
	}
	gradArgs := func(batch, out string) []string {
		return []string{"grad", "--model", "mlp-relu", "--params", "@src/ckpt-0001.safetensors", "--input", batch, "--out", out}
	}
	lapArgs := func(cost string) []string { return []string{"lap", "--cost", cost, "--out", "%assignment.json"} }
	existing := func(name string) func(t *testing.T, dir string, fx *badFixtures) {
		return func(t *testing.T, dir string, fx *badFixtures) {
			writeFile(t, filepath.Join(dir, name), []byte("the user's file\n"))
		}
	}
	return []badInput{
		{what: "unknown command", args: []string{"frobnicate"}, code: 2, want: `unknown command "frobnicate"`},
		{what: "unknown flag", args: tr("--frob", "--out", "%run"), code: 1, want: "flag provided but not defined: -frob"},
		{what: "integer flag beyond its type", args: tr("--epochs", "9223372036854775808", "--out", "%run"), code: 1, want: "value out of range"},
		{what: "epoch count whose steps overflow", args: tr("--epochs", "9223372036854775807", "--out", "%run"), code: 1, want: "--epochs 9223372036854775807: want a value in"},
		{what: "infinite learning rate", args: tr("--lr", "Inf", "--out", "%run"), code: 1, want: "--lr +Inf: want a finite number"},
		{what: "NaN learning rate for several seeds", args: tr("--seeds", "1-2", "--lr", "NaN", "--out", "%runs"), code: 1, want: "--lr NaN: want a finite number"},
		{what: "NaN momentum", args: tr("--momentum", "NaN", "--out", "%run"), code: 1, want: "--momentum NaN: want a finite number"},
		{what: "NaN weight decay", args: tr("--wd", "NaN", "--out", "%run"), code: 1, want: "--wd NaN"},
		{what: "NaN multistep gamma", args: tr("--gamma", "NaN", "--out", "%run"), code: 1, want: "--gamma NaN"},
		{what: "momentum outside [0, 1)", args: tr("--momentum", "1.5", "--out", "%run"), code: 1, want: "--momentum 1.5: want a value in [0, 1)"},
		{what: "validation fraction of 1", args: tr("--val-fraction", "1", "--out", "%run"), code: 1, want: "--val-fraction 1"},
		{what: "negative thread count", args: tr("--threads", "-2", "--out", "%run"), code: 1, want: "--threads -2"},
		{what: "learning rate that makes the loss diverge", args: tr("--lr", "1e12", "--out", "%run"), code: 1, want: "loss is"},
		{what: "unknown model", args: []string{"train", "--model", "resnet9000", "--data", "@data", "--out", "%run"}, code: 1, want: `unknown model "resnet9000"`},
		{what: "unknown dataset", args: []string{"train", "--dataset", "imagenet", "--out", "%run"}, code: 1, want: `unknown dataset "imagenet"`},
		{what: "missing data folder", args: []string{"train", "--data", "%nowhere", "--out", "%run"}, code: 1, want: "mnist not found"},
		{what: "unknown optimiser", args: tr("--optimizer", "rmsprop", "--out", "%run"), code: 1, want: "rmsprop"},
		{what: "class listed twice in --class-subset", args: tr("--class-subset", "3,3", "--out", "%run"), code: 1, want: "lists class 3 twice"},
		{what: "train --out onto a folder of other files", args: tr("--out", "%mine"), code: 1, want: "exists and is not empty",
			setup: func(t *testing.T, dir string, fx *badFixtures) {
				os.Mkdir(filepath.Join(dir, "mine"), 0o755)
				writeFile(t, filepath.Join(dir, "mine", "notes.txt"), []byte("mine\n"))
			}},
		{what: "train --out onto an existing file", args: tr("--out", "%notes.txt"), code: 1, want: "is not a folder", setup: existing("notes.txt")},
		{what: "train --out onto a finished trajectory", args: tr("--out", "@src"), code: 1, want: "already holds a trajectory"},
		{what: "train --resume of another run's folder", args: tr("--seed", "5", "--checkpoint-every", "3", "--epochs", "2", "--resume", "--out", "@partial"), code: 1, want: "cannot resume"},
		{what: "transfer --out onto its own source", args: xfer("--source", "@src", "--out", "@src"), code: 1, want: "did not write"},
		{what: "transfer --out onto another trajectory, with --force", args: xfer("--source", "@src", "--out", "@tgt", "--force"), code: 1, want: "not replacing it even with --force"},
		{what: "transfer --out onto its own source transfer, with --force", args: xfer("--source", "@xfer", "--out", "@xfer", "--force"), code: 1, want: "is also an input"},
		{what: "unknown transfer method", args: xfer("--source", "@src", "--method", "magic", "--out", "%t"), code: 1, want: `unknown method "magic"`},
		{what: "missing source folder", args: xfer("--source", "%nowhere", "--out", "%t"), code: 1, want: "no manifest.json"},
		{what: "interrupted training run as source", args: xfer("--source", "@partial", "--out", "%t"), code: 1, want: "is an interrupted training run"},
		{what: "interrupted training run as the matched model", args: []string{"match", "--a", "@src", "--b", "@partial", "--points", "0", "--out", "%b.safetensors"}, code: 1, want: "name one of its checkpoint files"},
		{what: "manifest listing 2 of 5 checkpoints, complete", args: xfer("--source", "@lying", "--out", "%t"), code: 1, want: "lists no checkpoint at step"},
		{what: "source checkpoint truncated", args: xfer("--source", "@truncated", "--out", "%t"), code: 1, want: "truncated"},
		{what: "shard index out of range", args: []string{"transfer", "--source", "@src", "--target-init", "@tgt,@tgt", "--shard", "3/2", "--out", "%t"}, code: 1, want: "want 0 ≤ I < N"},
		{what: "zero trajectory steps", args: []string{"transfer", "--source", "@src", "--target-init", "@tgt", "--steps", "0", "--out", "%t"}, code: 1, want: "--steps 0"},
		{what: "malformed permutation spec", args: xfer("--source", "@src", "--spec", "%spec.json", "--out", "%t"), code: 1, want: "spec",
			setup: func(t *testing.T, dir string, fx *badFixtures) {
				writeFile(t, filepath.Join(dir, "spec.json"), []byte(`{"groups": [`))
			}},
		{what: "truncated safetensors checkpoint", args: evalArgs("%trunc.safetensors"), code: 1, want: "outside the 12556-byte data section",
			setup: func(t *testing.T, dir string, fx *badFixtures) {
				writeFile(t, filepath.Join(dir, "trunc.safetensors"), fx.ckpt[:len(fx.ckpt)/2])
			}},
		{what: "safetensors header length of 1 TiB", args: evalArgs("%huge.safetensors"), code: 1, want: "exceeds the",
			setup: func(t *testing.T, dir string, fx *badFixtures) {
				writeFile(t, filepath.Join(dir, "huge.safetensors"), binary.LittleEndian.AppendUint64(nil, 1<<40))
			}},
		{what: "safetensors declaring 4 MB of data in 16 bytes", args: evalArgs("%lying.safetensors"), code: 1, want: "needs more bytes than the file has",
			setup: func(t *testing.T, dir string, fx *badFixtures) {
				writeFile(t, filepath.Join(dir, "lying.safetensors"), stFile(`{"linear1.weight":{"dtype":"F32","shape":[1000,1000],"data_offsets":[0,4000000]}}`, make([]byte, 16)))
			}},
		{what: "checkpoint of another width", args: append(evalArgs("@src/ckpt-0001.safetensors"), "--width", "16"), code: 1, want: "model mlp-relu expects [16 784]"},
		{what: "checkpoint holding NaN", args: evalArgs("%nan.safetensors"), code: 1, want: "non-finite value",
			setup: func(t *testing.T, dir string, fx *badFixtures) {
				b := append([]byte(nil), fx.ckpt...)
				hlen := binary.LittleEndian.Uint64(b)
				binary.LittleEndian.PutUint32(b[8+hlen:], math.Float32bits(float32(math.NaN())))
				writeFile(t, filepath.Join(dir, "nan.safetensors"), b)
			}},
		{what: "unknown evaluation split", args: append(evalArgs("@src/ckpt-0001.safetensors"), "--split", "bogus"), code: 1, want: `unknown split "bogus"`},
		{what: "missing checkpoint file", args: evalArgs("%missing.safetensors"), code: 1, want: "no such file"},
		{what: "grad on a batch holding NaN", args: gradArgs("%nan-batch.safetensors", "%g.safetensors"), code: 1, want: "non-finite value NaN",
			setup: func(t *testing.T, dir string, fx *badFixtures) {
				writeFile(t, filepath.Join(dir, "nan-batch.safetensors"), gradBatch(float32(math.NaN())))
			}},
		{what: "grad on a batch holding +Inf", args: gradArgs("%inf-batch.safetensors", "%g.safetensors"), code: 1, want: "non-finite value +Inf",
			setup: func(t *testing.T, dir string, fx *badFixtures) {
				writeFile(t, filepath.Join(dir, "inf-batch.safetensors"), gradBatch(float32(math.Inf(1))))
			}},
		{what: "grad --out onto an existing file", args: gradArgs("%batch.safetensors", "%g.safetensors"), code: 1, want: "already exists; use --force",
			setup: func(t *testing.T, dir string, fx *badFixtures) {
				writeFile(t, filepath.Join(dir, "batch.safetensors"), gradBatch(0.5))
				writeFile(t, filepath.Join(dir, "g.safetensors"), []byte("the user's file\n"))
			}},
		{what: "grad --out onto its own input, with --force", args: append(gradArgs("%batch.safetensors", "%batch.safetensors"), "--force"), code: 1, want: "is also an input",
			setup: func(t *testing.T, dir string, fx *badFixtures) {
				writeFile(t, filepath.Join(dir, "batch.safetensors"), gradBatch(0.5))
			}},
		{what: ".npy without its magic", args: lapArgs("%cost.npy"), code: 1, want: "missing the \\x93NUMPY magic",
			setup: func(t *testing.T, dir string, fx *badFixtures) {
				writeFile(t, filepath.Join(dir, "cost.npy"), append([]byte("\x93NUMPX\x01\x00"), make([]byte, 100)...))
			}},
		{what: ".npy declaring 50000×50000 in 128 bytes", args: lapArgs("%cost.npy"), code: 1, want: "too large",
			setup: func(t *testing.T, dir string, fx *badFixtures) {
				writeFile(t, filepath.Join(dir, "cost.npy"), npyFile("{'descr': '<f4', 'fortran_order': False, 'shape': (50000, 50000), }", make([]byte, 64)))
			}},
		{what: ".npy in Fortran order", args: lapArgs("%cost.npy"), code: 1, want: "Fortran order",
			setup: func(t *testing.T, dir string, fx *badFixtures) {
				writeFile(t, filepath.Join(dir, "cost.npy"), npyFile("{'descr': '<f4', 'fortran_order': True, 'shape': (2, 2), }", f32s(1, 0, 2, 3)))
			}},
		{what: ".npy of integers", args: lapArgs("%cost.npy"), code: 1, want: `dtype "<i4"`,
			setup: func(t *testing.T, dir string, fx *badFixtures) {
				writeFile(t, filepath.Join(dir, "cost.npy"), npyFile("{'descr': '<i4', 'fortran_order': False, 'shape': (2, 2), }", make([]byte, 16)))
			}},
		{what: ".npy of three dimensions", args: lapArgs("%cost.npy"), code: 1, want: "want a 2-D matrix",
			setup: func(t *testing.T, dir string, fx *badFixtures) {
				writeFile(t, filepath.Join(dir, "cost.npy"), npyFile("{'descr': '<f4', 'fortran_order': False, 'shape': (2, 2, 1), }", f32s(1, 0, 2, 3)))
			}},
		{what: "cost matrix holding NaN", args: lapArgs("%cost.npy"), code: 1, want: "is NaN",
			setup: func(t *testing.T, dir string, fx *badFixtures) {
				writeFile(t, filepath.Join(dir, "cost.npy"), npyFile("{'descr': '<f4', 'fortran_order': False, 'shape': (2, 2), }", f32s(1, float32(math.NaN()), 2, 3)))
			}},
		{what: "lap --out onto an existing file", args: lapArgs("%cost.npy"), code: 1, want: "already exists; use --force",
			setup: func(t *testing.T, dir string, fx *badFixtures) {
				writeFile(t, filepath.Join(dir, "cost.npy"), npyFile("{'descr': '<f4', 'fortran_order': False, 'shape': (2, 2), }", f32s(1, 0, 2, 3)))
				writeFile(t, filepath.Join(dir, "assignment.json"), []byte("the user's file\n"))
			}},
		{what: "match --out onto an existing file", args: []string{"match", "--a", "@src", "--b", "@tgt", "--points", "0", "--out", "%b.safetensors"}, code: 1, want: "already exists; use --force",
			setup: existing("b.safetensors")},
		{what: "match --out onto a trajectory folder, with --force", args: []string{"match", "--a", "@src", "--b", "@tgt", "--points", "0", "--out", "@tgt", "--force"}, code: 1, want: "is not a regular file"},
		{what: "synced --out onto a training trajectory", args: []string{"synced", "--model", "mlp-relu", "--width", "8", "--data", "@data", "--out", "@src"}, code: 1, want: "did not write"},
		{what: "summary --out onto a folder of other files", args: []string{"summary", "--out", "@src", "@src"}, code: 1, want: "which this command did not write"},
		{what: "malformed manifest.json", args: xfer("--source", "%bad", "--out", "%t"), code: 1, want: "malformed manifest.json",
			setup: func(t *testing.T, dir string, fx *badFixtures) {
				os.Mkdir(filepath.Join(dir, "bad"), 0o755)
				writeFile(t, filepath.Join(dir, "bad", "manifest.json"), []byte(`{"format": "ltransfer-trajectory/1", "checkpoints": [`))
			}},
		{what: "plot --out onto an existing file", args: []string{"plot", "--out", "%fig.png", "src=@src"}, code: 1, want: "already exists; use --force",
			setup: existing("fig.png")},
		{what: "--cpuprofile onto an existing file", args: []string{"--cpuprofile", "%cpu.prof", "selftest"}, code: 2, want: "already exists",
			setup: existing("cpu.prof")},
		{what: "demo --cache onto a folder of other files", args: []string{"demo", "--cache", "@src"}, code: 1, want: "which this command did not write"},
		{what: "summary of a folder that is no many-target transfer", args: []string{"summary", "@src"}, code: 1, want: "no targets.json"},
		{what: "an endless stream of zeros as a checkpoint", args: evalArgs("/dev/zero"), code: 1, want: "/dev/zero"},
		{what: ".npy declaring 0×50000000 in 128 bytes", args: lapArgs("%cost.npy"), code: 1, want: "(0, 50000000)",
			setup: func(t *testing.T, dir string, fx *badFixtures) {
				writeFile(t, filepath.Join(dir, "cost.npy"), npyFile("{'descr': '<f4', 'fortran_order': False, 'shape': (0, 50000000), }", make([]byte, 64)))
			}},
		{what: "MNIST images of 16 bytes: a header declaring 1000 images of 4096×4096", args: []string{"train", "--data", "%mnist", "--out", "%run"}, code: 1, want: "holds only 0 pixel bytes",
			setup: func(t *testing.T, dir string, fx *badFixtures) {
				writeIdxHeaders(t, filepath.Join(dir, "mnist"), 1000, 4096)
			}},
		{what: "transfer shard count other than the output folder's", args: manyArgs("@src", "--shard", "1/3", "--out", "@many"), code: 1, want: "started with 2 shards"},
		{what: "summary over folders of different sources", args: []string{"summary", "@many", "@many-other-source"}, code: 1, want: "different sources or settings (source"},
		{what: "summary over folders of different settings", args: []string{"summary", "@many", "@many-other-seed"}, code: 1, want: `different sources or settings (--seed "1" vs "9")`},
		{what: "train --seeds shard index out of range", args: tr("--seeds", "1-2", "--shard", "2/2", "--out", "%runs"), code: 1, want: "want 0 ≤ I < N"},
		{what: "train --seeds shard count other than the output folder's", args: tr("--seeds", "1-2", "--shard", "0/3", "--epochs", "1", "--out", "@seeds"), code: 1, want: "started with 2 shards"},
		{what: "--schedule (a learning-rate schedule) for the trajectory's spacing", args: xfer("--source", "@src", "--schedule", "uniform", "--out", "%t"), code: 1, want: "use --spacing cosine|uniform"},
		{what: "train --shard without --seeds", args: tr("--shard", "0/2", "--out", "%run"), code: 1, want: "--seeds"},
	}
}

// manyArgs is a many-target transfer from source onto two targets.
func manyArgs(source string, extra ...string) []string {
	src, tgt := "@src", "@tgt"
	if source != "@src" {
		src, tgt = source, "@src"
	}
	return append([]string{"transfer", "--source", src, "--target-init", tgt + "," + tgt, "--steps", "2", "--batch", "30"}, extra...)
}

// writeIdxHeaders writes the four MNIST files into dir: image files that
// are only their 16-byte header (n images of side×side), label files that
// announce n labels and hold them.
func writeIdxHeaders(t *testing.T, dir string, n, side int) {
	t.Helper()
	os.MkdirAll(dir, 0o755)
	img := binary.BigEndian.AppendUint32(nil, 0x803)
	img = binary.BigEndian.AppendUint32(img, uint32(n))
	img = binary.BigEndian.AppendUint32(img, uint32(side))
	img = binary.BigEndian.AppendUint32(img, uint32(side))
	lbl := binary.BigEndian.AppendUint32(nil, 0x801)
	lbl = binary.BigEndian.AppendUint32(lbl, uint32(n))
	lbl = append(lbl, make([]byte, n)...)
	for name, b := range map[string][]byte{nn.IdxTrainImages: img, nn.IdxTestImages: img, nn.IdxTrainLabels: lbl, nn.IdxTestLabels: lbl} {
		var buf bytes.Buffer
		zw := gzip.NewWriter(&buf)
		zw.Write(b)
		zw.Close()
		writeFile(t, filepath.Join(dir, name), buf.Bytes())
	}
}

// makeBadFixtures writes the shared files under root.
func makeBadFixtures(t *testing.T, root string) *badFixtures {
	t.Helper()
	data := filepath.Join(root, "data")
	os.MkdirAll(data, 0o755)
	writeBandsIdx(t, data, 200, 60)
	for _, c := range []struct{ out, seed, epochs string }{{"src", "1", "2"}, {"tgt", "2", "1"}} {
		args := expandArgs(tr("--seed", c.seed, "--epochs", c.epochs, "--checkpoint-every", "3", "--out", "@"+c.out), root, root)
		if _, se, code := runCLI(args...); code != 0 {
			t.Fatalf("fixture %s: %s", c.out, se)
		}
	}
	src := filepath.Join(root, "src")
	if man, _ := nn.ReadManifest(src); len(man.Checkpoints) != 5 {
		t.Fatalf("fixture src has %d checkpoints, want 5", len(man.Checkpoints))
	}
	editManifest(t, src, filepath.Join(root, "partial"), func(m *nn.Manifest) {
		m.Checkpoints, m.Complete, m.OptimizerState = m.Checkpoints[:2], false, ""
	})
	os.Remove(filepath.Join(root, "partial", "ckpt-0002.safetensors"))
	os.Remove(filepath.Join(root, "partial", "ckpt-0003.safetensors"))
	os.Remove(filepath.Join(root, "partial", "ckpt-0004.safetensors"))
	os.Remove(filepath.Join(root, "partial", "optim-0004.safetensors"))
	editManifest(t, src, filepath.Join(root, "lying"), func(m *nn.Manifest) {
		last := m.Checkpoints[4]
		last.Index, last.File = 1, "ckpt-0001.safetensors"
		m.Checkpoints = []nn.CheckpointRecord{m.Checkpoints[0], last}
	})
	editManifest(t, src, filepath.Join(root, "truncated"), func(m *nn.Manifest) {})
	ck, err := os.ReadFile(filepath.Join(src, "ckpt-0001.safetensors"))
	if err != nil {
		t.Fatal(err)
	}
	writeFile(t, filepath.Join(root, "truncated", "ckpt-0002.safetensors"), ck[:len(ck)-100])
	if _, se, code := runCLI(expandArgs([]string{"transfer", "--source", "@src", "--target-init", "@tgt", "--steps", "2", "--batch", "30", "--out", "@xfer"}, root, root)...); code != 0 {
		t.Fatalf("fixture xfer: %s", se)
	}
	// Many-target transfers, each its first shard of two: one target.
	for _, args := range [][]string{
		manyArgs("@src", "--shard", "0/2", "--out", "@many"),
		manyArgs("@src", "--shard", "0/2", "--seed", "9", "--out", "@many-other-seed"),
		manyArgs("@tgt", "--shard", "0/2", "--out", "@many-other-source"),
		tr("--seeds", "1-2", "--shard", "0/2", "--epochs", "1", "--out", "@seeds"),
	} {
		if _, se, code := runCLI(expandArgs(args, root, root)...); code != 0 {
			t.Fatalf("fixture %v: %s", args, se)
		}
	}
	return &badFixtures{root: root, ckpt: ck}
}

func expandArgs(args []string, root, dir string) []string {
	out := make([]string, len(args))
	for i, a := range args {
		// Comma-separated lists and LABEL=PATH may hold several paths.
		parts := strings.Split(a, ",")
		for k, p := range parts {
			label, path, ok := strings.Cut(p, "=")
			if !ok {
				label, path = "", p
			} else {
				label += "="
			}
			switch {
			case strings.HasPrefix(path, "@"):
				path = filepath.Join(root, path[1:])
			case strings.HasPrefix(path, "%"):
				path = filepath.Join(dir, path[1:])
			}
			parts[k] = label + path
		}
		out[i] = strings.Join(parts, ",")
	}
	return out
}

// displayArgs is the command line as the table shows it: fixtures and the
// case's files by their names.
func displayArgs(args []string) string {
	var b strings.Builder
	b.WriteString("ltransfer")
	for _, a := range args {
		a = strings.NewReplacer("@", "", "%", "").Replace(a)
		if a == "" || strings.ContainsAny(a, " '\"") {
			a = "'" + a + "'"
		}
		b.WriteString(" " + a)
	}
	return b.String()
}

// treeState maps every path under root to its type, size and hash.
func treeState(t *testing.T, root string) map[string]string {
	t.Helper()
	st := map[string]string{}
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, p)
		if d.IsDir() {
			st[rel] = "dir"
			return nil
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		st[rel] = fmt.Sprintf("%x", sha256.Sum256(b))
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return st
}

func diffTrees(a, b map[string]string) []string {
	var d []string
	for p, v := range a {
		if w, ok := b[p]; !ok {
			d = append(d, "removed "+p)
		} else if w != v {
			d = append(d, "changed "+p)
		}
	}
	for p := range b {
		if _, ok := a[p]; !ok {
			d = append(d, "added "+p)
		}
	}
	sort.Strings(d)
	return d
}

// message is the line of stderr that reports the error.
func message(stderr, root, dir string) string {
	for _, l := range strings.Split(stderr, "\n") {
		if strings.HasPrefix(l, "ltransfer") {
			l = strings.ReplaceAll(l, dir+string(filepath.Separator), "")
			l = strings.ReplaceAll(l, root+string(filepath.Separator), "")
			return l
		}
	}
	return ""
}

// TestBadInputs runs every case of docs/bad-inputs.md through the CLI:
// each must exit with its code and message, and leave every file under the
// test's folder (fixtures and the case's own) as it was, creating nothing.
// The table in docs/bad-inputs.md must be what the cases give; run
// `go test ./cmd/ltransfer -run TestBadInputs -update` to rewrite it.
func TestBadInputs(t *testing.T) {
	root := t.TempDir()
	fx := makeBadFixtures(t, root)
	cases := badInputs()
	seen := map[string]bool{}
	var rows []string
	for i, c := range cases {
		if seen[c.what] {
			t.Fatalf("case %q twice", c.what)
		}
		seen[c.what] = true
		dir := filepath.Join(root, "cases", fmt.Sprint(i+1))
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		if c.setup != nil {
			c.setup(t, dir, fx)
		}
		before := treeState(t, root)
		_, stderr, code := runCLI(expandArgs(c.args, root, dir)...)
		msg := message(stderr, root, dir)
		if code != c.code {
			t.Errorf("%s: exit code %d, want %d (%s)", c.what, code, c.code, msg)
		}
		if !strings.Contains(msg, c.want) {
			t.Errorf("%s: message %q lacks %q (stderr %q)", c.what, msg, c.want, stderr)
		}
		if d := diffTrees(before, treeState(t, root)); len(d) > 0 {
			t.Errorf("%s: the command changed files: %v", c.what, d)
		}
		rows = append(rows, fmt.Sprintf("| %d | %s | `%s` | %d | %s |", i+1, c.what, displayArgs(c.args), code, mdEscape(msg)))
	}
	if len(cases) < 25 {
		t.Errorf("%d cases; the table promises at least 25", len(cases))
	}
	doc := badInputsHeader + strings.Join(rows, "\n") + "\n"
	path := filepath.Join("..", "..", "docs", "bad-inputs.md")
	if *update {
		if err := os.WriteFile(path, []byte(doc), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	have, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test ./cmd/ltransfer -run TestBadInputs -update)", err)
	}
	if string(have) != doc {
		hl, dl := strings.Split(string(have), "\n"), strings.Split(doc, "\n")
		for i := 0; i < len(hl) || i < len(dl); i++ {
			var h, d string
			if i < len(hl) {
				h = hl[i]
			}
			if i < len(dl) {
				d = dl[i]
			}
			if h != d {
				t.Errorf("docs/bad-inputs.md disagrees with the cases at line %d:\n have %s\n want %s\n(run go test ./cmd/ltransfer -run TestBadInputs -update)", i+1, h, d)
				break
			}
		}
	}
}

func mdEscape(s string) string { return strings.ReplaceAll(s, "|", `\|`) }

const badInputsHeader = `# Bad inputs

Every command checks what it is given before it computes or writes: a file
that is truncated or lies about its size, a huge declared size, a wrong
shape, a NaN or infinite value in a flag or a tensor, an unknown name, a
missing file, an output path that holds something the command did not
write. Each is refused with a message naming the problem and a non-zero
exit status, and no file is written, replaced or left half-written.

The rules behind the table:

- **Outputs are never written over.** A command writes a new file or
  folder; an existing one is replaced only when it is the command's own
  earlier output and ` + "`--force`" + ` is given (a finished transfer, an output
  file of lap, match, grad or plot). A training trajectory, a folder of
  other files, or one of the command's own inputs is never replaced, with
  or without ` + "`--force`" + `. Files are written to a temporary name and renamed
  into place; a transfer is built in a hidden ` + "`.NAME.partial`" + ` folder and
  renamed when finished.
- **Numeric flags are checked up front**: every number of every command
  must be finite and in its range before anything is read or written.
- **Trajectories are checked when opened**: every checkpoint the manifest
  lists must exist, be complete and have the model's shapes; a manifest
  that says complete must list every checkpoint its interval implies and
  the folder must hold no checkpoint it does not list. An interrupted
  training run is refused as a transfer source unless ` + "`--allow-incomplete`" + `.
- **Interrupted runs resume.** ` + "`ltransfer train --resume`" + ` finishes a run
  killed at any point, even before its first checkpoint, and removes what
  the killed run left unlisted; a rerun of a transfer replaces the partial
  folder of a killed one.

Exit status 1 is an error of the command; 2 an unknown command or an
error before any command runs. The table is kept by a test
(` + "`TestBadInputs` in `cmd/ltransfer/badinputs_test.go`" + `), which runs every
row on tiny generated data, checks the exit status and message, checks
that no file under its folder was created or changed, and fails when this
table differs from what the commands print. Paths are shown relative to
the test's folder: ` + "`data`" + ` is a small dataset in MNIST's format, ` + "`src`" + ` and
` + "`tgt`" + ` are finished training runs, ` + "`partial`" + ` an interrupted one, ` + "`lying`" + `
a copy of ` + "`src`" + ` whose complete manifest lists 2 of its 5 checkpoints,
` + "`truncated`" + ` one whose third checkpoint is cut short, ` + "`xfer`" + ` a finished
transfer of ` + "`src`" + ` onto ` + "`tgt`" + `; ` + "`many`" + ` is shard 0 of 2 of a many-target
transfer of ` + "`src`" + ` onto two targets, ` + "`many-other-seed`" + ` the same with
` + "`--seed 9`" + `, ` + "`many-other-source`" + ` one of ` + "`tgt`" + ` onto ` + "`src`" + `, and ` + "`seeds`" + ` shard 0
of 2 of a two-seed training run.

| # | Bad input | Command | Exit | Message |
| --- | --- | --- | --- | --- |
`
