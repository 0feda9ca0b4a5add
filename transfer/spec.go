package transfer

import (
	"bytes"
	"encoding/json"
	"fmt"
	"regexp"
	"sort"
	"strings"

	"github.com/ltransfer/ltransfer/nn"
)

// TensorSpec says which permutation group (if any) acts on each axis of one
// state_dict entry. Axes[i] == "" means axis i is not permuted.
type TensorSpec struct {
	Name string
	Axes []string
	// Repeat, when set, gives per axis how many consecutive entries form
	// one unit of the group: a linear layer after a flatten of C channels
	// of h×w sees an input axis of C·h·w permuted in blocks of h·w
	// (Repeat h·w). 0 or 1 means plain.
	Repeat []int
	// Buffer marks non-trainable state (BN running statistics): it is
	// permuted by Apply but ignored by weight matching.
	Buffer bool
}

// Spec is a permutation spec: the tensors of a model in state_dict order and
// the group acting on each of their axes. Groups tied across residual
// connections or BN parameters are simply the same group name on several
// axes.
type Spec struct {
	Tensors []TensorSpec
	// Groups lists the group names in first-use order (the order used to
	// seed coordinate descent and to write permutation files).
	Groups []string

	byName map[string]int
}

// NewSpec builds a spec from tensor specs, computing the group order.
func NewSpec(ts []TensorSpec) (*Spec, error) {
	s := &Spec{byName: map[string]int{}}
	seen := map[string]bool{}
	for _, t := range ts {
		if t.Name == "" {
			return nil, fmt.Errorf("transfer: spec has a tensor with an empty name")
		}
		if _, dup := s.byName[t.Name]; dup {
			return nil, fmt.Errorf("transfer: spec lists tensor %q twice", t.Name)
		}
		s.byName[t.Name] = len(s.Tensors)
		t.Axes = append([]string(nil), t.Axes...)
		if t.Repeat != nil {
			if len(t.Repeat) != len(t.Axes) {
				return nil, fmt.Errorf("transfer: spec of tensor %q has %d repeat entries for %d axes", t.Name, len(t.Repeat), len(t.Axes))
			}
			t.Repeat = append([]int(nil), t.Repeat...)
			for a, r := range t.Repeat {
				if r < 0 {
					return nil, fmt.Errorf("transfer: spec of tensor %q has repeat %d on axis %d", t.Name, r, a)
				}
			}
		}
		s.Tensors = append(s.Tensors, t)
		for _, g := range t.Axes {
			if g != "" && !seen[g] {
				seen[g] = true
				s.Groups = append(s.Groups, g)
			}
		}
	}
	return s, nil
}

// BrokenInvariance returns the spec with every group removed from every
// axis but the first: a layer's units are still permuted, but the layers
// that read them are not, so a permuted network no longer computes the same
// function. It is the ablation the paper's code calls broken_invariance
// (its *_permutation_spec_noinv): a transfer that gains from respecting the
// symmetry loses that gain with it.
func (s *Spec) BrokenInvariance() (*Spec, error) {
	ts := make([]TensorSpec, len(s.Tensors))
	for i, t := range s.Tensors {
		t.Axes = append([]string(nil), t.Axes...)
		for a := 1; a < len(t.Axes); a++ {
			t.Axes[a] = ""
		}
		if t.Repeat != nil {
			t.Repeat = append([]int(nil), t.Repeat...)
			for a := 1; a < len(t.Repeat); a++ {
				t.Repeat[a] = 0
			}
		}
		ts[i] = t
	}
	return NewSpec(ts)
}

// Tensor returns the spec of the named tensor, or nil.
func (s *Spec) Tensor(name string) *TensorSpec {
	i, ok := s.byName[name]
	if !ok {
		return nil
	}
	return &s.Tensors[i]
}

// rep is the repeat of axis a (1 when plain).
func (t *TensorSpec) rep(a int) int {
	if t.Repeat == nil || t.Repeat[a] < 1 {
		return 1
	}
	return t.Repeat[a]
}

// axisView views shape around axis a as [outer, n, inner], with a repeat
// folded into inner.
func (t *TensorSpec) axisView(shape []int, a int) (outer, n, inner int) {
	outer, inner = 1, 1
	for i := 0; i < a; i++ {
		outer *= shape[i]
	}
	for i := a + 1; i < len(shape); i++ {
		inner *= shape[i]
	}
	r := t.rep(a)
	return outer, shape[a] / r, inner * r
}

