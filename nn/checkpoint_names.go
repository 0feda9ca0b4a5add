package nn

import (
	"fmt"
	"sort"
	"strings"
)

// TensorShapes answers which tensors a checkpoint holds: the shape of the
// named tensor and whether it is there. ShapesOf and ParamShapes make one
// of a safetensors file and of a parameter set.
type TensorShapes func(name string) ([]int, bool)

// ShapesOf returns the TensorShapes of a parsed safetensors file.
func ShapesOf(f *SafetensorsFile) TensorShapes {
	return func(name string) ([]int, bool) {
		if e := f.Get(name); e != nil {
			return e.Shape, true
		}
		return nil, false
	}
}

// ParamShapes returns the TensorShapes of a parameter set.
func ParamShapes(p *ParamSet) TensorShapes {
	return func(name string) ([]int, bool) {
		if t := p.Get(name); t != nil {
			return t.Shape, true
		}
		return nil, false
	}
}

// InferModelConfig fills the fields of base that are zero from the tensors
// of a checkpoint of architecture arch: an MLP's width, mlp-relu's depth,
// the width factor of conv nets and ResNets, the class count, and the
// input channels (conv nets, ResNets) or features (MLPs other than 784)
// when base has no input shape. Fields already set are kept, so a flag the
// user gave wins. It needs only one tensor that sizes the model (so a
// file with a misnamed tensor still tells its width) and returns an error
// when there is none; whether the whole checkpoint fits the result is for
// CheckpointFromFile (or CheckpointFits) to say.
//
// Channel counts are int(base·f), so a checkpoint gives the factor only up
// to that truncation: the result is the smallest factor that reproduces
// every stage's width (the largest width/base ratio), exact in binary
// because every base width is a power of two.
func InferModelConfig(arch string, shapes TensorShapes, base ModelConfig) (ModelConfig, error) {
	cfg := base
	switch arch {
	case "mlp", "mlp-relu":
		// linear1.weight is [W, features]; the layer after it is [·, W].
		last := 1
		for {
			if _, ok := shapes(fmt.Sprintf("linear%d.weight", last+1)); !ok {
				break
			}
			last++
		}
		w1, ok1 := shapes("linear1.weight")
		w2, ok2 := shapes("linear2.weight")
		switch {
		case ok1 && len(w1) == 2:
		case ok2 && len(w2) == 2:
		default:
			return base, fmt.Errorf("nn: cannot infer the size of a %s from a checkpoint without a 2-D linear1.weight or linear2.weight", arch)
		}
		if cfg.Width == 0 {
			if ok1 && len(w1) == 2 {
				cfg.Width = w1[0]
			} else {
				cfg.Width = w2[1]
			}
		}
		if arch == "mlp-relu" && cfg.Depth == 0 && last >= 2 {
			cfg.Depth = last - 1
		}
		if out, ok := shapes(fmt.Sprintf("linear%d.weight", last)); ok && last >= 2 && len(out) == 2 && cfg.NumClasses == 0 {
			cfg.NumClasses = out[0]
		}
		if cfg.InputShape == nil && ok1 && len(w1) == 2 && w1[1] != Numel(defaultMLPInput) {
			if w1[1] == 3*32*32 {
				cfg.InputShape = []int{3, 32, 32}
			} else {
				cfg.InputShape = []int{w1[1]}
			}
		}
		return cfg, nil
	case "conv4", "conv6", "conv8", "resnet18", "resnet20":
		var first, head string
		var stages []string
		var bases []int
		switch arch {
		case "resnet18", "resnet20":
			first, head = "convnb1.conv.weight", "linear.weight"
			bases = []int{16, 32, 64}
			if arch == "resnet18" {
				bases = []int{64, 128, 256, 512}
			}
			stages = []string{first}
			bases = append([]int{bases[0]}, bases...)
			for s := 1; s < len(bases); s++ {
				stages = append(stages, fmt.Sprintf("layer%d.0.convnb1.conv.weight", s))
			}
		default:
			first, head = "convs.0.weight", "linear.4.weight"
			depth := int(arch[4] - '0')
			for s := 0; s < depth/2; s++ {
				stages = append(stages, fmt.Sprintf("convs.%d.weight", 5*s))
				bases = append(bases, 64<<s)
			}
			stages = append(stages, "linear.2.weight")
			bases = append(bases, 256)
		}
		// Any stage present sizes the factor (a misnamed tensor still
		// leaves the others).
		f := 0.0
		for i, name := range stages {
			if s, ok := shapes(name); ok && len(s) == 4 {
				f = max(f, float64(s[0])/float64(bases[i]))
			}
		}
		if f == 0 {
			return base, fmt.Errorf("nn: cannot infer the size of a %s from a checkpoint without any of %s", arch, strings.Join(stages, ", "))
		}
		if cfg.WidthFactor == 0 && f != 1 {
			cfg.WidthFactor = f
		}
		if out, ok := shapes(head); ok && len(out) >= 1 && cfg.NumClasses == 0 {
			cfg.NumClasses = out[0]
		}
		if w0, ok := shapes(first); ok && len(w0) == 4 && cfg.InputShape == nil && w0[1] != 3 {
			cfg.InputShape = []int{w0[1], 32, 32}
		}
		return cfg, nil
	}
	return base, fmt.Errorf("nn: cannot infer the size of a %s from a checkpoint (not a built-in model)", arch)
}

