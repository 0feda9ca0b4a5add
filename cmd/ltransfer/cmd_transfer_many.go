package main

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"math"
	"os"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"

	"github.com/ltransfer/ltransfer/nn"
	"github.com/ltransfer/ltransfer/transfer"
)

// A many-target transfer writes into --out:
//
//	targets.json      the plan: source, settings, the targets (written first)
//	target-000/ …     one finished transfer folder per target
//	target-007.failed the error of a target that failed (a rerun retries it)
//	summary.json, summary.md
//	                  per-target and mean ± std best accuracy, the ensemble of
//	                  the best points, timings; written once every target is done
//
// Shard I of N runs the targets whose index is I mod N, so shards of a
// Slurm array or a Kubernetes Indexed Job share one folder without writing
// the same file. Every target is built in a hidden partial folder and
// renamed into place when complete; a rerun skips finished targets and
// restarts interrupted ones, which gives the same bytes, since a target's
// result depends only on the plan.

const planFormat = "ltransfer-targets/1"

type targetPlan struct {
	Format string `json:"format"`
	Source string `json:"source"`
	// SourceManifest is the SHA-256 of the source's manifest.json.
	SourceManifest string            `json:"source_manifest_sha256"`
	Method         string            `json:"method"`
	Settings       map[string]string `json:"settings"`
	Data           planData          `json:"data"`
	Targets        []planTarget      `json:"targets"`
	// Shards is the shard count of the sharded runs that wrote here.
	Shards int `json:"shards,omitempty"`
}

type planData struct {
	Dataset     string `json:"dataset"`
	Path        string `json:"path,omitempty"`
	Limit       int    `json:"limit,omitempty"`
	ClassSubset []int  `json:"class_subset,omitempty"`
	GradAugment bool   `json:"gm_augment,omitempty"`
}

type planTarget struct {
	Name string `json:"name"`
	// Init is a checkpoint file or trajectory folder; Seed draws a fresh
	// initialisation instead.
	Init string `json:"init,omitempty"`
	Seed *int64 `json:"seed,omitempty"`
	// Final is the oracle's trained target.
	Final string `json:"final,omitempty"`
}

func targetName(i int) string { return fmt.Sprintf("target-%03d", i) }

// isTrajectoryCollection reports whether p is a folder of trajectory
// folders (and not a trajectory itself).
func isTrajectoryCollection(p string) bool {
	if p == "" {
		return false
	}
	if _, err := os.Stat(filepath.Join(p, "manifest.json")); err == nil {
		return false
	}
	subs, _ := trajectorySubfolders(p)
	return len(subs) > 0
}

func trajectorySubfolders(p string) ([]string, error) {
	ents, err := os.ReadDir(p)
	if err != nil {
		return nil, err
	}
	var out []string
	for _, e := range ents {
		if !e.IsDir() {
			continue
		}
		if _, err := os.Stat(filepath.Join(p, e.Name(), "manifest.json")); err == nil {
			out = append(out, filepath.Join(p, e.Name()))
		}
	}
	return out, nil
}

func splitList(s string) []string {
	var out []string
	for _, f := range strings.Split(s, ",") {
		if f = strings.TrimSpace(f); f != "" {
			out = append(out, f)
		}
	}
	return out
}

func absPath(p string) string {
	if a, err := filepath.Abs(p); err == nil {
		return a
	}
	return p
}

