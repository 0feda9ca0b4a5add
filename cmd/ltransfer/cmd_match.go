package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"

	"github.com/ltransfer/ltransfer/kernels"
	"github.com/ltransfer/ltransfer/nn"
	"github.com/ltransfer/ltransfer/transfer"
)

func init() {
	register("match", "weight matching (git re-basin) of two trained models, with the loss barrier of their linear path", runMatch)
}

// barrierPoint is one point of a linear path between two models.
type barrierPoint struct {
	Lambda float64 `json:"lambda"`
	Loss   float64 `json:"loss"`
	Acc    float64 `json:"acc"`
}

type matchSummary struct {
	Objective        float64        `json:"objective"`
	LAPCalls         int            `json:"lap_calls"`
	Sweeps           int            `json:"sweeps"`
	Seconds          float64        `json:"seconds"`
	BarrierPermuted  float64        `json:"loss_barrier_permuted"`
	BarrierNaive     float64        `json:"loss_barrier_unpermuted"`
	PathPermuted     []barrierPoint `json:"path_permuted"`
	PathUnpermuted   []barrierPoint `json:"path_unpermuted"`
	Split            string         `json:"split"`
	PermutedCheckpnt string         `json:"out"`
}

// interpolate returns (1−λ)·a + λ·b.
func interpolate(a, b *nn.ParamSet, lam float32) *nn.ParamSet {
	out := a.ZerosLike()
	for _, name := range a.Names() {
		x, y, z := a.Get(name).Data, b.Get(name).Data, out.Get(name).Data
		for i := range z {
			z[i] = x[i] + lam*(y[i]-x[i])
		}
	}
	return out
}

// linearPath evaluates points+1 models along the path from a to b; BN
// statistics are recomputed on training batches at every point.
func linearPath(ctx context.Context, e *kernels.Engine, m nn.Model, a, b *nn.ParamSet, data nn.Dataset, train nn.Dataset, points int) ([]barrierPoint, float64, error) {
	hasBN := false
	for _, pi := range m.State() {
		if pi.Buffer {
			hasBN = true
		}
	}
	var path []barrierPoint
	for i := 0; i <= points; i++ {
		lam := float64(i) / float64(points)
		p := interpolate(a, b, float32(lam))
		if hasBN && train != nil {
			r := rand.New(rand.NewPCG(1, 2))
			k := 0
			if _, err := nn.RecomputeBNStats(ctx, e, m, p, func() (nn.Batch, bool) {
				if k >= 20 {
					return nn.Batch{}, false
				}
				k++
				idx := make([]int, 128)
				for j := range idx {
					idx[j] = r.IntN(train.Len())
				}
				return batchOf(train, idx), true
			}); err != nil {
				return nil, 0, err
			}
		}
		ev, err := nn.Evaluate(ctx, e, m, p, data, nil)
		if err != nil {
			return nil, 0, err
		}
		path = append(path, barrierPoint{Lambda: lam, Loss: ev.Loss, Acc: ev.Accuracy})
	}
	barrier := 0.0
	l0, l1 := path[0].Loss, path[len(path)-1].Loss
	for _, q := range path {
		barrier = max(barrier, q.Loss-((1-q.Lambda)*l0+q.Lambda*l1))
	}
	return path, barrier, nil
}

func batchOf(d nn.Dataset, idx []int) nn.Batch {
	shape := d.SampleShape()
	per := nn.Numel(shape)
	x := &nn.Tensor{Shape: append([]int{len(idx)}, shape...), Data: make([]float32, len(idx)*per)}
	y := make([]int32, len(idx))
	for i, j := range idx {
		y[i] = d.Sample(j, x.Data[i*per:(i+1)*per], nil)
	}
	return nn.Batch{X: x, Y: y}
}

