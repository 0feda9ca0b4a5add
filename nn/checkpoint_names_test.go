package nn

import (
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

// TestInferModelConfig builds every architecture at a few sizes, infers
// the config back from its state alone and checks that the inferred model
// has the very same state (names and shapes). Factors such as 0.3 lose
// bits to int() truncation; the inferred factor must still give every
// layer its width.
func TestInferModelConfig(t *testing.T) {
	cases := []struct {
		arch string
		cfg  ModelConfig
	}{
		{"mlp", ModelConfig{Width: 48}},
		{"mlp", ModelConfig{Width: 20, InputShape: []int{3, 32, 32}}},
		{"mlp-relu", ModelConfig{Width: 16, Depth: 3, NumClasses: 7}},
		{"conv4", ModelConfig{WidthFactor: 0.125}},
		{"conv6", ModelConfig{WidthFactor: 0.3}},
		{"conv8", ModelConfig{WidthFactor: 0.3, NumClasses: 5}},
		{"conv8", ModelConfig{}},
		{"resnet20", ModelConfig{WidthFactor: 0.3}},
		{"resnet20", ModelConfig{InputShape: []int{1, 32, 32}}},
		{"resnet18", ModelConfig{WidthFactor: 0.125}},
	}
	for _, c := range cases {
		m, err := NewModel(c.arch, c.cfg)
		if err != nil {
			t.Fatal(err)
		}
		p := NewParamSetFor(m.State())
		got, err := InferModelConfig(c.arch, ParamShapes(p), ModelConfig{})
		if err != nil {
			t.Fatalf("%s %+v: %v", c.arch, c.cfg, err)
		}
		m2, err := NewModel(c.arch, got)
		if err != nil {
			t.Fatalf("%s %+v: inferred %+v: %v", c.arch, c.cfg, got, err)
		}
		if !reflect.DeepEqual(m.State(), m2.State()) {
			t.Errorf("%s %+v: inferred %+v builds another state", c.arch, c.cfg, got)
		}
		// A flag the user gave is kept.
		kept, _ := InferModelConfig(c.arch, ParamShapes(p), ModelConfig{Width: 3, WidthFactor: 2, NumClasses: 4})
		if kept.Width != 3 || kept.WidthFactor != 2 || kept.NumClasses != 4 {
			t.Errorf("%s: given fields overwritten: %+v", c.arch, kept)
		}
	}
	if _, err := InferModelConfig("conv8", ParamShapes(NewParamSet()), ModelConfig{}); err == nil || !strings.Contains(err.Error(), "convs.0.weight") {
		t.Errorf("empty file: %v", err)
	}
}

func saveState(t *testing.T, path string, m Model, edit func(p *ParamSet) *ParamSet) {
	t.Helper()
	p := m.Init(1)
	if edit != nil {
		p = edit(p)
	}
	if err := SaveSafetensors(path, p, SaveOptions{}); err != nil {
		t.Fatal(err)
	}
}

func mustModel(t *testing.T, arch string, cfg ModelConfig) Model {
	t.Helper()
	m, err := NewModel(arch, cfg)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// TestCheckpointNameErrors: a missing, misnamed, extra or wrongly sized
// tensor is reported with the names the file has (closest first) and the
// model and size the file implies.
func TestCheckpointNameErrors(t *testing.T) {
	dir := t.TempDir()
	mlp := mustModel(t, "mlp", ModelConfig{Width: 64})
	rename := func(from, to string) func(p *ParamSet) *ParamSet {
		return func(p *ParamSet) *ParamSet {
			q := NewParamSet()
			for _, n := range p.Names() {
				k := n
				if n == from {
					k = to
				}
				_ = q.Add(k, p.Get(n))
			}
			return q
		}
	}
	cases := []struct {
		name  string
		file  Model
		edit  func(p *ParamSet) *ParamSet
		load  Model
		wants []string
	}{
		{"misnamed", mlp, rename("linear1.weight", "linear_1.weight"), mlp, []string{
			`tensor "linear1.weight" missing (model mlp expects [64 784])`,
			`the file has 2 tensors, closest first: "linear_1.weight" [64 784], "linear2.weight" [10 64]`,
			`its tensors imply mlp width 64`,
		}},
		{"other width", mustModel(t, "conv4", ModelConfig{WidthFactor: 0.25}), nil, mustModel(t, "conv4", ModelConfig{WidthFactor: 0.5}), []string{
			`tensor "convs.0.weight" has shape [16 3 3 3], model conv4 expects [32 3 3 3]`,
			`the file is a conv4 checkpoint of width factor 0.25`,
		}},
		{"other model", mustModel(t, "resnet20", ModelConfig{WidthFactor: 0.5}), nil, mustModel(t, "conv8", ModelConfig{}), []string{
			`tensor "convs.0.weight" missing (model conv8 expects [64 3 3 3])`,
			`the file has 128 tensors, closest first: "linear.weight" [10 32]`,
			`… 120 more`,
			`the file is a resnet20 checkpoint of width factor 0.5, not a conv8 (use --model resnet20)`,
		}},
		{"mlp width", mustModel(t, "mlp-relu", ModelConfig{Width: 32, Depth: 2}), nil, mustModel(t, "mlp-relu", ModelConfig{Width: 32}), []string{
			`tensor "linear2.weight" has shape [32 32], model mlp-relu expects [10 32]`,
			`the file is an mlp-relu checkpoint of width 32, depth 2`,
		}},
		{"extra", mlp, func(p *ParamSet) *ParamSet {
			_ = p.Add("linear3.weight", NewTensor(2, 2))
			return p
		}, mlp, []string{`tensor "linear3.weight" is not a parameter of model mlp (closest of its 2: "linear1.weight" [64 784], "linear2.weight" [10 64])`}},
	}
	for _, c := range cases {
		path := filepath.Join(dir, strings.ReplaceAll(c.name, " ", "-")+".safetensors")
		saveState(t, path, c.file, c.edit)
		_, err := LoadCheckpoint(path, c.load)
		if err == nil {
			t.Errorf("%s: loaded", c.name)
			continue
		}
		for _, w := range c.wants {
			if !strings.Contains(err.Error(), w) {
				t.Errorf("%s: error lacks %q:\n%v", c.name, w, err)
			}
		}
	}
}

func TestEditDistance(t *testing.T) {
	for _, c := range []struct {
		a, b string
		d    int
	}{{"", "", 0}, {"abc", "", 3}, {"linear1.weight", "linear_1.weight", 1}, {"kitten", "sitting", 3}, {"convs.0.weight", "convs.0.bias", 5}} {
		if got := editDistance(c.a, c.b); got != c.d {
			t.Errorf("editDistance(%q, %q) = %d, want %d", c.a, c.b, got, c.d)
		}
	}
}