// axisRef is one (tensor, axis) acted on by a group.
type axisRef struct {
	tensor string
	axis   int
}

// members lists, for every group, the (tensor, axis) pairs it acts on.
func (s *Spec) members() map[string][]axisRef {
	m := map[string][]axisRef{}
	for _, t := range s.Tensors {
		for a, g := range t.Axes {
			if g != "" {
				m[g] = append(m[g], axisRef{t.Name, a})
			}
		}
	}
	return m
}

// Validate checks the spec against a parameter set: the same tensors (every
// tensor covered, none extra), the right number of axes, and every group of
// one consistent size across all its axes. It returns the group sizes.
func (s *Spec) Validate(p *nn.ParamSet) (map[string]int, error) {
	for _, name := range p.Names() {
		if s.Tensor(name) == nil {
			return nil, fmt.Errorf("transfer: tensor %q is not covered by the permutation spec", name)
		}
		if x := p.Get(name); len(x.Data) != nn.Numel(x.Shape) {
			return nil, fmt.Errorf("transfer: tensor %q has %d elements for shape %v", name, len(x.Data), x.Shape)
		}
	}
	return s.validateShapes(func(name string) ([]int, bool) {
		x := p.Get(name)
		if x == nil {
			return nil, false
		}
		return x.Shape, true
	})
}

func (s *Spec) validateShapes(shapeOf func(string) ([]int, bool)) (map[string]int, error) {
	sizes := map[string]int{}
	first := map[string]axisRef{}
	for _, t := range s.Tensors {
		shape, ok := shapeOf(t.Name)
		if !ok {
			return nil, fmt.Errorf("transfer: permutation spec names tensor %q, which the parameters lack", t.Name)
		}
		if len(t.Axes) != len(shape) {
			return nil, fmt.Errorf("transfer: tensor %q has %d axes %v, permutation spec gives %d", t.Name, len(shape), shape, len(t.Axes))
		}
		for a, g := range t.Axes {
			if g == "" {
				continue
			}
			n := shape[a]
			if r := t.rep(a); r > 1 {
				if n%r != 0 {
					return nil, fmt.Errorf("transfer: tensor %q axis %d has size %d, not a multiple of its repeat %d", t.Name, a, n, r)
				}
				n /= r
			}
			if prev, ok := sizes[g]; ok && prev != n {
				f := first[g]
				return nil, fmt.Errorf("transfer: group %q has size %d on tensor %q axis %d but %d on tensor %q axis %d",
					g, n, t.Name, a, prev, f.tensor, f.axis)
			} else if !ok {
				sizes[g] = n
				first[g] = axisRef{t.Name, a}
			}
		}
	}
	return sizes, nil
}

// specJSON is the file format of custom specs:
//
//	{"tensors": [{"name": "fc1.weight", "axes": ["P0", null]},
//	             {"name": "fc1.bias", "axes": ["P0"]},
//	             {"name": "fc2.weight", "axes": [null, "P0"]}]}
//
// A map {"axes": {"fc1.weight": ["P0", null], ...}} is also accepted (order
// is then alphabetical).
type specJSON struct {
	Tensors []struct {
		Name   string    `json:"name"`
		Axes   []*string `json:"axes"`
		Repeat []int     `json:"repeat,omitempty"`
		Buffer bool      `json:"buffer,omitempty"`
	} `json:"tensors"`
	Axes map[string][]*string `json:"axes"`
}

// ParseSpec reads a JSON permutation spec.
func ParseSpec(data []byte) (*Spec, error) {
	var j specJSON
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&j); err != nil {
		return nil, fmt.Errorf("transfer: permutation spec: %v", err)
	}
	conv := func(axes []*string) []string {
		out := make([]string, len(axes))
		for i, a := range axes {
			if a != nil {
				out[i] = *a
			}
		}
		return out
	}
	var ts []TensorSpec
	for _, t := range j.Tensors {
		ts = append(ts, TensorSpec{Name: t.Name, Axes: conv(t.Axes), Repeat: t.Repeat, Buffer: t.Buffer})
	}
	names := make([]string, 0, len(j.Axes))
	for n := range j.Axes {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		ts = append(ts, TensorSpec{Name: n, Axes: conv(j.Axes[n])})
	}
	if len(ts) == 0 {
		return nil, fmt.Errorf("transfer: permutation spec lists no tensors")
	}
	return NewSpec(ts)
}

