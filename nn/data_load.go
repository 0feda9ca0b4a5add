package nn

import (
	"archive/tar"
	"bufio"
	"bytes"
	"compress/gzip"
	"encoding/binary"
	"fmt"
	"image"
	"image/color"
	_ "image/jpeg" // JPEG decoding for image folders and the CIFAR-10 JPEG tar
	_ "image/png"  // PNG decoding for image folders
	"io"
	"os"
	"path"
	"path/filepath"
	"runtime"
	"sort"
	"strings"
	"sync"
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
	switch name {
	case MNIST:
		train, test, src, err = loadIdxDataset(MNIST, cfg.Path, 0.1307, 0.3081, readLimit)
	case FashionMNIST:
		train, test, src, err = loadIdxDataset(FashionMNIST, cfg.Path, 0.2860, 0.3530, readLimit)
	case CIFAR10:
		train, test, src, err = loadCIFAR10(cfg.Path)
	case ImageFolder:
		train, test, src, err = loadImageFolder(cfg.Path)
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

var idxFiles = [4]string{IdxTrainImages, IdxTrainLabels, IdxTestImages, IdxTestLabels}

// loadIdxDataset reads the four idx files of an MNIST-format dataset
// from the folder found.
func loadIdxDataset(name, found string, mean, std float32, limit int) (train, test *ImageSet, src string, err error) {
	classes := make([]string, 10)
	for i := range classes {
		classes[i] = fmt.Sprint(i)
	}
	if name == FashionMNIST {
		classes = []string{"T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"}
	}
	load := func(imgFile, lblFile string) (*ImageSet, error) {
		pix, h, w, err := readIdxImages(filepath.Join(found, imgFile), limit)
		if err != nil {
			return nil, err
		}
		lbl, err := readIdxLabels(filepath.Join(found, lblFile), limit)
		if err != nil {
			return nil, err
		}
		if len(lbl)*h*w != len(pix) {
			return nil, fmt.Errorf("nn: %s: %s holds %d images but %s holds %d labels", name, imgFile, len(pix)/(h*w), lblFile, len(lbl))
		}
		for i, l := range lbl {
			if l >= 10 {
				return nil, fmt.Errorf("nn: %s: %s: label %d of item %d outside [0, 10)", name, lblFile, l, i)
			}
		}
		return &ImageSet{Name: name, C: 1, H: h, W: w, Pix: pix, Labels: lbl, Classes: classes, Mean: []float32{mean}, Std: []float32{std}}, nil
	}
	if train, err = load(idxFiles[0], idxFiles[1]); err != nil {
		return nil, nil, "", err
	}
	if test, err = load(idxFiles[2], idxFiles[3]); err != nil {
		return nil, nil, "", err
	}
	return train, test, found, nil
}

// openGzip opens a gzip file for streaming.
func openGzip(path string) (io.Reader, func(), error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, nil, fmt.Errorf("nn: %w", err)
	}
	zr, err := gzip.NewReader(bufio.NewReaderSize(f, 1<<16))
	if err != nil {
		f.Close()
		return nil, nil, fmt.Errorf("nn: %s: not a gzip file: %w", path, err)
	}
	return zr, func() { f.Close() }, nil
}

// readIdxImages reads an idx3-ubyte file (magic 0x00000803, N, H, W,
// pixels), at most limit images when limit > 0: the file is inflated only
// as far as needed, so small runs start at once.
func readIdxImages(path string, limit int) (pix []uint8, h, w int, err error) {
	r, done, err := openGzip(path)
	if err != nil {
		return nil, 0, 0, err
	}
	defer done()
	var hdr [16]byte
	if _, err := io.ReadFull(r, hdr[:]); err != nil || binary.BigEndian.Uint32(hdr[:]) != 0x803 {
		return nil, 0, 0, fmt.Errorf("nn: %s: not an idx3-ubyte image file (bad magic or header)", path)
	}
	n := int(binary.BigEndian.Uint32(hdr[4:]))
	h = int(binary.BigEndian.Uint32(hdr[8:]))
	w = int(binary.BigEndian.Uint32(hdr[12:]))
	if h <= 0 || w <= 0 || h > 4096 || w > 4096 || n < 0 || n > 1<<26 {
		return nil, 0, 0, fmt.Errorf("nn: %s: implausible header: %d images of %d×%d", path, n, h, w)
	}
	want := n
	if limit > 0 && limit < n {
		want = limit
	}
	pix = make([]uint8, want*h*w)
	got, err := io.ReadFull(r, pix)
	if err != nil {
		if err == io.ErrUnexpectedEOF || err == io.EOF {
			return nil, 0, 0, fmt.Errorf("nn: %s: header says %d images of %d×%d but the file holds only %d pixel bytes (truncated?)", path, n, h, w, got)
		}
		return nil, 0, 0, fmt.Errorf("nn: %s: corrupt gzip data: %w", path, err)
	}
	if want == n {
		if k, _ := io.ReadFull(r, hdr[:1]); k != 0 {
			return nil, 0, 0, fmt.Errorf("nn: %s: data after the %d images the header announces", path, n)
		}
	}
	return pix, h, w, nil
}

// readIdxLabels reads an idx1-ubyte file (magic 0x00000801, N, labels),
// at most limit labels when limit > 0.
func readIdxLabels(path string, limit int) ([]int32, error) {
	r, done, err := openGzip(path)
	if err != nil {
		return nil, err
	}
	defer done()
	var hdr [8]byte
	if _, err := io.ReadFull(r, hdr[:]); err != nil || binary.BigEndian.Uint32(hdr[:]) != 0x801 {
		return nil, fmt.Errorf("nn: %s: not an idx1-ubyte label file (bad magic or header)", path)
	}
	n := int(binary.BigEndian.Uint32(hdr[4:]))
	if n < 0 || n > 1<<26 {
		return nil, fmt.Errorf("nn: %s: implausible label count %d", path, n)
	}
	want := n
	if limit > 0 && limit < n {
		want = limit
	}
	b := make([]byte, want)
	if got, err := io.ReadFull(r, b); err != nil {
		return nil, fmt.Errorf("nn: %s: header says %d labels but the file holds %d (truncated?)", path, n, got)
	}
	out := make([]int32, want)
	for i, v := range b {
		out[i] = int32(v)
	}
	return out, nil
}

// CIFAR10Classes are the CIFAR-10 class names in label order.
var CIFAR10Classes = []string{"airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"}

var (
	cifarMean = []float32{0.4914, 0.4822, 0.4465}
	cifarStd  = []float32{0.2470, 0.2435, 0.2616}
)

// loadCIFAR10 reads CIFAR-10 from c: a folder of binary batches, a folder
// holding cifar-10-batches-bin/, or the JPEG tar (or folder) laid out as
// train/<class>/*.jpg and test/<class>/*.jpg.
func loadCIFAR10(c string) (train, test *ImageSet, src string, err error) {
	st, err := os.Stat(c)
	if err != nil {
		return nil, nil, "", fmt.Errorf("nn: cifar10: %w", err)
	}
	if st.IsDir() {
		if fileExists(filepath.Join(c, "data_batch_1.bin")) {
			train, test, err := loadCIFARBinary(c)
			return train, test, c, err
		}
		if sub := filepath.Join(c, "cifar-10-batches-bin"); fileExists(filepath.Join(sub, "data_batch_1.bin")) {
			train, test, err := loadCIFARBinary(sub)
			return train, test, sub, err
		}
	}
	train, test, err = loadImages(c, CIFAR10Classes)
	if err != nil {
		return nil, nil, "", err
	}
	if test == nil {
		return nil, nil, "", fmt.Errorf("nn: cifar10: %s has no test images (want train/<class>/*.jpg and test/<class>/*.jpg)", c)
	}
	train.Name, test.Name = CIFAR10, CIFAR10
	train.Mean, train.Std, test.Mean, test.Std = cifarMean, cifarStd, cifarMean, cifarStd
	return train, test, c, nil
}

func fileExists(p string) bool {
	_, err := os.Stat(p)
	return err == nil
}

// loadCIFARBinary reads the binary release: records of 1 label byte and
// 3072 pixel bytes (R, G, B planes of 32×32).
func loadCIFARBinary(dir string) (train, test *ImageSet, err error) {
	read := func(files ...string) (*ImageSet, error) {
		s := &ImageSet{Name: CIFAR10, C: 3, H: 32, W: 32, Classes: CIFAR10Classes, Mean: cifarMean, Std: cifarStd}
		for _, f := range files {
			b, err := os.ReadFile(filepath.Join(dir, f))
			if err != nil {
				return nil, fmt.Errorf("nn: cifar10: %w", err)
			}
			const rec = 1 + 3072
			if len(b) == 0 || len(b)%rec != 0 {
				return nil, fmt.Errorf("nn: cifar10: %s has %d bytes, not a multiple of the %d-byte record", filepath.Join(dir, f), len(b), rec)
			}
			for r := 0; r < len(b); r += rec {
				if b[r] >= 10 {
					return nil, fmt.Errorf("nn: cifar10: %s: record %d has label %d", filepath.Join(dir, f), r/rec, b[r])
				}
				s.Labels = append(s.Labels, int32(b[r]))
				s.Pix = append(s.Pix, b[r+1:r+rec]...)
			}
		}
		return s, nil
	}
	if train, err = read("data_batch_1.bin", "data_batch_2.bin", "data_batch_3.bin", "data_batch_4.bin", "data_batch_5.bin"); err != nil {
		return nil, nil, err
	}
	if test, err = read("test_batch.bin"); err != nil {
		return nil, nil, err
	}
	return train, test, nil
}

func loadImageFolder(p string) (train, test *ImageSet, src string, err error) {
	train, test, err = loadImages(p, nil)
	if err != nil {
		return nil, nil, "", err
	}
	// Normalise with the training set's own per-channel statistics.
	mean, std := channelStats(train)
	train.Mean, train.Std = mean, std
	if test != nil {
		test.Mean, test.Std = mean, std
	}
	return train, test, p, nil
}

func channelStats(s *ImageSet) (mean, std []float32) {
	hw := s.H * s.W
	mean, std = make([]float32, s.C), make([]float32, s.C)
	for c := 0; c < s.C; c++ {
		var sum, sq float64
		for i := 0; i < len(s.Labels); i++ {
			for _, p := range s.Pix[(i*s.C+c)*hw : (i*s.C+c+1)*hw] {
				v := float64(p) / 255
				sum += v
				sq += v * v
			}
		}
		n := float64(len(s.Labels) * hw)
		m := sum / n
		v := sq/n - m*m
		if v < 1e-12 {
			v = 1
		}
		mean[c] = float32(m)
		std[c] = float32(sqrtf(v))
	}
	return mean, std
}

type imageFile struct {
	split, class, name string
	data               []byte
}

// loadImages reads root/<class>/*.{jpg,jpeg,png} (or root/train/<class>/…
// and root/test/<class>/…) from a folder or a tar file read in place.
// classes fixes the class order (nil: sorted folder names, as torchvision's
// ImageFolder). All images must share one size.
func loadImages(root string, classes []string) (train, test *ImageSet, err error) {
	var files []imageFile
	if st, serr := os.Stat(root); serr != nil {
		return nil, nil, fmt.Errorf("nn: image data %q: %w", root, serr)
	} else if st.IsDir() {
		err = filepath.WalkDir(root, func(p string, d os.DirEntry, err error) error {
			if err != nil || d.IsDir() || !isImageName(p) {
				return err
			}
			rel, _ := filepath.Rel(root, p)
			b, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			files = append(files, imageFile{name: filepath.ToSlash(rel), data: b})
			return nil
		})
	} else {
		files, err = readTarImages(root)
	}
	if err != nil {
		return nil, nil, fmt.Errorf("nn: image data %q: %w", root, err)
	}
	if len(files) == 0 {
		return nil, nil, fmt.Errorf("nn: image data %q: no .jpg/.jpeg/.png files found (want root/<class>/*.jpg, optionally under train/ and test/)", root)
	}
	// Split layout: every file under train/ or test/ (val/ counts as test).
	splitLayout := true
	for i := range files {
		parts := strings.Split(strings.TrimPrefix(files[i].name, "./"), "/")
		if len(parts) >= 3 && (parts[len(parts)-3] == "train" || parts[len(parts)-3] == "test" || parts[len(parts)-3] == "val") {
			files[i].split = parts[len(parts)-3]
			if files[i].split == "val" {
				files[i].split = "test"
			}
		} else {
			splitLayout = false
		}
		if len(parts) < 2 {
			return nil, nil, fmt.Errorf("nn: image data %q: file %s is not inside a class folder", root, files[i].name)
		}
		files[i].class = parts[len(parts)-2]
	}
	if !splitLayout {
		for i := range files {
			files[i].split = "train"
		}
	}
	classIdx := map[string]int{}
	if classes == nil {
		set := map[string]bool{}
		for _, f := range files {
			set[f.class] = true
		}
		for c := range set {
			classes = append(classes, c)
		}
		sort.Strings(classes)
	}
	for i, c := range classes {
		classIdx[c] = i
	}
	for _, f := range files {
		if _, ok := classIdx[f.class]; !ok {
			return nil, nil, fmt.Errorf("nn: image data %q: file %s is in unknown class folder %q (classes: %s)", root, f.name, f.class, strings.Join(classes, ", "))
		}
	}
	sort.Slice(files, func(a, b int) bool {
		if files[a].split != files[b].split {
			return files[a].split > files[b].split // train before test
		}
		if files[a].class != files[b].class {
			return classIdx[files[a].class] < classIdx[files[b].class]
		}
		return files[a].name < files[b].name
	})
	// Decode in parallel; the size and channel count come from the first image.
	cfg, _, err := image.DecodeConfig(bytes.NewReader(files[0].data))
	if err != nil {
		return nil, nil, fmt.Errorf("nn: image data %q: %s: %w", root, files[0].name, err)
	}
	h, w := cfg.Height, cfg.Width
	c := 3
	if cfg.ColorModel == color.GrayModel || cfg.ColorModel == color.Gray16Model {
		c = 1
	}
	n := h * w * c
	pix := make([]uint8, len(files)*n)
	errs := make([]error, len(files))
	var wg sync.WaitGroup
	workers := runtime.GOMAXPROCS(0)
	for wkr := 0; wkr < workers; wkr++ {
		wg.Add(1)
		go func(wkr int) {
			defer wg.Done()
			for i := wkr; i < len(files); i += workers {
				errs[i] = decodeInto(files[i].data, pix[i*n:(i+1)*n], c, h, w)
			}
		}(wkr)
	}
	wg.Wait()
	for i, e := range errs {
		if e != nil {
			return nil, nil, fmt.Errorf("nn: image data %q: %s: %w", root, files[i].name, e)
		}
	}
	mk := func(split string) *ImageSet {
		s := &ImageSet{Name: ImageFolder, C: c, H: h, W: w, Classes: classes}
		lo, hi := -1, -1
		for i, f := range files {
			if f.split == split {
				if lo < 0 {
					lo = i
				}
				hi = i + 1
				s.Labels = append(s.Labels, int32(classIdx[f.class]))
			}
		}
		if lo < 0 {
			return nil
		}
		s.Pix = pix[lo*n : hi*n]
		return s
	}
	train, test = mk("train"), mk("test")
	if train == nil {
		return nil, nil, fmt.Errorf("nn: image data %q: no training images (train/<class>/…)", root)
	}
	return train, test, nil
}

func isImageName(p string) bool {
	switch strings.ToLower(path.Ext(p)) {
	case ".jpg", ".jpeg", ".png":
		return true
	}
	return false
}

func readTarImages(p string) ([]imageFile, error) {
	f, err := os.Open(p)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	tr := tar.NewReader(f)
	var files []imageFile
	for {
		hd, err := tr.Next()
		if err == io.EOF {
			return files, nil
		}
		if err != nil {
			return nil, fmt.Errorf("not a readable tar file: %w", err)
		}
		if hd.Typeflag != tar.TypeReg || !isImageName(hd.Name) {
			continue
		}
		if hd.Size > 64<<20 {
			return nil, fmt.Errorf("%s: %d bytes, too large for an image here", hd.Name, hd.Size)
		}
		b, err := io.ReadAll(tr)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", hd.Name, err)
		}
		files = append(files, imageFile{name: hd.Name, data: b})
	}
}

