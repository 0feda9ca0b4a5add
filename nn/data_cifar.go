package nn

// CIFAR-10: the binary batches (data_batch_1.bin … test_batch.bin) or the
// JPEG tar / folder laid out as train/<class>/*.jpg and test/<class>/*.jpg.

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
)

// CIFAR10Classes are the CIFAR-10 class names in label order.
var CIFAR10Classes = []string{"airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"}

var (
	cifarMean = []float32{0.4914, 0.4822, 0.4465}
	cifarStd  = []float32{0.2470, 0.2435, 0.2616}
)

const (
	// cifarRecord is one record of a binary batch: a label byte and the
	// R, G and B planes of 32×32 pixels.
	cifarRecord = 1 + 3072
	// cifarMaxBatch bounds one binary batch file (the released ones have
	// 10,000 records, 30,730,000 bytes).
	cifarMaxBatch = 1 << 30
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
		return nil, nil, "", errFormatf("nn: cifar10: %s has no test images (want train/<class>/*.jpg and test/<class>/*.jpg)", c)
	}
	train.Name, test.Name = CIFAR10, CIFAR10
	train.Mean, train.Std, test.Mean, test.Std = cifarMean, cifarStd, cifarMean, cifarStd
	return train, test, c, nil
}

// loadCIFARBinary reads the binary release: records of 1 label byte and
// 3072 pixel bytes (R, G, B planes of 32×32).
func loadCIFARBinary(dir string) (train, test *ImageSet, err error) {
	read := func(files ...string) (*ImageSet, error) {
		s := newCIFARSet()
		for _, f := range files {
			p := filepath.Join(dir, f)
			b, err := ReadFileLimit(p, cifarMaxBatch)
			if err != nil {
				return nil, fmt.Errorf("nn: cifar10: %w", err)
			}
			if err := appendCIFARBatch(s, b, p); err != nil {
				return nil, err
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

func newCIFARSet() *ImageSet {
	return &ImageSet{Name: CIFAR10, C: 3, H: 32, W: 32, Classes: CIFAR10Classes, Mean: cifarMean, Std: cifarStd}
}

// appendCIFARBatch checks one binary batch held in b and appends its
// records to s; s grows by exactly len(b) pixel and label bytes.
func appendCIFARBatch(s *ImageSet, b []byte, name string) error {
	if len(b) == 0 || len(b)%cifarRecord != 0 {
		return errFormatf("nn: cifar10: %s has %d bytes, not a multiple of the %d-byte record", name, len(b), cifarRecord)
	}
	for r := 0; r < len(b); r += cifarRecord {
		if b[r] >= 10 {
			return errFormatf("nn: cifar10: %s: record %d has label %d", name, r/cifarRecord, b[r])
		}
	}
	s.Labels = slices.Grow(s.Labels, len(b)/cifarRecord)
	s.Pix = slices.Grow(s.Pix, len(b)/cifarRecord*3072)
	for r := 0; r < len(b); r += cifarRecord {
		s.Labels = append(s.Labels, int32(b[r]))
		s.Pix = append(s.Pix, b[r+1:r+cifarRecord]...)
	}
	return nil
}
