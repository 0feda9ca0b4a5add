package transfer

import (
	"context"
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	"github.com/ltransfer/ltransfer/kernels"
	"github.com/ltransfer/ltransfer/nn"
)

// TestWeightMatchingRecoversPlanted permutes a network's hidden units,
// adds a little noise, and checks weight matching finds the inverse
// permutation, for a two-group MLP (coordinate descent across tied groups)
// and for a custom spec with a 4-axis (conv-like) tensor.
func TestWeightMatchingRecoversPlanted(t *testing.T) {
	const seed = 11
	t.Logf("seed %d", seed)
	m, err := nn.NewModel("mlp-relu", nn.ModelConfig{Width: 24, Depth: 2, InputShape: []int{10}, NumClasses: 4})
	if err != nil {
		t.Fatal(err)
	}
	spec, _ := BuiltinSpec("mlp-relu", m.State())
	conv, err := ParseSpec([]byte(`{"tensors": [
	  {"name": "c1.weight", "axes": ["A", null, null, null]}, {"name": "c1.bias", "axes": ["A"]},
	  {"name": "c2.weight", "axes": ["B", "A", null, null]},
	  {"name": "head.weight", "axes": [null, "B", null, null]}]}`))
	if err != nil {
		t.Fatal(err)
	}
	r := rand.New(rand.NewPCG(seed, 2))
	cp := nn.NewParamSet()
	for _, ts := range []struct {
		n     string
		shape []int
	}{{"c1.weight", []int{9, 3, 3, 3}}, {"c1.bias", []int{9}}, {"c2.weight", []int{7, 9, 3, 3}}, {"head.weight", []int{5, 7, 1, 1}}} {
		x := nn.NewTensor(ts.shape...)
		for i := range x.Data {
			x.Data[i] = float32(r.NormFloat64())
		}
		_ = cp.Add(ts.n, x)
	}
	for _, c := range []struct {
		name string
		spec *Spec
		a    *nn.ParamSet
	}{{"mlp-relu", spec, m.Init(seed)}, {"conv", conv, cp}} {
		t.Run(c.name, func(t *testing.T) {
			sizes, _ := c.spec.Validate(c.a)
			pi := RandomPerms(sizes, seed)
			b, err := Apply(c.spec, c.a, pi)
			if err != nil {
				t.Fatal(err)
			}
			for _, name := range b.Names() {
				x := b.Get(name).Data
				for i := range x {
					x[i] += 0.01 * float32(r.NormFloat64())
				}
			}
			for _, threads := range []int{1, 2} {
				e, _ := kernels.New(kernels.WithThreads(threads))
				mt, err := NewMatcher(c.spec, c.a, e)
				if err != nil {
					t.Fatal(err)
				}
				if err := mt.AddPair(1, c.a, b); err != nil {
					t.Fatal(err)
				}
				got, obj, err := mt.Solve(context.Background(), nil, MatchOptions{Seed: seed})
				if err != nil {
					t.Fatal(err)
				}
				if !got.Equal(pi.Inverse()) {
					t.Fatalf("threads=%d: matching did not recover the planted permutation", threads)
				}
				if obj <= 0 || mt.Stats.LAPCalls == 0 {
					t.Fatalf("objective %v, %d LAP calls", obj, mt.Stats.LAPCalls)
				}
				// Normalised matching finds the same permutation, and a
				// warm start at the answer needs no change.
				got2, _, err := mt.Solve(context.Background(), got, MatchOptions{Seed: seed, Normalize: true})
				if err != nil || !got2.Equal(got) {
					t.Fatalf("normalised/warm-started matching: %v", err)
				}
				// So does matching with every tensor normalised, from
				// the identity.
				got3, _, err := mt.Solve(context.Background(), nil, MatchOptions{Seed: seed, NormalizeTensors: true})
				if err != nil || !got3.Equal(got) {
					t.Fatalf("per-tensor normalised matching: %v", err)
				}
			}
		})
	}
}