// LoadSpec reads a JSON permutation spec file.
func LoadSpec(path string) (*Spec, error) {
	b, err := nn.ReadFileLimit(path, nn.MaxJSONBytes)
	if err != nil {
		return nil, err
	}
	s, err := ParseSpec(b)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return s, nil
}

// MarshalJSON writes the spec in the ParseSpec format.
func (s *Spec) MarshalJSON() ([]byte, error) {
	type tj struct {
		Name   string    `json:"name"`
		Axes   []*string `json:"axes"`
		Repeat []int     `json:"repeat,omitempty"`
		Buffer bool      `json:"buffer,omitempty"`
	}
	out := struct {
		Tensors []tj `json:"tensors"`
	}{}
	for _, t := range s.Tensors {
		axes := make([]*string, len(t.Axes))
		for i := range t.Axes {
			if t.Axes[i] != "" {
				g := t.Axes[i]
				axes[i] = &g
			}
		}
		out.Tensors = append(out.Tensors, tj{t.Name, axes, t.Repeat, t.Buffer})
	}
	return json.Marshal(out)
}

var blockRe = regexp.MustCompile(`^(.*?layer\d+\.\d+)\.`)

// BuiltinSpec derives the permutation spec of a model from its state_dict
// layout. Every weight with two or more axes is a layer with output axis 0
// and input axis 1 (Linear [out,in], Conv [out,in,kh,kw]); one-axis entries
// (biases, BN scale/shift/running statistics) follow the output group of
// the layer before them; scalars (num_batches_tracked) are not permuted.
//
// Plain chains (mlp, mlp-relu, conv4/6/8) get one group per hidden layer; the
// first layer's input and the last layer's output stay unpermuted. Residual
// networks (entries named "…layerL.B.…", as resnet18/resnet20) share one
// group along the residual stream of each stage: a block's last convolution
// and its shortcut write into it, its first convolution reads from it, and
// the inner convolutions get their own groups.
func BuiltinSpec(arch string, state []nn.ParamInfo) (*Spec, error) {
	if len(state) == 0 {
		return nil, fmt.Errorf("transfer: model %q has an empty state", arch)
	}
	weights, residual := layerWeights(state)
	if len(weights) == 0 {
		return nil, fmt.Errorf("transfer: model %q has no layer weights to permute", arch)
	}
	var axes [][]string
	var repeat [][]int
	if residual {
		axes = residualAxes(state, weights)
	} else {
		axes, repeat = chainAxes(state, weights)
	}
	return specFromLayerAxes(arch, state, axes, repeat)
}

// layerWeights lists the entries with two or more axes (layer weights) and
// says whether any entry belongs to a residual block ("…layerL.B.…").
func layerWeights(state []nn.ParamInfo) (weights []int, residual bool) {
	for i, e := range state {
		if len(e.Shape) >= 2 {
			weights = append(weights, i)
		}
		if blockRe.MatchString(e.Name) {
			residual = true
		}
	}
	return weights, residual
}

// chainAxes gives the layer weights of a plain chain (mlp, mlp-relu,
// conv4/6/8) one group per hidden layer: layer li writes Pli, the next
// layer reads it; the first layer's input and the last layer's output stay
// unpermuted. A layer that reads k times the previous layer's outputs (a
// flatten of C channels × h×w before a linear layer) repeats each group
// index k times along its input axis.
func chainAxes(state []nn.ParamInfo, weights []int) (axes [][]string, repeat [][]int) {
	axes = make([][]string, len(state))
	repeat = make([][]int, len(state))
	last := weights[len(weights)-1]
	prevOut, prevN := "", 0
	for li, i := range weights {
		sh := state[i].Shape
		a := make([]string, len(sh))
		a[1] = prevOut
		if prevOut != "" && sh[1] != prevN && prevN > 0 && sh[1]%prevN == 0 {
			repeat[i] = make([]int, len(sh))
			repeat[i][1] = sh[1] / prevN
		}
		if i != last {
			a[0] = fmt.Sprintf("P%d", li)
		}
		axes[i] = a
		prevOut, prevN = a[0], sh[0]
	}
	return axes, repeat
}

