package main

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"

	"github.com/ltransfer/ltransfer/nn"
)

func init() {
	register("trajectory", "trajectory folders: import a series of safetensors checkpoints (e.g. from PyTorch) as one", runTrajectory)
}

const trajectoryUsage = `usage: ltransfer trajectory import --model M --out DIR (--from FOLDER | CKPT.safetensors …) [flags]

subcommands:
  import   make a trajectory folder (manifest.json + checkpoints) from safetensors checkpoints`

func runTrajectory(args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		return errors.New("a subcommand is required\n" + trajectoryUsage)
	}
	switch args[0] {
	case "import":
		return runTrajectoryImport(args[1:], stdout, stderr)
	case "-h", "-help", "--help", "help":
		fmt.Fprintln(stdout, trajectoryUsage)
		return nil
	}
	return fmt.Errorf("unknown subcommand %q\n%s", args[0], trajectoryUsage)
}

// importedCheckpoint is one input of trajectory import.
type importedCheckpoint struct {
	path string
	step int // the number in its name, or its position
}

func runTrajectoryImport(args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("trajectory import", stderr, "trajectory import --model M [--width W | --width-factor F] [--dataset D] --out DIR (--from FOLDER [--pattern GLOB] | CKPT.safetensors …)\n\n"+
		"Makes a trajectory folder, usable as `ltransfer transfer --source DIR`, from safetensors checkpoints (PyTorch\n"+
		"state_dicts converted by python/pt2safetensors.py). Every checkpoint is checked against the model (names,\n"+
		"shapes, finite values); the model's size is inferred from the first one unless given. With --from, the files\n"+
		"matching --pattern are ordered by the last number in their names (ckpt-2 before ckpt-10); listed files keep\n"+
		"the order given. The folder is built aside and renamed into place; an existing --out is never touched.")
	mf := addModelFlags(fs)
	dataset := fs.String("dataset", "", "dataset the trajectory was trained on, recorded for transfer (default: mnist for MLPs, cifar10 for conv nets and ResNets)")
	dataPath := fs.String("data", "", "where the dataset's files are, recorded for transfer (default: the dataset's default places)")
	classSubset := fs.String("class-subset", "", "the class subset the run was trained on, e.g. 0-4, recorded for transfer")
	from := fs.String("from", "", "folder of checkpoints to import (instead of listing files)")
	pattern := fs.String("pattern", "*.safetensors", "with --from: glob of the checkpoint names")
	out := fs.String("out", "", "trajectory folder to write (required; must not exist or must be empty)")
	copyFiles := fs.Bool("copy", false, "copy the checkpoints (default: hard-link them where possible, else copy)")
	stepsPerEpoch := fs.Int("steps-per-epoch", 0, "record each checkpoint's epoch as its number / N (0: its number is the epoch)")
	pos, done, err := parseFlagsAndArgs(fs, args)
	if done {
		return err
	}
	switch {
	case *out == "":
		return errors.New("--out DIR is required")
	case *from == "" && len(pos) == 0:
		return errors.New("no checkpoints: give --from FOLDER or the checkpoint files")
	case *from != "" && len(pos) > 0:
		return fmt.Errorf("--from and listed files (%q …) exclude each other", pos[0])
	case *stepsPerEpoch < 0:
		return fmt.Errorf("--steps-per-epoch %d, want ≥ 0", *stepsPerEpoch)
	}
	if !slices.Contains(nn.Archs(), mf.arch) {
		return fmt.Errorf("unknown model %q (known: %s)", mf.arch, strings.Join(nn.Archs(), ", "))
	}
	ckpts, err := importInputs(*from, *pattern, pos)
	if err != nil {
		return err
	}
	if err := checkImportOut(*out); err != nil {
		return err
	}
	ds := strings.ToLower(*dataset)
	if ds == "" {
		ds = nn.CIFAR10
		if strings.HasPrefix(mf.arch, "mlp") {
			ds = nn.MNIST
		}
	}
	cs, err := nn.ParseClassSubset(*classSubset)
	if err != nil {
		return fmt.Errorf("--class-subset: %w", err)
	}

	// The model: the flags, what the first checkpoint implies, and the
	// dataset's sample shape where it is fixed.
	first, err := nn.ReadSafetensorsFile(ckpts[0].path)
	if err != nil {
		return err
	}
	base := nn.ModelConfig{Width: mf.width, WidthFactor: mf.widthFactor, Depth: mf.depth, NumClasses: mf.classes, InputShape: datasetSampleShape(ds)}
	cfg, err := nn.InferModelConfig(mf.arch, nn.ShapesOf(first), base)
	if err != nil {
		cfg = base // the load below names what is missing
	}
	if cfg.NumClasses == 0 {
		cfg.NumClasses = 10
	}
	model, err := nn.NewModel(mf.arch, cfg)
	if err != nil {
		return err
	}

	tmp := partialDir(*out)
	if err := os.RemoveAll(tmp); err != nil { // a killed import's leftovers
		return err
	}
	if err := os.MkdirAll(tmp, 0o755); err != nil {
		return err
	}
	ok := false
	defer func() {
		if !ok {
			os.RemoveAll(tmp)
		}
	}()
	man := &nn.Manifest{Format: nn.ManifestFormat, Model: mf.arch, ModelConfig: cfg, Dataset: ds, DataPath: *dataPath, ClassSubset: cs, Complete: true}
	if mf.arch == "mlp" || mf.arch == "mlp-relu" {
		man.Width = cfg.Width
	}
	for i, c := range ckpts {
		f := first
		if i > 0 {
			if f, err = nn.ReadSafetensorsFile(c.path); err != nil {
				return err
			}
		}
		if _, err := nn.CheckpointFromFile(f, model); err != nil {
			return fmt.Errorf("checkpoint %d of %d: %w", i+1, len(ckpts), err)
		}
		name := nn.CheckpointFile(i)
		if err := linkOrCopy(c.path, filepath.Join(tmp, name), *copyFiles); err != nil {
			return err
		}
		epoch := float64(c.step)
		if *stepsPerEpoch > 0 {
			epoch /= float64(*stepsPerEpoch)
		}
		man.Checkpoints = append(man.Checkpoints, nn.CheckpointRecord{Index: i, File: name, Epoch: epoch, Step: c.step})
	}
	man.TotalSteps = ckpts[len(ckpts)-1].step
	man.StepsPerEpoch = *stepsPerEpoch
	if *stepsPerEpoch > 0 {
		man.Epochs = (man.TotalSteps + *stepsPerEpoch - 1) / *stepsPerEpoch
	}
	if err := nn.WriteManifest(tmp, man); err != nil {
		return err
	}
	if err := syncDir(tmp); err != nil {
		return err
	}
	if err := checkImportOut(*out); err != nil { // appeared meanwhile
		return err
	}
	os.Remove(*out) // an empty folder; a full one was refused above
	if err := os.Rename(tmp, *out); err != nil {
		return err
	}
	ok = true
	if err := syncDir(filepath.Dir(*out)); err != nil {
		return err
	}
	steps := make([]string, len(ckpts))
	for i, c := range ckpts {
		steps[i] = strconv.Itoa(c.step)
	}
	fmt.Fprintf(stdout, "imported %d checkpoints of %s (%s) into %s (steps %s; dataset %s)\n",
		len(ckpts), mf.arch, nn.DescribeSize(mf.arch, cfg), *out, strings.Join(steps, ", "), ds)
	return nil
}

