package nn

import (
	"bytes"
	"compress/gzip"
	"encoding/binary"
	"errors"
	"image/color"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestIdxHeaderIsNotTrusted loads a dataset whose image file is a bare
// 16-byte header promising 2^26 images of 4096×4096 (and, second, of
// 512×512): a clear ErrFormat error, and next to no memory.
func TestIdxHeaderIsNotTrusted(t *testing.T) {
	for _, side := range []int{4096, 512} {
		dir := t.TempDir()
		writeIdx(t, dir, 10, 10, 2, 2)
		if err := os.WriteFile(filepath.Join(dir, IdxTrainImages), gz(t, idxImages(1<<26, side, side, nil)), 0o644); err != nil {
			t.Fatal(err)
		}
		var err error
		if got := allocated(func() { _, err = LoadData(DataConfig{Name: MNIST, Path: dir}) }); got > 4<<20 {
			t.Errorf("%d×%d: allocated %d bytes for a 16-byte header", side, side, got)
		}
		if !errors.Is(err, ErrFormat) || !strings.Contains(err.Error(), "truncated") {
			t.Errorf("%d×%d: %v", side, side, err)
		}
	}
}

// TestSafetensorsHeaderFirst: a file with a bad header costs no more than
// its header, however large the file, and a device is refused at once.
func TestSafetensorsHeaderFirst(t *testing.T) {
	dir := t.TempDir()
	for name, hdr := range map[string]string{
		"len":  "\xff\xff\xff\xff\x00\x00\x00\x00",
		"json": "\x08\x00\x00\x00\x00\x00\x00\x00{\"x\":1}",
	} {
		p := filepath.Join(dir, name+".safetensors")
		f, err := os.Create(p)
		if err != nil {
			t.Fatal(err)
		}
		f.WriteString(hdr)
		if err := f.Truncate(1 << 28); err != nil { // sparse: 256 MiB of zeros
			t.Fatal(err)
		}
		f.Close()
		if got := allocated(func() { _, err = ReadSafetensorsFile(p) }); got > 1<<20 {
			t.Errorf("%s: allocated %d bytes to refuse a bad header", name, got)
		}
		if !errors.Is(err, ErrFormat) {
			t.Errorf("%s: %v", name, err)
		}
	}
	if _, err := os.Stat("/dev/zero"); err == nil {
		_, err := ReadSafetensorsFile("/dev/zero")
		if !errors.Is(err, ErrFormat) || !strings.Contains(err.Error(), "not a regular file") {
			t.Errorf("/dev/zero: %v", err)
		}
	}
}

func TestReadFileLimit(t *testing.T) {
	p := filepath.Join(t.TempDir(), "f.json")
	os.WriteFile(p, []byte("0123456789"), 0o644)
	if b, err := ReadFileLimit(p, 10); err != nil || string(b) != "0123456789" {
		t.Errorf("at the limit: %q %v", b, err)
	}
	if _, err := ReadFileLimit(p, 9); !errors.Is(err, ErrTooLarge) {
		t.Errorf("over the limit: %v", err)
	}
	if _, err := os.Stat("/dev/zero"); err == nil {
		if _, err := ReadFileLimit("/dev/zero", 1<<20); !errors.Is(err, ErrTooLarge) {
			t.Errorf("/dev/zero: %v", err)
		}
	}
	if _, err := ReadFileLimit(filepath.Dir(p), 1<<20); err == nil {
		t.Error("a folder read as a file")
	}
	if _, err := ReadManifest(filepath.Join(t.TempDir(), "none")); err == nil || !strings.Contains(err.Error(), "no manifest.json") {
		t.Errorf("missing manifest: %v", err)
	}
}

// TestImageHeaderLies: an image whose header declares far more pixels
// than its bytes can hold is refused before the decoder allocates.
func TestImageHeaderLies(t *testing.T) {
	j := encodeJPEGT(t, 8, 8)
	k := strings.Index(string(j), "\xff\xc0")
	if k < 0 {
		t.Fatal("no SOF0 marker")
	}
	binary.BigEndian.PutUint16(j[k+5:], 3000)
	binary.BigEndian.PutUint16(j[k+7:], 3000)
	files := []imageFile{{name: "a/0.jpg", data: j}}
	var err error
	if got := allocated(func() { _, _, err = imagesFromFiles("x", files, nil) }); got > 1<<20 {
		t.Errorf("allocated %d bytes", got)
	}
	if !errors.Is(err, ErrFormat) || !strings.Contains(err.Error(), "more than its") {
		t.Errorf("lying JPEG: %v", err)
	}
	// Mixed sizes are ErrShape, found from the headers.
	files = []imageFile{{name: "a/0.png", data: writePNG(t, 4, 4, color.White)}, {name: "a/1.png", data: writePNG(t, 5, 4, color.White)}}
	if _, _, err := imagesFromFiles("x", files, nil); !errors.Is(err, ErrShape) || !strings.Contains(err.Error(), "1.png") {
		t.Errorf("mixed sizes: %v", err)
	}
}

// TestCIFARTarWithoutTest: a CIFAR-10 tar without test/ is an error, not
// a nil set.
func TestCIFARTarWithoutTest(t *testing.T) {
	dir := t.TempDir()
	os.MkdirAll(filepath.Join(dir, "train", "cat"), 0o755)
	os.WriteFile(filepath.Join(dir, "train", "cat", "0.png"), writePNG(t, 2, 2, color.White), 0o644)
	if _, err := LoadData(DataConfig{Name: CIFAR10, Path: dir}); !errors.Is(err, ErrFormat) || !strings.Contains(err.Error(), "no test images") {
		t.Errorf("%v", err)
	}
}

// TestIdxTrailerSizesTheBuffer: when a gzip file's trailer agrees with its
// idx header, the pixels are read into one buffer of the right size (a
// buffer grown by doubling allocates about twice the payload); a trailer
// that promises more than the file could inflate to is ignored, and a
// trailer and header that agree on more than the file holds still give a
// format error.
func TestIdxTrailerSizesTheBuffer(t *testing.T) {
	dir := t.TempDir()
	const n, side = 10000, 28
	pix := make([]byte, n*side*side)
	x := uint32(1)
	for i := range pix {
		x = x*1664525 + 1013904223
		pix[i] = byte(x>>28) & 3
	}
	good := filepath.Join(dir, "good.gz")
	var buf bytes.Buffer
	zw, _ := gzip.NewWriterLevel(&buf, gzip.BestSpeed)
	zw.Write(idxImages(n, side, side, pix))
	zw.Close()
	if err := os.WriteFile(good, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	var got []uint8
	var err error
	if a := allocated(func() { got, _, _, err = readIdxImages(good, 0) }); err != nil || a > uint64(len(pix))*5/4+allocSlack {
		t.Errorf("read %d pixel bytes allocating %d bytes (err %v), want one buffer of %d", len(got), a, err, len(pix))
	}
	if !bytes.Equal(got, pix) {
		t.Error("pixels differ from those written")
	}

	// Trailer patched to agree with a header promising 512³ bytes.
	lie := func(name string, payload []byte) string {
		b := gz(t, append(idxImages(512, 512, 512, nil), payload...))
		binary.LittleEndian.PutUint32(b[len(b)-4:], 16+512*512*512)
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, b, 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	small := lie("small.gz", make([]byte, 100))
	if a := allocated(func() { _, _, _, err = readIdxImages(small, 0) }); a > allocSlack {
		t.Errorf("a %d-byte file whose trailer promises 128 MiB allocated %d bytes", 100, a)
	}
	if !errors.Is(err, ErrFormat) {
		t.Errorf("small lying file: %v", err)
	}
	noise := make([]byte, 200<<10)
	for i := range noise {
		x = x*1664525 + 1013904223
		noise[i] = byte(x >> 24)
	}
	big := lie("big.gz", noise)
	if _, _, _, err = readIdxImages(big, 0); !errors.Is(err, ErrFormat) {
		t.Errorf("lying file of 200 KiB: %v", err)
	}
}
