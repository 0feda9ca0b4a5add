package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"github.com/ltransfer/ltransfer/nn"
)

// A multi-seed training run, ltransfer train --seeds 101-108 … --out DIR,
// trains the same model once per seed (sources and targets of a sweep)
// and writes into DIR:
//
//	seeds.json     the plan: the seeds and the training flags they share
//	seed-101/ …    one finished trajectory per seed
//
// Shard I of N (--shard I/N, or a Slurm array task or Kubernetes Indexed
// Job completion, as for the many-target transfer) trains the seeds whose
// position in the list is I mod N. A seed's trajectory is built in
// .seed-S.partial and renamed to seed-S when training (and the test
// evaluation) is done; a rerun skips finished seeds and resumes an
// interrupted one from its last checkpoint, which gives the same
// checkpoint bytes as an uninterrupted run.

const seedsFormat = "ltransfer-seeds/1"

type seedsPlan struct {
	Format string  `json:"format"`
	Seeds  []int64 `json:"seeds"`
	// Args are the train flags every seed shares, as given.
	Args []string `json:"args"`
	// Shards is the shard count of the sharded runs that wrote here.
	Shards int `json:"shards,omitempty"`
}

// seedsOwnFlags are the train flags runTrainSeeds handles itself; the
// others go to every seed's run unchanged.
var seedsOwnFlags = map[string]bool{"seeds": true, "shard": true, "shard-count": true, "out": true}

// addSeedsFlags lists the multi-seed flags in train's --help. runTrain
// hands any command line with --seeds to runTrainSeeds, which takes these
// flags out, so train meets them only without --seeds: an error.
func addSeedsFlags(fs *flag.FlagSet) {
	needSeeds := func(name string) func(string) error {
		return func(string) error { return fmt.Errorf("--%s needs --seeds", name) }
	}
	fs.Func("seeds", "train once per seed, e.g. 101-108 or 1,5,9: --out then holds seed-S/ trajectories and seeds.json; a rerun skips finished seeds and resumes interrupted ones", needSeeds("seeds"))
	fs.Func("shard", "with --seeds: train only shard I/N (0 ≤ I < N): the seeds whose position in the list is I mod N; default from SLURM_ARRAY_TASK_ID − SLURM_ARRAY_TASK_MIN of SLURM_ARRAY_TASK_COUNT, or JOB_COMPLETION_INDEX of --shard-count", needSeeds("shard"))
	fs.Func("shard-count", "with --seeds: the number of shards when the index comes from JOB_COMPLETION_INDEX or SLURM_ARRAY_TASK_ID taken as is (default LTRANSFER_SHARD_COUNT)", needSeeds("shard-count"))
}

// flagName returns the name of a command-line flag argument ("--out=x" →
// "out", true) and its inline value.
func flagName(a string) (name, value string, inline, ok bool) {
	if len(a) < 2 || a[0] != '-' || a == "--" {
		return "", "", false, false
	}
	a = strings.TrimPrefix(strings.TrimPrefix(a, "-"), "-")
	name, value, inline = strings.Cut(a, "=")
	return name, value, inline, name != ""
}

// hasSeedsFlag reports whether a train command line asks for several seeds.
func hasSeedsFlag(args []string) bool {
	for _, a := range args {
		if a == "--" {
			return false
		}
		if n, _, _, ok := flagName(a); ok && n == "seeds" {
			return true
		}
	}
	return false
}

// parseSeeds reads "101-108", "1,5,9" or a mix; no duplicates.
func parseSeeds(s string) ([]int64, error) {
	var out []int64
	seen := map[int64]bool{}
	for _, f := range strings.Split(s, ",") {
		f = strings.TrimSpace(f)
		if f == "" {
			continue
		}
		lo, hi := f, f
		if i := strings.Index(f[1:], "-"); i >= 0 { // a leading minus is a sign
			lo, hi = f[:i+1], f[i+2:]
		}
		a, err1 := strconv.ParseInt(strings.TrimSpace(lo), 10, 64)
		b, err2 := strconv.ParseInt(strings.TrimSpace(hi), 10, 64)
		if err1 != nil || err2 != nil {
			return nil, fmt.Errorf("--seeds %q: %q is not a seed or a range A-B", s, f)
		}
		if b < a || b-a >= 1<<16 || len(out)+int(b-a) >= 1<<16 {
			return nil, fmt.Errorf("--seeds %q: range %q is empty or longer than 65536 seeds", s, f)
		}
		for x := a; ; x++ {
			if seen[x] {
				return nil, fmt.Errorf("--seeds %q: seed %d is listed twice", s, x)
			}
			seen[x] = true
			out = append(out, x)
			if x == b {
				break
			}
		}
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("--seeds %q: no seeds", s)
	}
	return out, nil
}