// importInputs lists the checkpoints to import, in trajectory order.
func importInputs(from, pattern string, files []string) ([]importedCheckpoint, error) {
	if from == "" {
		cs := make([]importedCheckpoint, len(files))
		for i, f := range files {
			cs[i] = importedCheckpoint{f, i}
		}
		return cs, nil
	}
	if _, err := filepath.Match(pattern, ""); err != nil {
		return nil, fmt.Errorf("--pattern %q: %w", pattern, err)
	}
	ents, err := os.ReadDir(from)
	if err != nil {
		return nil, fmt.Errorf("--from: %w", err)
	}
	var cs []importedCheckpoint
	seen := map[int]string{}
	for _, e := range ents {
		if e.IsDir() || strings.HasPrefix(e.Name(), ".") {
			continue
		}
		if m, _ := filepath.Match(pattern, e.Name()); !m {
			continue
		}
		n, ok := lastNumber(e.Name())
		if !ok {
			return nil, fmt.Errorf("--from %s: %s has no number in its name to order it by (list the files in order instead)", from, e.Name())
		}
		if prev, dup := seen[n]; dup {
			return nil, fmt.Errorf("--from %s: %s and %s both carry number %d", from, prev, e.Name(), n)
		}
		seen[n] = e.Name()
		cs = append(cs, importedCheckpoint{filepath.Join(from, e.Name()), n})
	}
	if len(cs) == 0 {
		return nil, fmt.Errorf("--from %s: no file matches %q", from, pattern)
	}
	sort.Slice(cs, func(a, b int) bool { return cs[a].step < cs[b].step })
	return cs, nil
}

// lastNumber is the last run of digits in a file name without its
// extension: "ckpt-0010.safetensors" → 10, "epoch3_step200.pt" → 200.
func lastNumber(name string) (int, bool) {
	name = strings.TrimSuffix(name, filepath.Ext(name))
	end := strings.LastIndexFunc(name, func(r rune) bool { return r >= '0' && r <= '9' })
	if end < 0 {
		return 0, false
	}
	start := end
	for start > 0 && name[start-1] >= '0' && name[start-1] <= '9' {
		start--
	}
	n, err := strconv.Atoi(name[start : end+1])
	return n, err == nil
}

// datasetSampleShape is the per-sample shape of a dataset whose shape is
// fixed (nil for imagefolder).
func datasetSampleShape(ds string) []int {
	switch ds {
	case nn.MNIST, nn.FashionMNIST:
		return []int{1, 28, 28}
	case nn.CIFAR10:
		return []int{3, 32, 32}
	}
	return nil
}

// checkImportOut refuses an --out that exists and is not an empty folder.
func checkImportOut(dir string) error {
	ents, err := os.ReadDir(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("--out: %w", err)
	}
	if len(ents) > 0 {
		return fmt.Errorf("--out %s exists and is not empty; not touching it: choose another --out", dir)
	}
	return nil
}

// linkOrCopy puts src at dst: a hard link unless copyOnly or linking
// fails (another file system), else a copy, synced.
func linkOrCopy(src, dst string, copyOnly bool) error {
	if real, err := filepath.EvalSymlinks(src); err == nil {
		src = real // link the file, not a (possibly relative) symlink
	}
	if !copyOnly && os.Link(src, dst) == nil {
		return nil
	}
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	o, err := os.OpenFile(dst, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
	if err != nil {
		return err
	}
	if _, err := io.Copy(o, in); err != nil {
		o.Close()
		return err
	}
	if err := o.Sync(); err != nil {
		o.Close()
		return err
	}
	return o.Close()
}