// resBlock is one residual block's layer weights: its main-path
// convolutions in order and its shortcut (-1: identity).
type resBlock struct {
	main     []int
	shortcut int
}

// residualBlocks groups the layer weights by block ("layer2.0"), in order
// of appearance; blockOf[i] is the block of entry i ("" outside blocks:
// the stem and the head).
func residualBlocks(state []nn.ParamInfo, weights []int) (blocks map[string]*resBlock, blockOf []string) {
	blocks = map[string]*resBlock{}
	blockOf = make([]string, len(state))
	for _, i := range weights {
		m := blockRe.FindStringSubmatch(state[i].Name)
		if m == nil {
			continue
		}
		b := blocks[m[1]]
		if b == nil {
			b = &resBlock{shortcut: -1}
			blocks[m[1]] = b
		}
		blockOf[i] = m[1]
		rest := state[i].Name[len(m[1]):]
		if strings.Contains(rest, "shortcut") || strings.Contains(rest, "downsample") {
			b.shortcut = i
		} else {
			b.main = append(b.main, i)
		}
	}
	return blocks, blockOf
}

// residualAxes gives the layer weights of a residual network (resnet18,
// resnet20) their groups: one group R per stretch of the residual stream
// (the stem writes R0; a block with a projection shortcut starts a new
// one, written by its shortcut and its last convolution), the block's
// first convolution reads the stream, and each inner convolution gets a
// group named after itself.
func residualAxes(state []nn.ParamInfo, weights []int) [][]string {
	blocks, blockOf := residualBlocks(state, weights)
	axes := make([][]string, len(state))
	last := weights[len(weights)-1]
	res := ""    // current residual-stream group
	nRes := 0    // residual groups made so far
	curBlk := "" // block being walked
	inner := ""  // output group of the previous main conv in the block
	blockIn := ""
	blockOut := ""
	for _, i := range weights {
		a := make([]string, len(state[i].Shape))
		switch {
		case blockOf[i] == "" && i == last:
			a[1] = res
		case blockOf[i] == "":
			// Stem: writes the first residual stream.
			a[1] = res
			res = fmt.Sprintf("R%d", nRes)
			nRes++
			a[0] = res
		default:
			b := blocks[blockOf[i]]
			if blockOf[i] != curBlk {
				curBlk = blockOf[i]
				blockIn = res
				blockOut = res
				if b.shortcut >= 0 {
					blockOut = fmt.Sprintf("R%d", nRes)
					nRes++
				}
				inner = blockIn
				res = blockOut
			}
			if i == b.shortcut {
				a[1], a[0] = blockIn, blockOut
				break
			}
			a[1] = inner
			if i == b.main[len(b.main)-1] {
				a[0] = blockOut
			} else {
				a[0] = strings.TrimSuffix(state[i].Name, ".weight")
			}
			inner = a[0]
		}
		axes[i] = a
	}
	return axes
}

// specFromLayerAxes completes the axes of the layer weights into a spec
// (repeat, when not nil, holds each entry's input repeats):
// one-axis entries follow the preceding layer's output group, scalars are
// not permuted; the result is checked against the shapes, so a layout the
// family helpers do not understand (a flatten that changes the feature
// count, say) fails now rather than during matching.
func specFromLayerAxes(arch string, state []nn.ParamInfo, axes [][]string, repeat [][]int) (*Spec, error) {
	out := ""
	ts := make([]TensorSpec, len(state))
	for i, e := range state {
		switch {
		case len(e.Shape) >= 2:
			out = axes[i][0]
		case len(e.Shape) == 1:
			axes[i] = []string{out}
		default:
			axes[i] = make([]string, len(e.Shape))
		}
		ts[i] = TensorSpec{Name: e.Name, Axes: axes[i], Buffer: e.Buffer}
		if repeat != nil {
			ts[i].Repeat = repeat[i]
		}
	}
	s, err := NewSpec(ts)
	if err != nil {
		return nil, err
	}
	shapes := map[string][]int{}
	for _, e := range state {
		shapes[e.Name] = e.Shape
	}
	if _, err := s.validateShapes(func(n string) ([]int, bool) { sh, ok := shapes[n]; return sh, ok }); err != nil {
		return nil, fmt.Errorf("transfer: cannot derive a permutation spec for model %q (%v); give a JSON spec", arch, err)
	}
	return s, nil
}