// CheckpointFits reports whether shapes holds exactly model m's state:
// every name with its shape, and (when names is not nil) nothing else.
func CheckpointFits(m Model, shapes TensorShapes, names []string) bool {
	for _, pi := range m.State() {
		s, ok := shapes(pi.Name)
		if !ok || !shapeEq(s, pi.Shape) {
			return false
		}
	}
	return names == nil || len(names) == len(m.State())
}

// DescribeSize says how a model config is sized, as the flags say it:
// "width 512", "width 512, depth 2" or "width factor 0.25".
func DescribeSize(arch string, cfg ModelConfig) string {
	switch arch {
	case "mlp":
		return fmt.Sprintf("width %d", orDefault(cfg.Width, DefaultMLPWidth))
	case "mlp-relu":
		return fmt.Sprintf("width %d, depth %d", orDefault(cfg.Width, DefaultMLPWidth), orDefault(cfg.Depth, 1))
	}
	f := cfg.WidthFactor
	if f == 0 {
		f = 1
	}
	return fmt.Sprintf("width factor %g", f)
}

// impliedModel says which model the tensors of a checkpoint fit: first
// model's own architecture at the size they imply (unless that is model's
// size and not always), then any other built-in model; "" when none fits.
func impliedModel(model Model, shapes TensorShapes, names []string, always bool) string {
	arch, input := model.Arch(), modelInput(model)
	try := func(a string) (string, bool) {
		cfg, err := InferModelConfig(a, shapes, ModelConfig{})
		if err != nil {
			return "", false
		}
		if strings.HasPrefix(a, "resnet") && len(input) == 3 {
			// The stem depends on the image size, which no tensor holds.
			c := 3
			if cfg.InputShape != nil {
				c = cfg.InputShape[0]
			}
			cfg.InputShape = []int{c, input[1], input[2]}
		}
		m, err := NewModel(a, cfg)
		if err != nil || !CheckpointFits(m, shapes, names) {
			return DescribeSize(a, cfg), false
		}
		return DescribeSize(a, cfg), true
	}
	size, ok := try(arch)
	if ok {
		if !always && size == ownSize(model) {
			return "" // same size: the mismatch is elsewhere (classes, input)
		}
		return fmt.Sprintf("the file is %s %s checkpoint of %s", article(arch), arch, size)
	}
	for _, a := range Archs() {
		if a == arch {
			continue
		}
		if s, ok := try(a); ok {
			return fmt.Sprintf("the file is %s %s checkpoint of %s, not %s %s (use --model %s)", article(a), a, s, article(arch), arch, a)
		}
	}
	if size != "" && (always || size != ownSize(model)) {
		return fmt.Sprintf("its tensors imply %s %s", arch, size)
	}
	return ""
}

