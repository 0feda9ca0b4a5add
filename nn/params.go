package nn

import (
	"fmt"

	"github.com/ltransfer/ltransfer/internal/hugemem"
)

// Tensor is a dense float32 array in row-major (C) order.
//
// A Tensor has no lock: goroutines may read one at once, but a write must not
// overlap any other access.
type Tensor struct {
	Shape []int
	Data  []float32
}

// NewTensor returns a zeroed tensor of the given shape.
func NewTensor(shape ...int) *Tensor {
	return &Tensor{Shape: append([]int(nil), shape...), Data: hugemem.Float32s(Numel(shape))}
}

// Numel is the number of elements of a shape.
func Numel(shape []int) int {
	n := 1
	for _, d := range shape {
		n *= d
	}
	return n
}

// Clone returns a deep copy.
func (t *Tensor) Clone() *Tensor {
	return &Tensor{Shape: append([]int(nil), t.Shape...), Data: hugemem.Clone(t.Data)}
}

// ParamSet is an ordered set of named tensors: a model's state_dict
// (parameters and buffers such as BN running statistics), or gradients with
// the same names. Order is the model's state_dict order.
//
// A ParamSet has no lock: several goroutines may read one at once (evaluate
// the same parameters on several models), but Add, and writes to its tensors
// (training, Into), must not overlap any other access; Clone gives each
// writer its own.
type ParamSet struct {
	names []string
	byKey map[string]*Tensor
}

// NewParamSet returns an empty set.
func NewParamSet() *ParamSet { return &ParamSet{byKey: map[string]*Tensor{}} }

// Add appends a named tensor; a duplicate name is an error.
func (p *ParamSet) Add(name string, t *Tensor) error {
	if _, dup := p.byKey[name]; dup {
		return fmt.Errorf("nn: duplicate tensor name %q", name)
	}
	p.names = append(p.names, name)
	p.byKey[name] = t
	return nil
}

// Names lists the tensor names in order. The slice must not be modified.
func (p *ParamSet) Names() []string { return p.names }

// Get returns the named tensor or nil.
func (p *ParamSet) Get(name string) *Tensor { return p.byKey[name] }

// Len is the number of tensors.
func (p *ParamSet) Len() int { return len(p.names) }

// Clone returns a deep copy.
func (p *ParamSet) Clone() *ParamSet {
	q := NewParamSet()
	for _, n := range p.names {
		_ = q.Add(n, p.byKey[n].Clone())
	}
	return q
}

// ZerosLike returns a set with the same names and shapes, all zero.
func (p *ParamSet) ZerosLike() *ParamSet {
	q := NewParamSet()
	for _, n := range p.names {
		_ = q.Add(n, NewTensor(p.byKey[n].Shape...))
	}
	return q
}
