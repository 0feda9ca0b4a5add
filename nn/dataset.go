package nn

import (
	"fmt"
	"math"
	"math/rand/v2"

	"github.com/ltransfer/ltransfer/internal/hugemem"
)

// Dataset is a labelled set of samples of one shape. Sample writes sample
// i, normalised, into x (len Numel(SampleShape())) and returns its label;
// with aug non-nil a dataset that has training augmentation applies it,
// drawing from aug. Implementations must allow concurrent Sample calls.
type Dataset interface {
	Len() int
	SampleShape() []int
	NumClasses() int
	Sample(i int, x []float32, aug *rand.Rand) int32
}

// Augmentation is the CIFAR-style training augmentation.
//
// It is a plain value.
type Augmentation struct {
	// Pad is the zero padding (in normalised units, i.e. the mean colour)
	// for random crops back to the original size; 0 disables cropping.
	Pad int
	// Flip enables random horizontal flips with probability ½.
	Flip bool
}

// ImageSet is an in-memory image dataset: 8-bit pixels N×C×H×W, labels,
// per-channel normalisation, optional augmentation, optionally viewing a
// subset of another set's samples (sharing its pixels).
//
// Its methods only read it (views share the pixels), so several goroutines
// may sample one at once; do not modify Pix or Labels meanwhile.
type ImageSet struct {
	Name    string
	C, H, W int
	Pix     []uint8
	Labels  []int32
	Classes []string
	// Mean and Std per channel, in [0,1] pixel units: x = (p/255 − mean)/std.
	Mean, Std []float32
	Aug       Augmentation

	idx []int // nil: all samples
}

// Len is the number of samples.
func (s *ImageSet) Len() int {
	if s.idx != nil {
		return len(s.idx)
	}
	return len(s.Labels)
}

// SampleShape is [C, H, W].
func (s *ImageSet) SampleShape() []int { return []int{s.C, s.H, s.W} }

// NumClasses is the number of classes.
func (s *ImageSet) NumClasses() int { return len(s.Classes) }

// Label returns the label of sample i.
func (s *ImageSet) Label(i int) int32 {
	if s.idx != nil {
		i = s.idx[i]
	}
	return s.Labels[i]
}

// Subset returns a view of the samples idx (indices into s).
func (s *ImageSet) Subset(idx []int) *ImageSet {
	c := *s
	c.idx = make([]int, len(idx))
	for k, i := range idx {
		if s.idx != nil {
			i = s.idx[i]
		}
		c.idx[k] = i
	}
	return &c
}

// WithAugmentation returns a view of s that augments training samples.
func (s *ImageSet) WithAugmentation(a Augmentation) *ImageSet {
	c := *s
	c.Aug = a
	return &c
}

// Sample writes normalised sample i into x and returns its label.
func (s *ImageSet) Sample(i int, x []float32, aug *rand.Rand) int32 {
	if s.idx != nil {
		i = s.idx[i]
	}
	hw := s.H * s.W
	n := s.C * hw
	pix := s.Pix[i*n : (i+1)*n]
	x = x[:n]
	if aug == nil || (s.Aug.Pad == 0 && !s.Aug.Flip) {
		for c := 0; c < s.C; c++ {
			scale := 1 / (255 * s.Std[c])
			shift := -s.Mean[c] / s.Std[c]
			src, dst := pix[c*hw:(c+1)*hw], x[c*hw:(c+1)*hw]
			for j, p := range src {
				dst[j] = float32(p)*scale + shift
			}
		}
		return s.Labels[i]
	}
	// Random crop of the zero-padded image (padding is 0 in pixel space
	// before normalisation, as torchvision pads the tensor) and flip.
	dy, dx := 0, 0
	if s.Aug.Pad > 0 {
		dy = aug.IntN(2*s.Aug.Pad+1) - s.Aug.Pad
		dx = aug.IntN(2*s.Aug.Pad+1) - s.Aug.Pad
	}
	flip := s.Aug.Flip && aug.IntN(2) == 1
	for c := 0; c < s.C; c++ {
		scale := 1 / (255 * s.Std[c])
		shift := -s.Mean[c] / s.Std[c]
		src, dst := pix[c*hw:(c+1)*hw], x[c*hw:(c+1)*hw]
		for y := 0; y < s.H; y++ {
			sy := y + dy
			row := dst[y*s.W : (y+1)*s.W]
			if sy < 0 || sy >= s.H {
				for j := range row {
					row[j] = shift
				}
				continue
			}
			for xx := 0; xx < s.W; xx++ {
				ox := xx
				if flip {
					ox = s.W - 1 - xx
				}
				sx := ox + dx
				if sx < 0 || sx >= s.W {
					row[xx] = shift
				} else {
					row[xx] = float32(src[sy*s.W+sx])*scale + shift
				}
			}
		}
	}
	return s.Labels[i]
}

