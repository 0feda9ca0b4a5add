package main

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// writeTinyCIFAR writes CIFAR-10 binary batches (n records each, random
// pixels whose mean brightness follows the label) into dir.
func writeTinyCIFAR(t *testing.T, dir string, n int) {
	t.Helper()
	r := rand.New(rand.NewPCG(1, 2))
	batch := func() []byte {
		var b []byte
		for i := 0; i < n; i++ {
			y := byte(i % 10)
			b = append(b, y)
			for p := 0; p < 3072; p++ {
				b = append(b, byte(int(y)*20+r.IntN(56)))
			}
		}
		return b
	}
	for _, name := range []string{"data_batch_1.bin", "data_batch_2.bin", "data_batch_3.bin", "data_batch_4.bin", "data_batch_5.bin", "test_batch.bin"} {
		if err := os.WriteFile(filepath.Join(dir, name), batch(), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// TestTransferGMAugmentCLI: --gm-augment runs GMT with augmented gradient
// batches on CIFAR-10 and records it in report.json; on a dataset without
// training augmentation it is refused with a clear error.
func TestTransferGMAugmentCLI(t *testing.T) {
	dir := t.TempDir()
	cif := filepath.Join(dir, "cifar")
	os.MkdirAll(cif, 0o755)
	writeTinyCIFAR(t, cif, 40)
	src, tgt := filepath.Join(dir, "src"), filepath.Join(dir, "tgt")
	for _, c := range [][2]string{{src, "1"}, {tgt, "2"}} {
		if _, e, code := run(t, "train", "--model", "mlp-relu", "--width", "16", "--dataset", "cifar10", "--data", cif,
			"--epochs", "2", "--batch", "20", "--lr", "0.01", "--threads", "2", "--no-test", "--seed", c[1], "--out", c[0]); code != 0 {
			t.Fatalf("train: %s", e)
		}
	}
	init := filepath.Join(tgt, "ckpt-0000.safetensors")
	args := []string{"transfer", "--source", src, "--target-init", init, "--method", "gmt", "--steps", "3", "--batch", "16", "--gm-batches", "2"}
	objectives := map[bool][]float64{}
	for _, aug := range []bool{false, true} {
		out := filepath.Join(dir, "plain")
		a := args
		if aug {
			out = filepath.Join(dir, "aug")
			a = append(a, "--gm-augment")
		}
		if _, e, code := run(t, append(a, "--out", out)...); code != 0 {
			t.Fatalf("transfer (augment %v): %s", aug, e)
		}
		b, err := os.ReadFile(filepath.Join(out, "report.json"))
		if err != nil {
			t.Fatal(err)
		}
		var rep struct {
			GMAugment bool `json:"gm_augment"`
			Steps     []struct {
				Objective float64 `json:"objective"`
			} `json:"steps"`
		}
		if err := json.Unmarshal(b, &rep); err != nil {
			t.Fatal(err)
		}
		if rep.GMAugment != aug || len(rep.Steps) != 4 {
			t.Fatalf("augment %v: report %s", aug, b)
		}
		for _, st := range rep.Steps {
			objectives[aug] = append(objectives[aug], st.Objective)
		}
	}
	if fmt.Sprint(objectives[true]) == fmt.Sprint(objectives[false]) {
		t.Errorf("--gm-augment left GMT's objectives unchanged: %v", objectives[true])
	}

	// A dataset without training augmentation: the flag is refused, and
	// nothing is written.
	idx := filepath.Join(dir, "idx")
	os.MkdirAll(idx, 0o755)
	writeBandsIdx(t, idx, 200, 50)
	isrc := filepath.Join(dir, "isrc")
	if _, e, code := run(t, "train", "--model", "mlp-relu", "--width", "8", "--data", idx, "--epochs", "1", "--batch", "50",
		"--lr", "0.05", "--threads", "1", "--no-test", "--seed", "3", "--out", isrc); code != 0 {
		t.Fatalf("train: %s", e)
	}
	bad := filepath.Join(dir, "bad")
	_, e, code := run(t, "transfer", "--source", isrc, "--target-init", filepath.Join(isrc, "ckpt-0000.safetensors"),
		"--method", "gmt", "--steps", "2", "--gm-augment", "--out", bad)
	if code == 0 || !strings.Contains(e, "--gm-augment: dataset") || !strings.Contains(e, "has no training augmentation") {
		t.Errorf("--gm-augment on idx data: exit %d, %s", code, e)
	}
	if _, err := os.Stat(filepath.Join(bad, "report.json")); err == nil {
		t.Error("a refused transfer wrote report.json")
	}
}