// newTargetPlan lists the targets of a many-target transfer.
func newTargetPlan(tr *nn.RecordedTrajectory, inits, finals string, n int, seed int64, m transfer.Method) (*targetPlan, error) {
	b, err := nn.ReadFileLimit(filepath.Join(tr.Dir, "manifest.json"), nn.MaxManifestBytes)
	if err != nil {
		return nil, err
	}
	sum := sha256.Sum256(b)
	p := &targetPlan{Format: planFormat, Source: absPath(tr.Dir), SourceManifest: hex.EncodeToString(sum[:]), Method: string(m)}
	switch {
	case n > 0:
		if m == transfer.Oracle {
			return nil, errors.New("--method oracle needs trained targets (--target-init and --target lists), not --targets N")
		}
		if int64(n) > 1<<20 || seed > (1<<62) || seed < -(1<<62) {
			return nil, fmt.Errorf("--targets %d --target-seed %d: out of range", n, seed)
		}
		for i := 0; i < n; i++ {
			s := seed + int64(i)
			p.Targets = append(p.Targets, planTarget{Name: targetName(i), Seed: &s})
		}
	default:
		var list []string
		if isTrajectoryCollection(inits) {
			if list, err = trajectorySubfolders(inits); err != nil {
				return nil, err
			}
		} else {
			list = splitList(inits)
		}
		fl := splitList(finals)
		if m == transfer.Oracle && len(fl) != len(list) {
			return nil, fmt.Errorf("--method oracle with %d targets needs as many --target entries, got %d", len(list), len(fl))
		}
		for i, f := range list {
			t := planTarget{Name: targetName(i), Init: absPath(f)}
			if m == transfer.Oracle {
				t.Final = absPath(fl[i])
			}
			p.Targets = append(p.Targets, t)
		}
	}
	if len(p.Targets) == 0 {
		return nil, errors.New("no targets")
	}
	return p, nil
}

// transferSettings records every flag that changes a transfer's result
// (not threads, workers, output or shard), with its value.
func transferSettings(fs *flag.FlagSet, tr *nn.RecordedTrajectory) map[string]string {
	skip := map[string]bool{"threads": true, "workers": true, "workspace-mb": true, "out": true, "force": true, "json": true, "shard": true,
		"shard-count": true, "target-init": true, "target": true, "targets": true, "target-seed": true, "source": true}
	s := map[string]string{}
	fs.VisitAll(func(f *flag.Flag) {
		if !skip[f.Name] {
			s[f.Name] = f.Value.String()
		}
	})
	s["init_scheme"] = tr.Manifest.InitScheme
	return s
}

// upgradeSettings renames the settings of plans written when transfer's
// --spacing was called --schedule, and adds the defaults of --repair,
// --select-perms, --select-batches and --broken-invariance to plans written
// before those flags, so their folders resume and summarise.
func (p *targetPlan) upgradeSettings() {
	if v, ok := p.Settings["schedule"]; ok {
		if _, dup := p.Settings["spacing"]; !dup {
			delete(p.Settings, "schedule")
			p.Settings["spacing"] = v
		}
	}
	for k, v := range map[string]string{"repair": "false", "select-perms": "false", "select-batches": "20", "broken-invariance": "false"} {
		if _, ok := p.Settings[k]; !ok && len(p.Settings) > 0 {
			p.Settings[k] = v
		}
	}
}

// shardFlag is --shard I/N.
type shardFlag struct {
	set  bool
	i, n int
}

// adopt takes the shard count an existing plan in dir was started with
// (started; 0 when it records none) into shards, and refuses a --shard
// whose count disagrees with it.
func (f *shardFlag) adopt(dir string, started int, shards *int) error {
	if f.set && started != 0 && started != f.n {
		return fmt.Errorf("%s was started with %d shards, this run has %d: use --shard I/%d", dir, started, f.n, started)
	}
	if started != 0 {
		*shards = started
	}
	return nil
}

func (f *shardFlag) String() string {
	if !f.set {
		return ""
	}
	return fmt.Sprintf("%d/%d", f.i, f.n)
}

func (f *shardFlag) Set(v string) error {
	a, b, ok := strings.Cut(v, "/")
	i, err1 := strconv.Atoi(a)
	n, err2 := strconv.Atoi(b)
	if !ok || err1 != nil || err2 != nil {
		return fmt.Errorf("want I/N, got %q", v)
	}
	if n < 1 || i < 0 || i >= n {
		return fmt.Errorf("shard %d/%d: want 0 ≤ I < N", i, n)
	}
	*f = shardFlag{true, i, n}
	return nil
}

