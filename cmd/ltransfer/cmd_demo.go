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
	show := &trainDisplay{w: d.stderr, batch: d.batch, prefix: what + " ", noCheckpoints: true, epochBar: -1}
	cfg := nn.TrainConfig{ModelConfig: d.mcfg, Dataset: d.dname, DataPath: d.dpath, Limit: d.df.limit, ValFraction: d.df.valFraction(), SplitSeed: d.df.splitSeed, Epochs: epochs, BatchSize: d.batch, Seed: seed,
		Optim: d.oc, Schedule: nn.ScheduleConfig{Name: "constant"}, Init: init, ExtraCheckpoints: extra, Out: dir, Resume: true,
		Progress: show.report}
	res, err := nn.Train(d.ctx, d.e, d.model, d.data, cfg)
	show.bar.Finish()
	if err != nil {
		return nil, fmt.Errorf("%s: %w", what, err)
	}
	return res.Manifest, nil
}

func runDemo(args []string, stdout, stderr io.Writer) error {
	f, done, err := parseDemoFlags(args, stderr)
	if done {
		return err
	}
	start := time.Now()
	d, err := f.setup(stderr)
	if err != nil {
		return err
	}
	defer d.stop()
	if err := d.trainPair(); err != nil {
		return d.interrupted(err)
	}
	if err := d.transfers(); err != nil {
		return d.interrupted(err)
	}
	curves, err := d.fineTune()
	if err != nil {
		return d.interrupted(err)
	}
	table := d.table(curves)
	fmt.Fprint(stdout, table)
	if err := nn.WriteFileAtomic(filepath.Join(f.out, "demo.md"), func(w io.Writer) error { _, err := io.WriteString(w, table); return err }); err != nil {
		return err
	}
	written, err := d.plots(curves)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "\nwrote %s (%.0f s)\n", strings.Join(append([]string{filepath.Join(f.out, "demo.md")}, written...), ", "), time.Since(start).Seconds())
	return nil
}

// demoFlags are demo's parsed flags.
type demoFlags struct {
	arch            string
	width           int
	widthFactor     float64
	df              *dataFlags
	epochs, batch   int
	lr, momentum    float64
	seedS, seedT    int64
	steps, gm       int
	spacing         string
	methods, ftFrom []transfer.Method
	ftEpochs        int
	cache, out      string
	threads         int
}

// parseDemoFlags parses and checks demo's flags; done is true when the
// command should stop (with err, nil after --help).
func parseDemoFlags(args []string, stderr io.Writer) (f *demoFlags, done bool, err error) {
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
	spacing := fs.String("spacing", "cosine", "spacing of the linear trajectory's points: cosine or uniform")
	gm := fs.Int("gm-batches", 1, "mini-batches per gradient pair")
	methods := fs.String("methods", "gmt,fgmt,naive,oracle", "transfer methods to run, comma-separated")
	ftFrom := fs.String("finetune-from", "gmt,fgmt", "methods whose best transferred point is fine-tuned, comma-separated (empty: none)")
	ftEpochs := fs.Int("finetune-epochs", 1, "fine-tuning epochs (scratch training of the target is compared over the same budget)")
	cache := fs.String("cache", "ltransfer-demo", "cache folder: trained networks, transfers and fine-tuning runs are reused from here (a rerun resumes)")
	out := fs.String("out", "", "folder for the table and PNG plots (default: the cache folder)")
	threads := fs.Int("threads", 0, "worker threads (0: GOMAXPROCS)")
	if err := movedFlags(args, map[string]string{"schedule": spacingMoved["schedule"], "target-seed": "--seed-target S", "method": "--methods LIST"}); err != nil {
		return nil, true, err
	}
	if done, err := parseFlags(fs, args); done {
		return nil, true, err
	}
	if *epochs < 1 || *steps < 1 || *gm < 1 || *batch < 1 || *ftEpochs < 0 {
		return nil, true, fmt.Errorf("--epochs, --steps, --gm-batches and --batch must be ≥ 1, --finetune-epochs ≥ 0")
	}
	f = &demoFlags{arch: *arch, width: *width, widthFactor: *widthFactor, df: df, epochs: *epochs, batch: *batch, lr: *lr, momentum: *momentum,
		seedS: *seedS, seedT: *seedT, steps: *steps, gm: *gm, spacing: *spacing, ftEpochs: *ftEpochs, cache: *cache, out: *out, threads: *threads}
	for _, s := range strings.Split(*methods, ",") {
		m, err := transfer.ParseMethod(strings.TrimSpace(s))
		if err != nil {
			return nil, true, fmt.Errorf("--methods: %w", err)
		}
		f.methods = append(f.methods, m)
	}
	if strings.TrimSpace(*ftFrom) != "" {
		for _, s := range strings.Split(*ftFrom, ",") {
			m, err := transfer.ParseMethod(strings.TrimSpace(s))
			if err != nil {
				return nil, true, fmt.Errorf("--finetune-from: %w", err)
			}
			f.ftFrom = append(f.ftFrom, m)
		}
	}
	if _, err := parseSpacing(*spacing); err != nil {
		return nil, true, err
	}
	if f.out == "" {
		f.out = f.cache
	}
	return f, false, nil
}

