package nn

import (
	"archive/tar"
	"bytes"
	"image/color"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"
)

// sameData reports whether two loaded datasets hold the same samples,
// labels, classes and normalisation in every split.
func sameData(t *testing.T, a, b *Data) bool {
	t.Helper()
	if a.Source != b.Source || !slices.Equal(a.Classes, b.Classes) || !slices.Equal(a.SampleShape, b.SampleShape) {
		return false
	}
	for _, p := range [][2]*ImageSet{{a.Train, b.Train}, {a.Val, b.Val}, {a.Test, b.Test}} {
		x, y := p[0], p[1]
		if (x == nil) != (y == nil) {
			return false
		}
		if x == nil {
			continue
		}
		if x.Len() != y.Len() || !slices.Equal(x.Mean, y.Mean) || !slices.Equal(x.Std, y.Std) || x.Aug != y.Aug || x.Name != y.Name {
			return false
		}
		n := x.C * x.H * x.W
		u, v := make([]float32, n), make([]float32, n)
		for i := 0; i < x.Len(); i++ {
			if x.Sample(i, u, nil) != y.Sample(i, v, nil) || !slices.Equal(u, v) {
				return false
			}
		}
	}
	return true
}

func cacheFiles(t *testing.T, dir string) []string {
	t.Helper()
	m, _ := filepath.Glob(filepath.Join(dir, "*.ltdata"))
	return m
}

// TestDataCache loads idx files through the cache: the first load writes
// one file, the next are served from it with the same data; a changed
// source, a damaged cache file or a cache folder that cannot be written
// all give the data as read from the source, and a load limited to part of
// an idx file writes no cache.
func TestDataCache(t *testing.T) {
	src := t.TempDir()
	writeIdx(t, src, 50, 20, 5, 4)
	cd := t.TempDir()
	load := func(cfg DataConfig) *Data {
		t.Helper()
		d, err := LoadData(cfg)
		if err != nil {
			t.Fatal(err)
		}
		return d
	}
	ref := load(DataConfig{Name: MNIST, Path: src})
	hits := dataCacheHits.Load()
	cfg := DataConfig{Name: MNIST, Path: src, CacheDir: cd}
	if d := load(cfg); !sameData(t, d, ref) || dataCacheHits.Load() != hits {
		t.Fatal("first load through the cache: other data, or served from a cache that was empty")
	}
	files := cacheFiles(t, cd)
	if len(files) != 1 {
		t.Fatalf("cache holds %v, want one file", files)
	}
	hit := func(what string) {
		t.Helper()
		h := dataCacheHits.Load()
		if d := load(cfg); !sameData(t, d, ref) || dataCacheHits.Load() != h+1 {
			t.Fatalf("%s: not served from the cache, or other data", what)
		}
	}
	miss := func(what string, want *Data) {
		t.Helper()
		h := dataCacheHits.Load()
		if d := load(cfg); !sameData(t, d, want) || dataCacheHits.Load() != h {
			t.Fatalf("%s: served from the cache, or other data than the source's", what)
		}
	}
	hit("second load")
	// The same data under Fashion-MNIST's name has its own file.
	load(DataConfig{Name: FashionMNIST, Path: src, CacheDir: cd})
	if n := len(cacheFiles(t, cd)); n != 2 {
		t.Fatalf("%d cache files after a second dataset, want 2", n)
	}

	// Damaged cache files are ignored and written anew.
	good, _ := os.ReadFile(files[0])
	damage := map[string][]byte{
		"truncated":       good[:len(good)-1],
		"one byte longer": append(slices.Clone(good), 0),
		"pixel flipped":   append(slices.Clone(good[:len(good)-100]), append([]byte{good[len(good)-100] ^ 1}, good[len(good)-99:]...)...),
		"no magic":        append([]byte("x"), good[1:]...),
		"empty":           nil,
	}
	for what, b := range damage {
		if err := os.WriteFile(files[0], b, 0o644); err != nil {
			t.Fatal(err)
		}
		miss(what, ref)
		hit(what + ", rewritten")
	}

	// A replaced source file is read again.
	writeIdx(t, src, 60, 20, 5, 4)
	future := time.Now().Add(time.Hour)
	for _, f := range idxFiles[:2] {
		os.Chtimes(filepath.Join(src, f), future, future)
	}
	ref = load(DataConfig{Name: MNIST, Path: src})
	miss("changed source", ref)
	hit("changed source, rewritten")
	if n := len(cacheFiles(t, cd)); n != 2 {
		t.Fatalf("%d cache files after the source changed, want 2 (replaced, not added)", n)
	}

	// Part of an idx file is not cached.
	cd2 := t.TempDir()
	load(DataConfig{Name: MNIST, Path: src, CacheDir: cd2, Limit: 10})
	if f := cacheFiles(t, cd2); len(f) != 0 {
		t.Fatalf("a limited idx load wrote %v", f)
	}
	// A cache folder that is a file: the data all the same.
	blocker := filepath.Join(t.TempDir(), "file")
	os.WriteFile(blocker, []byte("not a folder"), 0o644)
	if d := load(DataConfig{Name: MNIST, Path: src, CacheDir: blocker}); !sameData(t, d, ref) {
		t.Fatal("unwritable cache folder: other data")
	}
}

