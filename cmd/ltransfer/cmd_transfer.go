package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/ltransfer/ltransfer/kernels"
	"github.com/ltransfer/ltransfer/nn"
	"github.com/ltransfer/ltransfer/transfer"
)

func init() {
	register("transfer", "transfer a source trajectory onto new initialisations (gmt, fgmt, naive, oracle, random)", runTransfer)
}

// transferJob is one transfer as the CLI runs it (transfer and demo).
type transferJob struct {
	model     nn.Model
	mcfg      nn.ModelConfig
	spec      *transfer.Spec
	source    transfer.Trajectory
	tgtInit   *nn.ParamSet
	tgtStart  *nn.ParamSet // oracle
	tgtFinal  *nn.ParamSet // oracle
	data      *nn.Data
	method    transfer.Method
	gmBatches int
	gmAugment bool
	batch     int
	seed      uint64
	normalize normalizeFlag
	noWarm    bool
	fresh     bool
	e         *kernels.Engine
	workers   int
	// workspaceMem is transfer.Options.WorkspaceMemory (bytes).
	workspaceMem int64
	// segments and branchAtBest are transfer.Options' Segments and BranchAtBest.
	segments     int
	branchAtBest bool
	// repair is transfer.Options.Repair.
	repair bool
	// selectPerms and selectBatches are transfer.Options.SelectPerms and
	// SelectBatches.
	selectPerms   bool
	selectBatches int
	// out, when set, receives the transferred trajectory, permutations,
	// manifest.json and report.json. They are written into a hidden
	// sibling folder that is renamed to out when the transfer is complete,
	// so out holds either nothing of this transfer or all of it.
	out   string
	force bool
	// settings are a many-target plan's recorded settings.
	settings map[string]string
	dataset  string
	dataPath string
	stderr   io.Writer
	label    string

	// classSubset is recorded in the transferred trajectory's manifest.
	classSubset []int
}

// options returns the library options of the job, for any target.
func (j *transferJob) options() transfer.Options {
	o := transfer.Options{
		Method: j.method, Spec: j.spec, Source: j.source,
		NewModel: func() (nn.Model, error) { return nn.NewModel(j.model.Arch(), j.mcfg) },
		Train:    j.data.Train, Val: j.data.Val, GradBatches: j.gmBatches, GradAugment: j.gmAugment, BatchSize: j.batch,
		Seed: j.seed, Match: transfer.MatchOptions{Normalize: j.normalize == "pair", NormalizeTensors: j.normalize == "tensor", NoWarmStart: j.noWarm},
		FreshStart: j.fresh, Segments: j.segments, BranchAtBest: j.branchAtBest, Repair: j.repair, SelectPerms: j.selectPerms, SelectBatches: j.selectBatches, Engine: j.e, Workers: j.workers, WorkspaceMemory: j.workspaceMem, KeepBest: true,
	}
	o.Val = j.valSet()
	return o
}

// valSet is the data a transfer's points are scored on: the validation
// split, or the test split when there is none.
func (j *transferJob) valSet() *nn.ImageSet {
	if j.data.Val == nil || j.data.Val.Len() == 0 {
		return j.data.Test
	}
	return j.data.Val
}

func (j *transferJob) run(ctx context.Context) (*transfer.Report, error) {
	T := j.source.Len() - 1
	label := j.label
	if label == "" {
		label = string(j.method)
	}
	bar := newProgress(j.stderr, "transfer "+label, int64(T)).Units("step", 0)
	o := j.options()
	o.TargetInit, o.TargetStart, o.TargetFinal = j.tgtInit, j.tgtStart, j.tgtFinal
	o.Progress = (&transferBar{bar: bar}).report
	var w *stepWriter
	if j.out != "" {
		var err error
		if w, err = j.newStepWriter(j.out, j.force); err != nil {
			return nil, err
		}
		o.OnStep = w.add
	}
	rep, err := transfer.Run(ctx, o)
	if err == nil && w != nil {
		err = w.finish(rep)
	}
	if err != nil {
		if w != nil {
			w.abort()
		}
		bar.Finish()
		return nil, err
	}
	bar.Set(int64(T), fmt.Sprintf("best val acc %.2f%% at step %d", 100*rep.BestValAcc, rep.BestStep))
	bar.Finish()
	return rep, nil
}

