package transfer

import (
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	"github.com/ltransfer/ltransfer/kernels"
	"github.com/ltransfer/ltransfer/nn"
)

func TestBuiltinSpecMLP(t *testing.T) {
	m, err := nn.NewModel("mlp", nn.ModelConfig{Width: 16})
	if err != nil {
		t.Fatal(err)
	}
	s, err := BuiltinSpec("mlp", m.State())
	if err != nil {
		t.Fatal(err)
	}
	want := map[string][]string{"linear1.weight": {"P0", ""}, "linear2.weight": {"", "P0"}}
	for name, axes := range want {
		got := s.Tensor(name)
		if got == nil || strings.Join(got.Axes, ",") != strings.Join(axes, ",") {
			t.Errorf("%s: axes %v, want %v", name, got, axes)
		}
	}
	if len(s.Groups) != 1 {
		t.Errorf("groups %v, want one", s.Groups)
	}
}

// resnetState is the paper's resnet18 naming (issue 5), at tiny widths.
func resnetState() []nn.ParamInfo {
	var st []nn.ParamInfo
	add := func(name string, shape ...int) { st = append(st, nn.ParamInfo{Name: name, Shape: shape}) }
	bn := func(prefix string, c int) {
		add(prefix+".weight", c)
		add(prefix+".bias", c)
		st = append(st, nn.ParamInfo{Name: prefix + ".running_mean", Shape: []int{c}, Buffer: true},
			nn.ParamInfo{Name: prefix + ".running_var", Shape: []int{c}, Buffer: true},
			nn.ParamInfo{Name: prefix + ".num_batches_tracked", Shape: []int{}, Buffer: true})
	}
	add("convnb1.conv.weight", 4, 3, 3, 3)
	bn("convnb1.norm", 4)
	in := 4
	for l, c := range []int{4, 8} {
		for b := 0; b < 2; b++ {
			p := "layer" + string(rune('1'+l)) + "." + string(rune('0'+b))
			add(p+".convnb1.conv.weight", c, in, 3, 3)
			bn(p+".convnb1.norm", c)
			add(p+".convnb2.conv.weight", c, c, 3, 3)
			bn(p+".convnb2.norm", c)
			if b == 0 && in != c {
				add(p+".shortcut.conv.weight", c, in, 1, 1)
				bn(p+".shortcut.norm", c)
			}
			in = c
		}
	}
	add("linear.weight", 10, in)
	add("linear.bias", 10)
	return st
}

func TestBuiltinSpecResidual(t *testing.T) {
	s, err := BuiltinSpec("resnet18", resnetState())
	if err != nil {
		t.Fatal(err)
	}
	ax := func(name string) string { return strings.Join(s.Tensor(name).Axes, ",") }
	stem := s.Tensor("convnb1.conv.weight").Axes[0]
	checks := []struct{ name, want string }{
		{"convnb1.norm.weight", stem},
		{"convnb1.norm.running_var", stem},
		{"convnb1.norm.num_batches_tracked", ""},
		// Stage 1 has no shortcut: its blocks read and write the stem's stream.
		{"layer1.0.convnb1.conv.weight", "layer1.0.convnb1.conv,R0,,"},
		{"layer1.0.convnb2.conv.weight", "R0,layer1.0.convnb1.conv,,"},
		{"layer1.1.convnb2.norm.bias", "R0"},
		{"layer2.0.convnb1.conv.weight", "layer2.0.convnb1.conv,R0,,"},
		{"layer2.0.convnb2.conv.weight", "R1,layer2.0.convnb1.conv,,"},
		{"layer2.0.shortcut.conv.weight", "R1,R0,,"},
		{"layer2.0.shortcut.norm.weight", "R1"},
		{"layer2.1.convnb1.conv.weight", "layer2.1.convnb1.conv,R1,,"},
		{"layer2.1.convnb2.conv.weight", "R1,layer2.1.convnb1.conv,,"},
		{"linear.weight", ",R1"},
		{"linear.bias", ""},
	}
	if stem != "R0" {
		t.Errorf("stem output group %q, want R0", stem)
	}
	for _, c := range checks {
		if got := ax(c.name); got != c.want {
			t.Errorf("%s: axes %q, want %q", c.name, got, c.want)
		}
	}
	if !s.Tensor("convnb1.norm.running_mean").Buffer {
		t.Error("running_mean not marked as a buffer")
	}
}