func TestMatcherRejectsBadPairs(t *testing.T) {
	m, _ := nn.NewModel("mlp", nn.ModelConfig{Width: 4, InputShape: []int{3}, NumClasses: 2})
	spec, _ := BuiltinSpec("mlp", m.State())
	p := m.Init(1)
	mt, err := NewMatcher(spec, p, nil)
	if err != nil {
		t.Fatal(err)
	}
	nan := p.Clone()
	nan.Get("linear2.weight").Data[3] = float32(zero() / zero())
	if err := mt.AddPair(1, p, nan); err == nil || !strings.Contains(err.Error(), `"linear2.weight" has a non-finite value`) {
		t.Errorf("NaN pair: %v", err)
	}
	small := nn.NewParamSet()
	_ = small.Add("linear1.weight", nn.NewTensor(4, 2))
	_ = small.Add("linear2.weight", nn.NewTensor(2, 4))
	if err := mt.AddPair(1, p, small); err == nil || !strings.Contains(err.Error(), "shapes") {
		t.Errorf("shape mismatch: %v", err)
	}
	if _, err := NewMatcher(spec, small, nil); err != nil {
		t.Errorf("a consistent smaller set should validate: %v", err)
	}
	bad := nn.NewParamSet()
	_ = bad.Add("linear1.weight", nn.NewTensor(4, 3))
	_ = bad.Add("linear2.weight", nn.NewTensor(2, 5))
	if _, err := NewMatcher(spec, bad, nil); err == nil || !strings.Contains(err.Error(), `group "P0"`) {
		t.Errorf("inconsistent group sizes: %v", err)
	}
}

func zero() float64 { return 0 }

// lowRankPairs returns the MLP spec and three matching pairs: gradients
// of two mini-batches (low rank) and random tensors (full rank).
func lowRankPairs(t *testing.T) (*Spec, [][2]*nn.ParamSet) {
	const seed = 21
	t.Logf("seed %d", seed)
	m, err := nn.NewModel("mlp", nn.ModelConfig{Width: 160, InputShape: []int{300}, NumClasses: 10})
	if err != nil {
		t.Fatal(err)
	}
	spec, _ := BuiltinSpec("mlp", m.State())
	e, _ := kernels.New(kernels.WithThreads(2))
	r := rand.New(rand.NewPCG(seed, 7))
	grad := func(p *nn.ParamSet, b nn.Batch) *nn.ParamSet {
		g := p.ZerosLike()
		if _, err := m.Forward(e, p, b, g, true); err != nil {
			t.Fatal(err)
		}
		return g
	}
	noise := func() *nn.ParamSet {
		p := m.Init(1).ZerosLike()
		for _, name := range p.Names() {
			for i := range p.Get(name).Data {
				p.Get(name).Data[i] = float32(r.NormFloat64())
			}
		}
		return p
	}
	b1, b2 := randomBatch(r, 16, []int{300}, 10), randomBatch(r, 16, []int{300}, 10)
	pairs := [][2]*nn.ParamSet{
		{grad(m.Init(1), b1), grad(m.Init(2), b1)},
		{grad(m.Init(3), b2), grad(m.Init(4), b2)},
		{noise(), noise()},
	}
	return spec, pairs
}

// TestFactoredCostMatchesDirect compares the factored (low-rank and
// skinny) cost matrices with the direct products, on gradients of a
// mini-batch (low rank) and on random tensors (full rank, direct path).
func TestFactoredCostMatchesDirect(t *testing.T) {
	spec, pairs := lowRankPairs(t)
	e, _ := kernels.New(kernels.WithThreads(2))
	var got [2][]float32
	for v, nofactor := range []bool{false, true} {
		mt, _ := NewMatcher(spec, pairs[0][0], e)
		mt.NoFactor = nofactor
		for i, p := range pairs {
			if err := mt.AddPair(float32(i+1), p[0], p[1]); err != nil {
				t.Fatal(err)
			}
		}
		perms := Identity(mt.Sizes())
		got[v] = append([]float32(nil), mt.costMatrix("P0", perms, mt.coefs(MatchOptions{}))...)
		if !nofactor {
			lr := 0
			for _, en := range mt.factors.m {
				if en.f.ok {
					lr++
				}
			}
			if lr != 2 {
				t.Errorf("%d low-rank bases found, want 2 (the two gradients)", lr)
			}
		}
	}
	var maxAbs, maxDiff float64
	for i := range got[0] {
		maxAbs = math.Max(maxAbs, math.Abs(float64(got[1][i])))
		maxDiff = math.Max(maxDiff, math.Abs(float64(got[0][i]-got[1][i])))
	}
	if maxDiff > 1e-4*maxAbs {
		t.Fatalf("factored cost differs from direct by %g (max |C| %g)", maxDiff, maxAbs)
	}
}