// transferBar shows one transfer's progress: the bar counts completed
// steps (so its rate is steps/s) and the note says what runs now.
type transferBar struct {
	bar   *progress
	steps int64
	note  string
}

func (b *transferBar) report(p transfer.Progress) {
	if p.Phase == "step" {
		if p.Done >= p.Total {
			return // the end: run sets it with the best step
		}
		b.steps = int64(p.Done)
	} else {
		b.note = phaseNote(p)
	}
	b.bar.Set(b.steps, b.note)
}

// phaseNote labels a progress report: "step 5/10: gradients 3/5".
func phaseNote(p transfer.Progress) string {
	note := fmt.Sprintf("step %d/%d: %s", p.Step, p.Steps, p.Phase)
	if p.Total > 1 {
		note += fmt.Sprintf(" %d/%d", p.Done, p.Total)
	}
	return note
}

func writeJSONAtomic(path string, v any) error {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return err
	}
	b = append(b, '\n')
	return nn.WriteFileAtomic(path, func(w io.Writer) error { _, err := w.Write(b); return err })
}

// readReport reads a report.json written by a finished transfer.
func readReport(path string) (*transfer.Report, error) {
	b, err := nn.ReadFileLimit(path, nn.MaxJSONBytes)
	if err != nil {
		return nil, err
	}
	var r transfer.Report
	if err := json.Unmarshal(b, &r); err != nil {
		return nil, fmt.Errorf("%s: %v", path, err)
	}
	return &r, nil
}

// loadParams reads a checkpoint file, or checkpoint `which` (0: first, -1:
// last) of a trajectory folder.
func loadParams(path string, m nn.Model, which int) (*nn.ParamSet, error) {
	st, err := os.Stat(path)
	if err != nil {
		return nil, err
	}
	if !st.IsDir() {
		return nn.LoadCheckpoint(path, m)
	}
	tr, err := nn.OpenTrajectory(path, m)
	if err != nil {
		return nil, err
	}
	if which < 0 {
		// The last point of an interrupted run is not its trained model.
		if err := checkComplete("", tr, false, nil); err != nil {
			return nil, err
		}
		which = tr.Len() - 1
	}
	return tr.At(which)
}

// spacingMoved is the error for --schedule in the commands where the
// trajectory's spacing is --spacing: --schedule is a learning-rate schedule
// in train and synced.
var spacingMoved = map[string]string{"schedule": "--spacing cosine|uniform for the spacing of the linear trajectory's points (--schedule is the learning-rate schedule of train and synced)"}

// transferMoved adds, for transfer, the spellings synced and demo use
// for its flags.
var transferMoved = map[string]string{
	"schedule":    spacingMoved["schedule"],
	"seed-target": "--target-seed S (with --targets N, the first target's seed)",
	"mode":        "--method gmt|fgmt|naive|oracle|random",
}

// parseSpacing parses --spacing.
func parseSpacing(v string) (transfer.Schedule, error) {
	s, err := transfer.ParseSchedule(v)
	if err != nil {
		return "", fmt.Errorf("--spacing %q: want cosine or uniform", v)
	}
	return s, nil
}

