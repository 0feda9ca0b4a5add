package main

import (
	"encoding/json"
	"fmt"
	"io"
	"math"

	"github.com/ltransfer/ltransfer/nn"
)

func init() {
	register("grad", "loss and gradients of a checkpoint on an explicit batch (safetensors x, y)", runGrad)
}

func runGrad(args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("grad", stderr, "grad --model mlp --params FILE --input FILE --out FILE [--json]")
	mf := addModelFlags(fs)
	params := fs.String("params", "", "checkpoint (safetensors) (required)")
	batchFile := fs.String("input", "", "the batch: a safetensors file with x (float, N×features or N×C×H×W) and y (integer labels, N) (required)")
	out := fs.String("out", "", "safetensors file to write: loss (scalar) and the gradient of every parameter, under the parameter names (required)")
	evalMode := fs.Bool("eval-mode", false, "run in evaluation mode (BN running statistics) instead of training mode")
	threads := fs.Int("threads", 0, "worker threads (0: GOMAXPROCS)")
	asJSON := fs.Bool("json", false, "print the loss as one JSON line")
	force := fs.Bool("force", false, "replace --out if it exists")
	if err := movedFlags(args, map[string]string{"batch": "--input FILE for the batch file (--batch is a mini-batch size in the other commands)"}); err != nil {
		return err
	}
	if done, err := parseFlags(fs, args); done {
		return err
	}
	for _, f := range []struct{ name, v string }{{"--params", *params}, {"--input", *batchFile}, {"--out", *out}} {
		if f.v == "" {
			return fmt.Errorf("%s FILE is required", f.name)
		}
	}
	if err := checkOutFile("--out", *out, *force, *params, *batchFile); err != nil {
		return err
	}
	e, err := engineFor(*threads)
	if err != nil {
		return err
	}
	bf, err := nn.ReadSafetensorsFile(*batchFile)
	if err != nil {
		return err
	}
	xe, ye := bf.Get("x"), bf.Get("y")
	if xe == nil || ye == nil {
		return fmt.Errorf("batch %q must hold tensors \"x\" (inputs) and \"y\" (labels)", *batchFile)
	}
	if len(xe.Shape) < 2 {
		return fmt.Errorf("batch %q: x has shape %v, want N×features or N×C×H×W", *batchFile, xe.Shape)
	}
	switch xe.DType {
	case "F32", "F16", "BF16", "F64":
	default:
		return fmt.Errorf("batch %q: x has dtype %s, want a float type", *batchFile, xe.DType)
	}
	n := xe.Shape[0]
	labels, err := ye.Int64s()
	if err != nil {
		return fmt.Errorf("batch %q: %w", *batchFile, err)
	}
	if len(labels) != n || len(ye.Shape) != 1 {
		return fmt.Errorf("batch %q: y has shape %v, want [%d] (one label per row of x)", *batchFile, ye.Shape, n)
	}
	pf, err := nn.ReadSafetensorsFile(*params)
	if err != nil {
		return err
	}
	in := append([]int(nil), xe.Shape[1:]...)
	model, err := nn.NewModel(mf.arch, mf.config(in, 0, pf))
	if err != nil {
		return err
	}
	p, err := nn.CheckpointFromFile(pf, model)
	if err != nil {
		return err
	}
	y := make([]int32, n)
	classes := 0
	if lm, ok := model.(interface{ NumClasses() int }); ok {
		classes = lm.NumClasses()
	}
	for i, l := range labels {
		if l < 0 || (classes > 0 && l >= int64(classes)) {
			return fmt.Errorf("batch %q: label y[%d] = %d outside [0, %d)", *batchFile, i, l, classes)
		}
		y[i] = int32(l)
	}
	grads := nn.NewParamSet()
	for _, pi := range model.State() {
		if !pi.Buffer {
			_ = grads.Add(pi.Name, nn.NewTensor(pi.Shape...))
		}
	}
	x := &nn.Tensor{Shape: append([]int(nil), xe.Shape...), Data: xe.Float32()}
	if i := firstNonFinite(x.Data); i >= 0 {
		return fmt.Errorf("batch %q: x has a non-finite value %v at index %d", *batchFile, x.Data[i], i)
	}
	r, err := model.Forward(e, p, nn.Batch{X: x, Y: y}, grads, !*evalMode)
	if err != nil {
		return err
	}
	if math.IsNaN(r.Loss) || math.IsInf(r.Loss, 0) {
		return fmt.Errorf("the loss is %v on this batch; nothing written", r.Loss)
	}
	for _, name := range grads.Names() {
		if i := firstNonFinite(grads.Get(name).Data); i >= 0 {
			return fmt.Errorf("the gradient of %q has a non-finite value %v at index %d; nothing written", name, grads.Get(name).Data[i], i)
		}
	}
	res := nn.NewParamSet()
	_ = res.Add("loss", &nn.Tensor{Shape: []int{}, Data: []float32{float32(r.Loss)}})
	for _, name := range grads.Names() {
		if err := res.Add(name, grads.Get(name)); err != nil {
			return fmt.Errorf("gradient name %q clashes with the loss entry", name)
		}
	}
	meta := map[string]string{"model": model.Arch(), "loss": fmt.Sprint(r.Loss), "correct": fmt.Sprint(r.Correct), "n": fmt.Sprint(r.N)}
	if err := nn.SaveSafetensors(*out, res, nn.SaveOptions{Metadata: meta}); err != nil {
		return err
	}
	if *asJSON {
		return json.NewEncoder(stdout).Encode(map[string]any{"loss": r.Loss, "correct": r.Correct, "n": r.N, "out": *out})
	}
	fmt.Fprintf(stdout, "loss %.9g, %d/%d correct; gradients of %d tensors written to %s\n", r.Loss, r.Correct, r.N, grads.Len(), *out)
	return nil
}

// firstNonFinite is the index of the first NaN or ±Inf in v, or -1.
func firstNonFinite(v []float32) int {
	for i, x := range v {
		if math.IsNaN(float64(x)) || math.IsInf(float64(x), 0) {
			return i
		}
	}
	return -1
}
