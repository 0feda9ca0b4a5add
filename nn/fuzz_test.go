package nn

// Fuzz targets for every reader of user files. Each asserts that the
// reader never panics and that what it allocates stays within a bound
// proportional to its input (or a documented limit). The seeds run in
// every `go test`; a long run is, for example,
//
//	go test -run '^$' -fuzz FuzzIdx -fuzztime 1000000x -parallel 1 ./nn/

import (
	"archive/tar"
	"bytes"
	"encoding/binary"
	"errors"
	"image"
	"image/color"
	"image/jpeg"
	"image/png"
	"runtime/metrics"
	"testing"
)

// allocated returns the heap bytes f allocates.
func allocated(f func()) uint64 {
	s := []metrics.Sample{{Name: "/gc/heap/allocs:bytes"}}
	metrics.Read(s)
	before := s[0].Value.Uint64()
	f()
	metrics.Read(s)
	return s[0].Value.Uint64() - before
}

// allocSlack absorbs the runtime's bookkeeping: small allocations are
// counted when a cache span is handed back, possibly inside the measured
// call although made before it. The bounds guard against allocations of
// megabytes to gigabytes a lying header would cause.
const allocSlack = 4 << 20

// checkBound fails when f allocates more than perByte bytes per input byte
// plus base (and allocSlack).
func checkBound(t *testing.T, input int, perByte, base uint64, f func()) {
	t.Helper()
	if got, bound := allocated(f), perByte*uint64(input)+base+allocSlack; got > bound {
		t.Fatalf("allocated %d bytes for a %d-byte input, more than the bound %d", got, input, bound)
	}
}

// checkKind fails when a reader's error carries no sentinel.
func checkKind(t *testing.T, err error) {
	t.Helper()
	if err != nil && !errors.Is(err, ErrFormat) && !errors.Is(err, ErrTooLarge) && !errors.Is(err, ErrShape) {
		t.Fatalf("error without a sentinel kind: %v", err)
	}
}

func FuzzSafetensors(f *testing.F) {
	var good bytes.Buffer
	p := NewParamSet()
	_ = p.Add("w", &Tensor{Shape: []int{2, 3}, Data: []float32{1, 2, 3, 4, 5, 6}})
	_ = p.Add("b", &Tensor{Shape: []int{2}, Data: []float32{-1, 1}})
	if err := WriteSafetensors(&good, p, SaveOptions{Metadata: map[string]string{"k": "v"}, Int64: map[string]bool{"b": true}}); err != nil {
		f.Fatal(err)
	}
	f.Add(good.Bytes())
	f.Add(good.Bytes()[:len(good.Bytes())-3])
	f.Add([]byte{})
	f.Add([]byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff})
	f.Add(rawSafetensors(`{"x":{"dtype":"U8","shape":[2147483647,2147483647],"data_offsets":[0,4]}}`, make([]byte, 4)))
	f.Add(rawSafetensors(`{"x":{"dtype":"BF16","shape":[2],"data_offsets":[0,4]},"y":{"dtype":"I8","shape":[],"data_offsets":[4,5]}}`, make([]byte, 5)))
	f.Fuzz(func(t *testing.T, b []byte) {
		checkBound(t, len(b), 64, 256<<10, func() {
			sf, err := ParseSafetensors(b, "fuzz")
			checkKind(t, err)
			if err == nil {
				_ = sf.ParamSet()
				for i := range sf.Entries {
					_, _ = sf.Entries[i].Int64s()
				}
			}
		})
	})
}

// idxImages builds an uncompressed idx3 image stream.
func idxImages(n, h, w int, pix []byte) []byte {
	b := make([]byte, 16, 16+len(pix))
	binary.BigEndian.PutUint32(b, 0x803)
	binary.BigEndian.PutUint32(b[4:], uint32(n))
	binary.BigEndian.PutUint32(b[8:], uint32(h))
	binary.BigEndian.PutUint32(b[12:], uint32(w))
	return append(b, pix...)
}

// FuzzIdx reads the inflated idx stream as images and as labels, with and
// without a limit.
func FuzzIdx(f *testing.F) {
	f.Add(idxImages(2, 2, 3, []byte{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12}), 0)
	f.Add(idxImages(1<<26, 4096, 4096, nil), 0) // 16 bytes promising 2^50
	f.Add(idxImages(512, 512, 512, make([]byte, 100)), 3)
	f.Add([]byte{0, 0, 8, 1, 0, 0, 0, 3, 1, 2, 3}, 0)
	f.Add([]byte{0, 0, 8, 1, 0x04, 0, 0, 0, 1}, 2)
	f.Fuzz(func(t *testing.T, b []byte, limit int) {
		checkBound(t, len(b), 8, 256<<10, func() {
			_, _, _, err := parseIdxImages(bytes.NewReader(b), "fuzz", limit)
			checkKind(t, err)
			_, err = parseIdxLabels(bytes.NewReader(b), "fuzz", limit)
			checkKind(t, err)
		})
	})
}

func FuzzCIFARBinary(f *testing.F) {
	rec := make([]byte, cifarRecord)
	rec[0] = 7
	f.Add(rec)
	f.Add(append(append([]byte{}, rec...), rec...))
	f.Add(rec[:100])
	bad := append([]byte{}, rec...)
	bad[0] = 10
	f.Add(bad)
	f.Fuzz(func(t *testing.T, b []byte) {
		checkBound(t, len(b), 4, 64<<10, func() {
			s := newCIFARSet()
			err := appendCIFARBatch(s, b, "fuzz")
			checkKind(t, err)
			if err == nil && (len(s.Pix) != s.Len()*3072 || s.Len() != len(b)/cifarRecord) {
				t.Fatalf("%d records from %d bytes, %d pixel bytes", s.Len(), len(b), len(s.Pix))
			}
		})
	})
}