// TestDataCacheTar caches an image tar (one file) and serves the same
// images, labels and classes from the cache.
func TestDataCacheTar(t *testing.T) {
	dir := t.TempDir()
	var tb bytes.Buffer
	tw := tar.NewWriter(&tb)
	for i, name := range []string{"train/cat/1.png", "train/cat/2.png", "train/dog/1.png", "test/dog/9.png", "test/cat/3.png"} {
		b := writePNG(t, 4, 3, color.RGBA{uint8(40 * i), 10, uint8(200 - 30*i), 255})
		tw.WriteHeader(&tar.Header{Name: name, Mode: 0o644, Size: int64(len(b)), Typeflag: tar.TypeReg})
		tw.Write(b)
	}
	tw.Close()
	p := filepath.Join(dir, "images.tar")
	os.WriteFile(p, tb.Bytes(), 0o644)
	ref, err := LoadData(DataConfig{Name: ImageFolder, Path: p, ValFraction: -1})
	if err != nil {
		t.Fatal(err)
	}
	cd := t.TempDir()
	for k := 0; k < 2; k++ {
		h := dataCacheHits.Load()
		d, err := LoadData(DataConfig{Name: ImageFolder, Path: p, ValFraction: -1, CacheDir: cd})
		if err != nil {
			t.Fatal(err)
		}
		if !sameData(t, d, ref) || dataCacheHits.Load() != h+int64(k) {
			t.Fatalf("load %d through the cache: other data, or hits %d → %d", k, h, dataCacheHits.Load())
		}
	}
	// An image folder (not one file) is read directly.
	cd2 := t.TempDir()
	LoadData(DataConfig{Name: CIFAR10, Path: t.TempDir(), CacheDir: cd2})
	if f := cacheFiles(t, cd2); len(f) != 0 {
		t.Fatalf("a folder source wrote %v", f)
	}
}

// FuzzDataCache feeds arbitrary bytes to the cache reader as a cache
// file: it must return sets consistent with the header or nothing, never
// panic, and allocate no more than the file holds.
func FuzzDataCache(f *testing.F) {
	stamp := []string{"/data/x 1 2"}
	dir := f.TempDir()
	set := &ImageSet{Name: MNIST, C: 1, H: 2, W: 3, Pix: []uint8{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12}, Labels: []int32{1, 0},
		Classes: []string{"a", "b"}, Mean: []float32{0.5}, Std: []float32{0.25}}
	good := filepath.Join(dir, "good.ltdata")
	writeDataCache(good, MNIST, "/data", stamp, set, set)
	b, err := os.ReadFile(good)
	if err != nil || len(b) == 0 {
		f.Fatal("no cache file written")
	}
	f.Add(b)
	f.Add(b[:len(b)/2])
	f.Add([]byte(dataCacheMagic + "\xff\xff\xff\x7f{}"))
	p := filepath.Join(dir, "c.ltdata") // one fuzz worker per process: one file each
	f.Fuzz(func(t *testing.T, b []byte) {
		if err := os.WriteFile(p, b, 0o644); err != nil {
			t.Fatal(err)
		}
		train, test, _, ok := readDataCache(p, MNIST, stamp)
		if !ok {
			return
		}
		for _, s := range []*ImageSet{train, test} {
			if s == nil {
				continue
			}
			if len(s.Pix) != s.Len()*s.C*s.H*s.W || len(s.Pix) > len(b) {
				t.Fatalf("set of %d samples %d×%d×%d with %d pixel bytes from a %d-byte file", s.Len(), s.C, s.H, s.W, len(s.Pix), len(b))
			}
			for _, l := range s.Labels {
				if l < 0 || int(l) >= len(s.Classes) {
					t.Fatalf("label %d of %d classes", l, len(s.Classes))
				}
			}
		}
	})
}
