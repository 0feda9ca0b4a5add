package nn

// LoadData and what every format shares. Each format has its file:
// data_idx.go (MNIST, Fashion-MNIST), data_cifar.go (CIFAR-10 binary
// batches), data_images.go (image folders and tars, the CIFAR-10 JPEG tar).
// Every reader bounds what it allocates by the size of what it reads (or
// a documented limit) before allocating, and its errors wrap ErrFormat,
// ErrTooLarge or ErrShape.

import (
	"fmt"
	"os"
	"strings"
)

// Dataset names understood by LoadData.
const (
	MNIST        = "mnist"
	FashionMNIST = "fashion-mnist"
	CIFAR10      = "cifar10"
	ImageFolder  = "imagefolder"
)

// File names of an idx dataset folder (MNIST, Fashion-MNIST), as the
// datasets are distributed.
const (
	IdxTrainImages = "train-images-idx3-ubyte.gz"
	IdxTrainLabels = "train-labels-idx1-ubyte.gz"
	IdxTestImages  = "t10k-images-idx3-ubyte.gz"
	IdxTestLabels  = "t10k-labels-idx1-ubyte.gz"
)

// DataConfig selects and prepares a dataset.
type DataConfig struct {
	// Name is mnist, fashion-mnist, cifar10 or imagefolder.
	Name string
	// Path is where the files are: a folder of idx .gz files (MNIST,
	// Fashion-MNIST; IdxTrainImages …), a folder of CIFAR-10 binary batches
	// (or one holding cifar-10-batches-bin/) or the CIFAR-10 JPEG tar, or an
	// image folder / .tar (imagefolder). LoadData reads only what Path
	// names: it does not search for data (the CLI does that).
	Path string
	// ValFraction of the training set is held out for validation
	// (default 0.1, the paper's 54,000/6,000 on MNIST; negative: none).
	ValFraction float64
	// SplitSeed seeds the train/validation split. It is not the training
	// seed: runs with different seeds share one split (default 0).
	SplitSeed int64
	// NoAugment turns off the CIFAR-10 training augmentation (pad-4 random
	// crop and horizontal flip), which is on by default for cifar10.
	NoAugment bool
	// Limit, when positive, keeps at most Limit training and test samples
	// (smoke tests and quick runs): the first Limit of an idx file (read
	// no further), or Limit samples evenly spaced through a set that was
	// loaded whole, so a class-sorted set such as the CIFAR-10 JPEG tar
	// keeps every class. With ClassSubset the subset is taken first and
	// Limit counts the kept samples.
	Limit int
	// CacheDir, when set, keeps the decoded images in this folder and reads
	// them from there while the source files keep their size and
	// modification time: decoding takes about 0.3 s for MNIST and 5 s of
	// CPU for the CIFAR-10 JPEG tar, reading the cache tens of
	// milliseconds. One file per dataset and source (MNIST 55 MB, CIFAR-10
	// 184 MB), written atomically; a damaged or stale one is written anew,
	// and a folder that cannot be written is ignored. Folders of CIFAR-10
	// binary batches and image folders are read directly.
	CacheDir string
	// ClassSubset, when non-nil, keeps only these classes (indices into
	// the dataset's classes) in train, validation and test, relabelled by
	// their position: ClassSubset[k] becomes label k. See
	// ParseClassSubset for the CLI syntax ("0-4", "5,6,7,8,9").
	ClassSubset []int
}

// Data is a loaded dataset: training, validation and test parts.
type Data struct {
	Name string
	// Source says where the files were read from.
	Source            string
	Train, Val, Test  *ImageSet
	SampleShape       []int
	Classes           []string
	TrainAugmentation Augmentation
	// ClassSubset is DataConfig.ClassSubset: the original class index of
	// every label (nil: all classes, labels as in the files).
	ClassSubset []int
}

// Split returns the named part: train, val or test.
func (d *Data) Split(name string) (*ImageSet, error) {
	switch name {
	case "train":
		return d.Train, nil
	case "val", "validation":
		if d.Val == nil || d.Val.Len() == 0 {
			return nil, fmt.Errorf("nn: dataset %s has no validation split", d.Name)
		}
		return d.Val, nil
	case "test":
		if d.Test == nil || d.Test.Len() == 0 {
			return nil, fmt.Errorf("nn: dataset %s has no test split (%s)", d.Name, d.Source)
		}
		return d.Test, nil
	}
	return nil, fmt.Errorf("nn: unknown split %q (want train, val or test)", name)
}