// demoRun is one demo between its steps: the flags, the loaded data and
// model, and what the steps have produced so far.
type demoRun struct {
	*demoFlags
	env      *demoEnv
	key      string // the cache name of the trained pair's settings
	stop     context.CancelFunc
	srcMan   *nn.Manifest
	tgtMan   *nn.Manifest
	source   transfer.Trajectory
	tgtInit  *nn.ParamSet
	tgtFinal *nn.ParamSet
	reports  map[transfer.Method]*transfer.Report
}

// setup checks the output folders, loads the data and builds the model.
func (f *demoFlags) setup(stderr io.Writer) (*demoRun, error) {
	if err := checkOwnDir("--cache", f.cache, demoOwns); err != nil {
		return nil, err
	}
	if err := checkOwnDir("--out", f.out, demoOwns); err != nil {
		return nil, err
	}
	for _, d := range []string{f.cache, f.out} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return nil, err
		}
	}
	e, err := engineFor(f.threads)
	if err != nil {
		return nil, err
	}
	data, err := f.df.load()
	if err != nil {
		return nil, err
	}
	if data.Val == nil || data.Val.Len() == 0 {
		return nil, errors.New("the demo needs a validation split (--val-fraction > 0)")
	}
	mcfg := nn.ModelConfig{Width: f.width, WidthFactor: f.widthFactor, InputShape: data.SampleShape, NumClasses: len(data.Classes)}
	if !strings.HasPrefix(f.arch, "mlp") {
		mcfg.Width = 0
	}
	model, err := nn.NewModel(f.arch, mcfg)
	if err != nil {
		return nil, err
	}
	ctx, stop := signalContext()
	d := &demoRun{demoFlags: f, stop: stop, reports: map[transfer.Method]*transfer.Report{}}
	d.env = &demoEnv{ctx: ctx, e: e, data: data, model: model, mcfg: mcfg, stderr: stderr, extra: []int{10, 50, 100, 200}, batch: f.batch,
		oc: nn.OptimConfig{Name: "sgd", LR: f.lr, Momentum: f.momentum}, dname: data.Name, dpath: f.df.path, df: f.df}
	fmt.Fprintf(stderr, "demo: %s on %s (%s), %d train / %d val, %d threads, kernels %s, cache %s\n",
		model.Arch(), data.Name, data.Source, data.Train.Len(), data.Val.Len(), e.Threads(), e.Path(), f.cache)
	d.key = fmt.Sprintf("%s-w%g-%s-n%d-e%d-b%d-lr%g-m%g", model.Arch(), float64(mcfg.Width)+mcfg.WidthFactor, data.Name, data.Train.Len(), f.epochs, f.batch, f.lr, f.momentum)
	if data.ClassSubset != nil {
		// Runs on other classes must not share a cache entry.
		d.key += "-c" + strings.NewReplacer(",", "_").Replace(nn.FormatClassSubset(data.ClassSubset))
	}
	return d, nil
}

