package nn

// The idx format of MNIST and Fashion-MNIST: gzip files holding a
// big-endian header (magic, counts, sizes) and then the raw bytes.

import (
	"bufio"
	"compress/gzip"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/ltransfer/ltransfer/internal/hugemem"
)

var idxFiles = [4]string{IdxTrainImages, IdxTrainLabels, IdxTestImages, IdxTestLabels}

// Limits of the idx header. Memory is further bounded by the data the
// file actually holds (readUpTo), never by the header alone.
const (
	idxMaxSide  = 4096
	idxMaxItems = 1 << 26
)

// loadIdxDataset reads the four idx files of an MNIST-format dataset
// from folder dir.
func loadIdxDataset(name, dir string, mean, std float32, limit int) (train, test *ImageSet, src string, err error) {
	classes := make([]string, 10)
	for i := range classes {
		classes[i] = fmt.Sprint(i)
	}
	if name == FashionMNIST {
		classes = []string{"T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"}
	}
	load := func(imgFile, lblFile string) (*ImageSet, error) {
		pix, h, w, err := readIdxImages(filepath.Join(dir, imgFile), limit)
		if err != nil {
			return nil, err
		}
		lbl, err := readIdxLabels(filepath.Join(dir, lblFile), limit)
		if err != nil {
			return nil, err
		}
		if len(lbl)*h*w != len(pix) {
			return nil, errFormatf("nn: %s: %s holds %d images but %s holds %d labels", name, imgFile, len(pix)/(h*w), lblFile, len(lbl))
		}
		for i, l := range lbl {
			if l >= 10 {
				return nil, errFormatf("nn: %s: %s: label %d of item %d outside [0, 10)", name, lblFile, l, i)
			}
		}
		return &ImageSet{Name: name, C: 1, H: h, W: w, Pix: pix, Labels: lbl, Classes: classes, Mean: []float32{mean}, Std: []float32{std}}, nil
	}
	// The test files inflate beside the training files.
	var testErr error
	testDone := make(chan struct{})
	go func() {
		defer close(testDone)
		test, testErr = load(idxFiles[2], idxFiles[3])
	}()
	train, err = load(idxFiles[0], idxFiles[1])
	<-testDone
	if err != nil {
		return nil, nil, "", err
	}
	if testErr != nil {
		return nil, nil, "", testErr
	}
	return train, test, dir, nil
}

// gzipStream is the inflated stream of a gzip file. size is the inflated
// length its trailer states (ISIZE, modulo 2³²) when the file is a
// regular file that could hold that much (deflate inflates at most
// 1032-fold), else −1. It is a hint: the readers trust it only where it
// agrees with the idx header, and the data must still be there.
type gzipStream struct {
	io.Reader
	size int64
}

// maxDeflateRatio bounds the inflated size of a deflate stream by its
// compressed size.
const maxDeflateRatio = 1032

// openGzip opens a gzip file for streaming.
func openGzip(path string) (*gzipStream, func(), error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, nil, fmt.Errorf("nn: %w", err)
	}
	size := int64(-1)
	var tail [4]byte
	if st, err := f.Stat(); err == nil && st.Mode().IsRegular() && st.Size() >= 22 {
		if _, err := f.ReadAt(tail[:], st.Size()-4); err == nil {
			if n := int64(binary.LittleEndian.Uint32(tail[:])); n <= maxDeflateRatio*st.Size() {
				size = n
			}
		}
	}
	zr, err := gzip.NewReader(bufio.NewReaderSize(f, 1<<16))
	if err != nil {
		f.Close()
		return nil, nil, errFormatf("nn: %s: not a gzip file: %w", path, err)
	}
	return &gzipStream{zr, size}, func() { f.Close() }, nil
}

// maxExact is the largest buffer an idx reader allocates at once on the
// word of a gzip trailer that agrees with the header; larger ones grow
// with the data.
const maxExact = 256 << 20

// capacityFor is the buffer to read n payload bytes into after a header
// of hdr bytes: all n at once when r is a gzip stream whose trailer says
// the file holds exactly header and payload (full, not a limited read),
// so the common case makes one allocation and no copies; else 0 (grow).
func capacityFor(r io.Reader, hdr, n int, full bool) int {
	gs, ok := r.(*gzipStream)
	if !ok || !full || gs.size < 0 || n > maxExact || int64(uint32(hdr+n)) != gs.size {
		return 0
	}
	return n
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
	return parseIdxImages(r, path, limit)
}

