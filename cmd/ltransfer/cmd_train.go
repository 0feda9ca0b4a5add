package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"syscall"

	"github.com/ltransfer/ltransfer/kernels"
	"github.com/ltransfer/ltransfer/nn"
)

func init() {
	register("train", "train a model and record its trajectory (checkpoints + manifest)", runTrain)
}

// modelFlags are the flags that choose a model, shared by train, eval and grad.
type modelFlags struct {
	arch        string
	width       int
	widthFactor float64
	depth       int
	classes     int
	noFactor    bool
}

func addModelFlags(fs *flag.FlagSet) *modelFlags {
	m := &modelFlags{}
	fs.StringVar(&m.arch, "model", "mlp", "architecture: "+strings.Join(nn.Archs(), ", "))
	fs.IntVar(&m.width, "width", 0, "hidden width of MLPs (0: the architecture's default, 4096 for mlp; inferred from --params when given)")
	fs.Float64Var(&m.widthFactor, "width-factor", 0, "channel multiplier of conv nets and ResNets (0: 1; inferred from --params when given)")
	fs.IntVar(&m.depth, "depth", 0, "hidden layers of mlp-relu (0: default 1; inferred from --params when given)")
	fs.IntVar(&m.classes, "classes", 0, "number of classes (0: the dataset's)")
	fs.BoolVar(&m.noFactor, "no-factor", false, "mlp: materialise the hidden layer instead of the factored products (same mathematics, other rounding, ~8× the flops; for comparisons)")
	return m
}

// config builds the model config; inputShape and classes come from the
// data when known. A params file, when given, fills in what the flags leave
// open: an MLP's width and depth, a conv net's or ResNet's width factor,
// the class count.
func (m *modelFlags) config(inputShape []int, classes int, params *nn.SafetensorsFile) nn.ModelConfig {
	cfg := nn.ModelConfig{Width: m.width, WidthFactor: m.widthFactor, Depth: m.depth, InputShape: inputShape, NumClasses: classes, NoFactor: m.noFactor}
	if m.classes > 0 {
		cfg.NumClasses = m.classes
	}
	if params != nil {
		// What the file cannot size stays as the flags say; a mismatch is
		// then reported by the checkpoint load, naming the tensor.
		if inf, err := nn.InferModelConfig(m.arch, nn.ShapesOf(params), cfg); err == nil {
			cfg = inf
		}
	}
	return cfg
}

// dataFlags choose a dataset.
type dataFlags struct {
	name      string
	path      string
	valFrac   float64
	splitSeed int64
	noAugment bool
	limit     int
	classes   string
}

func addDataFlags(fs *flag.FlagSet) *dataFlags {
	d := &dataFlags{}
	fs.StringVar(&d.name, "dataset", "mnist", "dataset: mnist, fashion-mnist, cifar10 or imagefolder")
	fs.StringVar(&d.path, "data", "", "where the dataset's files are (default: "+envMNIST+", the GoMNIST module cache, /usr/share/datasets/fashion-mnist, "+envCIFAR10+" or ../shared/data/cifar10-jpeg.tar); cifar10: a folder of binary batches or the JPEG tar; imagefolder: root/<class>/*.jpg|png folder or .tar")
	fs.Float64Var(&d.valFrac, "val-fraction", 0.1, "fraction of the training set held out for validation (the paper: 0.1)")
	fs.Int64Var(&d.splitSeed, "split-seed", 0, "seed of the train/validation split (shared by runs with different --seed)")
	fs.BoolVar(&d.noAugment, "no-augment", false, "turn off CIFAR-10 training augmentation (pad-4 crop, flip)")
	fs.IntVar(&d.limit, "limit", 0, "use at most N training and test samples (quick runs; every class kept)")
	fs.StringVar(&d.classes, "class-subset", "", "keep only these classes, e.g. 0-4 or 5,6,7,8,9, relabelled 0…k−1 in the order listed (train, val and test)")
	return d
}

