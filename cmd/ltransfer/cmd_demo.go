package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/ltransfer/ltransfer/kernels"
	"github.com/ltransfer/ltransfer/nn"
	"github.com/ltransfer/ltransfer/transfer"
)

func init() {
	register("demo", "end to end: train source and target, transfer with every method, fine-tune, table + PNG plots", runDemo)
}

// demoCurve is validation accuracy against training steps.
type demoCurve struct {
	Name   string
	Steps  []int
	Epochs []float64
	Acc    []float64
}

func curveOf(name string, recs []nn.CheckpointRecord, maxStep int) demoCurve {
	c := demoCurve{Name: name}
	for _, r := range recs {
		if r.ValAcc == nil || (maxStep > 0 && r.Step > maxStep) {
			continue
		}
		c.Steps = append(c.Steps, r.Step)
		c.Epochs = append(c.Epochs, r.Epoch)
		c.Acc = append(c.Acc, *r.ValAcc)
	}
	return c
}

// at returns the accuracy recorded at step s, or −1.
func (c demoCurve) at(s int) float64 {
	for i, st := range c.Steps {
		if st == s {
			return c.Acc[i]
		}
	}
	return -1
}

type demoEnv struct {
	ctx    context.Context
	e      *kernels.Engine
	data   *nn.Data
	model  nn.Model
	mcfg   nn.ModelConfig
	stderr io.Writer
	extra  []int
	batch  int
	oc     nn.OptimConfig
	dname  string
	dpath  string
	df     *dataFlags
}

// trainCached trains (or resumes, or reuses) a run recorded in dir.
func (d *demoEnv) trainCached(dir, what string, seed int64, epochs int, init *nn.ParamSet) (*nn.Manifest, error) {
	if man, err := nn.ReadManifest(dir); err == nil && man.Complete {
		fmt.Fprintf(d.stderr, "%s: reusing %s\n", what, dir)
		return man, nil
	}
	var extra []int
	for _, s := range d.extra {
		if s < epochs*(d.data.Train.Len()/d.batch) {
			extra = append(extra, s)
		}
	}
	var bar *progress
	epochBar := -1
	cfg := nn.TrainConfig{ModelConfig: d.mcfg, Dataset: d.dname, DataPath: d.dpath, Limit: d.df.limit, ValFraction: d.df.valFraction(), SplitSeed: d.df.splitSeed, Epochs: epochs, BatchSize: d.batch, Seed: seed,
		Optim: d.oc, Schedule: nn.ScheduleConfig{Name: "constant"}, Init: init, ExtraCheckpoints: extra, Out: dir, Resume: true,
		Progress: func(tp nn.TrainProgress) {
			if tp.Phase != "train" {
				return
			}
			if tp.Epoch != epochBar {
				bar.Finish()
				epochBar = tp.Epoch
				bar = newProgress(d.stderr, fmt.Sprintf("%s epoch %d/%d", what, tp.Epoch+1, tp.Epochs), int64(tp.StepsPerEpoch)).Units("step", d.batch)
			}
			bar.Set(int64(tp.Step-tp.Epoch*tp.StepsPerEpoch), fmt.Sprintf("loss %.4f acc %.2f%%", tp.Loss, 100*tp.Acc))
		}}
	res, err := nn.Train(d.ctx, d.e, d.model, d.data, cfg)
	bar.Finish()
	if err != nil {
		return nil, fmt.Errorf("%s: %w", what, err)
	}
	return res.Manifest, nil
}