// resolve fills the shard from the batch system's environment when the
// flag was not given, so one command line serves both engines:
//
//   - Slurm job arrays: shard SLURM_ARRAY_TASK_ID − SLURM_ARRAY_TASK_MIN of
//     SLURM_ARRAY_TASK_COUNT (--array=0-7 and --array=1-8 both give shards
//     0…7 of 8). With an explicit count (--shard-count or
//     LTRANSFER_SHARD_COUNT) the task id itself is the index, so a rerun of
//     some tasks (sbatch --array=3,5 … --shard-count 8) keeps their shards.
//   - Kubernetes Indexed Jobs: shard JOB_COMPLETION_INDEX of --shard-count
//     or LTRANSFER_SHARD_COUNT (the Job's completions).
//
// count is --shard-count (0: not given).
func (f shardFlag) resolve(count int) (shardFlag, error) {
	env := func(k string) (int, bool, error) {
		v, ok := os.LookupEnv(k)
		if !ok || v == "" {
			return 0, false, nil
		}
		x, err := strconv.Atoi(v)
		if err != nil {
			return 0, false, fmt.Errorf("%s=%q is not a number", k, v)
		}
		return x, true, nil
	}
	if f.set {
		if count != 0 && count != f.n {
			return f, fmt.Errorf("--shard %d/%d disagrees with --shard-count %d", f.i, f.n, count)
		}
		return f, nil
	}
	countFrom := "--shard-count"
	if count == 0 {
		c, ok, err := env("LTRANSFER_SHARD_COUNT")
		if err != nil {
			return f, err
		}
		if ok {
			if c < 1 {
				return f, fmt.Errorf("LTRANSFER_SHARD_COUNT=%d, want ≥ 1", c)
			}
			count, countFrom = c, "LTRANSFER_SHARD_COUNT"
		}
	}
	id, ok, err := env("SLURM_ARRAY_TASK_ID")
	if err != nil {
		return f, err
	}
	if ok {
		if count != 0 {
			return f.checked(id, count, "SLURM_ARRAY_TASK_ID of "+countFrom)
		}
		lo, _, err := env("SLURM_ARRAY_TASK_MIN")
		if err != nil {
			return f, err
		}
		n, okN, err := env("SLURM_ARRAY_TASK_COUNT")
		if err != nil {
			return f, err
		}
		if !okN {
			return f, errors.New("SLURM_ARRAY_TASK_ID is set but SLURM_ARRAY_TASK_COUNT is not: give the number of shards with --shard-count")
		}
		return f.checked(id-lo, n, "SLURM_ARRAY_TASK_ID − SLURM_ARRAY_TASK_MIN of SLURM_ARRAY_TASK_COUNT; for an array with gaps or steps give --shard-count")
	}
	idx, ok, err := env("JOB_COMPLETION_INDEX")
	if err != nil {
		return f, err
	}
	if ok {
		if count == 0 {
			return f, errors.New("JOB_COMPLETION_INDEX is set: give the number of completions with --shard-count or LTRANSFER_SHARD_COUNT")
		}
		return f.checked(idx, count, "JOB_COMPLETION_INDEX of "+countFrom)
	}
	if count != 0 {
		return f, fmt.Errorf("%s needs --shard, SLURM_ARRAY_TASK_ID or JOB_COMPLETION_INDEX", countFrom)
	}
	return shardFlag{set: false, i: 0, n: 1}, nil
}

func (f shardFlag) checked(i, n int, from string) (shardFlag, error) {
	if n < 1 || i < 0 || i >= n {
		return f, fmt.Errorf("shard %d of %d (from %s) is out of range: want 0 ≤ index < count", i, n, from)
	}
	return shardFlag{set: true, i: i, n: n}, nil
}

// preparePlan checks dir against the plan (a rerun, another shard) or
// writes the plan into a new folder.
func preparePlan(dir string, plan *targetPlan, sh shardFlag, force bool) error {
	if sh.set {
		plan.Shards = sh.n
	}
	b, err := nn.ReadFileLimit(filepath.Join(dir, "targets.json"), nn.MaxJSONBytes)
	switch {
	case err == nil:
		var old targetPlan
		if err := json.Unmarshal(b, &old); err != nil || old.Format != planFormat {
			return fmt.Errorf("%s/targets.json is not a many-target plan (%v)", dir, err)
		}
		old.upgradeSettings()
		if why := planDiff(&old, plan); why != "" {
			return fmt.Errorf("%s holds a many-target transfer with other settings (%s); choose another --out", dir, why)
		}
		return sh.adopt(dir, old.Shards, &plan.Shards)
	case !errors.Is(err, fs.ErrNotExist):
		return err
	}
	// Hidden entries are ltransfer's own temporary files: another shard
	// starting at the same moment may be writing the plan.
	if ents, err := os.ReadDir(dir); err == nil {
		for _, e := range ents {
			if !strings.HasPrefix(e.Name(), ".") {
				return fmt.Errorf("%s exists and holds files that are not a many-target transfer (no targets.json); choose another --out", dir)
			}
		}
	}
	_ = force // a plan is never overwritten: its targets are the user's results
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	return writeJSONAtomic(filepath.Join(dir, "targets.json"), plan)
}

