package nn

import (
	"context"
	"math"
	"math/rand/v2"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ltransfer/ltransfer/kernels"
)

func randBatch(rng *rand.Rand, n int, in []int, classes int) Batch {
	x := NewTensor(append([]int{n}, in...)...)
	for i := range x.Data {
		x.Data[i] = float32(rng.NormFloat64())
	}
	y := make([]int32, n)
	for i := range y {
		y[i] = int32(rng.IntN(classes))
	}
	return Batch{X: x, Y: y}
}

// A PyTorch state_dict (the fixture's resnet18 entries, num_batches_tracked
// as I64) loads unchanged, and our checkpoints keep those buffers I64.
func TestResNetStateDictLoadsAndRoundTrips(t *testing.T) {
	f, err := ReadSafetensorsFile("testdata/golden_conv.safetensors")
	if err != nil {
		t.Fatal(err)
	}
	m, err := NewModel("resnet18", ModelConfig{WidthFactor: 0.0625})
	if err != nil {
		t.Fatal(err)
	}
	sd := &SafetensorsFile{Source: "resnet18 state_dict", byName: map[string]int{}}
	const prefix = "resnet18/p/"
	for _, e := range f.Entries {
		if strings.HasPrefix(e.Name, prefix) {
			e.Name = strings.TrimPrefix(e.Name, prefix)
			sd.byName[e.Name] = len(sd.Entries)
			sd.Entries = append(sd.Entries, e)
		}
	}
	if e := sd.Get("layer2.0.shortcut.norm.num_batches_tracked"); e == nil || e.DType != "I64" {
		t.Fatalf("fixture state_dict lacks an I64 num_batches_tracked: %+v", e)
	}
	p, err := CheckpointFromFile(sd, m)
	if err != nil {
		t.Fatal(err)
	}
	if v := p.Get("convnb1.norm.num_batches_tracked").Data[0]; v != 3 {
		t.Fatalf("num_batches_tracked = %v, want 3", v)
	}
	path := filepath.Join(t.TempDir(), "ckpt.safetensors")
	if err := SaveCheckpoint(path, m, p, nil); err != nil {
		t.Fatal(err)
	}
	back, err := ReadSafetensorsFile(path)
	if err != nil {
		t.Fatal(err)
	}
	for _, pi := range m.State() {
		e := back.Get(pi.Name)
		want := "F32"
		if strings.HasSuffix(pi.Name, "num_batches_tracked") {
			want = "I64"
		}
		if e == nil || e.DType != want {
			t.Fatalf("%s written as %+v, want dtype %s", pi.Name, e, want)
		}
	}
	// A tensor of the wrong shape is named in the error.
	bad := p.Clone()
	bad.Get("layer1.0.convnb1.conv.weight").Shape = []int{4, 4, 3, 1}
	if _, err := m.Forward(nil, bad, randBatch(rand.New(rand.NewPCG(1, 1)), 1, []int{3, 32, 32}, 10), nil, false); err == nil ||
		!strings.Contains(err.Error(), "layer1.0.convnb1.conv.weight") {
		t.Fatalf("error %v, want one naming the mis-shaped tensor", err)
	}
}

// Recomputed BN statistics over several batches are the exact average of
// the per-batch statistics (momentum=None), leave trainable parameters
// alone, and count the batches.
func TestRecomputeBNStats(t *testing.T) {
	const seed = 602
	t.Logf("seed %d", seed)
	rng := rand.New(rand.NewPCG(seed, 0))
	m, err := NewModel("resnet20", ModelConfig{WidthFactor: 0.25, InputShape: []int{3, 8, 8}})
	if err != nil {
		t.Fatal(err)
	}
	p := m.Init(seed)
	b1 := randBatch(rng, 3, []int{3, 8, 8}, 10)
	b2 := randBatch(rng, 5, []int{3, 8, 8}, 10)
	e := kernels.Default()
	one := func(bs ...Batch) *ParamSet {
		q := p.Clone()
		i := 0
		n, err := RecomputeBNStats(context.Background(), e, m, q, func() (Batch, bool) {
			if i == len(bs) {
				return Batch{}, false
			}
			i++
			return bs[i-1], true
		})
		if err != nil || n != len(bs) {
			t.Fatalf("RecomputeBNStats: %d batches, %v", n, err)
		}
		return q
	}
	s1, s2, s12 := one(b1), one(b2), one(b1, b2)
	for _, pi := range m.State() {
		a, b, c, orig := s1.Get(pi.Name).Data, s2.Get(pi.Name).Data, s12.Get(pi.Name).Data, p.Get(pi.Name).Data
		for i := range c {
			switch {
			case strings.HasSuffix(pi.Name, "num_batches_tracked"):
				if c[i] != 2 {
					t.Fatalf("%s = %v after 2 batches", pi.Name, c[i])
				}
			case pi.Buffer:
				want := (float64(a[i]) + float64(b[i])) / 2
				if math.Abs(float64(c[i])-want) > 1e-5*(1+math.Abs(want)) {
					t.Fatalf("%s[%d] = %g, want the average %g of %g and %g", pi.Name, i, c[i], want, a[i], b[i])
				}
			default:
				if c[i] != orig[i] {
					t.Fatalf("trainable %s changed", pi.Name)
				}
			}
		}
	}
	if _, err := RecomputeBNStats(context.Background(), e, m, p.Clone(), func() (Batch, bool) { return Batch{}, false }); err == nil {
		t.Fatal("no batches: want an error")
	}
}