func encodePNG(f *testing.F, w, h int, c color.Color) []byte {
	img := image.NewRGBA(image.Rect(0, 0, w, h))
	for i := range img.Pix {
		img.Pix[i] = uint8(i * 37)
	}
	img.Set(0, 0, c)
	var b bytes.Buffer
	if err := png.Encode(&b, img); err != nil {
		f.Fatal(err)
	}
	return b.Bytes()
}

func encodeJPEGT(t *testing.T, w, h int) []byte {
	var b bytes.Buffer
	if err := jpeg.Encode(&b, image.NewRGBA(image.Rect(0, 0, w, h)), nil); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

func encodeJPEG(f *testing.F, w, h int, gray bool) []byte {
	var img image.Image
	if gray {
		g := image.NewGray(image.Rect(0, 0, w, h))
		for i := range g.Pix {
			g.Pix[i] = uint8(i * 11)
		}
		img = g
	} else {
		img = image.NewRGBA(image.Rect(0, 0, w, h))
	}
	var b bytes.Buffer
	if err := jpeg.Encode(&b, img, &jpeg.Options{Quality: 50}); err != nil {
		f.Fatal(err)
	}
	return b.Bytes()
}

// imageBound is what decoding may allocate per input byte: the pixels a
// byte may declare (maxPNGPixelsPerByte) times the bytes a pixel costs
// the decoder, its color conversion and the planar copy.
const imageBound = maxPNGPixelsPerByte * 24

// FuzzImageFolder decodes one or two images (the input split at its first
// byte) as an image folder with train/ and test/.
func FuzzImageFolder(f *testing.F) {
	p := encodePNG(f, 4, 3, color.White)
	j := encodeJPEG(f, 4, 3, false)
	f.Add(append([]byte{byte(len(p))}, append(p, p...)...))
	f.Add(append([]byte{0}, j...))
	f.Add(append([]byte{byte(len(j) % 256)}, encodeJPEG(f, 8, 8, true)...))
	big := append([]byte{}, j...)
	if k := bytes.Index(big, []byte{0xff, 0xc0}); k >= 0 { // SOF0: height, width at +5
		binary.BigEndian.PutUint16(big[k+5:], 60000)
		binary.BigEndian.PutUint16(big[k+7:], 60000)
	}
	f.Add(append([]byte{0}, big...))
	f.Fuzz(func(t *testing.T, b []byte) {
		if len(b) == 0 {
			return
		}
		k := min(int(b[0]), len(b)-1)
		files := []imageFile{{name: "train/a/0.png", data: b[1 : 1+k]}, {name: "test/b/1.jpg", data: b[1+k:]}}
		if k == 0 {
			files = files[1:]
			files[0].name = "b/1.jpg"
		}
		checkBound(t, len(b), imageBound, 1<<20, func() {
			tr, _, err := imagesFromFiles("fuzz", files, nil)
			checkKind(t, err)
			if err == nil {
				channelStats(tr)
			}
		})
	})
}

// FuzzJPEGTar reads a tar stream as the CIFAR-10 JPEG tar.
func FuzzJPEGTar(f *testing.F) {
	mk := func(entries ...[2]string) []byte {
		var b bytes.Buffer
		tw := tar.NewWriter(&b)
		for _, e := range entries {
			tw.WriteHeader(&tar.Header{Name: e[0], Mode: 0o644, Size: int64(len(e[1])), Typeflag: tar.TypeReg})
			tw.Write([]byte(e[1]))
		}
		tw.Close()
		return b.Bytes()
	}
	j := string(encodeJPEG(f, 8, 8, false))
	f.Add(mk([2]string{"train/cat/0.jpg", j}, [2]string{"test/dog/1.jpg", j}))
	f.Add(mk([2]string{"train/cat/0.jpg", j}, [2]string{"README", "hello"}))
	f.Add(mk([2]string{"cat/0.png", string(encodePNG(f, 2, 2, color.Black))}))
	f.Add([]byte("not a tar"))
	f.Fuzz(func(t *testing.T, b []byte) {
		checkBound(t, len(b), imageBound, 1<<20, func() {
			files, err := readTarImagesFrom(bytes.NewReader(b))
			checkKind(t, err)
			if err == nil && len(files) > 0 {
				_, _, err = imagesFromFiles("fuzz.tar", files, CIFAR10Classes)
				checkKind(t, err)
			}
		})
	})
}

// FuzzManifest parses the input as a trajectory's manifest.json (what
// ReadManifest does after reading the file through ReadFileLimit).
func FuzzManifest(f *testing.F) {
	f.Add([]byte(`{"format":"` + ManifestFormat + `","checkpoints":[{"index":0,"file":"ckpt-0000.safetensors"}]}`))
	f.Add([]byte(`{"format":"` + ManifestFormat + `","checkpoints":[{"index":1,"file":"../x"}]}`))
	f.Add([]byte(`{"format":"x"}`))
	f.Add([]byte(`[`))
	f.Fuzz(func(t *testing.T, b []byte) {
		checkBound(t, len(b), 64, 256<<10, func() {
			_, err := parseManifest("fuzz", b)
			checkKind(t, err)
		})
	})
}
