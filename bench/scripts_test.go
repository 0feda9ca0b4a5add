package bench

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ltransfer/ltransfer/nn"
)

const python3 = "/usr/bin/python3"

// TestInvestigationScripts keeps the Python tools that docs/results.md
// and bench/RESULTS.md cite working: every bench/*.py and python/*.py
// parses, and the numpy-only ones run on a small Conv8:
// conv8_planted.py plant gives a checkpoint that is an exact permutation
// of its source (same logits), check finds that permutation again at
// 100 %, ratio reads a trajectory; perm_churn.py counts moved units.
// (conv8_gm_ties.py, conv8_gm_objective.py, conv8_gmt_peer.py and the
// peers need the CIFAR-10 JPEG tar and run by hand, as documented.)
func TestInvestigationScripts(t *testing.T) {
	if err := exec.Command(python3, "-c", "import numpy").Run(); err != nil {
		t.Skipf("%s cannot import numpy: %v", python3, err)
	}
	py := func(args ...string) string {
		t.Helper()
		out, err := exec.Command(python3, args...).CombinedOutput()
		if err != nil {
			t.Fatalf("python3 %s: %v\n%s", strings.Join(args, " "), err, out)
		}
		return string(out)
	}
	scripts, _ := filepath.Glob("*.py")
	more, _ := filepath.Glob("../python/*.py")
	scripts = append(scripts, more...)
	if len(scripts) < 5 {
		t.Fatalf("found only %v", scripts)
	}
	py(append([]string{"-c", "import ast, sys\nfor f in sys.argv[1:]: ast.parse(open(f).read(), f)"}, scripts...)...)

	dir := t.TempDir()
	m, err := nn.NewModel("conv8", nn.ModelConfig{WidthFactor: 0.125})
	if err != nil {
		t.Fatal(err)
	}
	src, planted := filepath.Join(dir, "src.safetensors"), filepath.Join(dir, "planted.safetensors")
	p := m.Init(1)
	if err := nn.SaveCheckpoint(src, m, p, nil); err != nil {
		t.Fatal(err)
	}
	py("conv8_planted.py", "plant", src, planted)
	q, err := nn.LoadCheckpoint(planted, m)
	if err != nil {
		t.Fatal(err)
	}
	// A permuted network computes the same function.
	r := rand.New(rand.NewPCG(1, 1))
	x := nn.NewTensor(4, 3, 32, 32)
	for i := range x.Data {
		x.Data[i] = float32(r.NormFloat64())
	}
	b := nn.Batch{X: x, Y: make([]int32, 4)}
	za, err := nn.Logits(nil, m, p, b)
	if err != nil {
		t.Fatal(err)
	}
	zb, _ := nn.Logits(nil, m, q, b)
	same := true
	for i := range za {
		d := za[i] - zb[i]
		same = same && d < 1e-4 && d > -1e-4
	}
	if !same {
		t.Fatalf("planted checkpoint computes another function: %v vs %v", za[:10], zb[:10])
	}
	// Recover the planted permutation from the rows of each hidden
	// layer's bias (random, so distinct) and let check find it.
	layers := []string{"convs.0", "convs.2", "convs.5", "convs.7", "convs.10", "convs.12", "convs.15", "convs.17", "linear.0", "linear.2"}
	perms := map[string][]int{}
	for l, name := range layers {
		pb, qb := p.Get(name+".bias").Data, q.Get(name+".bias").Data
		idx := map[float32]int{}
		for i, v := range pb {
			idx[v] = i
		}
		perm := make([]int, len(qb))
		for i, v := range qb {
			j, ok := idx[v]
			if !ok {
				t.Fatalf("%s: planted bias %d is no source bias", name, i)
			}
			perm[i] = j
		}
		perms[fmt.Sprintf("P%d", l)] = perm
	}
	pj := filepath.Join(dir, "perms.json")
	buf, _ := json.Marshal(perms)
	os.WriteFile(pj, buf, 0o644)
	out := py("conv8_planted.py", "check", pj)
	if n := strings.Count(out, " 100 %"); n != len(layers) {
		t.Errorf("check found %d of %d groups at 100 %%:\n%s", n, len(layers), out)
	}

	// ratio on a two-point trajectory: ‖planted − src‖/‖src‖ per weight.
	traj := filepath.Join(dir, "traj")
	os.MkdirAll(traj, 0o755)
	for i, f := range []string{src, planted} {
		if err := os.Link(f, filepath.Join(traj, nn.CheckpointFile(i))); err != nil {
			t.Fatal(err)
		}
	}
	man := &nn.Manifest{Format: nn.ManifestFormat, Model: "conv8", ModelConfig: nn.ModelConfig{WidthFactor: 0.125}, Dataset: "cifar10", Complete: true,
		Checkpoints: []nn.CheckpointRecord{{Index: 0, File: nn.CheckpointFile(0)}, {Index: 1, File: nn.CheckpointFile(1), Step: 1}}}
	if err := nn.WriteManifest(traj, man); err != nil {
		t.Fatal(err)
	}
	if out := py("conv8_planted.py", "ratio", traj); strings.Count(out, ".weight ") != len(layers)+1 {
		t.Errorf("ratio printed:\n%s", out)
	}

	// perm_churn: 3 steps of a 4-unit group, one swap per step after the first.
	churn := filepath.Join(dir, "churn")
	os.MkdirAll(churn, 0o755)
	for s, pm := range [][]int{{0, 1, 2, 3}, {0, 1, 2, 3}, {1, 0, 2, 3}, {1, 0, 3, 2}} {
		buf, _ := json.Marshal(map[string][]int{"P0": pm})
		os.WriteFile(filepath.Join(churn, fmt.Sprintf("perms-%04d.json", s)), buf, 0o644)
	}
	// Steps 1…3 move 0, 2 and 2 of 4 units: 4 of 12, 33.3 %.
	if out := py("perm_churn.py", "--from", "1", churn); !strings.Contains(out, "33.3 % of units moved per step") {
		t.Errorf("perm_churn printed:\n%s", out)
	}
}