func runMatch(args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("match", stderr, "match --model mlp --a A.safetensors --b B.safetensors --out B_permuted.safetensors [--dataset mnist]")
	mf := addModelFlags(fs)
	df := addDataFlags(fs)
	aPath := fs.String("a", "", "model A: a checkpoint, or a trajectory folder (its last checkpoint) (required)")
	bPath := fs.String("b", "", "model B, permuted to match A (required)")
	out := fs.String("out", "", "where to write permuted B (safetensors; required)")
	permsOut := fs.String("perms", "", "also write the permutations as JSON here")
	specFile := fs.String("spec", "", "JSON permutation spec (default: the model's built-in spec)")
	seed := fs.Int64("seed", 1, "seed of the order in which groups are visited")
	points := fs.Int("points", 10, "intervals on the linear path for the loss barrier (0: skip the barrier)")
	split := fs.String("split", "val", "data split for the loss barrier: val, test or train")
	threads := fs.Int("threads", 0, "worker threads (0: GOMAXPROCS)")
	asJSON := fs.Bool("json", false, "print the summary as JSON")
	force := fs.Bool("force", false, "replace --out and --perms if they exist")
	if done, err := parseFlags(fs, args); done {
		return err
	}
	if *aPath == "" || *bPath == "" || *out == "" {
		return errors.New("--a, --b and --out are required")
	}
	if *points < 0 {
		return fmt.Errorf("--points %d, want ≥ 0", *points)
	}
	if err := checkOutFile("--out", *out, *force, *aPath, *bPath); err != nil {
		return err
	}
	if *permsOut != "" {
		if err := checkOutFile("--perms", *permsOut, *force, *aPath, *bPath, *specFile); err != nil {
			return err
		}
		if *permsOut == *out {
			return errors.New("--perms and --out name the same file")
		}
	}
	e, err := engineFor(*threads)
	if err != nil {
		return err
	}
	var data *nn.Data
	if *points > 0 {
		if data, err = df.load(); err != nil {
			return err
		}
	}
	// The model: from a trajectory's manifest, or the flags (MLP width and
	// depth inferred from A's tensors).
	var model nn.Model
	if st, err := os.Stat(*aPath); err == nil && st.IsDir() {
		tr, err := nn.OpenTrajectory(*aPath, nil)
		if err != nil {
			return err
		}
		model = tr.Model()
	} else {
		sf, err := nn.ReadSafetensorsFile(*aPath)
		if err != nil {
			return fmt.Errorf("--a: %w", err)
		}
		var in []int
		classes := 0
		if data != nil {
			in, classes = data.SampleShape, len(data.Classes)
		}
		if model, err = nn.NewModel(mf.arch, mf.config(in, classes, sf)); err != nil {
			return err
		}
	}
	a, err := loadParams(*aPath, model, -1)
	if err != nil {
		return fmt.Errorf("--a: %w", err)
	}
	b, err := loadParams(*bPath, model, -1)
	if err != nil {
		return fmt.Errorf("--b: %w", err)
	}
	var spec *transfer.Spec
	if *specFile != "" {
		spec, err = transfer.LoadSpec(*specFile)
	} else {
		spec, err = transfer.BuiltinSpec(model.Arch(), model.State())
	}
	if err != nil {
		return err
	}
	ctx, stop := signalContext()
	defer stop()
	mt, err := transfer.NewMatcher(spec, a, e)
	if err != nil {
		return err
	}
	if err := mt.AddPair(1, a, b); err != nil {
		return err
	}
	bar := newProgress(stderr, "weight matching", 1)
	perms, obj, err := mt.Solve(ctx, nil, transfer.MatchOptions{Seed: uint64(*seed)})
	bar.Set(1, "")
	bar.Finish()
	if err != nil {
		return err
	}
	bp, err := transfer.Apply(spec, b, perms)
	if err != nil {
		return err
	}
	if err := nn.SaveCheckpoint(*out, model, bp, map[string]string{"matched_to": filepath.Base(*aPath)}); err != nil {
		return err
	}
	if *permsOut != "" {
		if err := transfer.SavePerms(*permsOut, perms); err != nil {
			return err
		}
	}
	sum := matchSummary{Objective: obj, LAPCalls: mt.Stats.LAPCalls, Sweeps: mt.Stats.Sweeps, Seconds: mt.Stats.CostSeconds + mt.Stats.LAPSeconds, PermutedCheckpnt: *out, Split: *split}
	if *points > 0 {
		ds, err := data.Split(*split)
		if err != nil {
			return err
		}
		bar := newProgress(stderr, "loss barriers", 2)
		if sum.PathPermuted, sum.BarrierPermuted, err = linearPath(ctx, e, model, a, bp, ds, data.Train, *points); err != nil {
			return err
		}
		bar.Set(1, "")
		if sum.PathUnpermuted, sum.BarrierNaive, err = linearPath(ctx, e, model, a, b, ds, data.Train, *points); err != nil {
			return err
		}
		bar.Set(2, "")
		bar.Finish()
	}
	if *asJSON {
		return json.NewEncoder(stdout).Encode(sum)
	}
	fmt.Fprintf(stdout, "matched %s to %s: objective %.6g, %d LAP calls in %d sweeps, %.2f s; wrote %s\n", *bPath, *aPath, obj, sum.LAPCalls, sum.Sweeps, sum.Seconds, *out)
	if *points > 0 {
		fmt.Fprintf(stdout, "loss barrier on %s: A–π(B) %.4f, A–B unpermuted %.4f\n", *split, sum.BarrierPermuted, sum.BarrierNaive)
		fmt.Fprintf(stdout, "%-7s %-22s %s\n", "lambda", "A–π(B) loss / acc", "A–B loss / acc")
		for i := range sum.PathPermuted {
			p, q := sum.PathPermuted[i], sum.PathUnpermuted[i]
			fmt.Fprintf(stdout, "%-7.2f %.4f / %6.2f%%      %.4f / %6.2f%%\n", p.Lambda, p.Loss, 100*p.Acc, q.Loss, 100*q.Acc)
		}
	}
	return nil
}