// LoadData reads a dataset into memory and splits it. The training part
// augments its samples when the dataset has augmentation (CIFAR-10);
// Val and Test never do.
func LoadData(cfg DataConfig) (*Data, error) {
	var train, test *ImageSet
	var src string
	var err error
	if cfg.ClassSubset != nil && len(cfg.ClassSubset) == 0 {
		return nil, fmt.Errorf("nn: dataset %s: class subset is empty (want at least one class)", cfg.Name)
	}
	// An idx file is read only as far as Limit needs, unless a class
	// subset must be taken first.
	readLimit := cfg.Limit
	if cfg.ClassSubset != nil {
		readLimit = 0
	}
	name := strings.ToLower(cfg.Name)
	switch name {
	case MNIST, FashionMNIST, CIFAR10, ImageFolder:
	default:
		return nil, fmt.Errorf("nn: unknown dataset %q (want mnist, fashion-mnist, cifar10 or imagefolder)", cfg.Name)
	}
	if cfg.Path == "" {
		return nil, fmt.Errorf("nn: dataset %s: DataConfig.Path is empty: give the folder or file that holds the data", name)
	}
	load := func() (*ImageSet, *ImageSet, string, error) {
		switch name {
		case MNIST:
			return loadIdxDataset(MNIST, cfg.Path, 0.1307, 0.3081, readLimit)
		case FashionMNIST:
			return loadIdxDataset(FashionMNIST, cfg.Path, 0.2860, 0.3530, readLimit)
		case CIFAR10:
			return loadCIFAR10(cfg.Path)
		}
		return loadImageFolder(cfg.Path)
	}
	if readLimit == 0 || (name != MNIST && name != FashionMNIST) {
		// Whole sets only: an idx file read as far as Limit is not cached.
		train, test, src, err = loadCached(cfg.CacheDir, name, cfg.Path, load)
	} else {
		train, test, src, err = load()
	}
	if err != nil {
		return nil, err
	}
	if cfg.ClassSubset != nil {
		if train, test, err = classSubsets(train, test, cfg.ClassSubset, strings.ToLower(cfg.Name)); err != nil {
			return nil, err
		}
	}
	if cfg.Limit > 0 {
		train = limitSet(train, cfg.Limit)
		if test != nil {
			test = limitSet(test, cfg.Limit)
		}
	}
	d := &Data{Name: strings.ToLower(cfg.Name), Source: src, Test: test, SampleShape: train.SampleShape(), Classes: train.Classes}
	if cfg.ClassSubset != nil {
		d.ClassSubset = append([]int(nil), cfg.ClassSubset...)
	}
	vf := cfg.ValFraction
	if vf == 0 {
		vf = 0.1
	}
	if vf > 0 {
		d.Train, d.Val, err = train.Split(vf, cfg.SplitSeed)
		if err != nil {
			return nil, err
		}
	} else {
		d.Train = train
	}
	if d.Name == CIFAR10 && !cfg.NoAugment {
		d.TrainAugmentation = Augmentation{Pad: 4, Flip: true}
		d.Train = d.Train.WithAugmentation(d.TrainAugmentation)
	}
	return d, nil
}

// classSubsets applies a class subset to the training and test sets.
func classSubsets(train, test *ImageSet, classes []int, name string) (*ImageSet, *ImageSet, error) {
	tr, err := train.ClassSubset(classes)
	if err != nil {
		return nil, nil, fmt.Errorf("nn: dataset %s: %s", name, strings.TrimPrefix(err.Error(), "nn: "))
	}
	if tr.Len() == 0 {
		return nil, nil, fmt.Errorf("nn: dataset %s: class subset %s keeps no training samples", name, FormatClassSubset(classes))
	}
	if test != nil {
		if test, err = test.ClassSubset(classes); err != nil {
			return nil, nil, fmt.Errorf("nn: dataset %s: test set: %s", name, strings.TrimPrefix(err.Error(), "nn: "))
		}
	}
	return tr, test, nil
}

// limitSet keeps n samples evenly spaced through s (all of s if it has
// no more than n).
func limitSet(s *ImageSet, n int) *ImageSet {
	if s.Len() <= n {
		return s
	}
	idx := make([]int, n)
	for i := range idx {
		idx[i] = i * s.Len() / n
	}
	return s.Subset(idx)
}

func fileExists(p string) bool {
	_, err := os.Stat(p)
	return err == nil
}