// Forward and backward of every conv model give the same bits for 1, 2 and
// 3 threads, in training mode (BN statistics included).
func TestConvModelsThreadIndependent(t *testing.T) {
	const seed = 603
	t.Logf("seed %d", seed)
	for _, tc := range []struct {
		arch string
		cfg  ModelConfig
	}{
		{"conv4", ModelConfig{WidthFactor: 0.0625}},
		{"conv6", ModelConfig{WidthFactor: 0.0625}},
		{"conv8", ModelConfig{WidthFactor: 0.0625}},
		{"resnet20", ModelConfig{WidthFactor: 0.25, InputShape: []int{3, 16, 16}}},
		{"resnet18", ModelConfig{WidthFactor: 0.0625, InputShape: []int{3, 40, 40}}},
	} {
		m, err := NewModel(tc.arch, tc.cfg)
		if err != nil {
			t.Fatal(err)
		}
		in := tc.cfg.InputShape
		if in == nil {
			in = []int{3, 32, 32}
		}
		b := randBatch(rand.New(rand.NewPCG(seed, 1)), 3, in, 10)
		var ref *ParamSet
		var refLoss float64
		for _, th := range []int{1, 2, 3} {
			e, err := kernels.New(kernels.WithThreads(th))
			if err != nil {
				t.Fatal(err)
			}
			p := m.Init(seed)
			g := p.ZerosLike()
			res, err := m.Forward(e, p, b, g, true)
			if err != nil {
				t.Fatal(err)
			}
			if math.IsNaN(res.Loss) || res.N != 3 {
				t.Fatalf("%s: result %+v", tc.arch, res)
			}
			if ref == nil {
				ref, refLoss = g, res.Loss
				continue
			}
			if res.Loss != refLoss {
				t.Fatalf("%s: loss %v with %d threads, %v with 1", tc.arch, res.Loss, th, refLoss)
			}
			for _, name := range g.Names() {
				for i, v := range g.Get(name).Data {
					if math.Float32bits(v) != math.Float32bits(ref.Get(name).Data[i]) {
						t.Fatalf("%s: gradient %s[%d] differs between 1 and %d threads", tc.arch, name, i, th)
					}
				}
			}
		}
	}
}

func TestConvModelConfigErrors(t *testing.T) {
	for _, tc := range []struct {
		arch string
		cfg  ModelConfig
		want string
	}{
		{"conv8", ModelConfig{InputShape: []int{3, 28, 28}}, "[C 32 32]"},
		{"conv4", ModelConfig{WidthFactor: 0.001}, "width factor"},
		{"resnet18", ModelConfig{InputShape: []int{3, 4, 4}}, "H, W ≥ 8"},
		{"resnet20", ModelConfig{InputShape: []int{784}}, "image input"},
	} {
		_, err := NewModel(tc.arch, tc.cfg)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s %+v: error %v, want one mentioning %q", tc.arch, tc.cfg, err, tc.want)
		}
	}
	m, err := NewModel("conv8", ModelConfig{WidthFactor: 0.0625})
	if err != nil {
		t.Fatal(err)
	}
	b := randBatch(rand.New(rand.NewPCG(1, 2)), 2, []int{3, 16, 16}, 10)
	if _, err := m.Forward(nil, m.Init(1), b, nil, false); err == nil || !strings.Contains(err.Error(), "shape") {
		t.Errorf("16×16 batch into conv8: error %v, want a shape error", err)
	}
}