// planDiff names the first difference between two plans that would make
// their targets' results differ ("" if none).
func planDiff(a, b *targetPlan) string {
	switch {
	case a.Source != b.Source:
		return fmt.Sprintf("source %s vs %s", a.Source, b.Source)
	case a.SourceManifest != b.SourceManifest:
		return "the source trajectory's manifest changed"
	case a.Method != b.Method:
		return fmt.Sprintf("method %s vs %s", a.Method, b.Method)
	case len(a.Targets) != len(b.Targets):
		return fmt.Sprintf("%d vs %d targets", len(a.Targets), len(b.Targets))
	}
	keys := map[string]bool{}
	for k := range a.Settings {
		keys[k] = true
	}
	for k := range b.Settings {
		keys[k] = true
	}
	names := make([]string, 0, len(keys))
	for k := range keys {
		names = append(names, k)
	}
	sort.Strings(names)
	for _, k := range names {
		if a.Settings[k] != b.Settings[k] {
			return fmt.Sprintf("--%s %q vs %q", k, a.Settings[k], b.Settings[k])
		}
	}
	for i := range a.Targets {
		x, y := a.Targets[i], b.Targets[i]
		if x.Name != y.Name || x.Init != y.Init || x.Final != y.Final || (x.Seed == nil) != (y.Seed == nil) || (x.Seed != nil && *x.Seed != *y.Seed) {
			return fmt.Sprintf("target %s differs", x.Name)
		}
	}
	return ""
}

// loadTarget reads or draws a target's initialisation (and oracle target).
func (j *transferJob) loadTarget(t planTarget) (transfer.Target, error) {
	var out transfer.Target
	var err error
	if t.Seed != nil {
		scheme := ""
		if s, ok := j.settings["init_scheme"]; ok {
			scheme = s
		}
		out.Init, err = nn.InitParams(j.model, *t.Seed, scheme)
		return out, err
	}
	if out.Init, err = loadParams(t.Init, j.model, 0); err != nil {
		return out, fmt.Errorf("%s: --target-init %s: %w", t.Name, t.Init, err)
	}
	if t.Final != "" {
		if out.Final, err = loadParams(t.Final, j.model, -1); err != nil {
			return out, fmt.Errorf("%s: --target %s: %w", t.Name, t.Final, err)
		}
		if st, _ := os.Stat(t.Final); st != nil && st.IsDir() {
			if out.Start, err = loadParams(t.Final, j.model, 0); err != nil {
				return out, fmt.Errorf("%s: --target %s: %w", t.Name, t.Final, err)
			}
		}
	}
	return out, nil
}