// valFraction is --val-fraction as DataConfig takes it (0 there is the
// default, negative none).
func (d *dataFlags) valFraction() float64 {
	if d.valFrac == 0 {
		return -1
	}
	return d.valFrac
}

func (d *dataFlags) load() (*nn.Data, error) {
	vf := d.valFraction()
	cs, err := nn.ParseClassSubset(d.classes)
	if err != nil {
		return nil, fmt.Errorf("--class-subset: %w", err)
	}
	return loadData(nn.DataConfig{Name: d.name, Path: d.path, ValFraction: vf, SplitSeed: d.splitSeed, NoAugment: d.noAugment, Limit: d.limit, ClassSubset: cs})
}

// initFromPath resolves --init-from: a checkpoint file, or a trajectory
// folder (its last checkpoint).
func initFromPath(p string) (string, error) {
	st, err := os.Stat(p)
	if err != nil {
		return "", fmt.Errorf("--init-from: %w", err)
	}
	if !st.IsDir() {
		return p, nil
	}
	man, err := nn.ReadManifest(p)
	if err != nil {
		return "", fmt.Errorf("--init-from: %w", err)
	}
	if len(man.Checkpoints) == 0 {
		return "", fmt.Errorf("--init-from: trajectory %q has no checkpoints", p)
	}
	return filepath.Join(p, man.Checkpoints[len(man.Checkpoints)-1].File), nil
}

func engineFor(threads int) (*kernels.Engine, error) {
	if threads < 0 {
		return nil, fmt.Errorf("--threads %d, want ≥ 0", threads)
	}
	// The CLI runs back-to-back work on all its threads: its pool
	// goroutines spin between calls (the library's default spin is short).
	opts := []kernels.Option{kernels.WithSpin(kernels.ThroughputSpin)}
	if threads > 0 {
		opts = append(opts, kernels.WithThreads(threads))
		capProcs(threads)
	}
	return kernels.New(opts...)
}

// capProcs makes --threads T mean T cores for the whole process: the Go
// runtime's own work (the garbage collector, checkpoint writes, evaluation
// overlapped with the next step) runs on at most T of them too, so that a
// task given one CPU by a batch scheduler without CPU binding does not
// take a second from its neighbour. GOMAXPROCS set in the environment wins.
func capProcs(threads int) {
	if os.Getenv("GOMAXPROCS") == "" && threads < runtime.GOMAXPROCS(0) {
		runtime.GOMAXPROCS(threads)
	}
}

// signalContext is cancelled on SIGINT/SIGTERM, so long commands stop
// cleanly (a training run stays resumable).
func signalContext() (context.Context, context.CancelFunc) {
	return signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
}

func parseInts(s string) ([]int, error) {
	if strings.TrimSpace(s) == "" {
		return nil, nil
	}
	var out []int
	for _, f := range strings.Split(s, ",") {
		v, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil {
			return nil, fmt.Errorf("%q is not a comma-separated list of integers", s)
		}
		out = append(out, v)
	}
	return out, nil
}

func newFlagSet(name string, stderr io.Writer, usage string) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintf(stderr, "usage: ltransfer %s\n\nflags:\n", usage)
		fs.PrintDefaults()
	}
	return fs
}

// movedFlags rejects flags a command does not have because they mean
// something else there: moved maps such a flag's name to what to use
// instead, e.g. "batch": "--input FILE (the batch file; --batch is a
// mini-batch size in the other commands)". Scanning stops at "--".
func movedFlags(args []string, moved map[string]string) error {
	for _, a := range args {
		if a == "--" {
			return nil
		}
		if !strings.HasPrefix(a, "-") {
			continue
		}
		name, _, _ := strings.Cut(strings.TrimLeft(a, "-"), "=")
		if use, ok := moved[name]; ok {
			return fmt.Errorf("--%s is not a flag of this command: use %s", name, use)
		}
	}
	return nil
}

