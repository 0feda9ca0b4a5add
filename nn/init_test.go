package nn

import (
	"math"
	"strings"
	"testing"
)

// TestInitKaimingNormal checks the He initialisation of Conv8: every conv
// and linear weight has the N(0, 2/fanIn) variance (within sampling error),
// biases are zero, the draw is reproducible from the seed and differs
// between seeds, and unknown schemes are refused.
func TestInitKaimingNormal(t *testing.T) {
	m, err := NewModel("conv8", ModelConfig{WidthFactor: 0.25})
	if err != nil {
		t.Fatal(err)
	}
	p, err := InitParams(m, 5, InitKaimingNormal)
	if err != nil {
		t.Fatal(err)
	}
	def := m.Init(5)
	weights := 0
	for _, pi := range m.State() {
		x := p.Get(pi.Name).Data
		switch {
		case strings.HasSuffix(pi.Name, ".weight") && len(pi.Shape) >= 2:
			weights++
			fanIn := len(x) / pi.Shape[0]
			var ss float64
			for _, v := range x {
				ss += float64(v) * float64(v)
			}
			want := 2 / float64(fanIn)
			got := ss / float64(len(x))
			// The sample variance of n normal draws has relative sd √(2/n).
			if tol := 5 * math.Sqrt(2/float64(len(x))); math.Abs(got/want-1) > tol {
				t.Errorf("%s: variance %.4g, want %.4g ± %.0f%%", pi.Name, got, want, 100*tol)
			}
		case strings.HasSuffix(pi.Name, ".bias"):
			for _, v := range x {
				if v != 0 {
					t.Fatalf("%s: bias %g, want 0", pi.Name, v)
				}
			}
		default:
			if !equalF32(x, def.Get(pi.Name).Data) {
				t.Errorf("%s changed from PyTorch's default", pi.Name)
			}
		}
	}
	if weights != 11 {
		t.Errorf("%d weights redrawn, want Conv8's 11", weights)
	}
	again, _ := InitParams(m, 5, InitKaimingNormal)
	other, _ := InitParams(m, 6, InitKaimingNormal)
	w := "convs.0.weight"
	if !equalF32(again.Get(w).Data, p.Get(w).Data) || equalF32(other.Get(w).Data, p.Get(w).Data) {
		t.Errorf("kaiming-normal is not a function of the seed")
	}
	if same, _ := InitParams(m, 5, ""); !equalF32(same.Get(w).Data, def.Get(w).Data) {
		t.Errorf("the empty scheme is not PyTorch's default")
	}
	if _, err := InitParams(m, 5, "xavier"); err == nil || !strings.Contains(err.Error(), "xavier") {
		t.Errorf("unknown scheme: %v", err)
	}
}
