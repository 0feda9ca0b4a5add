package nn

import (
	"fmt"
	"math"
	"slices"
	"strings"
)

// InitRecord says where a fine-tuning run's starting point came from; it
// is written to the trajectory manifest (Manifest.InitFrom).
type InitRecord struct {
	// From is the pretrained checkpoint file.
	From string `json:"from"`
	// ResetHead is set when the head was re-initialised, from HeadSeed.
	ResetHead bool  `json:"reset_head,omitempty"`
	HeadSeed  int64 `json:"head_seed,omitempty"`
	// Head lists the re-initialised tensors.
	Head []string `json:"head,omitempty"`
}

// HeadNames returns the state entries of m's classification head: every
// entry of the module that owns the last trainable parameter in state
// order. For the built-in models that is linear.4.{weight,bias} (conv4,
// conv6, conv8), linear.{weight,bias} (resnet20, resnet18), linear2.weight
// (mlp) and linear{depth+1}.{weight,bias} (mlp-relu): the layer the
// paper's initialize_head resets.
func HeadNames(m Model) []string {
	st := m.State()
	last := -1
	for i, pi := range st {
		if !pi.Buffer {
			last = i
		}
	}
	if last < 0 {
		return nil
	}
	prefix := st[last].Name
	if k := strings.LastIndexByte(prefix, '.'); k >= 0 {
		prefix = prefix[:k+1]
	} else {
		return []string{prefix}
	}
	var out []string
	for _, pi := range st {
		if strings.HasPrefix(pi.Name, prefix) && !strings.Contains(pi.Name[len(prefix):], ".") {
			out = append(out, pi.Name)
		}
	}
	return out
}

// FineTuneInit builds a fine-tuning starting point for m from pretrained
// parameters in f. Without resetHead it is LoadCheckpoint's check and
// conversion: every tensor must match. With resetHead the head
// (HeadNames) is re-initialised as PyTorch's reset_parameters does
// (kaiming_uniform_(a=√5) weight, U(±1/√fanIn) bias), reproducibly from
// seed: it is the head m.Init(seed) draws, so a head reset with seed S
// equals a fresh model's head of seed S. The pretrained head may then
// have another shape (another number of classes) or be absent; every
// other tensor must be present with m's shape, and f may hold nothing
// else. Errors name the file and the tensor.
func FineTuneInit(m Model, f *SafetensorsFile, resetHead bool, seed int64) (*ParamSet, *InitRecord, error) {
	rec := &InitRecord{From: f.Source}
	if !resetHead {
		p, err := CheckpointFromFile(f, m)
		if err != nil {
			for _, pi := range m.State() {
				if e := f.Get(pi.Name); e != nil && !shapeEq(e.Shape, pi.Shape) && slices.Contains(HeadNames(m), pi.Name) {
					return nil, nil, fmt.Errorf("%w (a head for another number of classes needs a head reset)", err)
				}
			}
			return nil, nil, err
		}
		return p, rec, nil
	}
	head := HeadNames(m)
	if len(head) == 0 {
		return nil, nil, fmt.Errorf("nn: model %s has no trainable parameters, so no head to reset", m.Arch())
	}
	isHead := map[string]bool{}
	for _, h := range head {
		isHead[h] = true
	}
	fresh := m.Init(seed)
	p := NewParamSet()
	for _, pi := range m.State() {
		if isHead[pi.Name] {
			_ = p.Add(pi.Name, fresh.Get(pi.Name))
			continue
		}
		e := f.Get(pi.Name)
		if e == nil {
			return nil, nil, fmt.Errorf("checkpoint %q: tensor %q missing (model %s expects %v)", f.Source, pi.Name, m.Arch(), pi.Shape)
		}
		if !shapeEq(e.Shape, pi.Shape) {
			return nil, nil, fmt.Errorf("checkpoint %q: tensor %q has shape %v, model %s expects %v (only the head %s may differ with a head reset)", f.Source, pi.Name, e.Shape, m.Arch(), pi.Shape, strings.Join(head, ", "))
		}
		switch e.DType {
		case "F32", "F16", "BF16", "F64":
		default:
			if !pi.Int64 {
				return nil, nil, fmt.Errorf("checkpoint %q: tensor %q has integer dtype %s, model %s expects floats", f.Source, pi.Name, e.DType, m.Arch())
			}
		}
		data := e.Float32()
		for i, v := range data {
			if math.IsNaN(float64(v)) || math.IsInf(float64(v), 0) {
				return nil, nil, fmt.Errorf("checkpoint %q: tensor %q has a non-finite value %v at index %d", f.Source, pi.Name, v, i)
			}
		}
		_ = p.Add(pi.Name, &Tensor{Shape: append([]int(nil), e.Shape...), Data: data})
	}
	for _, e := range f.Entries {
		if p.Get(e.Name) == nil {
			return nil, nil, fmt.Errorf("checkpoint %q: tensor %q is not a parameter of model %s", f.Source, e.Name, m.Arch())
		}
	}
	rec.ResetHead, rec.HeadSeed, rec.Head = true, seed, head
	return p, rec, nil
}