// parseFlags parses args; -h is not an error (returns done=true).
func parseFlags(fs *flag.FlagSet, args []string) (done bool, err error) {
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			// The flags before -h are checked too (train --seeds checks
			// its shared flags this way before writing anything).
			return true, checkNumericFlags(fs)
		}
		return true, err
	}
	if fs.NArg() > 0 {
		return true, fmt.Errorf("unexpected argument %q (flags only)", fs.Arg(0))
	}
	if err := checkNumericFlags(fs); err != nil {
		return true, err
	}
	return false, nil
}

func runTrain(args []string, stdout, stderr io.Writer) error {
	if hasSeedsFlag(args) {
		return runTrainSeeds(args, stdout, stderr) // cmd_train_seeds.go
	}
	fs := newFlagSet("train", stderr, "train --model mlp --width 4096 --dataset mnist --epochs 10 --lr 0.01 --batch 128 --seed 101 --out DIR")
	addSeedsFlags(fs)
	f := addTrainFlags(fs)
	if done, err := parseFlags(fs, args); done {
		return err
	}
	initFile, scheme, err := f.checkInit()
	if err != nil {
		return err
	}
	oc, sc, extraSteps, err := f.optimisation()
	if err != nil {
		return err
	}
	e, err := engineFor(*f.threads)
	if err != nil {
		return err
	}
	data, err := f.df.load()
	if err != nil {
		return err
	}
	mcfg := f.mf.config(data.SampleShape, len(data.Classes), initFile)
	model, err := nn.NewModel(f.mf.arch, mcfg)
	if err != nil {
		return err
	}
	var init *nn.ParamSet
	var initRec *nn.InitRecord
	if initFile != nil {
		if init, initRec, err = nn.FineTuneInit(model, initFile, *f.resetHead, *f.seed); err != nil {
			return fmt.Errorf("--init-from: %w", err)
		}
	}
	ctx, stop := signalContext()
	defer stop()

	fmt.Fprintf(stderr, "train %s on %s (%s): %d train / %d val samples, %d epochs, batch %d, %s lr %g, %d threads, kernels %s\n",
		model.Arch(), data.Name, data.Source, data.Train.Len(), valLen(data), *f.epochs, *f.batch, oc.Name, oc.LR, e.Threads(), e.Path())
	printTrainStart(stderr, data, initRec)
	show := newTrainDisplay(stderr, *f.batch)
	cfg := nn.TrainConfig{
		ModelConfig: mcfg, Dataset: data.Name, DataPath: f.df.path, Limit: f.df.limit, ValFraction: f.df.valFraction(), SplitSeed: f.df.splitSeed, Epochs: *f.epochs, BatchSize: *f.batch, Seed: *f.seed,
		Init: init, InitFrom: initRec, InitScheme: scheme,
		Optim: oc, Schedule: sc, CheckpointEvery: *f.every, ExtraCheckpoints: extraSteps, Out: *f.out, Resume: *f.resume,
		Progress: show.report,
	}
	res, err := nn.Train(ctx, e, model, data, cfg)
	show.bar.Finish()
	if err != nil {
		if ctx.Err() != nil {
			return fmt.Errorf("interrupted; the trajectory in %s is resumable with --resume", *f.out)
		}
		return err
	}
	sum := trainSummary{Model: model.Arch(), Dataset: data.Name, Out: *f.out, Epochs: *f.epochs, Checkpoints: len(res.Checkpoints), EpochSeconds: res.EpochSeconds}
	if n := len(res.Checkpoints); n > 0 && res.Checkpoints[n-1].ValAcc != nil {
		sum.ValAcc = res.Checkpoints[n-1].ValAcc
	}
	if !*f.noTest && data.Test != nil && data.Test.Len() > 0 {
		if err := testTrained(ctx, e, model, data, res, *f.out, &sum, stderr); err != nil {
			return err
		}
	}
	if *f.asJSON {
		return json.NewEncoder(stdout).Encode(sum)
	}
	sum.print(stdout, *f.seed)
	return nil
}

