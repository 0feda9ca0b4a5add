package nn

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
)

// ErrInconsistentTrajectory is wrapped by the errors of OpenTrajectory
// when a folder's manifest and files disagree: a listed checkpoint is
// missing, truncated or of another model's shapes, a complete manifest
// lacks checkpoints its run must have recorded, or the folder holds
// checkpoints its complete manifest does not list.
var ErrInconsistentTrajectory = errors.New("inconsistent trajectory")

// Names of the files a training run writes, and of their temporary files
// (WriteFileAtomic: ".NAME.tmp-RANDOM").
var (
	ckptFileRe  = regexp.MustCompile(`^ckpt-([0-9]{4,})\.safetensors$`)
	optimFileRe = regexp.MustCompile(`^optim-([0-9]{4,})\.safetensors$`)
	runTempRe   = regexp.MustCompile(`^\.(ckpt-[0-9]{4,}\.safetensors|optim-[0-9]{4,}\.safetensors|manifest\.json)\.tmp-[0-9]+$`)
)

// checkConsistency checks t's manifest against its folder and model:
// checkpoint steps increase (training runs) or at least never decrease, every listed file exists with the model's
// tensors and shapes and is as long as its header says, a complete
// training run lists every checkpoint its interval implies and ends at its
// last step, and a complete folder holds no unlisted checkpoint.
func (t *RecordedTrajectory) checkConsistency() error {
	man := t.Manifest
	bad := func(format string, a ...any) error {
		return fmt.Errorf("trajectory %q: %s: %w", t.Dir, fmt.Sprintf(format, a...), ErrInconsistentTrajectory)
	}
	listed := map[string]bool{}
	for i, c := range man.Checkpoints {
		if listed[c.File] {
			return bad("checkpoint file %s is listed twice", c.File)
		}
		listed[c.File] = true
		// A training run's steps increase; a manifest written by hand may
		// give none (all 0).
		if prev := i - 1; prev >= 0 && (c.Step < man.Checkpoints[prev].Step || (man.TotalSteps > 0 && c.Step == man.Checkpoints[prev].Step)) {
			return bad("checkpoint %d has step %d, not after checkpoint %d's step %d", i, c.Step, prev, man.Checkpoints[prev].Step)
		}
		if err := checkCheckpointHeader(filepath.Join(t.Dir, c.File), t.model); err != nil {
			return bad("checkpoint %d: %v", i, err)
		}
	}
	if man.OptimizerState != "" {
		if _, err := os.Stat(filepath.Join(t.Dir, man.OptimizerState)); err != nil {
			return bad("optimiser state %s: %v", man.OptimizerState, err)
		}
	}
	if !man.Complete {
		return nil
	}
	if man.TotalSteps > 0 && man.StepsPerEpoch > 0 {
		last := man.Checkpoints[len(man.Checkpoints)-1].Step
		if last != man.TotalSteps {
			return bad("manifest says complete, but its last checkpoint is at step %d of %d", last, man.TotalSteps)
		}
		every := man.CheckpointEvery
		if every <= 0 {
			every = man.StepsPerEpoch
		}
		have := map[int]bool{}
		for _, c := range man.Checkpoints {
			have[c.Step] = true
		}
		for s := 0; s <= man.TotalSteps; s += every {
			if !have[s] {
				return bad("manifest says complete, but lists no checkpoint at step %d (every %d steps): %d checkpoints listed, at least %d expected",
					s, every, len(man.Checkpoints), man.TotalSteps/every+1)
			}
		}
	}
	ents, err := os.ReadDir(t.Dir)
	if err != nil {
		return fmt.Errorf("trajectory %q: %w", t.Dir, err)
	}
	for _, e := range ents {
		if ckptFileRe.MatchString(e.Name()) && !listed[e.Name()] {
			return bad("the folder holds %s, which its complete manifest does not list", e.Name())
		}
	}
	return nil
}