// TestWarmFactors checks that warmFactors computes, on another engine,
// exactly the bases a matcher asks for: a matcher sharing the warmed cache
// adds no entry to it and builds the same cost matrix, bit for bit, as one
// with a cache of its own.
func TestWarmFactors(t *testing.T) {
	spec, pairs := lowRankPairs(t)
	e2, _ := kernels.New(kernels.WithThreads(2))
	e1, _ := kernels.New(kernels.WithThreads(1))
	shared := newFactorCache()
	for _, p := range pairs {
		shared.warmFactors(e1, spec, p[1])
	}
	warmed := len(shared.m)
	if warmed == 0 {
		t.Fatal("warmFactors computed no basis")
	}
	var got [2][]float32
	for v := range got {
		mt, _ := NewMatcher(spec, pairs[0][0], e2)
		if v == 1 {
			mt.factors = shared
		}
		for i, p := range pairs {
			if err := mt.AddPair(float32(i+1), p[0], p[1]); err != nil {
				t.Fatal(err)
			}
		}
		got[v] = append([]float32(nil), mt.costMatrix("P0", Identity(mt.Sizes()), mt.coefs(MatchOptions{}))...)
		if v == 0 && len(mt.factors.m) != warmed {
			t.Fatalf("the matcher asked for %d bases, warmFactors computed %d", len(mt.factors.m), warmed)
		}
	}
	if len(shared.m) != warmed {
		t.Fatalf("the matcher added %d bases to the warmed cache", len(shared.m)-warmed)
	}
	if !slices.Equal(got[0], got[1]) {
		t.Fatal("cost matrix with the warmed cache differs from the matcher's own")
	}
}

// TestMatcherNormalizeTensors checks the per-tensor normalised objective
// against Σₖ Σ_tensors cos(Tₖ, π(Sₖ)) computed directly, and that scaling
// one tensor of one pair leaves its solution unchanged.
func TestMatcherNormalizeTensors(t *testing.T) {
	m, _ := nn.NewModel("mlp-relu", nn.ModelConfig{Width: 12, Depth: 2, InputShape: []int{6}, NumClasses: 3})
	spec, _ := BuiltinSpec("mlp-relu", m.State())
	r := rand.New(rand.NewPCG(5, 6))
	noisy := func(seed int64) *nn.ParamSet {
		p := m.Init(seed)
		for _, name := range p.Names() {
			x := p.Get(name).Data
			for i := range x {
				x[i] += 0.1 * float32(r.NormFloat64())
			}
		}
		return p
	}
	pairs := [][2]*nn.ParamSet{{noisy(1), noisy(2)}, {noisy(3), noisy(4)}}
	solve := func(scale float32) (Perms, float64) {
		mt, err := NewMatcher(spec, pairs[0][0], nil)
		if err != nil {
			t.Fatal(err)
		}
		for k, p := range pairs {
			s := p[1]
			if k == 1 {
				s = p[1].Clone()
				name := spec.Tensors[0].Name
				for i := range s.Get(name).Data {
					s.Get(name).Data[i] *= scale
				}
			}
			if err := mt.AddPair(1, p[0], s); err != nil {
				t.Fatal(err)
			}
		}
		perms, obj, err := mt.Solve(context.Background(), nil, MatchOptions{Seed: 1, NormalizeTensors: true})
		if err != nil {
			t.Fatal(err)
		}
		return perms, obj
	}
	perms, obj := solve(1)
	var want float64
	for _, p := range pairs {
		sp, err := Apply(spec, p[1], perms)
		if err != nil {
			t.Fatal(err)
		}
		for _, ts := range spec.Tensors {
			a, b := p[0].Get(ts.Name).Data, sp.Get(ts.Name).Data
			var ab, aa, bb float64
			for i := range a {
				ab += float64(a[i]) * float64(b[i])
				aa += float64(a[i]) * float64(a[i])
				bb += float64(b[i]) * float64(b[i])
			}
			want += ab / math.Sqrt(aa*bb)
		}
	}
	if math.Abs(obj-want) > 1e-4*math.Abs(want) {
		t.Fatalf("per-tensor normalised objective %v, Σ cosines %v", obj, want)
	}
	if n := float64(2 * len(spec.Tensors)); want <= 0 || want > n {
		t.Fatalf("Σ cosines %v outside (0, %v]", want, n)
	}
	perms2, obj2 := solve(1000)
	if !perms2.Equal(perms) || math.Abs(obj2-obj) > 1e-4*math.Abs(obj) {
		t.Fatalf("scaling one tensor changed the per-tensor normalised solution (objective %v → %v)", obj, obj2)
	}
	mt, _ := NewMatcher(spec, pairs[0][0], nil)
	_ = mt.AddPair(1, pairs[0][0], pairs[0][1])
	if _, _, err := mt.Solve(context.Background(), nil, MatchOptions{Normalize: true, NormalizeTensors: true}); err == nil ||
		!strings.Contains(err.Error(), "exclude each other") {
		t.Fatalf("Normalize with NormalizeTensors: error %v", err)
	}
}