// runManyTargets runs this shard's unfinished targets of plan into j.out,
// then writes the summary if every target of the plan is finished.
func runManyTargets(ctx context.Context, j *transferJob, plan *targetPlan, sh shardFlag, stdout io.Writer, asJSON bool) error {
	if err := preparePlan(j.out, plan, sh, j.force); err != nil {
		return err
	}
	j.settings = plan.Settings
	var mine []int
	skipped := 0
	for i, t := range plan.Targets {
		if sh.set && i%sh.n != sh.i {
			continue
		}
		if _, err := os.Stat(filepath.Join(j.out, t.Name, "report.json")); err == nil {
			skipped++
			continue
		}
		mine = append(mine, i)
	}
	fmt.Fprintf(j.stderr, "transfer %s: %s %s → %d targets (%s; %d to run, %d finished), %d steps, %d threads, kernels %s\n",
		j.method, j.model.Arch(), plan.Source, len(plan.Targets), shardLabel(sh), len(mine), skipped, j.source.Len()-1, j.e.Threads(), j.e.Path())
	T := j.source.Len() - 1
	bar := newProgress(j.stderr, "transfer "+string(j.method), int64(len(mine)*T)).Units("step", 0)
	var (
		mu      sync.Mutex
		stepsOK int
		failed  []string
		// digests of the targets finished by this run, hashed by each
		// target as it ends (beside the others' work) for the summary;
		// those of other runs (shards) are read from their digestFile
		digests = map[string]string{}
	)
	targets := make([]transfer.Target, len(mine))
	writers := make([]*stepWriter, len(mine))
	for k, i := range mine {
		t := plan.Targets[i]
		_ = os.Remove(filepath.Join(j.out, t.Name+".failed"))
		// Loaded when the target starts: only the running targets are in memory.
		targets[k].Load = func(tg *transfer.Target) error {
			l, err := j.loadTarget(t)
			if err != nil {
				return err
			}
			w, err := j.newStepWriter(filepath.Join(j.out, t.Name), false)
			if err != nil {
				return err
			}
			w.withDigest = true
			mu.Lock()
			writers[k] = w
			mu.Unlock()
			tg.Init, tg.Final, tg.Start = l.Init, l.Final, l.Start
			tg.OnStep = w.add
			tg.OnDone = func(rep *transfer.Report) error {
				err := w.finish(rep)
				rep.BestParams = nil // written; no need to keep every target's
				if err != nil {
					return err
				}
				mu.Lock()
				digests[filepath.Join(j.out, t.Name)] = w.digest
				mu.Unlock()
				return nil
			}
			return nil
		}
	}
	o := j.options()
	o.KeepBestLogits = true // for the summary's ensemble
	o.Progress = func(p transfer.Progress) {
		if p.Phase == "step" && p.Step > 0 {
			mu.Lock()
			stepsOK++
			bar.Set(int64(stepsOK), fmt.Sprintf("%s step %d/%d done", plan.Targets[mine[p.Target]].Name, p.Step, p.Steps))
			mu.Unlock()
		}
	}
	if len(targets) > 0 {
		reps, err := transfer.RunMany(ctx, o, targets)
		if ctx.Err() != nil || reps == nil {
			for _, w := range writers {
				if w != nil {
					w.abort()
				}
			}
			bar.Finish()
			if ctx.Err() != nil {
				return fmt.Errorf("interrupted; rerun the same command to finish the remaining targets")
			}
			var te *transfer.TargetError
			if errors.As(err, &te) {
				return fmt.Errorf("%s: %w", plan.Targets[mine[te.Target]].Name, te.Err)
			}
			return err
		}
		for _, e := range unwrapAll(err) {
			var te *transfer.TargetError
			if errors.As(e, &te) {
				name := plan.Targets[mine[te.Target]].Name
				if w := writers[te.Target]; w != nil {
					w.abort()
				}
				failed = append(failed, name)
				msg := []byte(te.Err.Error() + "\n")
				if werr := writeFileAtomic(filepath.Join(j.out, name+".failed"), msg); werr != nil {
					return werr
				}
				fmt.Fprintf(j.stderr, "%s failed: %v\n", name, te.Err)
			}
		}
	}
	bar.Finish()
	st, err := planStatus(j.out, plan)
	if err != nil {
		return err
	}
	if len(st.missing)+len(st.failed) == 0 {
		sum, err := summarize(ctx, j, plan, []string{j.out}, digests, true)
		if err != nil {
			return err
		}
		if err := writeSummary(j.out, sum); err != nil {
			return err
		}
		if asJSON {
			return json.NewEncoder(stdout).Encode(sum)
		}
		printSummary(stdout, sum)
		fmt.Fprintf(stdout, "wrote %s (%d target folders, summary.json, summary.md)\n", j.out, len(plan.Targets))
	} else {
		fmt.Fprintf(stdout, "%d of %d targets finished in %s; waiting for: %s\n", len(plan.Targets)-len(st.missing)-len(st.failed),
			len(plan.Targets), j.out, strings.Join(append(st.missing, st.failed...), ", "))
	}
	if len(failed) > 0 {
		return fmt.Errorf("%d target(s) failed: %s (see %s/NAME.failed; a rerun retries them)", len(failed), strings.Join(failed, ", "), j.out)
	}
	return nil
}

func unwrapAll(err error) []error {
	if err == nil {
		return nil
	}
	if u, ok := err.(interface{ Unwrap() []error }); ok {
		return u.Unwrap()
	}
	return []error{err}
}

func shardLabel(sh shardFlag) string {
	if !sh.set {
		return "all shards"
	}
	return fmt.Sprintf("shard %d/%d", sh.i, sh.n)
}