func TestSpecJSONRoundTripAndErrors(t *testing.T) {
	src := `{"tensors": [{"name": "fc1.weight", "axes": ["H", null]}, {"name": "fc1.bias", "axes": ["H"]},
	  {"name": "fc2.weight", "axes": [null, "H"]}]}`
	s, err := ParseSpec([]byte(src))
	if err != nil {
		t.Fatal(err)
	}
	b, _ := s.MarshalJSON()
	s2, err := ParseSpec(b)
	if err != nil || len(s2.Tensors) != 3 || s2.Tensor("fc1.bias").Axes[0] != "H" {
		t.Fatalf("round trip: %v %+v", err, s2)
	}
	p := nn.NewParamSet()
	_ = p.Add("fc1.weight", nn.NewTensor(5, 3))
	_ = p.Add("fc1.bias", nn.NewTensor(5))
	_ = p.Add("fc2.weight", nn.NewTensor(2, 5))
	if sz, err := s.Validate(p); err != nil || sz["H"] != 5 {
		t.Fatalf("Validate: %v %v", sz, err)
	}
	cases := []struct {
		name string
		edit func(p *nn.ParamSet) *nn.ParamSet
		want string
	}{
		{"size mismatch", func(p *nn.ParamSet) *nn.ParamSet {
			q := nn.NewParamSet()
			_ = q.Add("fc1.weight", nn.NewTensor(5, 3))
			_ = q.Add("fc1.bias", nn.NewTensor(4))
			_ = q.Add("fc2.weight", nn.NewTensor(2, 5))
			return q
		}, `group "H" has size 4 on tensor "fc1.bias" axis 0 but 5 on tensor "fc1.weight" axis 0`},
		{"extra tensor", func(p *nn.ParamSet) *nn.ParamSet {
			q := p.Clone()
			_ = q.Add("fc3.weight", nn.NewTensor(2, 2))
			return q
		}, `tensor "fc3.weight" is not covered`},
		{"missing tensor", func(p *nn.ParamSet) *nn.ParamSet {
			q := nn.NewParamSet()
			_ = q.Add("fc1.weight", nn.NewTensor(5, 3))
			_ = q.Add("fc2.weight", nn.NewTensor(2, 5))
			return q
		}, `names tensor "fc1.bias", which the parameters lack`},
		{"wrong rank", func(p *nn.ParamSet) *nn.ParamSet {
			q := nn.NewParamSet()
			_ = q.Add("fc1.weight", nn.NewTensor(5, 3, 1))
			_ = q.Add("fc1.bias", nn.NewTensor(5))
			_ = q.Add("fc2.weight", nn.NewTensor(2, 5))
			return q
		}, `tensor "fc1.weight" has 3 axes`},
	}
	for _, c := range cases {
		_, err := s.Validate(c.edit(p))
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: error %v, want it to contain %q", c.name, err, c.want)
		}
	}
	for _, bad := range []string{`{`, `{"tensors": []}`, `{"tensors": [{"name": "a", "axes": []}, {"name": "a", "axes": []}]}`, `{"bogus": 1}`} {
		if _, err := ParseSpec([]byte(bad)); err == nil {
			t.Errorf("ParseSpec(%s) accepted", bad)
		}
	}
}

// smallConfig returns a tiny configuration of a registered architecture
// and its per-sample input shape.
func smallConfig(arch string) (nn.ModelConfig, []int) {
	switch {
	case strings.HasPrefix(arch, "mlp"):
		return nn.ModelConfig{Width: 12, Depth: 2, InputShape: []int{1, 3, 4}, NumClasses: 5}, []int{1, 3, 4}
	case strings.HasPrefix(arch, "conv"), strings.HasPrefix(arch, "resnet"):
		return nn.ModelConfig{WidthFactor: 1.0 / 16, InputShape: []int{3, 32, 32}}, []int{3, 32, 32}
	}
	return nn.ModelConfig{}, nil
}

func randomBatch(r *rand.Rand, n int, shape []int, classes int) nn.Batch {
	x := nn.NewTensor(append([]int{n}, shape...)...)
	for i := range x.Data {
		x.Data[i] = float32(r.NormFloat64())
	}
	y := make([]int32, n)
	for i := range y {
		y[i] = int32(r.IntN(classes))
	}
	return nn.Batch{X: x, Y: y}
}

func relClose(a, b, tol float64) bool {
	return math.Abs(a-b) <= tol*math.Max(1e-3, math.Max(math.Abs(a), math.Abs(b)))
}