// closestNames lists candidates nearest to name first (edit distance,
// then candidate order), at most limit of them, with shapes when shapes
// is not nil: `"linear1.weight" [512 784], "linear2.weight" [10 512], … 3 more`.
func closestNames(name string, candidates []string, shapes TensorShapes, limit int) string {
	type cand struct {
		name string
		d, i int
	}
	cs := make([]cand, len(candidates))
	for i, c := range candidates {
		cs[i] = cand{c, editDistance(name, c), i}
	}
	sort.SliceStable(cs, func(a, b int) bool { return cs[a].d < cs[b].d })
	var sb strings.Builder
	for i, c := range cs {
		if i == limit {
			fmt.Fprintf(&sb, ", … %d more", len(cs)-limit)
			break
		}
		if i > 0 {
			sb.WriteString(", ")
		}
		fmt.Fprintf(&sb, "%q", c.name)
		if shapes != nil {
			if s, ok := shapes(c.name); ok {
				fmt.Fprintf(&sb, " %v", s)
			}
		}
	}
	return sb.String()
}

// editDistance is the Levenshtein distance between a and b in bytes
// (tensor names are ASCII).
func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}

// nameListLimit bounds how many names an error lists.
const nameListLimit = 8

// missingTensorError is CheckpointFromFile's error for a model tensor the
// file lacks: the file's names closest first, and the model the file
// implies.
func missingTensorError(f *SafetensorsFile, m Model, pi ParamInfo) error {
	names := make([]string, len(f.Entries))
	for i, e := range f.Entries {
		names[i] = e.Name
	}
	msg := fmt.Sprintf("checkpoint %q: tensor %q missing (model %s expects %v)", f.Source, pi.Name, m.Arch(), pi.Shape)
	if len(names) == 0 {
		return fmt.Errorf("%s; the file holds no tensors", msg)
	}
	msg += fmt.Sprintf("; the file has %d tensors, closest first: %s", len(names), closestNames(pi.Name, names, ShapesOf(f), nameListLimit))
	if im := impliedModel(m, ShapesOf(f), names, true); im != "" {
		msg += "; " + im
	}
	return fmt.Errorf("%s", msg)
}

// extraTensorError is CheckpointFromFile's error for a file tensor the
// model lacks: the model's names closest first.
func extraTensorError(f *SafetensorsFile, m Model, name string) error {
	state := m.State()
	names := make([]string, len(state))
	shapes := map[string][]int{}
	for i, pi := range state {
		names[i] = pi.Name
		shapes[pi.Name] = pi.Shape
	}
	get := func(n string) ([]int, bool) { s, ok := shapes[n]; return s, ok }
	return fmt.Errorf("checkpoint %q: tensor %q is not a parameter of model %s (closest of its %d: %s)", f.Source, name, m.Arch(), len(names), closestNames(name, names, get, 3))
}

// shapeMismatchError is CheckpointFromFile's error for a tensor of the
// wrong shape, with the size the file implies when it differs from the
// model's.
func shapeMismatchError(f *SafetensorsFile, m Model, pi ParamInfo, got []int) error {
	msg := fmt.Sprintf("checkpoint %q: tensor %q has shape %v, model %s expects %v", f.Source, pi.Name, got, m.Arch(), pi.Shape)
	names := make([]string, len(f.Entries))
	for i, e := range f.Entries {
		names[i] = e.Name
	}
	if im := impliedModel(m, ShapesOf(f), names, false); im != "" {
		msg += "; " + im
	}
	return fmt.Errorf("%s", msg)
}

// ownSize is DescribeSize of the model m is.
func ownSize(m Model) string {
	shapes := map[string][]int{}
	for _, pi := range m.State() {
		shapes[pi.Name] = pi.Shape
	}
	cfg, err := InferModelConfig(m.Arch(), func(n string) ([]int, bool) { s, ok := shapes[n]; return s, ok }, ModelConfig{})
	if err != nil {
		return ""
	}
	return DescribeSize(m.Arch(), cfg)
}

// modelInput is m's per-sample input shape when it says (nil otherwise).
func modelInput(m Model) []int {
	if im, ok := m.(interface{ InputShape() []int }); ok {
		return im.InputShape()
	}
	return nil
}

// article is the indefinite article of a model name as it is read aloud
// ("an mlp", "a conv8").
func article(arch string) string {
	if strings.HasPrefix(arch, "mlp") {
		return "an"
	}
	return "a"
}