func writeFileAtomic(path string, b []byte) error {
	return nn.WriteFileAtomic(path, func(w io.Writer) error { _, err := w.Write(b); return err })
}

type status struct {
	missing, failed []string
	where           map[string]string // target name → folder holding it
}

// planStatus finds each target's finished folder among dirs.
func planStatus(dirs string, plan *targetPlan, more ...string) (*status, error) {
	st := &status{where: map[string]string{}}
	all := append([]string{dirs}, more...)
	for _, t := range plan.Targets {
		for _, d := range all {
			if _, err := os.Stat(filepath.Join(d, t.Name, "report.json")); err == nil {
				st.where[t.Name] = d
				break
			}
		}
		if _, ok := st.where[t.Name]; ok {
			continue
		}
		isFailed := false
		for _, d := range all {
			if _, err := os.Stat(filepath.Join(d, t.Name+".failed")); err == nil {
				isFailed = true
			}
		}
		if isFailed {
			st.failed = append(st.failed, t.Name+" (failed)")
		} else {
			st.missing = append(st.missing, t.Name)
		}
	}
	return st, nil
}

// manySummary is summary.json.
type manySummary struct {
	Format     string                   `json:"format"`
	Source     string                   `json:"source"`
	Method     string                   `json:"method"`
	Targets    []targetSummary          `json:"targets"`
	BestValAcc stat                     `json:"best_val_acc"`
	FinalAcc   stat                     `json:"final_val_acc"`
	Ensemble   *transfer.EnsembleReport `json:"ensemble"`
	// Timings are per-target wall-clock seconds (they vary from run to
	// run; everything else in the summary does not).
	Timings stat `json:"timings_s"`
	// ResultsSHA256 digests every target's files in plan order (names and
	// bytes; report.json without its timings, peak RSS and thread count),
	// through one SHA-256 per target (resultsDigest): equal digests mean
	// identical results, however the targets were sharded, threaded or
	// interrupted.
	ResultsSHA256 string `json:"results_sha256"`
}

