package main

import (
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"slices"
	"time"

	"github.com/ltransfer/ltransfer/nn"
)

// runBenchStep times one training step (forward and backward of a batch of
// random inputs) of a built-in model.
func runBenchStep(args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("bench step", stderr, "bench step --model conv8 [--width-factor 1] [--width 4096] [--batch 128] [--threads T] [--reps R] [--json]")
	arch := fs.String("model", "conv8", "architecture")
	width := fs.Int("width", 4096, "hidden width of MLPs")
	wf := fs.Float64("width-factor", 1, "channel multiplier of conv nets")
	batch := fs.Int("batch", 128, "batch size")
	threads := fs.Int("threads", 0, "worker threads (0: GOMAXPROCS)")
	reps := fs.Int("reps", 5, "timed steps after one warm-up step")
	asJSON := fs.Bool("json", false, `print one JSON line {"ms_per_step":…, "images_per_s":…, "threads":…}`)
	if done, err := parseFlags(fs, args); done {
		return err
	}
	if *batch < 1 || *batch > 4096 || *reps < 1 || *reps > 1000 || *width < 1 || *width > 1<<16 || !(*wf > 0 && *wf <= 8) {
		return fmt.Errorf("bench step: --batch 1…4096, --reps 1…1000, --width 1…65536 and --width-factor in (0, 8], got %d, %d, %d, %g", *batch, *reps, *width, *wf)
	}
	e, err := engineFor(*threads)
	if err != nil {
		return err
	}
	in, classes := []int{3, 32, 32}, 10
	if *arch == "mlp" || *arch == "mlp-relu" {
		in = []int{1, 28, 28}
	}
	m, err := nn.NewModel(*arch, nn.ModelConfig{Width: *width, WidthFactor: *wf, InputShape: in, NumClasses: classes})
	if err != nil {
		return err
	}
	p := m.Init(1)
	g := p.ZerosLike()
	r := rand.New(rand.NewPCG(1, 2))
	x := nn.NewTensor(append([]int{*batch}, in...)...)
	for i := range x.Data {
		x.Data[i] = float32(r.NormFloat64())
	}
	y := make([]int32, *batch)
	for i := range y {
		y[i] = int32(r.IntN(classes))
	}
	step := func() (time.Duration, error) {
		t0 := time.Now()
		_, err := m.Forward(e, p, nn.Batch{X: x, Y: y}, g, true)
		return time.Since(t0), err
	}
	if _, err := step(); err != nil {
		return err
	}
	times := make([]float64, *reps)
	for i := range times {
		d, err := step()
		if err != nil {
			return err
		}
		times[i] = d.Seconds()
	}
	slices.Sort(times)
	med := times[len(times)/2]
	res := map[string]any{"model": *arch, "width_factor": *wf, "batch": *batch, "threads": e.Threads(), "path": e.Path().String(),
		"ms_per_step": 1000 * med, "images_per_s": float64(*batch) / med}
	if *asJSON {
		return json.NewEncoder(stdout).Encode(res)
	}
	fmt.Fprintf(stdout, "%s ×%g batch %d, %d threads (%s): %.1f ms per training step, %.0f images/s\n", *arch, *wf, *batch, e.Threads(), e.Path(), 1000*med, float64(*batch)/med)
	return nil
}
