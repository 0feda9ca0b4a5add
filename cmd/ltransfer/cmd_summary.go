package main

import (
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/ltransfer/ltransfer/nn"
)

func init() {
	register("summary", "gather the targets of a many-target transfer (one folder, or the folders of its shards) into summary.json", runSummary)
}

func readPlan(dir string) (*targetPlan, error) {
	b, err := nn.ReadFileLimit(filepath.Join(dir, "targets.json"), nn.MaxJSONBytes)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil, fmt.Errorf("%s is not a many-target transfer (no targets.json)", dir)
		}
		return nil, err
	}
	if len(b) > 64<<20 {
		return nil, fmt.Errorf("%s/targets.json is %d bytes, more than a plan can be", dir, len(b))
	}
	var p targetPlan
	if err := json.Unmarshal(b, &p); err != nil {
		return nil, fmt.Errorf("%s/targets.json: %v", dir, err)
	}
	if p.Format != planFormat {
		return nil, fmt.Errorf("%s/targets.json has format %q, want %q", dir, p.Format, planFormat)
	}
	p.upgradeSettings()
	if len(p.Targets) == 0 {
		return nil, fmt.Errorf("%s/targets.json lists no targets", dir)
	}
	return &p, nil
}

func runSummary(args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("summary", stderr, "summary [--out DIR] DIR [DIR…]")
	out := fs.String("out", "", "folder for summary.json and summary.md (default: the first DIR)")
	threads := fs.Int("threads", 0, "worker threads (0: GOMAXPROCS)")
	asJSON := fs.Bool("json", false, "print summary.json to stdout instead of a table")
	// Folders and flags may come in any order.
	var dirs []string
	for rest := args; ; {
		if err := fs.Parse(rest); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				return nil
			}
			return err
		}
		if fs.NArg() == 0 {
			break
		}
		dirs = append(dirs, fs.Arg(0))
		rest = fs.Args()[1:]
	}
	if len(dirs) == 0 {
		return errors.New("name the folder(s) of a many-target transfer (ltransfer transfer --targets … --out DIR)")
	}
	if err := checkNumericFlags(fs); err != nil {
		return err
	}
	if _, err := os.Stat(filepath.Join(*out, "targets.json")); *out != "" && err != nil {
		if err := checkOwnDir("--out", *out, summaryOwns); err != nil {
			return err
		}
	}
	plan, err := readPlan(dirs[0])
	if err != nil {
		return err
	}
	for _, d := range dirs[1:] {
		p, err := readPlan(d)
		if err != nil {
			return err
		}
		if why := planDiff(plan, p); why != "" {
			return fmt.Errorf("%s and %s hold transfers of different sources or settings (%s)", dirs[0], d, why)
		}
	}
	e, err := engineFor(*threads)
	if err != nil {
		return err
	}
	tr, err := nn.OpenTrajectory(plan.Source, nil)
	if err != nil {
		return fmt.Errorf("the plan's source: %w", err)
	}
	j := &transferJob{model: tr.Model(), mcfg: tr.Manifest.ModelConfig, e: e, stderr: stderr}
	d := plan.Data
	if j.data, err = loadData(nn.DataConfig{Name: d.Dataset, Path: d.Path, NoAugment: !d.GradAugment, Limit: d.Limit, ClassSubset: d.ClassSubset,
		ValFraction: tr.Manifest.ValFraction, SplitSeed: tr.Manifest.SplitSeed}); err != nil {
		return err
	}
	ctx, stop := signalContext()
	defer stop()
	sum, err := summarize(ctx, j, plan, dirs, nil, false) // every folder hashed again
	if err != nil {
		return err
	}
	if *out == "" {
		*out = dirs[0]
	}
	if err := os.MkdirAll(*out, 0o755); err != nil {
		return err
	}
	if err := writeSummary(*out, sum); err != nil {
		return err
	}
	if *asJSON {
		return json.NewEncoder(stdout).Encode(sum)
	}
	printSummary(stdout, sum)
	fmt.Fprintf(stdout, "wrote %s/summary.json and summary.md\n", *out)
	return nil
}
