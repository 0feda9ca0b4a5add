package main

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ltransfer/ltransfer/nn"
)

// mnistOrSkip skips when the MNIST files are not where nn looks for them.
func mnistOrSkip(t *testing.T) {
	t.Helper()
	if _, err := loadData(nn.DataConfig{Name: "mnist", Limit: 10}); err != nil {
		t.Skipf("MNIST not available: %v", err)
	}
}

func run(t *testing.T, args ...string) (string, string, int) {
	t.Helper()
	var out, errb bytes.Buffer
	code := runMain(args, &out, &errb)
	return out.String(), errb.String(), code
}

// TestTransferMatchDemoCLI runs train → transfer (every method) → match →
// demo on a tiny MLP and 600 MNIST images, and checks the outputs and the
// errors on bad input.
func TestTransferMatchDemoCLI(t *testing.T) {
	mnistOrSkip(t)
	dir := t.TempDir()
	src, tgt := filepath.Join(dir, "src"), filepath.Join(dir, "tgt")
	for _, c := range []struct {
		out  string
		seed string
	}{{src, "101"}, {tgt, "102"}} {
		if _, e, code := run(t, "train", "--model", "mlp", "--width", "16", "--epochs", "2", "--limit", "600", "--batch", "32",
			"--seed", c.seed, "--threads", "2", "--no-test", "--out", c.out); code != 0 {
			t.Fatalf("train: %s", e)
		}
	}
	init := filepath.Join(tgt, "ckpt-0000.safetensors")
	for _, m := range []string{"gmt", "fgmt", "naive", "oracle"} {
		out := filepath.Join(dir, m)
		args := []string{"transfer", "--source", src, "--target-init", init, "--method", m, "--steps", "4", "--batch", "32",
			"--limit", "600", "--out", out}
		if m == "oracle" {
			args = append(args, "--target", tgt)
		}
		if _, e, code := run(t, args...); code != 0 {
			t.Fatalf("transfer %s: %s", m, e)
		}
		b, err := os.ReadFile(filepath.Join(out, "report.json"))
		if err != nil {
			t.Fatal(err)
		}
		var rep map[string]any
		if err := json.Unmarshal(b, &rep); err != nil {
			t.Fatal(err)
		}
		if rep["method"] != m || len(rep["steps"].([]any)) != 5 {
			t.Fatalf("%s: report %s", m, b)
		}
		acc := rep["best_val_acc"].(float64)
		if acc < 0 || acc > 1 {
			t.Fatalf("%s: best_val_acc %v is not a fraction", m, acc)
		}
		for _, f := range []string{"gradients", "cost_matrices", "lap", "eval", "total"} {
			if _, ok := rep["timings_s"].(map[string]any)[f]; !ok {
				t.Fatalf("%s: timings_s lacks %s", m, f)
			}
		}
		for _, f := range []string{"manifest.json", "perms.json", "best.safetensors", "ckpt-0004.safetensors", "perms-0004.json"} {
			if _, err := os.Stat(filepath.Join(out, f)); err != nil {
				t.Fatalf("%s: %v", m, err)
			}
		}
		// The transferred trajectory is a trajectory folder nn can open.
		if tr, err := nn.OpenTrajectory(out, nil); err != nil || tr.Len() != 5 {
			t.Fatalf("%s: transferred trajectory: %v", m, err)
		}
	}
	// The recorded trajectory (every checkpoint) instead of the linear
	// path, with the per-tensor normalised objective.
	if _, e, code := run(t, "transfer", "--source", src, "--target-init", init, "--method", "fgmt", "--trajectory", "recorded",
		"--normalize=tensor", "--batch", "32", "--limit", "600", "--out", filepath.Join(dir, "rec")); code != 0 {
		t.Fatalf("transfer --trajectory recorded: %s", e)
	}
	if tr, err := nn.OpenTrajectory(filepath.Join(dir, "rec"), nil); err != nil || tr.Len() != 3 {
		t.Fatalf("recorded-trajectory transfer: %v", err)
	}
	if b, err := os.ReadFile(filepath.Join(dir, "rec", "report.json")); err != nil || !strings.Contains(string(b), `"normalize": "tensor"`) {
		t.Fatalf("report of --normalize=tensor: %s %v", b, err)
	}
	// GMT with selected permutations: the report says so and names, for
	// every step, whose permutation its point uses.
	if _, e, code := run(t, "transfer", "--source", src, "--target-init", init, "--method", "gmt", "--select-perms", "--select-batches", "2",
		"--steps", "4", "--batch", "32", "--limit", "600", "--out", filepath.Join(dir, "sel")); code != 0 {
		t.Fatalf("transfer --select-perms: %s", e)
	}
	if b, err := os.ReadFile(filepath.Join(dir, "sel", "report.json")); err != nil || !strings.Contains(string(b), `"select_perms": true`) ||
		!strings.Contains(string(b), `"perms_from": 1`) || !strings.Contains(string(b), `"endpoint_loss"`) {
		t.Fatalf("report of --select-perms: %s %v", b, err)
	}
	// The broken-invariance ablation (its spec is tested in transfer).
	if _, e, code := run(t, "transfer", "--source", src, "--target-init", init, "--method", "gmt", "--broken-invariance",
		"--steps", "4", "--batch", "32", "--limit", "600", "--out", filepath.Join(dir, "noinv")); code != 0 {
		t.Fatalf("transfer --broken-invariance: %s", e)
	}
	bad := []struct {
		args []string
		want string
	}{
		{[]string{"transfer", "--target-init", init, "--out", dir}, "--source DIR is required"},
		{[]string{"transfer", "--source", src, "--target-init", init, "--method", "naive", "--select-perms", "--out", filepath.Join(dir, "x")}, "--select-perms is for --method gmt and fgmt"},
		{[]string{"transfer", "--source", src, "--target-init", init, "--select-perms", "--segments", "2", "--steps", "4", "--out", filepath.Join(dir, "x")}, "do not combine"},
		{[]string{"transfer", "--source", src, "--target-init", init, "--method", "magic", "--out", filepath.Join(dir, "x")}, "unknown method"},
		{[]string{"transfer", "--source", src, "--target-init", init, "--method", "oracle", "--out", filepath.Join(dir, "x")}, "needs --target"},
		{[]string{"transfer", "--source", src, "--target-init", init, "--out", filepath.Join(dir, "gmt")}, "already holds a finished transfer"},
		{[]string{"transfer", "--source", src, "--target-init", filepath.Join(dir, "nope"), "--out", filepath.Join(dir, "x")}, "--target-init"},
		{[]string{"transfer", "--source", dir, "--target-init", init, "--out", filepath.Join(dir, "x")}, "manifest.json"},
		{[]string{"transfer", "--source", src, "--target-init", init, "--spacing", "square", "--out", filepath.Join(dir, "x")}, `--spacing "square": want cosine or uniform`},
		{[]string{"transfer", "--source", src, "--target-init", init, "--steps", "0", "--out", filepath.Join(dir, "x")}, "--steps 0"},
		{[]string{"transfer", "--source", src, "--target-init", init, "--normalize=cosine", "--out", filepath.Join(dir, "x")}, "want pair or tensor"},
		{[]string{"match", "--a", init}, "--a, --b and --out are required"},
	}
	for _, c := range bad {
		_, e, code := run(t, c.args...)
		if code == 0 || !strings.Contains(e, c.want) {
			t.Errorf("%v: exit %d, stderr %q, want it to contain %q", c.args, code, e, c.want)
		}
	}
	if _, err := os.Stat(filepath.Join(dir, "x", "report.json")); err == nil {
		t.Error("a failed transfer left a report.json")
	}

	// match: permuted B, loss barriers.
	o, e, code := run(t, "match", "--model", "mlp", "--a", src, "--b", tgt, "--out", filepath.Join(dir, "b_perm.safetensors"),
		"--limit", "600", "--points", "2", "--json")
	if code != 0 {
		t.Fatalf("match: %s", e)
	}
	var ms matchSummary
	if err := json.Unmarshal([]byte(o), &ms); err != nil || len(ms.PathPermuted) != 3 {
		t.Fatalf("match output %q: %v", o, err)
	}

	// demo, twice: the second run reuses everything from the cache.
	cache := filepath.Join(dir, "demo")
	args := []string{"demo", "--width", "16", "--epochs", "1", "--limit", "600", "--batch", "32", "--steps", "3", "--cache", cache}
	o, e, code = run(t, args...)
	if code != 0 {
		t.Fatalf("demo: %s", e)
	}
	for _, f := range []string{"demo.md", "demo-transfer.png", "demo-finetune.png"} {
		if st, err := os.Stat(filepath.Join(cache, f)); err != nil || st.Size() == 0 {
			t.Fatalf("demo output %s: %v", f, err)
		}
	}
	if !strings.Contains(o, "| GMT |") || !strings.Contains(o, "fine-tuned GMT") {
		t.Fatalf("demo table:\n%s", o)
	}
	_, e, code = run(t, args...)
	if code != 0 || !strings.Contains(e, "reusing") {
		t.Fatalf("demo rerun: exit %d, %s", code, e)
	}
}