// trainFlags are train's flags beyond the model and the data.
type trainFlags struct {
	mf                         *modelFlags
	df                         *dataFlags
	epochs, batch              *int
	seed                       *int64
	optName, sched, milestones *string
	lr, momentum, wd, gamma    *float64
	nesterov                   *bool
	warmup                     *int
	out, extra                 *string
	every, threads             *int
	resume, noTest, asJSON     *bool
	initFrom, initScheme       *string
	resetHead                  *bool
}

func addTrainFlags(fs *flag.FlagSet) *trainFlags {
	f := &trainFlags{mf: addModelFlags(fs), df: addDataFlags(fs)}
	f.epochs = fs.Int("epochs", 10, "training epochs (0: write the initialisation only, checkpoint 0 and a complete manifest: a --target-init for ltransfer transfer)")
	f.batch = fs.Int("batch", 128, "mini-batch size")
	f.seed = fs.Int64("seed", 1, "seed of the initialisation, shuffling and augmentation")
	f.optName = fs.String("optimizer", "sgd", "optimiser: sgd or adamw")
	f.lr = fs.Float64("lr", 0.01, "learning rate")
	f.momentum = fs.Float64("momentum", 0.9, "SGD momentum")
	f.wd = fs.Float64("wd", -1, "weight decay (default: 0 for sgd, 0.01 for adamw, as PyTorch)")
	f.nesterov = fs.Bool("nesterov", false, "Nesterov momentum (SGD)")
	f.sched = fs.String("schedule", "constant", "LR schedule: constant, cosine or multistep")
	f.warmup = fs.Int("warmup", 0, "linear LR warm-up steps")
	f.milestones = fs.String("milestones", "", "multistep: comma-separated epochs at which the LR is multiplied by --gamma")
	f.gamma = fs.Float64("gamma", 0.1, "multistep LR factor")
	f.out = fs.String("out", "", "trajectory folder to write (required)")
	f.every = fs.Int("checkpoint-every", 0, "checkpoint every N steps (0: every epoch)")
	f.extra = fs.String("checkpoint-steps", "", "extra checkpoints after these steps, comma-separated (e.g. 10,50,100,200)")
	f.resume = fs.Bool("resume", false, "continue an interrupted run in --out (starts one if --out holds none)")
	f.threads = fs.Int("threads", 0, "worker threads (0: GOMAXPROCS)")
	f.noTest = fs.Bool("no-test", false, "skip the final test-set evaluation")
	f.asJSON = fs.Bool("json", false, "print the summary as one JSON line")
	f.initFrom = fs.String("init-from", "", "start from pretrained parameters instead of a fresh initialisation: a checkpoint file, or a trajectory folder (its last checkpoint); checkpoint 0 of --out is the starting point used")
	f.initScheme = fs.String("init", nn.InitPyTorch, "initialisation of a fresh run: pytorch (PyTorch's defaults) or kaiming-normal (weights N(0, 2/fan_in), zero biases: torch.nn.init.kaiming_normal_(mode=\"fan_in\", nonlinearity=\"relu\"); trains deep plain ReLU nets such as Conv8 that stay on the ln(classes) plateau, with --warmup; its larger weights make learning transfer from such a run fail, see docs/results.md)")
	f.resetHead = fs.Bool("reset-head", false, "with --init-from: re-initialise the classification head (conv nets linear.4, resnets linear, the last linear of MLPs) from --seed with PyTorch's default init, keeping every other tensor; the head may then have another number of classes")
	return f
}

