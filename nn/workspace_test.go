package nn

import (
	"testing"

	"github.com/ltransfer/ltransfer/kernels"
)

// TestWorkspaceBytes: a model's workspace is next to nothing before it
// runs, grows with the batch and with the backward pass, and the forward
// activations grow in proportion to the batch.
func TestWorkspaceBytes(t *testing.T) {
	e, _ := kernels.New(kernels.WithThreads(1))
	cfg := ModelConfig{WidthFactor: 0.25, InputShape: []int{3, 32, 32}, NumClasses: 10}
	m, err := NewModel("resnet20", cfg)
	if err != nil {
		t.Fatal(err)
	}
	if b := WorkspaceBytes(m); b > 64<<10 {
		t.Fatalf("unused model: %d bytes", b)
	}
	p := m.Init(1)
	run := func(n int, grads bool) int64 {
		b := Batch{X: NewTensor(n, 3, 32, 32), Y: make([]int32, n)}
		var g *ParamSet
		if grads {
			g = p.ZerosLike()
		}
		if _, err := m.Forward(e, p, b, g, grads); err != nil {
			t.Fatal(err)
		}
		return WorkspaceBytes(m)
	}
	small, big, train := run(8, false), run(32, false), run(32, true)
	if !(0 < small && small < big && big < train) {
		t.Fatalf("workspace after eval of 8: %d, of 32: %d, training on 32: %d bytes", small, big, train)
	}
	// The forward activations of 32 images: about 4× those of 8.
	if r := float64(big) / float64(small); r < 3 || r > 4.5 {
		t.Errorf("eval workspace of 32 images is %.2f× that of 8", r)
	}
}
