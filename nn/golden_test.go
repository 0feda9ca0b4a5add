package nn

import (
	"encoding/json"
	"fmt"
	"math"
	"sort"
	"strings"
	"testing"

	"github.com/ltransfer/ltransfer/asm"
	"github.com/ltransfer/ltransfer/kernels"
)

// goldenCase is one entry of golden.safetensors' "cases" metadata,
// written by testdata/golden.py.
type goldenCase struct {
	Kind      string          `json:"kind"`
	Arch      string          `json:"arch"`
	Config    ModelConfig     `json:"config"`
	Optimizer json.RawMessage `json:"optimizer"`
	Steps     int             `json:"steps"`
}

func loadGolden(t *testing.T) (*SafetensorsFile, map[string]goldenCase) {
	t.Helper()
	f, err := ReadSafetensorsFile("testdata/golden.safetensors")
	if err != nil {
		t.Fatal(err)
	}
	var cases map[string]goldenCase
	if err := json.Unmarshal([]byte(f.Metadata["cases"]), &cases); err != nil {
		t.Fatalf("golden cases metadata: %v", err)
	}
	return f, cases
}

// goldenTensor returns the float32 tensor name of the fixture.
func goldenTensor(t *testing.T, f *SafetensorsFile, name string) *Tensor {
	t.Helper()
	e := f.Get(name)
	if e == nil {
		t.Fatalf("golden fixture lacks %q", name)
	}
	return &Tensor{Shape: e.Shape, Data: e.Float32()}
}

func goldenParams(t *testing.T, f *SafetensorsFile, m Model, prefix string) *ParamSet {
	p := NewParamSet()
	for _, pi := range m.State() {
		tt := goldenTensor(t, f, prefix+pi.Name)
		if !shapeEq(tt.Shape, pi.Shape) {
			t.Fatalf("%s%s: fixture shape %v, model %v", prefix, pi.Name, tt.Shape, pi.Shape)
		}
		_ = p.Add(pi.Name, tt)
	}
	return p
}

func goldenBatch(t *testing.T, f *SafetensorsFile, xName, yName string) Batch {
	x := goldenTensor(t, f, xName)
	ys, err := f.Get(yName).Int64s()
	if err != nil {
		t.Fatal(err)
	}
	y := make([]int32, len(ys))
	for i, v := range ys {
		y[i] = int32(v)
	}
	return Batch{X: x, Y: y}
}

// closeRel checks |got−want| ≤ tol·max(|want|, max|want|/10) elementwise:
// relative to each value, with a floor at a tenth of the tensor's scale
// so values that cancel to almost zero are judged on the tensor's scale.
func closeRel(t *testing.T, what string, got, want []float32, tol float64) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%s: %d values, want %d", what, len(got), len(want))
	}
	var scale float64
	for _, w := range want {
		scale = math.Max(scale, math.Abs(float64(w)))
	}
	worst, at := 0.0, -1
	for i := range got {
		d := math.Abs(float64(got[i]) - float64(want[i]))
		den := math.Max(math.Abs(float64(want[i])), scale/10)
		if den == 0 {
			den = 1
		}
		if r := d / den; r > worst || math.IsNaN(d) {
			worst, at = r, i
			if math.IsNaN(d) {
				worst = math.Inf(1)
			}
		}
	}
	if worst > tol {
		t.Errorf("%s: relative error %.3g at index %d (got %g, want %g), tolerance %g", what, worst, at, got[at], want[at], tol)
	}
}

func allEngines(t *testing.T) map[string]*kernels.Engine {
	t.Helper()
	es := map[string]*kernels.Engine{}
	for _, p := range asm.Available() {
		for _, th := range []int{1, 2} {
			e, err := kernels.New(kernels.WithPath(p), kernels.WithThreads(th))
			if err != nil {
				t.Fatal(err)
			}
			es[fmt.Sprintf("%s/threads=%d", p, th)] = e
		}
	}
	return es
}