// checkInit checks --out and the initialisation flags and reads the
// --init-from checkpoint (nil without one); scheme is --init, lower case.
func (f *trainFlags) checkInit() (initFile *nn.SafetensorsFile, scheme string, err error) {
	if *f.out == "" {
		return nil, "", fmt.Errorf("--out DIR is required (the trajectory folder)")
	}
	if *f.resetHead && *f.initFrom == "" {
		return nil, "", fmt.Errorf("--reset-head needs --init-from (the pretrained checkpoint whose head is replaced)")
	}
	scheme = strings.ToLower(*f.initScheme)
	if !slices.Contains(nn.InitSchemes, scheme) {
		return nil, "", fmt.Errorf("--init %q: want %s", *f.initScheme, strings.Join(nn.InitSchemes, " or "))
	}
	if scheme != nn.InitPyTorch && *f.initFrom != "" {
		return nil, "", fmt.Errorf("--init %s draws a fresh initialisation; it cannot be combined with --init-from", scheme)
	}
	if *f.initFrom != "" {
		p, err := initFromPath(*f.initFrom)
		if err != nil {
			return nil, "", err
		}
		if initFile, err = nn.ReadSafetensorsFile(p); err != nil {
			return nil, "", fmt.Errorf("--init-from: %w", err)
		}
	}
	return initFile, scheme, nil
}

// optimisation is the optimiser, the LR schedule and the extra
// checkpoint steps the flags ask for.
func (f *trainFlags) optimisation() (nn.OptimConfig, nn.ScheduleConfig, []int, error) {
	ms, err := parseInts(*f.milestones)
	if err != nil {
		return nn.OptimConfig{}, nn.ScheduleConfig{}, nil, fmt.Errorf("--milestones: %w", err)
	}
	extraSteps, err := parseInts(*f.extra)
	if err != nil {
		return nn.OptimConfig{}, nn.ScheduleConfig{}, nil, fmt.Errorf("--checkpoint-steps: %w", err)
	}
	oc := nn.OptimConfig{Name: strings.ToLower(*f.optName), LR: *f.lr, WeightDecay: *f.wd}
	switch oc.Name {
	case "sgd":
		oc.Momentum, oc.Nesterov = *f.momentum, *f.nesterov
		if oc.WeightDecay < 0 {
			oc.WeightDecay = 0
		}
	case "adamw":
		if oc.WeightDecay < 0 {
			oc.WeightDecay = 0.01
		}
	default:
		return nn.OptimConfig{}, nn.ScheduleConfig{}, nil, fmt.Errorf("--optimizer %q: want sgd or adamw", *f.optName)
	}
	sc := nn.ScheduleConfig{Name: strings.ToLower(*f.sched), WarmupSteps: *f.warmup, Milestones: ms}
	if sc.Name == "multistep" {
		sc.Gamma = *f.gamma
	}
	if err := sc.Validate(); err != nil {
		return nn.OptimConfig{}, nn.ScheduleConfig{}, nil, err
	}
	return oc, sc, extraSteps, nil
}

// printTrainStart says which classes and which starting point a run uses.
func printTrainStart(w io.Writer, data *nn.Data, initRec *nn.InitRecord) {
	if data.ClassSubset != nil {
		fmt.Fprintf(w, "class subset %s: classes %s relabelled 0…%d\n", nn.FormatClassSubset(data.ClassSubset), strings.Join(data.Classes, ", "), len(data.Classes)-1)
	}
	if initRec != nil {
		msg := "starting from " + initRec.From
		if initRec.ResetHead {
			msg += fmt.Sprintf(" with a new head (%s, seed %d)", strings.Join(initRec.Head, ", "), initRec.HeadSeed)
		}
		fmt.Fprintln(w, msg)
	}
}

// trainDisplay turns training progress into one bar per epoch and a line
// per checkpoint (unless noCheckpoints); prefix names the run.
type trainDisplay struct {
	w             io.Writer
	batch         int
	prefix        string
	noCheckpoints bool
	bar           *progress
	epochBar      int
}

func newTrainDisplay(w io.Writer, batch int) *trainDisplay {
	return &trainDisplay{w: w, batch: batch, epochBar: -1}
}