// parseIdxImages reads idx3-ubyte images from the inflated stream r.
// Memory grows with the bytes r actually yields (at most three times
// them while growing), never beyond what the header announces: a header
// that promises more than the file holds costs nothing.
func parseIdxImages(r io.Reader, path string, limit int) (pix []uint8, h, w int, err error) {
	var hdr [16]byte
	if _, err := io.ReadFull(r, hdr[:]); err != nil || binary.BigEndian.Uint32(hdr[:]) != 0x803 {
		return nil, 0, 0, errFormatf("nn: %s: not an idx3-ubyte image file (bad magic or header)", path)
	}
	n := int(binary.BigEndian.Uint32(hdr[4:]))
	h = int(binary.BigEndian.Uint32(hdr[8:]))
	w = int(binary.BigEndian.Uint32(hdr[12:]))
	if h <= 0 || w <= 0 || h > idxMaxSide || w > idxMaxSide || n < 0 || n > idxMaxItems {
		return nil, 0, 0, errFormatf("nn: %s: implausible header: %d images of %d×%d", path, n, h, w)
	}
	want := n
	if limit > 0 && limit < n {
		want = limit
	}
	pix, err = readUpTo(r, want*h*w, capacityFor(r, len(hdr), n*h*w, want == n))
	if err != nil {
		if errors.Is(err, io.ErrUnexpectedEOF) {
			return nil, 0, 0, errFormatf("nn: %s: header says %d images of %d×%d but the file holds only %d pixel bytes (truncated?)", path, n, h, w, len(pix))
		}
		return nil, 0, 0, errFormatf("nn: %s: corrupt gzip data: %w", path, err)
	}
	if want == n {
		if k, _ := io.ReadFull(r, hdr[:1]); k != 0 {
			return nil, 0, 0, errFormatf("nn: %s: data after the %d images the header announces", path, n)
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
	return parseIdxLabels(r, path, limit)
}

// parseIdxLabels reads idx1-ubyte labels from the inflated stream r, with
// the memory bound of parseIdxImages.
func parseIdxLabels(r io.Reader, path string, limit int) ([]int32, error) {
	var hdr [8]byte
	if _, err := io.ReadFull(r, hdr[:]); err != nil || binary.BigEndian.Uint32(hdr[:]) != 0x801 {
		return nil, errFormatf("nn: %s: not an idx1-ubyte label file (bad magic or header)", path)
	}
	n := int(binary.BigEndian.Uint32(hdr[4:]))
	if n < 0 || n > idxMaxItems {
		return nil, errFormatf("nn: %s: implausible label count %d", path, n)
	}
	want := n
	if limit > 0 && limit < n {
		want = limit
	}
	b, err := readUpTo(r, want, capacityFor(r, len(hdr), n, want == n))
	if err != nil {
		if errors.Is(err, io.ErrUnexpectedEOF) {
			return nil, errFormatf("nn: %s: header says %d labels but the file holds %d (truncated?)", path, n, len(b))
		}
		return nil, errFormatf("nn: %s: corrupt gzip data: %w", path, err)
	}
	out := make([]int32, want)
	for i, v := range b {
		out[i] = int32(v)
	}
	return out, nil
}

// readUpTo reads exactly n bytes from r into a buffer that grows with
// the data read (doubling from 64 KiB), so a header declaring more than
// the stream holds allocates no more than three times what arrived; with
// capacity > 0 (a size the file vouches for, see capacityFor) the buffer
// starts that large. It returns what it read and io.ErrUnexpectedEOF
// when r ends early.
func readUpTo(r io.Reader, n, capacity int) ([]byte, error) {
	var buf []byte
	if capacity > 0 {
		buf = hugemem.Bytes(min(n, capacity))[:0]
	} else {
		buf = make([]byte, 0, min(n, 64<<10))
	}
	for len(buf) < n {
		if len(buf) == cap(buf) {
			nb := make([]byte, len(buf), min(n, 2*cap(buf)))
			copy(nb, buf)
			buf = nb
		}
		k, err := r.Read(buf[len(buf):cap(buf)])
		buf = buf[:len(buf)+k]
		if err == io.EOF {
			if len(buf) < n {
				return buf, io.ErrUnexpectedEOF
			}
			break
		}
		if err != nil {
			return buf, err
		}
	}
	return buf, nil
}
