package transfer

import (
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"sort"

	"github.com/ltransfer/ltransfer/internal/hugemem"
	"github.com/ltransfer/ltransfer/nn"
)

// Perms holds one permutation per group: Perms[g][i] = j means that after
// Apply, index i along every axis of group g holds what index j held.
type Perms map[string][]int

// Identity returns identity permutations of the given group sizes.
func Identity(sizes map[string]int) Perms {
	p := Perms{}
	for g, n := range sizes {
		q := make([]int, n)
		for i := range q {
			q[i] = i
		}
		p[g] = q
	}
	return p
}

// RandomPerms returns uniformly random permutations, reproducibly from seed.
func RandomPerms(sizes map[string]int, seed uint64) Perms {
	r := rand.New(rand.NewPCG(seed, 0x9e3779b97f4a7c15))
	groups := make([]string, 0, len(sizes))
	for g := range sizes {
		groups = append(groups, g)
	}
	sort.Strings(groups)
	p := Perms{}
	for _, g := range groups {
		p[g] = r.Perm(sizes[g])
	}
	return p
}

// Inverse returns π⁻¹ for every group.
func (p Perms) Inverse() Perms {
	q := Perms{}
	for g, v := range p {
		w := make([]int, len(v))
		for i, j := range v {
			w[j] = i
		}
		q[g] = w
	}
	return q
}

// Clone returns a deep copy.
func (p Perms) Clone() Perms {
	q := Perms{}
	for g, v := range p {
		q[g] = append([]int(nil), v...)
	}
	return q
}

// Equal reports whether p and q hold the same permutations.
func (p Perms) Equal(q Perms) bool {
	if len(p) != len(q) {
		return false
	}
	for g, v := range p {
		w, ok := q[g]
		if !ok || len(w) != len(v) {
			return false
		}
		for i := range v {
			if v[i] != w[i] {
				return false
			}
		}
	}
	return true
}

// check verifies every permutation is a bijection of the group's size.
func (p Perms) check(sizes map[string]int) error {
	for g, n := range sizes {
		v, ok := p[g]
		if !ok {
			return fmt.Errorf("transfer: no permutation for group %q", g)
		}
		if len(v) != n {
			return fmt.Errorf("transfer: permutation of group %q has length %d, group size is %d", g, len(v), n)
		}
		seen := make([]bool, n)
		for i, j := range v {
			if j < 0 || j >= n || seen[j] {
				return fmt.Errorf("transfer: permutation of group %q is not a bijection (index %d maps to %d)", g, i, j)
			}
			seen[j] = true
		}
	}
	return nil
}

// Apply returns a permuted copy of params: along every axis of group g,
// out[…i…] = in[…perms[g][i]…]. Tensors without grouped axes are copied.
func Apply(spec *Spec, params *nn.ParamSet, perms Perms) (*nn.ParamSet, error) {
	sizes, err := spec.Validate(params)
	if err != nil {
		return nil, err
	}
	if err := perms.check(sizes); err != nil {
		return nil, err
	}
	out := nn.NewParamSet()
	for _, name := range params.Names() {
		x := params.Get(name)
		y := x.Clone()
		permuteTensor(y, spec.Tensor(name), perms, nil)
		if err := out.Add(name, y); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// ApplyInPlace is Apply writing into params itself.
func ApplyInPlace(spec *Spec, params *nn.ParamSet, perms Perms) error {
	sizes, err := spec.Validate(params)
	if err != nil {
		return err
	}
	if err := perms.check(sizes); err != nil {
		return err
	}
	var tmp []float32
	for _, name := range params.Names() {
		tmp = permuteTensor(params.Get(name), spec.Tensor(name), perms, tmp)
	}
	return nil
}

// permuteTensor permutes x in place along every grouped axis (skipping
// groups absent from perms), using tmp as scratch; it returns the scratch
// for reuse.
func permuteTensor(x *nn.Tensor, ts *TensorSpec, perms Perms, tmp []float32) []float32 {
	return permuteAxes(x, ts, ts.Axes, perms, tmp)
}

// permuteAxes is permuteTensor acting only on the groups named in axes
// (ts.Axes with some entries cleared).
func permuteAxes(x *nn.Tensor, ts *TensorSpec, axes []string, perms Perms, tmp []float32) []float32 {
	for a, g := range axes {
		if g == "" {
			continue
		}
		pi, ok := perms[g]
		if !ok {
			continue
		}
		if cap(tmp) < len(x.Data) {
			tmp = hugemem.Float32s(len(x.Data))
		}
		tmp = tmp[:len(x.Data)]
		outer, _, inner := ts.axisView(x.Shape, a)
		permuteAxis(tmp, x.Data, outer, inner, pi)
		copy(x.Data, tmp)
	}
	return tmp
}

// permuteAxis writes dst[a, i, b] = src[a, π[i], b] with the tensor viewed
// as [outer, n, inner], n = len(π).
func permuteAxis(dst, src []float32, outer, inner int, pi []int) {
	n := len(pi)
	for o := 0; o < outer; o++ {
		base := o * n * inner
		for i, j := range pi {
			copy(dst[base+i*inner:base+(i+1)*inner], src[base+j*inner:base+(j+1)*inner])
		}
	}
}

// SavePerms writes permutations as JSON ({"group": [...]}) atomically.
func SavePerms(path string, p Perms) error {
	b, err := json.Marshal(p)
	if err != nil {
		return err
	}
	return writeFileAtomic(path, b)
}

// LoadPerms reads permutations written by SavePerms.
func LoadPerms(path string) (Perms, error) {
	b, err := nn.ReadFileLimit(path, nn.MaxJSONBytes)
	if err != nil {
		return nil, err
	}
	var p Perms
	if err := json.Unmarshal(b, &p); err != nil {
		return nil, fmt.Errorf("%s: %v", path, err)
	}
	return p, nil
}

// writeFileAtomic writes data through nn.WriteFileAtomic (temporary file
// beside path, then rename), so a reader never sees a half-written file.
func writeFileAtomic(path string, data []byte) error {
	return nn.WriteFileAtomic(path, func(w io.Writer) error {
		_, err := w.Write(data)
		return err
	})
}