// resultsDigest combines the digests of the finished target folders dirs
// (in plan order): the SHA-256 of one line "target NAME DIGEST" per
// folder. known holds digests already computed (by the targets as they
// finished, see targetDigest), keyed by folder; with stored, a folder's
// digestFile (written by the run that finished it) stands for the others;
// the rest are computed here, several at a time.
func resultsDigest(dirs []string, known map[string]string, stored bool) (string, error) {
	digests := make([]string, len(dirs))
	errs := make([]error, len(dirs))
	var wg sync.WaitGroup
	sem := make(chan struct{}, runtime.GOMAXPROCS(0))
	for i, dir := range dirs {
		if d, ok := known[dir]; ok {
			digests[i] = d
			continue
		}
		if stored {
			if b, err := os.ReadFile(filepath.Join(dir, digestFile)); err == nil && digestLine.Match(b) {
				digests[i] = string(b[:64])
				continue
			}
		}
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer func() { <-sem; wg.Done() }()
			digests[i], errs[i] = targetDigest(dir)
		}()
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return "", err
	}
	h := sha256.New()
	for i, dir := range dirs {
		fmt.Fprintf(h, "target %s %s\n", filepath.Base(dir), digests[i])
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

// digestFile holds a many-target run's target folder's digest
// (targetDigest), written into it before it is renamed into place.
const digestFile = "digest.sha256"

var digestLine = regexp.MustCompile(`^[0-9a-f]{64}\n$`)

// targetDigest hashes the files of a finished target folder (names,
// lengths and bytes, sorted by name), with the run-dependent fields of
// report.json removed and digestFile left out.
func targetDigest(dir string) (string, error) {
	return targetDigestAs(dir, filepath.Base(dir))
}

// targetDigestAs is targetDigest of the folder dir as it will be named
// (name) once renamed into place.
func targetDigestAs(dir, name string) (string, error) {
	h := sha256.New()
	buf := make([]byte, 1<<20)
	ents, err := os.ReadDir(dir)
	if err != nil {
		return "", err
	}
	ents = slices.DeleteFunc(ents, func(e os.DirEntry) bool { return e.Name() == digestFile })
	fmt.Fprintf(h, "target %s %d\n", name, len(ents))
	for _, e := range ents { // sorted by name
		if e.IsDir() {
			return "", fmt.Errorf("%s/%s: a target folder holds no folders", dir, e.Name())
		}
		path := filepath.Join(dir, e.Name())
		if e.Name() == "report.json" {
			b, err := os.ReadFile(path)
			if err != nil {
				return "", err
			}
			if b, err = stripRunFields(b); err != nil {
				return "", fmt.Errorf("%s/report.json: %v", dir, err)
			}
			fmt.Fprintf(h, "file %s %d\n", e.Name(), len(b))
			h.Write(b)
			continue
		}
		// Streamed: a checkpoint is hashed without a buffer of its size.
		if err := hashFile(h, path, e.Name(), buf); err != nil {
			return "", err
		}
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

// hashFile writes "file NAME LEN\n" and the file's bytes to h.
func hashFile(h io.Writer, path, name string, buf []byte) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return err
	}
	fmt.Fprintf(h, "file %s %d\n", name, st.Size())
	n, err := io.CopyBuffer(h, io.LimitReader(f, st.Size()), buf)
	if err != nil {
		return err
	}
	if n != st.Size() {
		return fmt.Errorf("%s: read %d of its %d bytes: changed while being read", path, n, st.Size())
	}
	return nil
}

// stripRunFields removes the fields of a report that depend on the run
// (timings, peak RSS, threads) rather than on the result.
func stripRunFields(b []byte) ([]byte, error) {
	var v map[string]json.RawMessage
	if err := json.Unmarshal(b, &v); err != nil {
		return nil, err
	}
	for _, k := range []string{"timings_s", "peak_rss_mb", "threads"} {
		delete(v, k)
	}
	return json.Marshal(v) // keys sorted, raw values kept
}

type targetSummary struct {
	Name       string  `json:"name"`
	BestStep   int     `json:"best_step"`
	BestValAcc float64 `json:"best_val_acc"`
	FinalAcc   float64 `json:"final_val_acc"`
}

type stat struct {
	Mean float64 `json:"mean"`
	Std  float64 `json:"std"`
	Min  float64 `json:"min"`
	Max  float64 `json:"max"`
}

func statOf(xs []float64) stat {
	if len(xs) == 0 {
		return stat{}
	}
	s := stat{Min: xs[0], Max: xs[0]}
	for _, x := range xs {
		s.Mean += x
		s.Min, s.Max = min(s.Min, x), max(s.Max, x)
	}
	s.Mean /= float64(len(xs))
	if len(xs) > 1 {
		var v float64
		for _, x := range xs {
			v += (x - s.Mean) * (x - s.Mean)
		}
		s.Std = math.Sqrt(v / float64(len(xs)-1))
	}
	return s
}

// summarize gathers the reports and best points of every target of plan
// (found in dirs) and evaluates their ensemble. digests holds the target
// folders' digests already computed (nil: none).
func summarize(ctx context.Context, j *transferJob, plan *targetPlan, dirs []string, digests map[string]string, stored bool) (*manySummary, error) {
	st, err := planStatus(dirs[0], plan, dirs[1:]...)
	if err != nil {
		return nil, err
	}
	if n := len(st.missing) + len(st.failed); n > 0 {
		return nil, fmt.Errorf("%d of %d targets are not finished: %s", n, len(plan.Targets), strings.Join(append(st.missing, st.failed...), ", "))
	}
	sum := &manySummary{Format: "ltransfer-summary/1", Source: plan.Source, Method: plan.Method}
	val := j.valSet()
	var best, final, secs []float64
	logits := make([][]float32, len(plan.Targets))
	for k, t := range plan.Targets {
		dir := filepath.Join(st.where[t.Name], t.Name)
		rep, err := readReport(filepath.Join(dir, "report.json"))
		if err != nil {
			return nil, err
		}
		if len(rep.Steps) == 0 {
			return nil, fmt.Errorf("%s/report.json lists no steps", dir)
		}
		if logits[k], err = bestLogits(ctx, j, dir, val); err != nil {
			return nil, err
		}
		fa := rep.Steps[len(rep.Steps)-1].ValAcc
		sum.Targets = append(sum.Targets, targetSummary{Name: t.Name, BestStep: rep.BestStep, BestValAcc: rep.BestValAcc, FinalAcc: fa})
		best, final, secs = append(best, rep.BestValAcc), append(final, fa), append(secs, rep.Timings.Total)
	}
	sum.BestValAcc, sum.FinalAcc, sum.Timings = statOf(best), statOf(final), statOf(secs)
	var folders []string
	for _, t := range plan.Targets {
		folders = append(folders, filepath.Join(st.where[t.Name], t.Name))
	}
	if sum.ResultsSHA256, err = resultsDigest(folders, digests, stored); err != nil {
		return nil, err
	}
	labels := make([]int32, val.Len())
	for i := range labels {
		labels[i] = val.Label(i)
	}
	if sum.Ensemble, err = transfer.EnsembleOfLogits(logits, labels, val.NumClasses()); err != nil {
		return nil, err
	}
	return sum, nil
}

// bestLogitsFile holds a target's best point's logits on the validation
// set (float32, examples × classes), kept from the evaluation that chose
// it (transfer.Options.KeepBestLogits).
const bestLogitsFile = "best-logits.npy"

// bestLogits returns the logits of the best point of the target folder
// dir on val: its best-logits.npy, or, in a folder written without one,
// those of its best.safetensors, evaluated here.
func bestLogits(ctx context.Context, j *transferJob, dir string, val *nn.ImageSet) ([]float32, error) {
	path := filepath.Join(dir, bestLogitsFile)
	f, err := os.Open(path)
	if err == nil {
		defer f.Close()
		st, err := f.Stat()
		if err != nil {
			return nil, err
		}
		mat, err := lapReadNpy(f, st.Size())
		if err != nil {
			return nil, fmt.Errorf("%s: %w", path, err)
		}
		if mat.f32 == nil {
			return nil, fmt.Errorf("%s: %w: holds float64 values, want float32", path, nn.ErrShape)
		}
		if mat.n != val.Len() || mat.m != val.NumClasses() {
			return nil, fmt.Errorf("%s: %w: holds %d × %d values, the validation set %d examples of %d classes",
				path, nn.ErrShape, mat.n, mat.m, val.Len(), val.NumClasses())
		}
		return mat.f32, nil
	}
	if !errors.Is(err, fs.ErrNotExist) {
		return nil, err
	}
	p, err := nn.LoadCheckpoint(filepath.Join(dir, "best.safetensors"), j.model)
	if err != nil {
		return nil, err
	}
	m, err := nn.NewModel(j.model.Arch(), j.mcfg)
	if err != nil {
		return nil, err
	}
	l, err := transfer.Logits(ctx, j.e, m, p, val, 250)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", dir, err)
	}
	return l, nil
}