// sourceTrajectory is the linear path from a recorded trajectory's first
// to its last checkpoint with T steps, or the recorded checkpoints.
func sourceTrajectory(tr *nn.RecordedTrajectory, kind string, T int, spacing string) (transfer.Trajectory, error) {
	switch kind {
	case "linear":
		s, err := parseSpacing(spacing)
		if err != nil {
			return nil, err
		}
		a, err := tr.At(0)
		if err != nil {
			return nil, err
		}
		b, err := tr.At(tr.Len() - 1)
		if err != nil {
			return nil, err
		}
		return transfer.Linear(a, b, T, s)
	case "recorded":
		if tr.Len() < 2 {
			return nil, fmt.Errorf("trajectory %q has %d checkpoint(s), need ≥ 2", tr.Dir, tr.Len())
		}
		return tr, nil
	}
	return nil, fmt.Errorf("--trajectory %q: want linear or recorded", kind)
}

func runTransfer(args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("transfer", stderr, "transfer --source DIR --target-init FILE[,FILE…] | --targets N [--target-seed S] --method gmt|fgmt|naive|oracle|random [--target DIR] --steps 10 --spacing cosine --gm-batches 1 [--dataset NAME] [--shard I/N] --out DIR")
	source := fs.String("source", "", "source trajectory folder (written by ltransfer train; required)")
	targetInit := fs.String("target-init", "", "target initialisation: a checkpoint file, or a trajectory folder (its first checkpoint); several, comma-separated, or a folder of trajectory folders, transfer onto each (--out then holds one folder per target and a summary)")
	target := fs.String("target", "", "oracle: the trained target, a trajectory folder (first and last checkpoints) or a checkpoint file (its final point, started from --target-init); comma-separated, one per --target-init, with several targets")
	nTargets := fs.Int("targets", 0, "transfer onto N fresh initialisations of the source's model, drawn as `ltransfer train --seed` draws them, seeds --target-seed … --target-seed+N−1 (--out then holds one folder per target and a summary)")
	targetSeed := fs.Int64("target-seed", 1000, "with --targets: the first target's seed")
	var shard shardFlag
	fs.Var(&shard, "shard", "with several targets: run only shard I of N (0 ≤ I < N): the targets whose index is I mod N; default from SLURM_ARRAY_TASK_ID − SLURM_ARRAY_TASK_MIN of SLURM_ARRAY_TASK_COUNT, or JOB_COMPLETION_INDEX of --shard-count")
	shardCount := fs.Int("shard-count", 0, "the number of shards when the index comes from JOB_COMPLETION_INDEX (Kubernetes Indexed Jobs) or SLURM_ARRAY_TASK_ID taken as is (a rerun of some tasks of an array); default LTRANSFER_SHARD_COUNT")
	workers := fs.Int("workers", 0, "memory bound: at most this many model workspaces at once, and with several targets at most this many targets at a time (0: --threads)")
	workspaceMB := fs.Int("workspace-mb", 0, "memory bound: the model workspaces together stay within this many MiB (a second one is made only while it fits; 0: 1024, -1: no bound)")
	method := fs.String("method", "gmt", "transfer method: gmt, fgmt, naive, oracle, or random (one random permutation from --seed: the ablation baseline)")
	steps := fs.Int("steps", 10, "points T of the linear trajectory (the paper: 10 on MNIST, 30 on CIFAR-10)")
	spacing := fs.String("spacing", "cosine", "spacing of the linear trajectory's points: cosine or uniform")
	kind := fs.String("trajectory", "linear", "source trajectory: linear (first to last checkpoint, --steps points) or recorded (every checkpoint)")
	gm := fs.Int("gm-batches", 1, "mini-batches per gradient pair")
	gmAugment := fs.Bool("gm-augment", false, "gmt/fgmt: apply the dataset's training augmentation (CIFAR-10: pad-4 crop, flip) to the gradient batches, as the paper's code does")
	batch := fs.Int("batch", 128, "gradient mini-batch size")
	dataset := fs.String("dataset", "", "dataset for gradients and validation (default: the source manifest's)")
	dataPath := fs.String("data", "", "where the dataset's files are (default: the source manifest's, then the dataset's default places)")
	limit := fs.Int("limit", -1, "use at most N training and test samples (quick runs; every class kept); -1: the source manifest's limit, 0: every sample")
	classSubset := fs.String("class-subset", "", "keep only these classes, relabelled 0…k−1 in the order listed, e.g. 5-9 (default: the source manifest's; \"all\" for every class)")
	specFile := fs.String("spec", "", "JSON permutation spec (default: the built-in spec of the model)")
	seed := fs.Int64("seed", 1, "seed of the gradient batches and the matching order")
	var normalize normalizeFlag
	fs.Var(&normalize, "normalize", "normalise the matching objective: --normalize (or =pair) counts each gradient pair as one cosine similarity; =tensor counts each tensor of each pair as one, as the paper's code's normalized_matching")
	segments := fs.Int("segments", 1, "gmt/fgmt: split the trajectory into K segments of equal length, each with its own permutation tied to the previous one (the paper code's num_perms); --steps must be a multiple of K")
	branchAtBest := fs.Bool("branch-at-best", false, "with --segments: start each segment from the best point so far instead of the last (the paper code's branch_at_best)")
	brokenInv := fs.Bool("broken-invariance", false, "ablation: permute each layer's units but not the inputs of the layers that read them, so permuted networks compute other functions (the paper code's broken_invariance)")
	selectPerms := fs.Bool("select-perms", false, "gmt/fgmt: give every point the permutation, of those found up to its step, whose transfer of the whole source update has the lowest training loss on --select-batches fixed batches (see docs/results.md); the method's own search is unchanged")
	selectBatches := fs.Int("select-batches", 20, "with --select-perms: training batches of --batch that score each permutation")
	repair := fs.Bool("repair", false, "renormalise every transferred point: each hidden unit's pre-activation gets the mean and deviation of the same unit of the permuted source point on 4 training batches of --batch (REPAIR); the permutations are the method's own. MLPs and Conv4/6/8 (ResNets recompute their BN statistics instead)")
	fresh := fs.Bool("fresh-start", false, "gmt/fgmt: start every step's permutation search from the identity, as the paper's code does, instead of from the previous step's permutations")
	noWarm := fs.Bool("no-warm-start", false, "solve every assignment problem from scratch (for measurements)")
	threads := fs.Int("threads", 0, "worker threads (0: GOMAXPROCS)")
	out := fs.String("out", "", "output folder (required; must not hold a finished transfer unless --force)")
	force := fs.Bool("force", false, "overwrite a finished transfer in --out")
	asJSON := fs.Bool("json", false, "print report.json to stdout instead of a table")
	allowIncomplete := fs.Bool("allow-incomplete", false, "accept an interrupted training run as --source (its partial trajectory), with a warning")
	if err := movedFlags(args, transferMoved); err != nil {
		return err
	}
	if done, err := parseFlags(fs, args); done {
		return err
	}
	switch {
	case *source == "":
		return errors.New("--source DIR is required (a trajectory folder written by ltransfer train)")
	case *targetInit == "" && *nTargets == 0:
		return errors.New("--target-init FILE (or --targets N) is required")
	case *targetInit != "" && *nTargets != 0:
		return errors.New("--target-init and --targets exclude each other")
	case *nTargets < 0 || *workers < 0 || *shardCount < 0:
		return fmt.Errorf("--targets %d, --workers %d and --shard-count %d must be ≥ 0", *nTargets, *workers, *shardCount)
	case *out == "":
		return errors.New("--out DIR is required")
	case *steps < 1:
		return fmt.Errorf("--steps %d, want ≥ 1", *steps)
	case *gm < 1 || *batch < 1:
		return fmt.Errorf("--gm-batches %d and --batch %d must be ≥ 1", *gm, *batch)
	}
	m, err := transfer.ParseMethod(*method)
	if err != nil {
		return err
	}
	if m == transfer.Oracle && *target == "" {
		return errors.New("--method oracle needs --target (the trained target)")
	}
	switch {
	case *selectPerms && m != transfer.GMT && m != transfer.FGMT:
		return fmt.Errorf("--select-perms is for --method gmt and fgmt, not %s", m)
	case *selectPerms && *segments > 1:
		return errors.New("--select-perms and --segments do not combine")
	}
	many := *nTargets > 0 || strings.Contains(*targetInit, ",") || isTrajectoryCollection(*targetInit)
	if !many {
		if shard.set {
			return errors.New("--shard needs several targets (--targets N or a comma-separated --target-init)")
		}
		if err := checkOutDir(*out, *force); err != nil {
			return err
		}
		if err := checkNotInput("--out", *out, *source, *targetInit, *target); err != nil {
			return err
		}
	}
	e, err := engineFor(*threads)
	if err != nil {
		return err
	}
	tr, err := nn.OpenTrajectory(*source, nil)
	if err != nil {
		return err
	}
	if err := checkComplete("--source", tr, *allowIncomplete, stderr); err != nil {
		return err
	}
	model := tr.Model()
	if *repair {
		if err := nn.CanRepair(model); err != nil {
			return fmt.Errorf("--repair: %w", err)
		}
	}
	man := tr.Manifest
	j := &transferJob{model: model, mcfg: man.ModelConfig, method: m, gmBatches: *gm, gmAugment: *gmAugment, batch: *batch, seed: uint64(*seed),
		normalize: normalize, noWarm: *noWarm, fresh: *fresh, e: e, workers: *workers, workspaceMem: int64(*workspaceMB) << 20, out: *out, force: *force, stderr: stderr,
		segments: *segments, branchAtBest: *branchAtBest, repair: *repair,
		selectPerms: *selectPerms, selectBatches: *selectBatches}
	j.dataset, j.dataPath = man.Dataset, man.DataPath
	if *dataset != "" {
		j.dataset, j.dataPath = *dataset, ""
	}
	if *dataPath != "" {
		j.dataPath = *dataPath
	}
	cs := man.ClassSubset
	switch strings.TrimSpace(*classSubset) {
	case "":
	case "all":
		cs = nil
	default:
		if cs, err = nn.ParseClassSubset(*classSubset); err != nil {
			return fmt.Errorf("--class-subset: %w", err)
		}
	}
	j.classSubset = cs
	if *limit < -1 {
		return fmt.Errorf("--limit %d, want ≥ 0 (or -1: the source manifest's)", *limit)
	}
	if *limit == -1 {
		*limit = man.Limit
	}
	// The data loads while the checkpoints are read.
	type loaded struct {
		data *nn.Data
		err  error
	}
	dataDone := make(chan loaded, 1)
	go func() {
		d, err := loadData(nn.DataConfig{Name: j.dataset, Path: j.dataPath, NoAugment: !*gmAugment, Limit: *limit, ClassSubset: cs,
			ValFraction: man.ValFraction, SplitSeed: man.SplitSeed})
		dataDone <- loaded{d, err}
	}()
	if j.source, err = sourceTrajectory(tr, *kind, *steps, *spacing); err != nil {
		return err
	}
	if *specFile != "" {
		if j.spec, err = transfer.LoadSpec(*specFile); err != nil {
			return err
		}
	}
	if *brokenInv {
		if j.spec == nil {
			if j.spec, err = transfer.BuiltinSpec(model.Arch(), model.State()); err != nil {
				return err
			}
		}
		if j.spec, err = j.spec.BrokenInvariance(); err != nil {
			return err
		}
	}
	var plan *targetPlan
	if many {
		if plan, err = newTargetPlan(tr, *targetInit, *target, *nTargets, *targetSeed, m); err != nil {
			return err
		}
	} else if j.tgtInit, err = loadParams(*targetInit, model, 0); err != nil {
		return fmt.Errorf("--target-init: %w", err)
	}
	if m == transfer.Oracle && !many {
		if j.tgtFinal, err = loadParams(*target, model, -1); err != nil {
			return fmt.Errorf("--target: %w", err)
		}
		if st, _ := os.Stat(*target); st != nil && st.IsDir() {
			if j.tgtStart, err = loadParams(*target, model, 0); err != nil {
				return fmt.Errorf("--target: %w", err)
			}
		}
	}
	if dl := <-dataDone; dl.err != nil {
		return dl.err
	} else {
		j.data = dl.data
	}
	if *gmAugment && j.data.TrainAugmentation == (nn.Augmentation{}) {
		return fmt.Errorf("--gm-augment: dataset %s has no training augmentation", j.dataset)
	}
	ctx, stop := signalContext()
	defer stop()
	if many {
		plan.Settings = transferSettings(fs, tr)
		plan.Data = planData{Dataset: j.dataset, Path: j.dataPath, Limit: *limit, ClassSubset: cs, GradAugment: *gmAugment}
		sh, err := shard.resolve(*shardCount)
		if err != nil {
			return err
		}
		return runManyTargets(ctx, j, plan, sh, stdout, *asJSON)
	}
	fmt.Fprintf(stderr, "transfer %s: %s %s → %s, %d steps, %d threads, kernels %s\n", m, model.Arch(), *source, *targetInit, j.source.Len()-1, e.Threads(), e.Path())
	fmt.Fprintf(stderr, "data: %s, %d train / %d val samples%s\n", j.dataset, j.data.Train.Len(), valLen(j.data), dataNote(*limit, cs))
	rep, err := j.run(ctx)
	if err != nil {
		if ctx.Err() != nil {
			return fmt.Errorf("interrupted; rerun the same command to start the transfer again")
		}
		return err
	}
	if *asJSON {
		return json.NewEncoder(stdout).Encode(rep)
	}
	printReport(stdout, rep)
	fmt.Fprintf(stdout, "wrote %s (trajectory, perms.json, best.safetensors, report.json)\n", *out)
	return nil
}