func (d *trainDisplay) report(tp nn.TrainProgress) {
	switch tp.Phase {
	case "train":
		if tp.Epoch != d.epochBar {
			d.bar.Finish()
			d.epochBar = tp.Epoch
			d.bar = newProgress(d.w, fmt.Sprintf("%sepoch %d/%d", d.prefix, tp.Epoch+1, tp.Epochs), int64(tp.StepsPerEpoch)).Units("step", d.batch)
		}
		d.bar.Set(int64(tp.Step-tp.Epoch*tp.StepsPerEpoch), fmt.Sprintf("loss %.4f acc %.2f%%", tp.Loss, 100*tp.Acc))
	case "checkpoint":
		if d.noCheckpoints {
			return
		}
		c := tp.Checkpoint
		msg := fmt.Sprintf("checkpoint %d: epoch %.3g step %d", c.Index, c.Epoch, c.Step)
		if c.TrainAcc != nil {
			msg += fmt.Sprintf(" train acc %.2f%% loss %.4f", 100**c.TrainAcc, *c.TrainLoss)
		}
		if c.ValAcc != nil {
			msg += fmt.Sprintf(" val acc %.2f%% loss %.4f", 100**c.ValAcc, *c.ValLoss)
		}
		if d.bar != nil && !d.bar.done {
			d.bar.Log("%s", msg)
		} else {
			fmt.Fprintln(d.w, msg)
		}
	}
}

// testTrained evaluates the trained parameters on the test set and
// records the result in the summary and the manifest in out.
func testTrained(ctx context.Context, e *kernels.Engine, model nn.Model, data *nn.Data, res *nn.TrainResult, out string, sum *trainSummary, stderr io.Writer) error {
	tb := newProgress(stderr, "test", int64(data.Test.Len())).Units("sample", 0)
	ev, err := nn.Evaluate(ctx, e, model, res.Params, data.Test, func(done, total int) { tb.Set(int64(done), "") })
	tb.Finish()
	if err != nil {
		return err
	}
	sum.TestAcc, sum.TestLoss = &ev.Accuracy, &ev.Loss
	res.Manifest.TestAcc, res.Manifest.TestLoss = &ev.Accuracy, &ev.Loss
	return nn.WriteManifest(out, res.Manifest)
}

// print writes the summary as one line of text.
func (sum *trainSummary) print(w io.Writer, seed int64) {
	if sum.Epochs == 0 {
		fmt.Fprintf(w, "initialised %s for %s (seed %d, no training): checkpoint 0 in %s", sum.Model, sum.Dataset, seed, sum.Out)
	} else {
		fmt.Fprintf(w, "trained %s on %s: %d checkpoints in %s", sum.Model, sum.Dataset, sum.Checkpoints, sum.Out)
	}
	if sum.ValAcc != nil {
		fmt.Fprintf(w, ", val acc %.2f%%", 100**sum.ValAcc)
	}
	if sum.TestAcc != nil {
		fmt.Fprintf(w, ", test acc %.2f%% (loss %.4f)", 100**sum.TestAcc, *sum.TestLoss)
	}
	if len(sum.EpochSeconds) > 0 {
		var t float64
		for _, s := range sum.EpochSeconds {
			t += s
		}
		fmt.Fprintf(w, ", %.2f s/epoch", t/float64(len(sum.EpochSeconds)))
	}
	fmt.Fprintln(w)
}

type trainSummary struct {
	Model        string    `json:"model"`
	Dataset      string    `json:"dataset"`
	Out          string    `json:"out"`
	Epochs       int       `json:"epochs"`
	Checkpoints  int       `json:"checkpoints"`
	ValAcc       *float64  `json:"val_acc,omitempty"`
	TestAcc      *float64  `json:"test_acc,omitempty"`
	TestLoss     *float64  `json:"test_loss,omitempty"`
	EpochSeconds []float64 `json:"epoch_seconds"`
}

func valLen(d *nn.Data) int {
	if d.Val == nil {
		return 0
	}
	return d.Val.Len()
}
