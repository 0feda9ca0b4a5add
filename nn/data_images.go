package nn

// Image folders and tars: root/<class>/*.{jpg,jpeg,png}, optionally under
// train/ and test/ (the CIFAR-10 JPEG tar is one), decoded to planar
// 8-bit pixels.

import (
	"archive/tar"
	"bytes"
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

// Limits of the image readers, checked on each file's header before any
// pixel memory is allocated.
const (
	// maxImageFile bounds one image file.
	maxImageFile = 64 << 20
	// maxImagePixels bounds one image's width × height (4096 × 4096).
	maxImagePixels = 1 << 24
	// maxPixelsPerByte bounds the pixels an image may declare per byte
	// of its file. A PNG holds at most 8·1032 (a 1-bit image whose
	// deflate stream packs 1032 bytes into one, the most deflate can); a
	// JPEG at most 512 (a progressive scan spends at least one bit per
	// 8×8 block). An image declaring more is lying, and is refused before
	// the decoder allocates for it.
	maxPNGPixelsPerByte  = 8 * 1032
	maxJPEGPixelsPerByte = 512
)

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
			b, err := ReadFileLimit(p, maxImageFile)
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
	return imagesFromFiles(root, files, classes)
}

// imagesFromFiles sorts, checks and decodes the image files read from
// root (see loadImages).
func imagesFromFiles(root string, files []imageFile, classes []string) (train, test *ImageSet, err error) {
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
	// The size and channel count come from the first image. Every header
	// is checked against it and against the limits before any pixel
	// memory is allocated, here or by the decoders.
	var h, w, c int
	for i := range files {
		cfg, format, err := image.DecodeConfig(bytes.NewReader(files[i].data))
		if err != nil {
			return nil, nil, errFormatf("nn: image data %q: %s: %w", root, files[i].name, err)
		}
		if cfg.Width <= 0 || cfg.Height <= 0 || cfg.Width > maxImagePixels/cfg.Height {
			return nil, nil, errFormatf("nn: image data %q: %s: image is %d×%d, outside [1, %d] pixels", root, files[i].name, cfg.Width, cfg.Height, maxImagePixels)
		}
		var perByte int
		switch format {
		case "png":
			perByte = maxPNGPixelsPerByte
		case "jpeg":
			perByte = maxJPEGPixelsPerByte
		default:
			return nil, nil, errFormatf("nn: image data %q: %s: a %s image; want JPEG or PNG", root, files[i].name, format)
		}
		if px := cfg.Width * cfg.Height; px > perByte*len(files[i].data) {
			return nil, nil, errFormatf("nn: image data %q: %s: header declares %d×%d pixels, more than its %d bytes can hold (truncated or corrupt)", root, files[i].name, cfg.Width, cfg.Height, len(files[i].data))
		}
		if i == 0 {
			h, w, c = cfg.Height, cfg.Width, 3
			if cfg.ColorModel == color.GrayModel || cfg.ColorModel == color.Gray16Model {
				c = 1
			}
		} else if cfg.Width != w || cfg.Height != h {
			return nil, nil, withKind(ErrShape, fmt.Errorf("nn: image data %q: %s: image is %d×%d, the first image was %d×%d (all must match)", root, files[i].name, cfg.Width, cfg.Height, w, h))
		}
	}
	// Decode in parallel.
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
			return nil, nil, errFormatf("nn: image data %q: %s: %w", root, files[i].name, e)
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
	return readTarImagesFrom(f)
}

// readTarImagesFrom reads the image entries of a tar stream. Each entry is
// bounded by maxImageFile, so memory is bounded by the stream's length.
func readTarImagesFrom(r io.Reader) ([]imageFile, error) {
	tr := tar.NewReader(r)
	var files []imageFile
	for {
		hd, err := tr.Next()
		if err == io.EOF {
			return files, nil
		}
		if err != nil {
			return nil, errFormatf("not a readable tar file: %w", err)
		}
		if hd.Typeflag != tar.TypeReg || !isImageName(hd.Name) {
			continue
		}
		if hd.Size > maxImageFile {
			return nil, withKind(ErrTooLarge, fmt.Errorf("%s: %d bytes, more than the %d-byte limit for an image", hd.Name, hd.Size, maxImageFile))
		}
		b, err := readUpTo(tr, int(hd.Size), 0)
		if err != nil {
			return nil, errFormatf("%s: %w", hd.Name, err)
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