// TestSolveObjectiveFromCost: with one group, Solve reads the objective of
// the tensors the group acts on off its last cost matrix and adds the
// others (mlp-relu's output bias, given a large share here); the sum must
// agree with the objective summed over every tensor.
func TestSolveObjectiveFromCost(t *testing.T) {
	const seed = 5
	t.Logf("seed %d", seed)
	model, err := nn.NewModel("mlp-relu", nn.ModelConfig{Width: 24, InputShape: []int{20}, NumClasses: 3})
	if err != nil {
		t.Fatal(err)
	}
	spec, err := BuiltinSpec("mlp-relu", model.State())
	if err != nil {
		t.Fatal(err)
	}
	r := rand.New(rand.NewPCG(seed, 3))
	noise := func() *nn.ParamSet {
		p := model.Init(1).ZerosLike()
		for _, name := range p.Names() {
			for i := range p.Get(name).Data {
				p.Get(name).Data[i] = float32(r.NormFloat64())
			}
		}
		if b := p.Get("linear2.bias"); b != nil {
			for i := range b.Data {
				b.Data[i] = 10
			}
		}
		return p
	}
	e, _ := kernels.New(kernels.WithThreads(1))
	m, err := NewMatcher(spec, model.Init(1), e)
	if err != nil {
		t.Fatal(err)
	}
	if len(spec.Groups) != 1 || !m.whollyInCost(spec.Groups[0]) || !slices.ContainsFunc(spec.Tensors, func(ts TensorSpec) bool { return !slices.Contains(ts.Axes, spec.Groups[0]) }) {
		t.Fatalf("want one group whose tensors its cost matrix covers and a tensor outside it: %+v", spec.Tensors)
	}
	for k := 0; k < 3; k++ {
		if err := m.AddPair(float32(k+1), noise(), noise()); err != nil {
			t.Fatal(err)
		}
	}
	perms, obj, err := m.Solve(context.Background(), nil, MatchOptions{})
	if err != nil {
		t.Fatal(err)
	}
	want := m.objective(perms, m.coefs(MatchOptions{}))
	if math.Abs(obj-want) > 1e-5*math.Abs(want) || want == 0 {
		t.Errorf("objective %v, summed over the tensors %v", obj, want)
	}
}

// TestFirstNonFinite puts a NaN, +Inf or −Inf at every position of
// slices around the vector kernel's block size (in the blocks and in the
// tail) and checks that the first one is found, and that the largest
// finite values are not.
func TestFirstNonFinite(t *testing.T) {
	bad := []float32{float32(math.NaN()), float32(math.Inf(1)), float32(math.Inf(-1))}
	for _, n := range []int{0, 1, 15, 16, 17, 33, 100} {
		x := make([]float32, n)
		for i := range x {
			x[i] = math.MaxFloat32
			if i%2 == 1 {
				x[i] = -math.MaxFloat32
			}
		}
		if got := firstNonFinite(x); got != -1 {
			t.Fatalf("n %d, all finite: got %d", n, got)
		}
		for i := 0; i < n; i++ {
			for _, b := range bad {
				y := slices.Clone(x)
				y[i] = b
				if i+3 < n {
					y[i+3] = bad[0]
				}
				if got := firstNonFinite(y); got != i {
					t.Fatalf("n %d, %v at %d: got %d", n, b, i, got)
				}
			}
		}
	}
}
