package main

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

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
		return fmt.Errorf("%s holds files that ltransfer transfer did not write (no report.json); not replacing it even with --force: choose another --out", dir)
	}
	return fmt.Errorf("%s exists and holds files that ltransfer transfer did not write (no report.json); choose another --out", dir)
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
	w.ch <- writeItem{s, p.Clone(), perms.Clone()}
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
	rep.PeakRSSMB = peakRSSMB()
	if err := writeJSONAtomic(filepath.Join(w.tmp, "report.json"), rep); err != nil {
		return err
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