// decodeInto decodes one image into planar 8-bit pixels (C planes of H×W).
func decodeInto(data []byte, dst []uint8, c, h, w int) error {
	img, _, err := image.Decode(bytes.NewReader(data))
	if err != nil {
		return err
	}
	b := img.Bounds()
	if b.Dx() != w || b.Dy() != h {
		return fmt.Errorf("image is %d×%d, the first image was %d×%d (all must match)", b.Dx(), b.Dy(), w, h)
	}
	hw := h * w
	switch im := img.(type) {
	case *image.YCbCr:
		for y := 0; y < h; y++ {
			for x := 0; x < w; x++ {
				r, g, bl, _ := im.At(b.Min.X+x, b.Min.Y+y).RGBA()
				setPix(dst, c, hw, y*w+x, r, g, bl)
			}
		}
	case *image.Gray:
		for y := 0; y < h; y++ {
			for x := 0; x < w; x++ {
				v := uint32(im.Pix[y*im.Stride+x]) * 0x101
				setPix(dst, c, hw, y*w+x, v, v, v)
			}
		}
	default:
		for y := 0; y < h; y++ {
			for x := 0; x < w; x++ {
				r, g, bl, _ := img.At(b.Min.X+x, b.Min.Y+y).RGBA()
				setPix(dst, c, hw, y*w+x, r, g, bl)
			}
		}
	}
	return nil
}

func setPix(dst []uint8, c, hw, i int, r, g, b uint32) {
	if c == 1 {
		// ITU-R 601 luma, as PIL's convert("L").
		dst[i] = uint8((299*r + 587*g + 114*b) / 1000 >> 8)
		return
	}
	dst[i] = uint8(r >> 8)
	dst[hw+i] = uint8(g >> 8)
	dst[2*hw+i] = uint8(b >> 8)
}
