package nn

import (
	"fmt"
	"math"

	"github.com/ltransfer/ltransfer/kernels"
)

// LayerModel is a Model made of a network Layer (usually a Sequential)
// producing logits [N, NumClasses], trained with softmax cross-entropy.
// Every architecture in the registry is one; conv models build theirs the
// same way from their own layers.
//
// Like every Model it owns activation workspaces and is not safe for
// concurrent use: one per goroutine.
type LayerModel struct {
	arch    string
	net     Layer
	in      []int
	classes int
	state   []ParamInfo

	pass    Pass
	dlogits *Tensor
	x       Tensor
}

// NewLayerModel builds net for per-sample input shape in; its output must
// be [classes] per sample. Parameter names must be unique.
func NewLayerModel(arch string, in []int, classes int, net Layer) (*LayerModel, error) {
	if Numel(in) <= 0 || len(in) == 0 {
		return nil, fmt.Errorf("nn: model %s: invalid input shape %v", arch, in)
	}
	out, err := net.Build(in)
	if err != nil {
		return nil, fmt.Errorf("nn: model %s: %w", arch, err)
	}
	if len(out) != 1 || out[0] != classes {
		return nil, fmt.Errorf("nn: model %s: network output per sample is %v, want [%d]", arch, out, classes)
	}
	state := net.Params()
	seen := map[string]bool{}
	for _, pi := range state {
		if seen[pi.Name] {
			return nil, fmt.Errorf("nn: model %s: duplicate parameter name %q", arch, pi.Name)
		}
		seen[pi.Name] = true
	}
	return &LayerModel{arch: arch, net: net, in: append([]int(nil), in...), classes: classes, state: state}, nil
}

// Arch is the architecture name.
func (m *LayerModel) Arch() string { return m.arch }

// State lists the state_dict entries in PyTorch order.
func (m *LayerModel) State() []ParamInfo { return m.state }

// InputShape is the per-sample input shape.
func (m *LayerModel) InputShape() []int { return m.in }

// NumClasses is the number of output classes.
func (m *LayerModel) NumClasses() int { return m.classes }

// Net is the model's network.
func (m *LayerModel) Net() Layer { return m.net }

// Init returns PyTorch-default initial parameters, reproducible from seed.
func (m *LayerModel) Init(seed int64) *ParamSet {
	p := NewParamSetFor(m.state)
	m.net.Init(NewRand(seed, 1), p)
	return p
}

// Forward runs a batch; see Model.
func (m *LayerModel) Forward(e *kernels.Engine, p *ParamSet, b Batch, grads *ParamSet, train bool) (Result, error) {
	if err := CheckParams(m, p, "parameters"); err != nil {
		return Result{}, err
	}
	if grads != nil {
		if err := CheckParams(m, grads, "gradients"); err != nil {
			return Result{}, err
		}
	}
	if b.X == nil {
		return Result{}, fmt.Errorf("nn: model %s: batch has no inputs", m.arch)
	}
	n := len(b.Y)
	per := Numel(m.in)
	if n == 0 {
		return Result{}, fmt.Errorf("nn: model %s: empty batch", m.arch)
	}
	if len(b.X.Data) != n*per || Numel(b.X.Shape) != len(b.X.Data) {
		return Result{}, fmt.Errorf("nn: model %s: batch inputs have shape %v for %d labels, want [%d %s]", m.arch, b.X.Shape, n, n, shapeString(m.in))
	}
	for i, y := range b.Y {
		if y < 0 || int(y) >= m.classes {
			return Result{}, fmt.Errorf("nn: model %s: label %d of sample %d outside [0, %d)", m.arch, y, i, m.classes)
		}
	}
	if e == nil {
		e = kernels.Default()
	}
	m.pass = Pass{E: e, P: p, G: grads, Train: train}
	x := &m.x
	x.Data = b.X.Data
	x.Shape = append(append(x.Shape[:0], n), m.in...)
	logits := m.net.Forward(&m.pass, x)
	var dl []float32
	if grads != nil {
		m.dlogits = Ensure(m.dlogits, n, m.classes)
		dl = m.dlogits.Data
	}
	loss, correct := SoftmaxCrossEntropy(logits.Data, n, m.classes, b.Y, dl)
	if math.IsNaN(loss) || math.IsInf(loss, 0) {
		// Still a valid result: the caller decides (training stops with
		// an error naming the step).
		return Result{Loss: loss, Correct: correct, N: n}, nil
	}
	if grads != nil {
		m.net.Backward(&m.pass, m.dlogits, false)
	}
	m.pass = Pass{}
	return Result{Loss: loss, Correct: correct, N: n}, nil
}

// NewParamSetFor returns a zeroed parameter set with the given entries.
func NewParamSetFor(state []ParamInfo) *ParamSet {
	p := NewParamSet()
	for _, pi := range state {
		if err := p.Add(pi.Name, NewTensor(pi.Shape...)); err != nil {
			panic(err)
		}
	}
	return p
}

// CheckParams verifies that p holds every state entry of m with the right
// shape (what names "parameters" or "gradients" in the message); extra
// entries are an error too. Gradient sets may omit buffers.
func CheckParams(m Model, p *ParamSet, what string) error {
	if p == nil {
		return fmt.Errorf("nn: model %s: %s are nil", m.Arch(), what)
	}
	want := 0
	for _, pi := range m.State() {
		t := p.Get(pi.Name)
		if t == nil {
			if pi.Buffer && what == "gradients" {
				continue
			}
			return fmt.Errorf("nn: model %s: %s lack tensor %q %v", m.Arch(), what, pi.Name, pi.Shape)
		}
		want++
		if !shapeEq(t.Shape, pi.Shape) || len(t.Data) != Numel(pi.Shape) {
			return fmt.Errorf("nn: model %s: %s tensor %q has shape %v (%d values), model expects %v", m.Arch(), what, pi.Name, t.Shape, len(t.Data), pi.Shape)
		}
	}
	if p.Len() != want {
		for _, name := range p.Names() {
			if !hasParam(m.State(), name) {
				return fmt.Errorf("nn: model %s: %s hold tensor %q that the model does not have", m.Arch(), what, name)
			}
		}
	}
	return nil
}

func hasParam(state []ParamInfo, name string) bool {
	for _, pi := range state {
		if pi.Name == name {
			return true
		}
	}
	return false
}

func shapeString(s []int) string {
	str := ""
	for i, d := range s {
		if i > 0 {
			str += " "
		}
		str += fmt.Sprint(d)
	}
	return str
}