func seedDir(s int64) string { return fmt.Sprintf("seed-%d", s) }

func runTrainSeeds(args []string, stdout, stderr io.Writer) error {
	// Take out the flags handled here; the rest are every seed's.
	var rest []string
	own := map[string]string{}
	for i := 0; i < len(args); i++ {
		a := args[i]
		if a == "--" {
			return errors.New("train --seeds takes flags only")
		}
		name, val, inline, ok := flagName(a)
		switch {
		case !ok:
			rest = append(rest, a)
			continue
		case name == "seed":
			return errors.New("--seed and --seeds exclude each other")
		case name == "resume":
			return errors.New("train --seeds resumes interrupted seeds by itself: drop --resume")
		case !seedsOwnFlags[name]:
			rest = append(rest, a)
			continue
		}
		if !inline {
			if i+1 == len(args) {
				return fmt.Errorf("flag needs an argument: -%s", name)
			}
			i++
			val = args[i]
		}
		if _, dup := own[name]; dup {
			return fmt.Errorf("--%s is given twice", name)
		}
		own[name] = val
	}
	seeds, err := parseSeeds(own["seeds"])
	if err != nil {
		return err
	}
	out := own["out"]
	if out == "" {
		return errors.New("--out DIR is required (the folder of the seeds' trajectories)")
	}
	var sh shardFlag
	if v, ok := own["shard"]; ok {
		if err := sh.Set(v); err != nil {
			return fmt.Errorf("--shard: %w", err)
		}
	}
	count := 0
	if v, ok := own["shard-count"]; ok {
		if count, err = strconv.Atoi(v); err != nil || count < 1 {
			return fmt.Errorf("--shard-count %q: want a number ≥ 1", v)
		}
	}
	if sh, err = sh.resolve(count); err != nil {
		return err
	}
	// The shared flags must parse as train's before anything is written.
	var msg bytes.Buffer
	if err := runTrain(append(slices.Clone(rest), "-help"), io.Discard, &msg); err != nil {
		return err
	}
	plan := &seedsPlan{Format: seedsFormat, Seeds: seeds, Args: rest}
	if err := prepareSeedsPlan(out, plan, sh); err != nil {
		return err
	}
	var mine []int64
	done := 0
	for k, s := range seeds {
		if sh.set && k%sh.n != sh.i {
			continue
		}
		if finishedTrajectory(filepath.Join(out, seedDir(s))) {
			done++
			continue
		}
		mine = append(mine, s)
	}
	fmt.Fprintf(stderr, "train %d seeds into %s (%s; %d to train, %d finished)\n", len(seeds), out, shardLabel(sh), len(mine), done)
	noTest := wantsNoTest(rest)
	for _, s := range mine {
		final := filepath.Join(out, seedDir(s))
		part := partialDir(final)
		if man, err := nn.ReadManifest(part); err == nil && man.Complete && man.TestAcc == nil && !noTest {
			// Killed between training and the test evaluation: train
			// again (the same bytes), since train does not evaluate a
			// complete trajectory.
			if err := os.RemoveAll(part); err != nil {
				return err
			}
		}
		if man, err := nn.ReadManifest(part); err != nil || !man.Complete {
			var o bytes.Buffer
			seedArgs := append(slices.Clone(rest), "--seed", strconv.FormatInt(s, 10), "--out", part, "--resume")
			if err := runTrain(seedArgs, &o, stderr); err != nil {
				return fmt.Errorf("seed %d: %w", s, err)
			}
			io.WriteString(stdout, strings.ReplaceAll(o.String(), part, final))
		}
		if err := os.Rename(part, final); err != nil {
			return err
		}
		if err := syncDir(out); err != nil {
			return err
		}
	}
	var waiting []string
	for _, s := range seeds {
		if !finishedTrajectory(filepath.Join(out, seedDir(s))) {
			waiting = append(waiting, seedDir(s))
		}
	}
	if len(waiting) > 0 {
		fmt.Fprintf(stdout, "%d of %d seeds finished in %s; waiting for: %s\n", len(seeds)-len(waiting), len(seeds), out, strings.Join(waiting, ", "))
		return nil
	}
	fmt.Fprintf(stdout, "| seed | checkpoints | val acc | test acc |\n|---|---|---|---|\n")
	for _, s := range seeds {
		man, err := nn.ReadManifest(filepath.Join(out, seedDir(s)))
		if err != nil {
			return err
		}
		fmt.Fprintf(stdout, "| %d | %d | %s | %s |\n", s, len(man.Checkpoints), pct(lastValAcc(man)), pct(man.TestAcc))
	}
	fmt.Fprintf(stdout, "wrote %s (%d trajectories)\n", out, len(seeds))
	return nil
}