func writeSummary(dir string, sum *manySummary) error {
	var b strings.Builder
	printSummary(&b, sum)
	if err := writeFileAtomic(filepath.Join(dir, "summary.md"), []byte(b.String())); err != nil {
		return err
	}
	return writeJSONAtomic(filepath.Join(dir, "summary.json"), sum)
}

func printSummary(w io.Writer, s *manySummary) {
	fmt.Fprintf(w, "| target | best val acc | best step | final val acc |\n|---|---|---|---|\n")
	for _, t := range s.Targets {
		fmt.Fprintf(w, "| %s | %.2f%% | %d | %.2f%% |\n", t.Name, 100*t.BestValAcc, t.BestStep, 100*t.FinalAcc)
	}
	fmt.Fprintf(w, "\n%s onto %d targets: best val acc %.2f ± %.2f %% (min %.2f, max %.2f); final %.2f ± %.2f %%\n",
		strings.ToUpper(s.Method), len(s.Targets), 100*s.BestValAcc.Mean, 100*s.BestValAcc.Std, 100*s.BestValAcc.Min, 100*s.BestValAcc.Max,
		100*s.FinalAcc.Mean, 100*s.FinalAcc.Std)
	if e := s.Ensemble; e != nil {
		fmt.Fprintf(w, "ensemble of the %d best points (mean softmax): %.2f %% val acc; pairwise disagreement %.2f %%\n", e.Members, 100*e.Accuracy, 100*e.Disagreement)
	}
	fmt.Fprintf(w, "results sha256 %s\n", s.ResultsSHA256)
	fmt.Fprintf(w, "time per target %.2f ± %.2f s\n", s.Timings.Mean, s.Timings.Std)
}
