package kernels_test

import (
	"fmt"

	"github.com/ltransfer/ltransfer/kernels"
)

// Multiply two matrices: C = A·B with A 2×3 and B 3×2, row-major.
func ExampleEngine_Sgemm() {
	e, err := kernels.New(kernels.WithThreads(2))
	if err != nil {
		fmt.Println(err) // e.g. LTRANSFER_KERNELS names a path this CPU lacks
		return
	}
	a := []float32{1, 2, 3, 4, 5, 6}
	b := []float32{7, 8, 9, 10, 11, 12}
	c := make([]float32, 4)
	e.Sgemm(false, false, 2, 2, 3, 1, a, 3, b, 2, 0, c, 2)
	fmt.Println(c)
	// Output:
	// [58 64 139 154]
}

// A 3×3 convolution with padding 1 over one 1-channel 3×3 image: each
// output is the sum of its neighbourhood.
func ExampleEngine_Conv2D() {
	e := kernels.Default()
	p := kernels.ConvParams{N: 1, C: 1, H: 3, W: 3, K: 1, R: 3, S: 3, StrideH: 1, StrideW: 1, PadH: 1, PadW: 1}
	x := []float32{1, 1, 1, 1, 1, 1, 1, 1, 1}
	w := []float32{1, 1, 1, 1, 1, 1, 1, 1, 1}
	y := make([]float32, p.OutputLen())
	e.Conv2D(p, x, w, nil, y)
	fmt.Println(y)
	// Output:
	// [4 6 4 6 9 6 4 6 4]
}

// A service that calls the kernels now and then turns spinning off, so
// that its idle pool goroutines park at once and use no CPU; a program
// that runs back-to-back products keeps them spinning a while.
func ExampleWithSpin() {
	service, _ := kernels.New(kernels.WithSpin(0))
	batch, _ := kernels.New(kernels.WithSpin(kernels.ThroughputSpin))
	fmt.Println(service.Spin(), batch.Spin(), kernels.DefaultSpin)
	// Output:
	// 0s 20ms 1ms
}
