package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ltransfer/ltransfer/nn"
)

// TestDataPath checks the CLI's data discovery: --data first, then the
// dataset's environment variable, then the default places, and errors
// that say where it looked and what to do.
func TestDataPath(t *testing.T) {
	dir, other := t.TempDir(), t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "train-images-idx3-ubyte.gz"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Setenv(envFashionMNIST, dir)
	if p, err := dataPath("fashion-mnist", ""); err != nil || p != dir {
		t.Errorf("from %s: %q, %v", envFashionMNIST, p, err)
	}
	if _, err := dataPath("fashion-mnist", other); err == nil || !strings.Contains(err.Error(), other) || !strings.Contains(err.Error(), "train-images-idx3-ubyte.gz") {
		t.Errorf("--data wins over the environment, and a folder without the files is an error naming both: %v", err)
	}
	t.Setenv(envMNIST, other)
	if _, err := dataPath("MNIST", ""); err == nil || !strings.Contains(err.Error(), "mnist not found") || !strings.Contains(err.Error(), envMNIST) {
		t.Errorf("empty %s folder: %v", envMNIST, err)
	}
	t.Setenv(envCIFAR10, filepath.Join(other, "nope.tar"))
	if _, err := dataPath("cifar10", ""); err == nil || !strings.Contains(err.Error(), "nope.tar") {
		t.Errorf("missing CIFAR-10: %v", err)
	}
	if p, err := dataPath("cifar10", dir); err != nil || p != dir {
		t.Errorf("cifar10 --data: %q, %v", p, err)
	}
	if _, err := dataPath("imagefolder", ""); err == nil || !strings.Contains(err.Error(), "needs a path") {
		t.Errorf("imagefolder without --data: %v", err)
	}
	if p, err := dataPath("imagenet", "x"); err != nil || p != "x" {
		t.Errorf("an unknown name passes through for nn to refuse: %q, %v", p, err)
	}
	if _, err := loadData(nnConfig("imagenet")); err == nil || !strings.Contains(err.Error(), "unknown dataset") {
		t.Errorf("unknown dataset: %v", err)
	}
}

func nnConfig(name string) nn.DataConfig { return nn.DataConfig{Name: name} }
