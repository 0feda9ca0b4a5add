package main

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/ltransfer/ltransfer/nn"
	"github.com/ltransfer/ltransfer/transfer"
)

// A transfer's folder is built in a hidden sibling, ".NAME.partial", and
// renamed to NAME when complete: NAME holds all of a finished transfer or
// none of it, and exactly the files its manifest and report list. A rerun
// removes the partial folder of a killed run (it is ours by its name).

func partialDir(dir string) string {
	return filepath.Join(filepath.Dir(dir), "."+filepath.Base(dir)+".partial")
}

// checkOutDir refuses an output folder that holds anything this command
// did not write: a finished transfer without force, or other files
// (a training trajectory, say) even with it.
func checkOutDir(dir string, force bool) error {
	ents, err := os.ReadDir(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	if len(ents) == 0 {
		return nil
	}
	if _, err := os.Stat(filepath.Join(dir, "report.json")); err == nil {
		if force {
			return nil
		}
		return fmt.Errorf("%s already holds a finished transfer (report.json); use --force to replace it", dir)
	}
	if force {
		return fmt.Errorf("%s holds files that this command did not write (no report.json); not replacing it even with --force: choose another --out", dir)
	}
	return fmt.Errorf("%s exists and holds files that this command did not write (no report.json); choose another --out", dir)
}

// stepWriter writes a transfer's points as they come, on its own
// goroutine, so file I/O overlaps the computation.
type stepWriter struct {
	j       *transferJob
	dir     string // the final folder
	tmp     string // where it is built
	ch      chan writeItem
	done    chan struct{}
	err     error
	records []nn.CheckpointRecord
	// withDigest: finish also writes the folder's digest (targetDigest)
	// into it, as digestFile, and keeps it in digest (many-target runs).
	withDigest bool
	digest     string
}

type writeItem struct {
	s     int
	p     *nn.ParamSet
	perms transfer.Perms
}

func (j *transferJob) newStepWriter(dir string, force bool) (*stepWriter, error) {
	if err := checkOutDir(dir, force); err != nil {
		return nil, err
	}
	tmp := partialDir(dir)
	if err := os.RemoveAll(tmp); err != nil {
		return nil, err
	}
	if err := os.MkdirAll(tmp, 0o755); err != nil {
		return nil, err
	}
	w := &stepWriter{j: j, dir: dir, tmp: tmp, ch: make(chan writeItem, 2), done: make(chan struct{})}
	go w.loop()
	return w, nil
}

func (w *stepWriter) loop() {
	defer close(w.done)
	for it := range w.ch {
		if w.err != nil {
			continue
		}
		meta := map[string]string{"method": string(w.j.method), "step": fmt.Sprint(it.s)}
		if err := nn.SaveCheckpoint(filepath.Join(w.tmp, nn.CheckpointFile(it.s)), w.j.model, it.p, meta); err != nil {
			w.err = err
			continue
		}
		w.err = transfer.SavePerms(filepath.Join(w.tmp, fmt.Sprintf("perms-%04d.json", it.s)), it.perms)
	}
}

// add is the transfer's OnStep: it queues a copy of the point.
func (w *stepWriter) add(s int, p *nn.ParamSet, perms transfer.Perms) error {
	select {
	case <-w.done:
		return w.err
	default:
	}
	w.records = append(w.records, nn.CheckpointRecord{Index: s, File: nn.CheckpointFile(s), Epoch: float64(s), Step: s})
	w.ch <- writeItem{s, p, perms.Clone()} // the transfer leaves p alone (Options.OnStep)
	return nil
}

// finish waits for the points, writes the manifest, best point,
// permutations and report, and moves the folder into place.
func (w *stepWriter) finish(rep *transfer.Report) error {
	close(w.ch)
	<-w.done
	if w.err != nil {
		return w.err
	}
	j := w.j
	if len(w.records) != len(rep.Steps) {
		return fmt.Errorf("transfer wrote %d points for %d steps", len(w.records), len(rep.Steps))
	}
	for i := range w.records {
		acc := rep.Steps[i].ValAcc
		w.records[i].ValAcc = &acc
	}
	man := &nn.Manifest{Format: nn.ManifestFormat, Model: j.model.Arch(), ModelConfig: j.mcfg, Width: j.mcfg.Width,
		Dataset: j.dataset, DataPath: j.dataPath, ClassSubset: j.classSubset, Checkpoints: w.records, Complete: true}
	if err := nn.WriteManifest(w.tmp, man); err != nil {
		return err
	}
	if err := nn.SaveCheckpoint(filepath.Join(w.tmp, "best.safetensors"), j.model, rep.BestParams, map[string]string{"method": string(j.method), "step": fmt.Sprint(rep.BestStep)}); err != nil {
		return err
	}
	if err := transfer.SavePerms(filepath.Join(w.tmp, "perms.json"), rep.Perms); err != nil {
		return err
	}
	if rep.BestLogits != nil {
		v := j.valSet()
		if err := writeNpyF32(filepath.Join(w.tmp, bestLogitsFile), rep.BestLogits, v.Len(), v.NumClasses()); err != nil {
			return err
		}
	}
	rep.PeakRSSMB = peakRSSMB()
	if err := writeJSONAtomic(filepath.Join(w.tmp, "report.json"), rep); err != nil {
		return err
	}
	if w.withDigest {
		d, err := targetDigestAs(w.tmp, filepath.Base(w.dir))
		if err != nil {
			return err
		}
		if err := os.WriteFile(filepath.Join(w.tmp, digestFile), []byte(d+"\n"), 0o644); err != nil {
			return err
		}
		w.digest = d
	}
	return replaceDir(w.tmp, w.dir)
}

// abort drops a failed transfer's partial folder.
func (w *stepWriter) abort() {
	select {
	case <-w.done:
	default:
		close(w.ch)
		<-w.done
	}
	_ = os.RemoveAll(w.tmp)
}

// replaceDir moves the finished folder tmp to dir, replacing what dir held
// (checkOutDir allowed it: nothing, or a finished transfer with --force).
func replaceDir(tmp, dir string) error {
	if err := os.Rename(tmp, dir); err == nil {
		return syncDir(filepath.Dir(dir))
	}
	old := filepath.Join(filepath.Dir(dir), "."+filepath.Base(dir)+".old")
	if err := os.RemoveAll(old); err != nil {
		return err
	}
	if err := os.Rename(dir, old); err != nil {
		return err
	}
	if err := os.Rename(tmp, dir); err != nil {
		_ = os.Rename(old, dir)
		return err
	}
	if err := syncDir(filepath.Dir(dir)); err != nil {
		return err
	}
	return os.RemoveAll(old)
}

func syncDir(dir string) error {
	f, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer f.Close()
	return f.Sync()
}

// checkOutFile is the rule for a command that writes one file at path
// (named by flagName in errors): path must not exist, or, with force, be a
// regular file that is none of the command's inputs; its folder must
// exist. The file itself is then written atomically (temporary file and
// rename), so a failed command leaves any previous file as it was.
func checkOutFile(flagName, path string, force bool, inputs ...string) error {
	st, err := os.Stat(path)
	if errors.Is(err, fs.ErrNotExist) {
		if dst, err := os.Stat(filepath.Dir(path)); err != nil || !dst.IsDir() {
			return fmt.Errorf("%s %s: folder %s does not exist (create it first)", flagName, path, filepath.Dir(path))
		}
		return nil
	}
	if err != nil {
		return fmt.Errorf("%s %s: %w", flagName, path, err)
	}
	if !st.Mode().IsRegular() {
		return fmt.Errorf("%s %s exists and is not a regular file; choose another path", flagName, path)
	}
	for _, in := range inputs {
		if ist, err := os.Stat(in); in != "" && err == nil && os.SameFile(st, ist) {
			return fmt.Errorf("%s %s is also an input of the command; choose another path", flagName, path)
		}
	}
	if !force {
		return fmt.Errorf("%s %s already exists; use --force to replace it", flagName, path)
	}
	return nil
}

// checkNotInput refuses an output path that is one of the command's
// inputs (a transfer folder is a trajectory, so a later transfer may read
// it as its source: --force must not replace what the run reads).
func checkNotInput(flagName, out string, inputs ...string) error {
	st, err := os.Stat(out)
	if err != nil {
		return nil // nothing there: no input
	}
	for _, in := range inputs {
		if in == "" {
			continue
		}
		if ist, err := os.Stat(in); err == nil && os.SameFile(st, ist) {
			return fmt.Errorf("%s %s is also an input of the command; choose another path", flagName, out)
		}
	}
	return nil
}

// checkOwnDir is the rule for a folder a command fills with files of known
// names (own reports whether a name is one): the folder must be absent,
// empty, or hold only such entries (a rerun of the command).
func checkOwnDir(flagName, dir string, own func(name string) bool) error {
	ents, err := os.ReadDir(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("%s %s: %w", flagName, dir, err)
	}
	for _, e := range ents {
		if !own(e.Name()) {
			return fmt.Errorf("%s %s holds %s, which this command did not write; choose another folder", flagName, dir, e.Name())
		}
	}
	return nil
}

// isTempOf reports whether name is a temporary file that an atomic write
// of one of the files names leaves when killed.
func isTempOf(name string, names ...string) bool {
	for _, n := range names {
		if strings.HasPrefix(name, "."+n+".tmp") {
			return true
		}
	}
	return false
}

// demoOwns reports whether name is an entry ltransfer demo writes in its
// cache or output folder.
func demoOwns(name string) bool {
	for _, p := range []string{"train-", "transfer-", "scratch-", "finetune-", ".transfer-", ".finetune-", ".scratch-", ".train-"} {
		if strings.HasPrefix(name, p) {
			return true
		}
	}
	files := []string{"demo.md", "demo-transfer.png", "demo-finetune.png"}
	return slices.Contains(files, name) || isTempOf(name, files...)
}

// summaryOwns reports whether name is an entry of a many-target folder or
// of a folder that only holds a summary.
func summaryOwns(name string) bool {
	files := []string{"summary.json", "summary.md"}
	return slices.Contains(files, name) || isTempOf(name, files...)
}

// checkComplete refuses a trajectory whose training run was interrupted
// (its manifest records total_steps and is not complete) unless allow,
// and then warns on stderr: a partial trajectory is a different, shorter
// path than the user may think. With stderr nil the caller wants the
// run's trained model, and a partial run is always refused. flagName
// (may be empty) names the trajectory's flag in the message.
func checkComplete(flagName string, tr *nn.RecordedTrajectory, allow bool, stderr io.Writer) error {
	man := tr.Manifest
	if man.Complete || man.TotalSteps == 0 {
		// Complete, or not a training run's manifest (one written by hand
		// for a trajectory from elsewhere records no total_steps).
		return nil
	}
	last := man.Checkpoints[len(man.Checkpoints)-1]
	name := tr.Dir
	if flagName != "" {
		name = flagName + " " + tr.Dir
	}
	what := fmt.Sprintf("%s is an interrupted training run (%d checkpoints, the last at step %d of %d)", name, len(man.Checkpoints), last.Step, man.TotalSteps)
	if stderr == nil {
		// A caller that wants the run's trained model: no partial use.
		return fmt.Errorf("%s: finish it with ltransfer train --resume --out %s, or name one of its checkpoint files", what, tr.Dir)
	}
	if !allow {
		return fmt.Errorf("%s: finish it with ltransfer train --resume --out %s, or pass --allow-incomplete to use the partial trajectory", what, tr.Dir)
	}
	fmt.Fprintf(stderr, "warning: %s; using the partial trajectory (--allow-incomplete)\n", what)
	return nil
}

// writeNpyF32 writes x, an r × c float32 matrix, as a .npy file (format
// 1.0, little-endian, C order) that numpy.load reads.
func writeNpyF32(path string, x []float32, r, c int) error {
	if len(x) != r*c {
		return fmt.Errorf("%s: %d values for a %d × %d matrix", path, len(x), r, c)
	}
	h := fmt.Sprintf("{'descr': '<f4', 'fortran_order': False, 'shape': (%d, %d), }", r, c)
	// The magic, version and length take 10 bytes; the header ends in a
	// newline and pads the whole to a multiple of 64.
	h += strings.Repeat(" ", 63-(10+len(h))%64) + "\n"
	b := make([]byte, 0, 10+len(h)+4*len(x))
	b = append(b, "\x93NUMPY\x01\x00"...)
	b = binary.LittleEndian.AppendUint16(b, uint16(len(h)))
	b = append(b, h...)
	for _, v := range x {
		b = binary.LittleEndian.AppendUint32(b, math.Float32bits(v))
	}
	return os.WriteFile(path, b, 0o644)
}
