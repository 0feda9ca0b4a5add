package nn

import (
	"bytes"
	"reflect"
	"strings"
	"testing"
)

// TestHeadNames checks the head of every built-in architecture.
func TestHeadNames(t *testing.T) {
	for _, c := range []struct {
		arch string
		cfg  ModelConfig
		want []string
	}{
		{"mlp", ModelConfig{Width: 8}, []string{"linear2.weight"}},
		{"mlp-relu", ModelConfig{Width: 8, Depth: 2}, []string{"linear3.weight", "linear3.bias"}},
		{"conv4", ModelConfig{WidthFactor: 0.0625}, []string{"linear.4.weight", "linear.4.bias"}},
		{"conv6", ModelConfig{WidthFactor: 0.0625}, []string{"linear.4.weight", "linear.4.bias"}},
		{"conv8", ModelConfig{WidthFactor: 0.0625}, []string{"linear.4.weight", "linear.4.bias"}},
		{"resnet20", ModelConfig{WidthFactor: 0.25}, []string{"linear.weight", "linear.bias"}},
		{"resnet18", ModelConfig{WidthFactor: 0.0625}, []string{"linear.weight", "linear.bias"}},
	} {
		m, err := NewModel(c.arch, c.cfg)
		if err != nil {
			t.Fatal(err)
		}
		if got := HeadNames(m); !reflect.DeepEqual(got, c.want) {
			t.Errorf("%s: head %v, want %v", c.arch, got, c.want)
		}
	}
}

func stFile(t *testing.T, p *ParamSet, source string) *SafetensorsFile {
	t.Helper()
	var b bytes.Buffer
	if err := WriteSafetensors(&b, p, SaveOptions{}); err != nil {
		t.Fatal(err)
	}
	f, err := ParseSafetensors(b.Bytes(), source)
	if err != nil {
		t.Fatal(err)
	}
	return f
}

// TestFineTuneInit: the head reset keeps every other tensor bit for bit,
// draws the head a fresh model of the same seed has, accepts a head with
// another number of classes, and rejects mismatched bodies by name.
func TestFineTuneInit(t *testing.T) {
	cfg10 := ModelConfig{WidthFactor: 0.0625}
	m10, _ := NewModel("conv8", cfg10)
	cfg5 := cfg10
	cfg5.NumClasses = 5
	m5, _ := NewModel("conv8", cfg5)
	pre := m10.Init(1)
	// Make the pretrained set distinguishable from any fresh init.
	for _, n := range pre.Names() {
		for i := range pre.Get(n).Data {
			pre.Get(n).Data[i] += 0.5
		}
	}
	f := stFile(t, pre, "pre.safetensors")

	// Without a reset: the pretrained set as it is.
	p, rec, err := FineTuneInit(m10, f, false, 9)
	if err != nil || rec.ResetHead || rec.From != "pre.safetensors" {
		t.Fatalf("no reset: %v %+v", err, rec)
	}
	for _, n := range pre.Names() {
		if !equalF32(p.Get(n).Data, pre.Get(n).Data) {
			t.Fatalf("no reset: %s changed", n)
		}
	}
	for _, c := range []struct {
		m    Model
		seed int64
	}{{m10, 9}, {m5, 9}, {m5, 10}} {
		p, rec, err := FineTuneInit(c.m, f, true, c.seed)
		if err != nil {
			t.Fatal(err)
		}
		if err := CheckParams(c.m, p, "parameters"); err != nil {
			t.Fatal(err)
		}
		if !rec.ResetHead || rec.HeadSeed != c.seed || !reflect.DeepEqual(rec.Head, []string{"linear.4.weight", "linear.4.bias"}) {
			t.Fatalf("record %+v", rec)
		}
		fresh := c.m.Init(c.seed)
		for _, n := range p.Names() {
			want := pre.Get(n)
			if strings.HasPrefix(n, "linear.4.") {
				want = fresh.Get(n)
			}
			if !equalF32(p.Get(n).Data, want.Data) {
				t.Fatalf("seed %d, %d classes: tensor %s is not the expected one", c.seed, c.m.(*LayerModel).NumClasses(), n)
			}
		}
	}
	// PyTorch's default bound for the head: 1/√fanIn, fanIn = 256·f = 16.
	p, _, _ = FineTuneInit(m5, f, true, 3)
	for _, v := range p.Get("linear.4.weight").Data {
		if v < -0.25 || v > 0.25 {
			t.Fatalf("head weight %v outside ±1/√16", v)
		}
	}

	// Mismatches name the file and tensor.
	wide, _ := NewModel("conv8", ModelConfig{WidthFactor: 0.125})
	if _, _, err := FineTuneInit(wide, f, true, 1); err == nil || !strings.Contains(err.Error(), `"pre.safetensors"`) || !strings.Contains(err.Error(), `"convs.0.weight"`) {
		t.Errorf("width mismatch error: %v", err)
	}
	if _, _, err := FineTuneInit(m5, f, false, 1); err == nil || !strings.Contains(err.Error(), `"linear.4.weight"`) {
		t.Errorf("head mismatch without reset: %v", err)
	}
	mlp, _ := NewModel("mlp", ModelConfig{Width: 8})
	if _, _, err := FineTuneInit(mlp, f, true, 1); err == nil || !strings.Contains(err.Error(), "missing") {
		t.Errorf("other architecture: %v", err)
	}
	extra := pre.Clone()
	extra.Add("foo", NewTensor(2))
	if _, _, err := FineTuneInit(m10, stFile(t, extra, "x"), true, 1); err == nil || !strings.Contains(err.Error(), `"foo" is not a parameter`) {
		t.Errorf("extra tensor: %v", err)
	}
}