// TestPermutationInvariance checks, for every registered architecture, that
// permuting hidden units leaves the loss unchanged and permutes the
// gradients the same way: ∇L(π θ) = π ∇L(θ).
func TestPermutationInvariance(t *testing.T) {
	const seed = 7
	t.Logf("seed %d", seed)
	e, _ := kernels.New(kernels.WithThreads(1))
	for _, arch := range nn.Archs() {
		t.Run(arch, func(t *testing.T) {
			cfg, in := smallConfig(arch)
			if in == nil {
				t.Skipf("no small configuration known for %s", arch)
			}
			if arch == "mlp" {
				cfg.Depth = 0
			}
			m, err := nn.NewModel(arch, cfg)
			if err != nil {
				t.Fatal(err)
			}
			spec, err := BuiltinSpec(arch, m.State())
			if err != nil {
				t.Fatal(err)
			}
			p := m.Init(seed)
			sizes, err := spec.Validate(p)
			if err != nil {
				t.Fatal(err)
			}
			perms := RandomPerms(sizes, seed)
			q, err := Apply(spec, p, perms)
			if err != nil {
				t.Fatal(err)
			}
			r := rand.New(rand.NewPCG(seed, 1))
			classes := cfg.NumClasses
			if classes == 0 {
				classes = 10
			}
			b := randomBatch(r, 6, in, classes)
			gp, gq := p.ZerosLike(), q.ZerosLike()
			rp, err := m.Forward(e, p.Clone(), b, gp, true)
			if err != nil {
				t.Fatal(err)
			}
			rq, err := m.Forward(e, q.Clone(), b, gq, true)
			if err != nil {
				t.Fatal(err)
			}
			if !relClose(rp.Loss, rq.Loss, 1e-5) {
				t.Fatalf("loss %v before permutation, %v after", rp.Loss, rq.Loss)
			}
			ep, _ := m.Forward(e, p, b, nil, false)
			eq, _ := m.Forward(e, q, b, nil, false)
			if !relClose(ep.Loss, eq.Loss, 1e-5) || ep.Correct != eq.Correct {
				t.Fatalf("eval loss/correct %v/%d before, %v/%d after", ep.Loss, ep.Correct, eq.Loss, eq.Correct)
			}
			gpp, err := Apply(spec, gp, perms)
			if err != nil {
				t.Fatal(err)
			}
			for _, name := range gq.Names() {
				a, c := gq.Get(name).Data, gpp.Get(name).Data
				var scale float64
				for _, v := range a {
					scale = math.Max(scale, math.Abs(float64(v)))
				}
				for i := range a {
					if math.Abs(float64(a[i]-c[i])) > 5e-3*scale+1e-7 {
						t.Fatalf("%s[%d]: gradient of permuted net %v, permuted gradient %v", name, i, a[i], c[i])
					}
				}
			}
			// The broken-invariance ablation keeps only first axes: the
			// same permutation then changes the function.
			broken, err := spec.BrokenInvariance()
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(broken.Groups, spec.Groups) {
				t.Fatalf("broken spec groups %v, want %v", broken.Groups, spec.Groups)
			}
			for _, ts := range broken.Tensors {
				for a, g := range ts.Axes {
					if a > 0 && g != "" {
						t.Fatalf("broken spec permutes axis %d of %s", a, ts.Name)
					}
					if a == 0 && g != spec.Tensor(ts.Name).Axes[0] {
						t.Fatalf("broken spec changed the first axis of %s", ts.Name)
					}
				}
			}
			qb, err := Apply(broken, p, perms)
			if err != nil {
				t.Fatal(err)
			}
			if eb, _ := m.Forward(e, qb, b, nil, false); relClose(ep.Loss, eb.Loss, 1e-5) {
				t.Fatalf("loss %v unchanged by a permutation that breaks the invariance", eb.Loss)
			}
			// Inverse undoes Apply exactly.
			back, err := Apply(spec, q, perms.Inverse())
			if err != nil {
				t.Fatal(err)
			}
			for _, name := range p.Names() {
				for i, v := range p.Get(name).Data {
					if back.Get(name).Data[i] != v {
						t.Fatalf("%s: inverse permutation does not restore the parameters", name)
					}
				}
			}
		})
	}
}

func TestApplyRejectsBadPerms(t *testing.T) {
	m, _ := nn.NewModel("mlp", nn.ModelConfig{Width: 4, InputShape: []int{2}, NumClasses: 2})
	spec, _ := BuiltinSpec("mlp", m.State())
	p := m.Init(1)
	for _, perms := range []Perms{{"P0": {0, 1, 2}}, {"P0": {0, 1, 1, 2}}, {"Q": {0, 1, 2, 3}}} {
		if _, err := Apply(spec, p, perms); err == nil {
			t.Errorf("Apply accepted %v", perms)
		}
	}
}