// interrupted turns an error after a signal into the resume advice.
func (d *demoRun) interrupted(err error) error {
	if d.env.ctx.Err() != nil {
		return fmt.Errorf("interrupted; rerun the same command to resume from %s", d.cache)
	}
	return err
}

// transferDir is the cache folder of method m's transfer.
func (d *demoRun) transferDir(m transfer.Method) string {
	return filepath.Join(d.cache, fmt.Sprintf("transfer-%s-s%d-s%d-T%d-%s-k%d-%s", d.key, d.seedS, d.seedT, d.steps, d.spacing, d.gm, m))
}

// trainPair trains (or reuses) the source and the target and takes the
// source's linear trajectory and the target's end points from them.
func (d *demoRun) trainPair() error {
	srcDir := filepath.Join(d.cache, fmt.Sprintf("train-%s-s%d", d.key, d.seedS))
	tgtDir := filepath.Join(d.cache, fmt.Sprintf("train-%s-s%d", d.key, d.seedT))
	var err error
	if d.srcMan, err = d.env.trainCached(srcDir, "source", d.seedS, d.epochs, nil); err != nil {
		return err
	}
	if d.tgtMan, err = d.env.trainCached(tgtDir, "target", d.seedT, d.epochs, nil); err != nil {
		return err
	}
	srcTr, err := nn.OpenTrajectory(srcDir, d.env.model)
	if err != nil {
		return err
	}
	tgtTr, err := nn.OpenTrajectory(tgtDir, d.env.model)
	if err != nil {
		return err
	}
	if d.source, err = sourceTrajectory(srcTr, "linear", d.steps, d.spacing); err != nil {
		return err
	}
	if d.tgtInit, err = tgtTr.At(0); err != nil {
		return err
	}
	d.tgtFinal, err = tgtTr.At(tgtTr.Len() - 1)
	return err
}

// transfers runs (or reuses) every method's transfer.
func (d *demoRun) transfers() error {
	env := d.env
	for _, m := range d.methods {
		dir := d.transferDir(m)
		if rep, err := readReport(filepath.Join(dir, "report.json")); err == nil {
			fmt.Fprintf(env.stderr, "transfer %s: reusing %s\n", m, dir)
			d.reports[m] = rep
			continue
		}
		j := &transferJob{model: env.model, mcfg: env.mcfg, source: d.source, tgtInit: d.tgtInit, data: env.data, method: m,
			gmBatches: d.gm, batch: d.batch, seed: 1, e: env.e, out: dir, dataset: env.data.Name, dataPath: d.df.path, stderr: env.stderr}
		if m == transfer.Oracle {
			j.tgtFinal = d.tgtFinal
		}
		rep, err := j.run(env.ctx)
		if err != nil {
			return fmt.Errorf("transfer %s: %w", m, err)
		}
		d.reports[m] = rep
	}
	return nil
}

// fineTune fine-tunes the best transferred points and returns their
// curves after the target's own (scratch) training over the same budget;
// none with --finetune-epochs 0.
func (d *demoRun) fineTune() ([]demoCurve, error) {
	if d.ftEpochs == 0 {
		return nil, nil
	}
	env := d.env
	ftSteps := d.ftEpochs * d.srcMan.StepsPerEpoch
	scratch := curveOf("scratch", d.tgtMan.Checkpoints, ftSteps)
	if d.ftEpochs > d.epochs {
		dir := filepath.Join(d.cache, fmt.Sprintf("scratch-%s-s%d-e%d", d.key, d.seedT, d.ftEpochs))
		man, err := env.trainCached(dir, "scratch", d.seedT, d.ftEpochs, nil)
		if err != nil {
			return nil, err
		}
		scratch = curveOf("scratch", man.Checkpoints, 0)
	}
	curves := []demoCurve{scratch}
	for _, m := range d.ftFrom {
		if d.reports[m] == nil {
			continue
		}
		best, err := nn.LoadCheckpoint(filepath.Join(d.transferDir(m), "best.safetensors"), env.model)
		if err != nil {
			return nil, err
		}
		dir := filepath.Join(d.cache, fmt.Sprintf("finetune-%s-s%d-s%d-T%d-%s-k%d-%s-e%d", d.key, d.seedS, d.seedT, d.steps, d.spacing, d.gm, m, d.ftEpochs))
		man, err := env.trainCached(dir, "fine-tune "+string(m), d.seedT, d.ftEpochs, best)
		if err != nil {
			return nil, err
		}
		curves = append(curves, curveOf("fine-tuned "+strings.ToUpper(string(m)), man.Checkpoints, 0))
	}
	return curves, nil
}