// setPairMode forces the route of every LinearPair in m (−1 layer by
// layer, 1 factored).
func setPairMode(m Model, mode int) {
	lm, ok := m.(*LayerModel)
	if !ok {
		return
	}
	var walk func(l Layer)
	walk = func(l Layer) {
		switch v := l.(type) {
		case *LinearPair:
			v.Mode = mode
		case *Sequential:
			for _, c := range v.Layers {
				walk(c)
			}
		}
	}
	walk(lm.Net())
}

func sortedKeys[V any](m map[string]V) []string {
	ks := make([]string, 0, len(m))
	for k := range m {
		ks = append(ks, k)
	}
	sort.Strings(ks)
	return ks
}

// TestGoldenGradients compares loss and every gradient with PyTorch.
func TestGoldenGradients(t *testing.T) {
	f, cases := loadGolden(t)
	engines := allEngines(t)
	n := 0
	for _, name := range sortedKeys(cases) {
		c := cases[name]
		if c.Kind != "grad" {
			continue
		}
		if _, err := NewModel(c.Arch, c.Config); err != nil && strings.Contains(err.Error(), "unknown model") {
			t.Logf("case %s: architecture %s not registered, skipped", name, c.Arch)
			continue
		}
		n++
		for _, en := range sortedKeys(engines) {
			for _, mode := range []int{-1, 1} {
				t.Run(fmt.Sprintf("%s/%s/route=%d", name, en, mode), func(t *testing.T) {
					m, err := NewModel(c.Arch, c.Config)
					if err != nil {
						t.Fatal(err)
					}
					setPairMode(m, mode)
					p := goldenParams(t, f, m, name+".param.")
					g := p.ZerosLike()
					res, err := m.Forward(engines[en], p, goldenBatch(t, f, name+".x", name+".y"), g, true)
					if err != nil {
						t.Fatal(err)
					}
					closeRel(t, "loss", []float32{float32(res.Loss)}, goldenTensor(t, f, name+".loss").Data, 1e-5)
					for _, pi := range m.State() {
						if pi.Buffer {
							continue
						}
						closeRel(t, "grad "+pi.Name, g.Get(pi.Name).Data, goldenTensor(t, f, name+".grad."+pi.Name).Data, 1e-5)
					}
				})
			}
		}
	}
	if n < 2 {
		t.Fatalf("only %d gradient cases in the fixture, want mlp and mlp-relu at least", n)
	}
}

// TestGoldenOptimizers runs a few SGD/AdamW steps against PyTorch's.
func TestGoldenOptimizers(t *testing.T) {
	f, cases := loadGolden(t)
	e := kernels.Default()
	n := 0
	for _, name := range sortedKeys(cases) {
		c := cases[name]
		if c.Kind != "optim" {
			continue
		}
		n++
		t.Run(name, func(t *testing.T) {
			var oc OptimConfig
			if err := json.Unmarshal(c.Optimizer, &oc); err != nil {
				t.Fatal(err)
			}
			m, err := NewModel(c.Arch, c.Config)
			if err != nil {
				t.Fatal(err)
			}
			opt, err := NewOptimizer(oc, m.State())
			if err != nil {
				t.Fatal(err)
			}
			p := goldenParams(t, f, m, name+".param.")
			g := p.ZerosLike()
			for s := 1; s <= c.Steps; s++ {
				if _, err := m.Forward(e, p, goldenBatch(t, f, fmt.Sprintf("%s.x.%d", name, s), fmt.Sprintf("%s.y.%d", name, s)), g, true); err != nil {
					t.Fatal(err)
				}
				opt.Step(e, p, g, oc.LR)
				for _, pi := range m.State() {
					closeRel(t, fmt.Sprintf("step %d %s", s, pi.Name), p.Get(pi.Name).Data, goldenTensor(t, f, fmt.Sprintf("%s.after.%d.%s", name, s, pi.Name)).Data, 1e-5)
				}
			}
		})
	}
	if n < 3 {
		t.Fatalf("only %d optimiser cases in the fixture", n)
	}
}
