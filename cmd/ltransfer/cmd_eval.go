package main

import (
	"encoding/json"
	"fmt"
	"io"

	"github.com/ltransfer/ltransfer/nn"
)

func init() {
	register("eval", "evaluate a checkpoint on a dataset split (accuracy, loss)", runEval)
}

func runEval(args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("eval", stderr, "eval --model mlp --params FILE --dataset mnist [--split val|test|train] [--json]")
	mf := addModelFlags(fs)
	df := addDataFlags(fs)
	params := fs.String("params", "", "checkpoint (safetensors) to evaluate (required)")
	split := fs.String("split", "test", "split: test, val or train (train without augmentation)")
	threads := fs.Int("threads", 0, "worker threads (0: GOMAXPROCS)")
	batch := fs.Int("batch", nn.EvalBatch, "evaluation batch size (memory of large conv nets grows with it)")
	asJSON := fs.Bool("json", false, "print one JSON line")
	if done, err := parseFlags(fs, args); done {
		return err
	}
	if *params == "" {
		return fmt.Errorf("--params FILE is required")
	}
	e, err := engineFor(*threads)
	if err != nil {
		return err
	}
	f, err := nn.ReadSafetensorsFile(*params)
	if err != nil {
		return err
	}
	data, err := df.load()
	if err != nil {
		return err
	}
	set, err := data.Split(*split)
	if err != nil {
		return err
	}
	if *split == "train" {
		set = set.WithAugmentation(nn.Augmentation{})
	}
	model, err := nn.NewModel(mf.arch, mf.config(data.SampleShape, len(data.Classes), f))
	if err != nil {
		return err
	}
	p, err := nn.CheckpointFromFile(f, model)
	if err != nil {
		return err
	}
	ctx, stop := signalContext()
	defer stop()
	bar := newProgress(stderr, "eval "+*split, int64(set.Len())).Units("sample", 0)
	r, err := nn.EvaluateBatch(ctx, e, model, p, set, *batch, func(done, total int) { bar.Set(int64(done), "") })
	bar.Finish()
	if err != nil {
		return err
	}
	if *asJSON {
		return json.NewEncoder(stdout).Encode(map[string]any{
			"model": model.Arch(), "params": *params, "dataset": data.Name, "split": *split,
			"accuracy": r.Accuracy, "loss": r.Loss, "n": r.N,
		})
	}
	fmt.Fprintf(stdout, "%s %s on %s %s (%d samples): accuracy %.2f%%, loss %.4f\n", model.Arch(), *params, data.Name, *split, r.N, 100*r.Accuracy, r.Loss)
	return nil
}
