package nn

import (
	"encoding/json"
	"fmt"
	"math"
	"testing"
)

// TestConvGoldenPyTorch replays the training-mode step of
// testdata/golden_conv.py (PyTorch 1.13, float64) for every conv model and
// compares loss, every gradient and the BN running statistics after the
// step, then the eval-mode loss with those statistics, to 1e-4 relative:
// each tensor's largest deviation against its largest magnitude.
func TestConvGoldenPyTorch(t *testing.T) {
	f, err := ReadSafetensorsFile("testdata/golden_conv.safetensors")
	if err != nil {
		t.Fatal(err)
	}
	var widths map[string]float64
	if err := json.Unmarshal([]byte(f.Metadata["widths"]), &widths); err != nil {
		t.Fatalf("fixture metadata: %v", err)
	}
	get := func(name string) []float32 {
		t.Helper()
		e := f.Get(name)
		if e == nil {
			t.Fatalf("fixture lacks %q", name)
		}
		return e.Float32()
	}
	x := f.Get("x")
	ys, err := f.Get("y").Int64s()
	if err != nil {
		t.Fatal(err)
	}
	y := make([]int32, len(ys))
	for i, v := range ys {
		y[i] = int32(v)
	}
	batch := Batch{X: &Tensor{Shape: x.Shape, Data: x.Float32()}, Y: y}
	compare := func(t *testing.T, what string, got, want []float32) {
		t.Helper()
		if len(got) != len(want) {
			t.Fatalf("%s: %d values, want %d", what, len(got), len(want))
		}
		scale, dev := 0.0, 0.0
		for i := range want {
			scale = max(scale, math.Abs(float64(want[i])))
			dev = max(dev, math.Abs(float64(got[i])-float64(want[i])))
		}
		if !(dev <= 1e-4*scale) || math.IsNaN(dev) {
			t.Errorf("%s: max deviation %.3g against max magnitude %.3g (want ≤ 1e-4 relative)", what, dev, scale)
		}
	}
	for _, arch := range []string{"conv4", "conv6", "conv8", "resnet20", "resnet18"} {
		w, ok := widths[arch]
		if !ok {
			t.Fatalf("fixture has no %s", arch)
		}
		for _, e := range convEngines(t) {
			t.Run(fmt.Sprintf("%s/path=%v", arch, e.Path()), func(t *testing.T) {
				m, err := NewModel(arch, ModelConfig{WidthFactor: w})
				if err != nil {
					t.Fatal(err)
				}
				p := NewParamSet()
				g := NewParamSet()
				for _, pi := range m.State() {
					v := get(arch + "/p/" + pi.Name)
					if len(v) != Numel(pi.Shape) {
						t.Fatalf("%s: fixture has %d values, model expects shape %v", pi.Name, len(v), pi.Shape)
					}
					_ = p.Add(pi.Name, &Tensor{Shape: append([]int(nil), pi.Shape...), Data: v})
					if !pi.Buffer {
						_ = g.Add(pi.Name, NewTensor(pi.Shape...))
					}
				}
				res, err := m.Forward(e, p, batch, g, true)
				if err != nil {
					t.Fatal(err)
				}
				compare(t, "loss", []float32{float32(res.Loss)}, get(arch+"/loss"))
				for _, pi := range m.State() {
					if pi.Buffer {
						compare(t, "post-step "+pi.Name, p.Get(pi.Name).Data, get(arch+"/post/"+pi.Name))
					} else {
						compare(t, "gradient of "+pi.Name, g.Get(pi.Name).Data, get(arch+"/g/"+pi.Name))
					}
				}
				res, err = m.Forward(e, p, batch, nil, false)
				if err != nil {
					t.Fatal(err)
				}
				compare(t, "eval loss", []float32{float32(res.Loss)}, get(arch+"/eval_loss"))
			})
		}
	}
}