func runDemo(args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("demo", stderr, "demo [--width 4096 --epochs 10] [--cache DIR] [--out DIR]")
	arch := fs.String("model", "mlp", "architecture: "+strings.Join(nn.Archs(), ", "))
	width := fs.Int("width", 4096, "hidden width of MLPs (the paper: 4096; smaller is quicker)")
	widthFactor := fs.Float64("width-factor", 0, "channel multiplier of conv nets (0: 1)")
	df := addDataFlags(fs)
	epochs := fs.Int("epochs", 10, "training epochs of source and target (the paper: 10)")
	batch := fs.Int("batch", 128, "training mini-batch size")
	lr := fs.Float64("lr", 0.01, "SGD learning rate")
	momentum := fs.Float64("momentum", 0.9, "SGD momentum")
	seedS := fs.Int64("seed-source", 101, "seed of the source network")
	seedT := fs.Int64("seed-target", 102, "seed of the target network (its initialisation receives the transfer)")
	steps := fs.Int("steps", 10, "points T of the linear trajectory")
	sched := fs.String("schedule", "cosine", "trajectory spacing: cosine or uniform")
	gm := fs.Int("gm-batches", 1, "mini-batches per gradient pair")
	methods := fs.String("methods", "gmt,fgmt,naive,oracle", "transfer methods to run, comma-separated")
	ftFrom := fs.String("finetune-from", "gmt,fgmt", "methods whose best transferred point is fine-tuned, comma-separated (empty: none)")
	ftEpochs := fs.Int("finetune-epochs", 1, "fine-tuning epochs (scratch training of the target is compared over the same budget)")
	cache := fs.String("cache", "ltransfer-demo", "cache folder: trained networks, transfers and fine-tuning runs are reused from here (a rerun resumes)")
	out := fs.String("out", "", "folder for the table and PNG plots (default: the cache folder)")
	threads := fs.Int("threads", 0, "worker threads (0: GOMAXPROCS)")
	if done, err := parseFlags(fs, args); done {
		return err
	}
	if *epochs < 1 || *steps < 1 || *gm < 1 || *batch < 1 || *ftEpochs < 0 {
		return fmt.Errorf("--epochs, --steps, --gm-batches and --batch must be ≥ 1, --finetune-epochs ≥ 0")
	}
	var ms []transfer.Method
	for _, s := range strings.Split(*methods, ",") {
		m, err := transfer.ParseMethod(strings.TrimSpace(s))
		if err != nil {
			return fmt.Errorf("--methods: %w", err)
		}
		ms = append(ms, m)
	}
	var fts []transfer.Method
	if strings.TrimSpace(*ftFrom) != "" {
		for _, s := range strings.Split(*ftFrom, ",") {
			m, err := transfer.ParseMethod(strings.TrimSpace(s))
			if err != nil {
				return fmt.Errorf("--finetune-from: %w", err)
			}
			fts = append(fts, m)
		}
	}
	if _, err := transfer.ParseSchedule(*sched); err != nil {
		return err
	}
	if *out == "" {
		*out = *cache
	}
	if err := checkOwnDir("--cache", *cache, demoOwns); err != nil {
		return err
	}
	if err := checkOwnDir("--out", *out, demoOwns); err != nil {
		return err
	}
	for _, d := range []string{*cache, *out} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return err
		}
	}
	e, err := engineFor(*threads)
	if err != nil {
		return err
	}
	start := time.Now()
	data, err := df.load()
	if err != nil {
		return err
	}
	if data.Val == nil || data.Val.Len() == 0 {
		return errors.New("the demo needs a validation split (--val-fraction > 0)")
	}
	mcfg := nn.ModelConfig{Width: *width, WidthFactor: *widthFactor, InputShape: data.SampleShape, NumClasses: len(data.Classes)}
	if !strings.HasPrefix(*arch, "mlp") {
		mcfg.Width = 0
	}
	model, err := nn.NewModel(*arch, mcfg)
	if err != nil {
		return err
	}
	ctx, stop := signalContext()
	defer stop()
	env := &demoEnv{ctx: ctx, e: e, data: data, model: model, mcfg: mcfg, stderr: stderr, extra: []int{10, 50, 100, 200}, batch: *batch,
		oc: nn.OptimConfig{Name: "sgd", LR: *lr, Momentum: *momentum}, dname: data.Name, dpath: df.path, df: df}
	fmt.Fprintf(stderr, "demo: %s on %s (%s), %d train / %d val, %d threads, kernels %s, cache %s\n",
		model.Arch(), data.Name, data.Source, data.Train.Len(), data.Val.Len(), e.Threads(), e.Path(), *cache)
	interrupted := func(err error) error {
		if ctx.Err() != nil {
			return fmt.Errorf("interrupted; rerun the same command to resume from %s", *cache)
		}
		return err
	}

	key := fmt.Sprintf("%s-w%g-%s-n%d-e%d-b%d-lr%g-m%g", model.Arch(), float64(mcfg.Width)+mcfg.WidthFactor, data.Name, data.Train.Len(), *epochs, *batch, *lr, *momentum)
	if data.ClassSubset != nil {
		// Runs on other classes must not share a cache entry.
		key += "-c" + strings.NewReplacer(",", "_").Replace(nn.FormatClassSubset(data.ClassSubset))
	}
	srcDir := filepath.Join(*cache, fmt.Sprintf("train-%s-s%d", key, *seedS))
	tgtDir := filepath.Join(*cache, fmt.Sprintf("train-%s-s%d", key, *seedT))
	srcMan, err := env.trainCached(srcDir, "source", *seedS, *epochs, nil)
	if err != nil {
		return interrupted(err)
	}
	tgtMan, err := env.trainCached(tgtDir, "target", *seedT, *epochs, nil)
	if err != nil {
		return interrupted(err)
	}
	srcTr, err := nn.OpenTrajectory(srcDir, model)
	if err != nil {
		return err
	}
	tgtTr, err := nn.OpenTrajectory(tgtDir, model)
	if err != nil {
		return err
	}
	source, err := sourceTrajectory(srcTr, "linear", *steps, *sched)
	if err != nil {
		return err
	}
	tgtInit, err := tgtTr.At(0)
	if err != nil {
		return err
	}
	tgtFinal, err := tgtTr.At(tgtTr.Len() - 1)
	if err != nil {
		return err
	}

	reports := map[transfer.Method]*transfer.Report{}
	for _, m := range ms {
		dir := filepath.Join(*cache, fmt.Sprintf("transfer-%s-s%d-s%d-T%d-%s-k%d-%s", key, *seedS, *seedT, *steps, *sched, *gm, m))
		if rep, err := readReport(filepath.Join(dir, "report.json")); err == nil {
			fmt.Fprintf(stderr, "transfer %s: reusing %s\n", m, dir)
			reports[m] = rep
			continue
		}
		j := &transferJob{model: model, mcfg: mcfg, source: source, tgtInit: tgtInit, data: data, method: m,
			gmBatches: *gm, batch: *batch, seed: 1, e: e, out: dir, dataset: data.Name, dataPath: df.path, stderr: stderr}
		if m == transfer.Oracle {
			j.tgtFinal = tgtFinal
		}
		rep, err := j.run(ctx)
		if err != nil {
			return interrupted(fmt.Errorf("transfer %s: %w", m, err))
		}
		reports[m] = rep
	}

	// Fine-tuning from the best transferred points, against scratch
	// training of the target over the same budget (the target's own run).
	ftSteps := *ftEpochs * srcMan.StepsPerEpoch
	var curves []demoCurve
	if *ftEpochs > 0 {
		scratch := curveOf("scratch", tgtMan.Checkpoints, ftSteps)
		if *ftEpochs > *epochs {
			dir := filepath.Join(*cache, fmt.Sprintf("scratch-%s-s%d-e%d", key, *seedT, *ftEpochs))
			man, err := env.trainCached(dir, "scratch", *seedT, *ftEpochs, nil)
			if err != nil {
				return interrupted(err)
			}
			scratch = curveOf("scratch", man.Checkpoints, 0)
		}
		curves = append(curves, scratch)
		for _, m := range fts {
			rep := reports[m]
			if rep == nil {
				continue
			}
			tdir := filepath.Join(*cache, fmt.Sprintf("transfer-%s-s%d-s%d-T%d-%s-k%d-%s", key, *seedS, *seedT, *steps, *sched, *gm, m))
			best, err := nn.LoadCheckpoint(filepath.Join(tdir, "best.safetensors"), model)
			if err != nil {
				return err
			}
			dir := filepath.Join(*cache, fmt.Sprintf("finetune-%s-s%d-s%d-T%d-%s-k%d-%s-e%d", key, *seedS, *seedT, *steps, *sched, *gm, m, *ftEpochs))
			man, err := env.trainCached(dir, "fine-tune "+string(m), *seedT, *ftEpochs, best)
			if err != nil {
				return interrupted(err)
			}
			curves = append(curves, curveOf("fine-tuned "+strings.ToUpper(string(m)), man.Checkpoints, 0))
		}
	}

	// The table.
	var b strings.Builder
	srcAcc := 0.0
	if n := len(srcMan.Checkpoints); n > 0 && srcMan.Checkpoints[n-1].ValAcc != nil {
		srcAcc = *srcMan.Checkpoints[n-1].ValAcc
	}
	fmt.Fprintf(&b, "%s W=%d on %s, seeds %d → %d, linear trajectory T=%d %s, %d gradient batch(es) of %d; trained source val acc %.2f%%\n\n",
		model.Arch(), mcfg.Width, data.Name, *seedS, *seedT, *steps, *sched, *gm, *batch, 100*srcAcc)
	fmt.Fprintf(&b, "| method | final val acc | best val acc (step) | transfer time (s) | LAP (s) | cost matrices (s) |\n|---|---|---|---|---|---|\n")
	for _, m := range ms {
		r := reports[m]
		fmt.Fprintf(&b, "| %s | %.2f%% | %.2f%% (%d) | %.2f | %.2f | %.2f |\n", strings.ToUpper(string(m)), 100*r.Steps[len(r.Steps)-1].ValAcc,
			100*r.BestValAcc, r.BestStep, r.Timings.Total, r.Timings.LAP, r.Timings.CostMatrices)
	}
	if len(curves) > 0 {
		marks := []int{0}
		for _, s := range []int{10, 50, 100, 200} {
			if s < srcMan.StepsPerEpoch {
				marks = append(marks, s)
			}
		}
		for ep := 1; ep <= *ftEpochs; ep++ {
			marks = append(marks, ep*srcMan.StepsPerEpoch)
		}
		fmt.Fprintf(&b, "\nvalidation accuracy after N training steps (%d steps = 1 epoch):\n\n| run |", srcMan.StepsPerEpoch)
		for _, s := range marks {
			fmt.Fprintf(&b, " %d |", s)
		}
		fmt.Fprintf(&b, "\n|---|%s\n", strings.Repeat("---|", len(marks)))
		for _, c := range curves {
			fmt.Fprintf(&b, "| %s |", c.Name)
			for _, s := range marks {
				if a := c.at(s); a >= 0 {
					fmt.Fprintf(&b, " %.2f%% |", 100*a)
				} else {
					fmt.Fprintf(&b, " – |")
				}
			}
			fmt.Fprintln(&b)
		}
	}
	table := b.String()
	fmt.Fprint(stdout, table)
	if err := nn.WriteFileAtomic(filepath.Join(*out, "demo.md"), func(w io.Writer) error { _, err := io.WriteString(w, table); return err }); err != nil {
		return err
	}
	var trajCurves []demoCurve
	for _, m := range ms {
		r := reports[m]
		// The legend gives each method's final accuracy: curves that
		// overlap on the figure still read apart.
		c := demoCurve{Name: fmt.Sprintf("%s (final %.2f%%)", strings.ToUpper(string(m)), 100*r.Steps[len(r.Steps)-1].ValAcc)}
		for _, s := range r.Steps {
			c.Steps = append(c.Steps, s.Step)
			c.Acc = append(c.Acc, s.ValAcc)
		}
		trajCurves = append(trajCurves, c)
	}
	p1 := filepath.Join(*out, "demo-transfer.png")
	if err := plotCurves(p1, fmt.Sprintf("Transferred trajectory (%s W=%d, %s)", model.Arch(), mcfg.Width, data.Name), fmt.Sprintf("trajectory step t (0: the target's initialisation; %d: the source's end point, transferred)", *steps), trajCurves, false); err != nil {
		return err
	}
	written := []string{filepath.Join(*out, "demo.md"), p1}
	if len(curves) > 0 {
		p2 := filepath.Join(*out, "demo-finetune.png")
		xl := fmt.Sprintf("training steps (mini-batches of %d; %d steps = 1 epoch)", *batch, srcMan.StepsPerEpoch)
		if err := plotCurves(p2, "Fine-tuning vs training from scratch", xl, curves, true); err != nil {
			return err
		}
		written = append(written, p2)
	}
	fmt.Fprintf(stdout, "\nwrote %s (%.0f s)\n", strings.Join(written, ", "), time.Since(start).Seconds())
	return nil
}