// Split divides s into a training part and a validation part holding
// valFrac of the samples (rounded), by a permutation drawn from seed.
// The paper's MNIST split is Split(train, 0.1, seed): 54,000 / 6,000.
func (s *ImageSet) Split(valFrac float64, seed int64) (train, val *ImageSet, err error) {
	if valFrac < 0 || valFrac >= 1 {
		return nil, nil, fmt.Errorf("nn: validation fraction %v outside [0, 1)", valFrac)
	}
	n := s.Len()
	nv := int(float64(n)*valFrac + 0.5)
	perm := NewRand(seed, 2).Perm(n)
	return s.Subset(perm[:n-nv]), s.Subset(perm[n-nv:]), nil
}

// TensorSet is an in-memory labelled set of float32 samples, used as
// given (no normalisation, no augmentation): X is N × sample shape, Y the N
// labels, Classes the class count (0: max label + 1). It is a Dataset; call
// Validate before use on data from outside (Train does). Its methods only
// read it, so several goroutines may share one.
type TensorSet struct {
	X       *Tensor
	Y       []int32
	Classes int
}

// Validate checks that X holds len(Y) samples and that every label is in
// [0, NumClasses()). Shape errors wrap ErrShape.
func (t *TensorSet) Validate() error {
	if t == nil || t.X == nil {
		return withKind(ErrShape, fmt.Errorf("nn: tensor set has no samples"))
	}
	if len(t.X.Shape) < 1 || t.X.Shape[0] != len(t.Y) {
		return withKind(ErrShape, fmt.Errorf("nn: tensor set: X has shape %v, want [%d …] for %d labels", t.X.Shape, len(t.Y), len(t.Y)))
	}
	if len(t.X.Data) != Numel(t.X.Shape) {
		return withKind(ErrShape, fmt.Errorf("nn: tensor set: X holds %d values, its shape %v wants %d", len(t.X.Data), t.X.Shape, Numel(t.X.Shape)))
	}
	c := t.NumClasses()
	for i, y := range t.Y {
		if y < 0 || int(y) >= c {
			return fmt.Errorf("nn: tensor set: label %d of sample %d outside [0, %d)", y, i, c)
		}
	}
	return nil
}

// Len is the number of samples.
func (t *TensorSet) Len() int {
	if t == nil || t.X == nil {
		return 0
	}
	return len(t.Y)
}

// SampleShape is X's shape without the leading N.
func (t *TensorSet) SampleShape() []int { return t.X.Shape[1:] }

// NumClasses is Classes, or max label + 1 when Classes is 0.
func (t *TensorSet) NumClasses() int {
	if t.Classes > 0 {
		return t.Classes
	}
	c := 0
	for _, y := range t.Y {
		c = max(c, int(y)+1)
	}
	return c
}

// Sample copies sample i into x and returns its label.
func (t *TensorSet) Sample(i int, x []float32, _ *rand.Rand) int32 {
	n := Numel(t.X.Shape[1:])
	copy(x[:n], t.X.Data[i*n:(i+1)*n])
	return t.Y[i]
}

// Batch gathers the samples idx into one batch (fresh memory).
func (t *TensorSet) Batch(idx []int) Batch {
	shape := t.SampleShape()
	n := Numel(shape)
	x := &Tensor{Shape: append([]int{len(idx)}, shape...), Data: hugemem.Float32s(len(idx) * n)}
	y := make([]int32, len(idx))
	for k, i := range idx {
		y[k] = t.Sample(i, x.Data[k*n:(k+1)*n], nil)
	}
	return Batch{X: x, Y: y}
}

func sqrtf(v float64) float64 { return math.Sqrt(v) }