// dataNote describes the sample limit and class subset a transfer uses.
func dataNote(limit int, cs []int) string {
	var s string
	if limit > 0 {
		s += fmt.Sprintf(", limit %d", limit)
	}
	if cs != nil {
		s += ", classes " + nn.FormatClassSubset(cs)
	}
	return s
}

func printReport(w io.Writer, rep *transfer.Report) {
	fmt.Fprintf(w, "%-6s %-9s %s\n", "step", "val acc", "objective")
	for _, s := range rep.Steps {
		fmt.Fprintf(w, "%-6d %7.2f%%  %.6g\n", s.Step, 100*s.ValAcc, s.Objective)
	}
	t := rep.Timings
	name, eval := strings.ToUpper(string(rep.Method)), fmt.Sprintf("%.2f", t.Eval)
	if rep.Repair {
		name += " with repair"
		eval += fmt.Sprintf(", of which repair %.2f", t.Repair)
	}
	if rep.SelectPerms {
		name += " with selected permutations"
		eval += fmt.Sprintf(", selection %.2f", t.Select)
	}
	fmt.Fprintf(w, "%s: best val acc %.2f%% at step %d; %.2f s (gradients %.2f, cost matrices %.2f, LAP %.2f in %d calls, eval %s)\n",
		name, 100*rep.BestValAcc, rep.BestStep, t.Total, t.Gradients, t.CostMatrices, t.LAP, rep.LAPCalls, eval)
}

// normalizeFlag is --normalize: a boolean flag (bare --normalize means
// "pair") that also takes the value "tensor".
type normalizeFlag string

func (f *normalizeFlag) String() string   { return string(*f) }
func (f *normalizeFlag) IsBoolFlag() bool { return true }

func (f *normalizeFlag) Set(v string) error {
	switch v {
	case "true", "pair":
		*f = "pair"
	case "false", "":
		*f = ""
	case "tensor":
		*f = "tensor"
	default:
		return fmt.Errorf("want pair or tensor, got %q", v)
	}
	return nil
}