// table is the Markdown summary: one row per method, then the
// fine-tuning curves at fixed steps.
func (d *demoRun) table(curves []demoCurve) string {
	var b strings.Builder
	srcAcc := 0.0
	if n := len(d.srcMan.Checkpoints); n > 0 && d.srcMan.Checkpoints[n-1].ValAcc != nil {
		srcAcc = *d.srcMan.Checkpoints[n-1].ValAcc
	}
	fmt.Fprintf(&b, "%s W=%d on %s, seeds %d → %d, linear trajectory T=%d %s, %d gradient batch(es) of %d; trained source val acc %.2f%%\n\n",
		d.env.model.Arch(), d.env.mcfg.Width, d.env.data.Name, d.seedS, d.seedT, d.steps, d.spacing, d.gm, d.batch, 100*srcAcc)
	fmt.Fprintf(&b, "| method | final val acc | best val acc (step) | transfer time (s) | LAP (s) | cost matrices (s) |\n|---|---|---|---|---|---|\n")
	for _, m := range d.methods {
		r := d.reports[m]
		fmt.Fprintf(&b, "| %s | %.2f%% | %.2f%% (%d) | %.2f | %.2f | %.2f |\n", strings.ToUpper(string(m)), 100*r.Steps[len(r.Steps)-1].ValAcc,
			100*r.BestValAcc, r.BestStep, r.Timings.Total, r.Timings.LAP, r.Timings.CostMatrices)
	}
	if len(curves) == 0 {
		return b.String()
	}
	spe := d.srcMan.StepsPerEpoch
	marks := []int{0}
	for _, s := range []int{10, 50, 100, 200} {
		if s < spe {
			marks = append(marks, s)
		}
	}
	for ep := 1; ep <= d.ftEpochs; ep++ {
		marks = append(marks, ep*spe)
	}
	fmt.Fprintf(&b, "\nvalidation accuracy after N training steps (%d steps = 1 epoch):\n\n| run |", spe)
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
	return b.String()
}

// plots writes demo-transfer.png and, with fine-tuning curves,
// demo-finetune.png; it returns the files written.
func (d *demoRun) plots(curves []demoCurve) ([]string, error) {
	var trajCurves []demoCurve
	for _, m := range d.methods {
		r := d.reports[m]
		// The legend gives each method's final accuracy: curves that
		// overlap on the figure still read apart.
		c := demoCurve{Name: fmt.Sprintf("%s (final %.2f%%)", strings.ToUpper(string(m)), 100*r.Steps[len(r.Steps)-1].ValAcc)}
		for _, s := range r.Steps {
			c.Steps = append(c.Steps, s.Step)
			c.Acc = append(c.Acc, s.ValAcc)
		}
		trajCurves = append(trajCurves, c)
	}
	p1 := filepath.Join(d.out, "demo-transfer.png")
	title := fmt.Sprintf("Transferred trajectory (%s W=%d, %s)", d.env.model.Arch(), d.env.mcfg.Width, d.env.data.Name)
	xl := fmt.Sprintf("trajectory step t (0: the target's initialisation; %d: the source's end point, transferred)", d.steps)
	if err := plotCurves(p1, title, xl, trajCurves, false); err != nil {
		return nil, err
	}
	written := []string{p1}
	if len(curves) > 0 {
		p2 := filepath.Join(d.out, "demo-finetune.png")
		xl := fmt.Sprintf("training steps (mini-batches of %d; %d steps = 1 epoch)", d.batch, d.srcMan.StepsPerEpoch)
		if err := plotCurves(p2, "Fine-tuning vs training from scratch", xl, curves, true); err != nil {
			return nil, err
		}
		written = append(written, p2)
	}
	return written, nil
}