func pct(x *float64) string {
	if x == nil {
		return "–"
	}
	return fmt.Sprintf("%.2f%%", 100**x)
}

func lastValAcc(m *nn.Manifest) *float64 {
	if n := len(m.Checkpoints); n > 0 {
		return m.Checkpoints[n-1].ValAcc
	}
	return nil
}

// wantsNoTest reports whether the shared flags turn the test evaluation off.
func wantsNoTest(args []string) bool {
	on := false
	for _, a := range args {
		if n, v, inline, ok := flagName(a); ok && n == "no-test" {
			on = !inline || v == "true" || v == "1" || v == "t" || v == "T" || v == "TRUE" || v == "True"
		}
	}
	return on
}

// finishedTrajectory reports whether dir holds a complete trajectory.
func finishedTrajectory(dir string) bool {
	man, err := nn.ReadManifest(dir)
	return err == nil && man.Complete
}

// prepareSeedsPlan checks out against the plan (a rerun, another shard) or
// writes the plan into a new folder. A plan whose seeds have not started
// yet is replaced (a first run that failed on a bad flag).
func prepareSeedsPlan(dir string, plan *seedsPlan, sh shardFlag) error {
	if sh.set {
		plan.Shards = sh.n
	}
	started := false
	ents, err := os.ReadDir(dir)
	switch {
	case errors.Is(err, fs.ErrNotExist):
	case err != nil:
		return err
	}
	for _, e := range ents {
		n := e.Name()
		if strings.HasPrefix(n, "seed-") || strings.HasPrefix(n, ".seed-") {
			started = true
		} else if n != "seeds.json" && !strings.HasPrefix(n, ".") {
			return fmt.Errorf("%s holds %s, which train --seeds did not write; choose another --out", dir, n)
		}
	}
	b, err := os.ReadFile(filepath.Join(dir, "seeds.json"))
	switch {
	case err == nil:
		var old seedsPlan
		if err := json.Unmarshal(b, &old); err != nil || old.Format != seedsFormat {
			return fmt.Errorf("%s/seeds.json is not a multi-seed training plan (%v)", dir, err)
		}
		if why := seedsPlanDiff(&old, plan); why != "" {
			if started {
				return fmt.Errorf("%s holds a multi-seed training with other settings (%s); choose another --out", dir, why)
			}
		} else {
			return sh.adopt(dir, old.Shards, &plan.Shards)
		}
	case !errors.Is(err, fs.ErrNotExist):
		return err
	case started:
		return fmt.Errorf("%s holds seed folders but no seeds.json; choose another --out", dir)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	return writeJSONAtomic(filepath.Join(dir, "seeds.json"), plan)
}

func seedsPlanDiff(a, b *seedsPlan) string {
	if !slices.Equal(a.Seeds, b.Seeds) {
		return fmt.Sprintf("seeds %v vs %v", a.Seeds, b.Seeds)
	}
	if !slices.Equal(a.Args, b.Args) {
		return fmt.Sprintf("flags %q vs %q", strings.Join(a.Args, " "), strings.Join(b.Args, " "))
	}
	return ""
}