// checkCheckpointHeader reads only the header of a safetensors checkpoint
// and checks it against m's state: every tensor present with its shape,
// nothing else, and the file as long as the header's byte ranges say.
func checkCheckpointHeader(path string, m Model) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return err
	}
	if !st.Mode().IsRegular() {
		return fmt.Errorf("%s is not a regular file", filepath.Base(path))
	}
	size := st.Size()
	var lenBuf [8]byte
	if _, err := io.ReadFull(f, lenBuf[:]); err != nil {
		return fmt.Errorf("%s: %d bytes, too short for a safetensors header", filepath.Base(path), size)
	}
	hlen := binary.LittleEndian.Uint64(lenBuf[:])
	if hlen > maxHeader || hlen > uint64(size-8) {
		return fmt.Errorf("%s: header length %d does not fit the %d-byte file (truncated?)", filepath.Base(path), hlen, size)
	}
	hb := make([]byte, hlen)
	if _, err := io.ReadFull(f, hb); err != nil {
		return fmt.Errorf("%s: %v", filepath.Base(path), err)
	}
	var hdr map[string]json.RawMessage
	if err := json.Unmarshal(hb, &hdr); err != nil {
		return fmt.Errorf("%s: malformed header: %v", filepath.Base(path), err)
	}
	delete(hdr, "__metadata__")
	var end uint64
	for _, pi := range m.State() {
		raw, ok := hdr[pi.Name]
		if !ok {
			return fmt.Errorf("%s: tensor %q missing (model %s expects %v)", filepath.Base(path), pi.Name, m.Arch(), pi.Shape)
		}
		var h stHeaderEntry
		if err := json.Unmarshal(raw, &h); err != nil || len(h.DataOffsets) != 2 {
			return fmt.Errorf("%s: tensor %q: malformed header entry", filepath.Base(path), pi.Name)
		}
		if len(h.Shape) != len(pi.Shape) {
			return fmt.Errorf("%s: tensor %q has shape %v, model %s expects %v", filepath.Base(path), pi.Name, h.Shape, m.Arch(), pi.Shape)
		}
		for i := range h.Shape {
			if h.Shape[i] != int64(pi.Shape[i]) {
				return fmt.Errorf("%s: tensor %q has shape %v, model %s expects %v", filepath.Base(path), pi.Name, h.Shape, m.Arch(), pi.Shape)
			}
		}
		end = max(end, h.DataOffsets[1])
	}
	if len(hdr) != len(m.State()) {
		for name := range hdr {
			if !hasParam(m.State(), name) {
				return fmt.Errorf("%s: tensor %q is not a parameter of model %s", filepath.Base(path), name, m.Arch())
			}
		}
	}
	if data := uint64(size) - 8 - hlen; end != data {
		return fmt.Errorf("%s: the header's tensors end at byte %d of a %d-byte data section (truncated or padded file)", filepath.Base(path), end, data)
	}
	return nil
}

// ownRunFiles lists the entries of dir that a training run writes (its
// checkpoints, optimiser states, manifest and their temporary files); ok is
// false when dir holds anything else.
func ownRunFiles(dir string) (names []string, ok bool, err error) {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return nil, false, err
	}
	for _, e := range ents {
		n := e.Name()
		if !e.Type().IsRegular() || !(ckptFileRe.MatchString(n) || optimFileRe.MatchString(n) || runTempRe.MatchString(n) || n == ManifestName) {
			return nil, false, nil
		}
		names = append(names, n)
	}
	return names, true, nil
}

// removeStale deletes what a killed run of this folder left that man does
// not list: temporary files, checkpoints after the last listed one, and
// optimiser states other than keep's ("" keeps none).
func removeStale(dir string, man *Manifest, keep string) error {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return err
	}
	listed := map[string]bool{}
	for _, c := range man.Checkpoints {
		listed[c.File] = true
	}
	for _, e := range ents {
		n := e.Name()
		stale := runTempRe.MatchString(n) ||
			(ckptFileRe.MatchString(n) && !listed[n]) ||
			(optimFileRe.MatchString(n) && n != keep)
		if stale && e.Type().IsRegular() {
			if err := os.Remove(filepath.Join(dir, n)); err != nil {
				return err
			}
		}
	}
	return nil
}
