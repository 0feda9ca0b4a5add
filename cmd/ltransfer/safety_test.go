package main

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/ltransfer/ltransfer/nn"
)

// TestMain lets a test run the test binary as the ltransfer command
// (LTRANSFER_TEST_CLI=1), to kill it like a real process.
func TestMain(m *testing.M) {
	if os.Getenv("LTRANSFER_TEST_CLI") == "1" {
		os.Exit(runMain(os.Args[1:], os.Stdout, os.Stderr))
	}
	// The decoded-data cache of the tests goes to a folder of their own,
	// not the user's cache folder (a test that sets the variable itself
	// overrides it).
	dir, err := os.MkdirTemp("", "ltransfer-test-data-cache-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	os.Setenv(envDataCache, dir)
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// TestKill9Resume kills a training process with SIGKILL at several points,
// resuming it each time, and checks that the last resume finishes a run
// whose checkpoints are byte for byte those of an uninterrupted run, in a
// folder that holds exactly what its manifest lists.
func TestKill9Resume(t *testing.T) {
	if testing.Short() {
		t.Skip("-short")
	}
	dir := t.TempDir()
	data := filepath.Join(dir, "data")
	os.MkdirAll(data, 0o755)
	writeBandsIdx(t, data, 300, 30)
	args := func(out string) []string {
		return []string{"train", "--model", "mlp-relu", "--width", "16", "--data", data, "--epochs", "2", "--batch", "15",
			"--checkpoint-every", "1", "--seed", "3", "--no-test", "--threads", "1", "--resume", "--out", out}
	}
	clean := filepath.Join(dir, "clean")
	start := time.Now()
	if _, se, code := runCLI(args(clean)...); code != 0 {
		t.Fatalf("clean run: %s", se)
	}
	runTime := time.Since(start)
	killed := filepath.Join(dir, "killed")
	// Kill early (while the first checkpoint is written) and then at
	// points spread over the run.
	delays := []time.Duration{5 * time.Millisecond, 30 * time.Millisecond, 60 * time.Millisecond, runTime / 4, runTime / 3, runTime / 2}
	for i, d := range delays {
		cmd := exec.Command(os.Args[0], args(killed)...)
		cmd.Env = append(os.Environ(), "LTRANSFER_TEST_CLI=1")
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		time.Sleep(d)
		_ = cmd.Process.Signal(syscall.SIGKILL)
		err := cmd.Wait()
		n := -1
		if man, err := nn.ReadManifest(killed); err == nil {
			n = len(man.Checkpoints)
		}
		ents, _ := os.ReadDir(killed)
		t.Logf("kill %d after %v: %v; %d checkpoints listed, %d entries", i, d, err, n, len(ents))
		if err == nil && !strings.Contains(stderr.String(), "already complete") {
			// The run finished before the kill: nothing more to test.
			break
		}
	}
	_, se, code := runCLI(args(killed)...)
	if code != 0 && !strings.Contains(se, "already complete") {
		t.Fatalf("final resume: %s", se)
	}
	man, err := nn.ReadManifest(killed)
	if err != nil {
		t.Fatal(err)
	}
	want, _ := nn.ReadManifest(clean)
	if !man.Complete || len(man.Checkpoints) != len(want.Checkpoints) {
		t.Fatalf("resumed run: complete %v, %d checkpoints, want %d", man.Complete, len(man.Checkpoints), len(want.Checkpoints))
	}
	for _, c := range man.Checkpoints {
		a, _ := os.ReadFile(filepath.Join(killed, c.File))
		b, _ := os.ReadFile(filepath.Join(clean, c.File))
		if !bytes.Equal(a, b) {
			t.Fatalf("%s differs from the uninterrupted run's", c.File)
		}
	}
	var have []string
	ents, _ := os.ReadDir(killed)
	for _, e := range ents {
		have = append(have, e.Name())
	}
	wantFiles := []string{nn.ManifestName, man.OptimizerState}
	for _, c := range man.Checkpoints {
		wantFiles = append(wantFiles, c.File)
	}
	sort.Strings(wantFiles)
	if !slices.Equal(have, wantFiles) {
		t.Errorf("resumed folder holds %d entries, manifest lists %d: %v", len(have), len(wantFiles), have)
	}
}

// TestEveryNumericFlagHasARange reads every command's flags from its -h
// output and checks that each numeric one has a range in flagRanges.
func TestEveryNumericFlagHasARange(t *testing.T) {
	line := regexp.MustCompile(`^  -(\S+)(?: (\S+))?`)
	var invocations [][]string
	for name := range commands {
		switch name {
		case "bench":
			invocations = append(invocations, []string{"bench", "gemm", "-h"}, []string{"bench", "step", "-h"})
			continue
		case "trajectory":
			invocations = append(invocations, []string{"trajectory", "import", "-h"})
			continue
		}
		invocations = append(invocations, []string{name, "-h"})
	}
	checked := 0
	used := map[string]bool{} // flag names and command/name pairs
	for _, inv := range invocations {
		_, se, _ := runCLI(inv...)
		fsName := strings.Join(inv[:len(inv)-1], " ")
		for _, l := range strings.Split(se, "\n") {
			m := line.FindStringSubmatch(l)
			if m == nil || m[2] == "" || m[2] == "string" || m[2] == "value" {
				continue // a bool, string or custom flag
			}
			checked++
			used[m[1]], used[fsName+"/"+m[1]] = true, true
			if _, ok := flagRanges[fsName+"/"+m[1]]; ok {
				continue
			}
			if _, ok := flagRanges[m[1]]; !ok {
				t.Errorf("%s: numeric flag --%s (%s) has no range in flagRanges", fsName, m[1], m[2])
			}
		}
	}
	if checked < 50 {
		t.Errorf("only %d numeric flags found in the commands' help", checked)
	}
	// A range no flag has is a flag that was removed or renamed.
	for k := range flagRanges {
		if !used[k] {
			t.Errorf("flagRanges has %q, which no command's numeric flag is", k)
		}
	}
}

// TestOutputRules: file outputs are replaced only with --force, never
// when they are an input; --force replaces the file atomically.
func TestOutputRules(t *testing.T) {
	dir := t.TempDir()
	out := filepath.Join(dir, "a.json")
	if err := checkOutFile("--out", out, false); err != nil {
		t.Fatalf("new file: %v", err)
	}
	os.WriteFile(out, []byte("x"), 0o644)
	if err := checkOutFile("--out", out, false); err == nil || !strings.Contains(err.Error(), "--force") {
		t.Errorf("existing file without --force: %v", err)
	}
	if err := checkOutFile("--out", out, true); err != nil {
		t.Errorf("existing file with --force: %v", err)
	}
	if err := checkOutFile("--out", out, true, filepath.Join(dir, ".", "a.json")); err == nil {
		t.Error("an input accepted as output with --force")
	}
	if err := checkOutFile("--out", dir, true); err == nil {
		t.Error("a folder accepted as an output file")
	}
	if err := checkOutFile("--out", filepath.Join(dir, "no", "a.json"), false); err == nil {
		t.Error("a missing folder accepted")
	}
	if err := checkOwnDir("--cache", dir, demoOwns); err == nil {
		t.Error("demo accepted a folder holding a.json")
	}
	os.Remove(out)
	os.Mkdir(filepath.Join(dir, "train-mlp-s1"), 0o755)
	os.WriteFile(filepath.Join(dir, ".demo.md.tmp-123"), nil, 0o644)
	if err := checkOwnDir("--cache", dir, demoOwns); err != nil {
		t.Errorf("demo's own folder: %v", err)
	}
}

// TestTransferRerunLeavesOnlyItsFiles: a rerun after a killed transfer
// (its partial folder left behind, with later steps than the rerun's) and
// a --force rerun with fewer steps both leave a folder holding exactly the
// files of the finished transfer.
func TestTransferRerunLeavesOnlyItsFiles(t *testing.T) {
	root := t.TempDir()
	makeBadFixtures(t, root)
	out := filepath.Join(root, "t")
	transfer := func(steps string, extra ...string) {
		t.Helper()
		args := append([]string{"transfer", "--source", filepath.Join(root, "src"), "--target-init", filepath.Join(root, "tgt"),
			"--steps", steps, "--batch", "30", "--out", out}, extra...)
		if _, se, code := runCLI(args...); code != 0 {
			t.Fatalf("transfer --steps %s: %s", steps, se)
		}
	}
	expect := func(steps int) {
		t.Helper()
		want := []string{"best.safetensors", nn.ManifestName, "perms.json", "report.json"}
		for s := 0; s <= steps; s++ {
			want = append(want, nn.CheckpointFile(s), fmt.Sprintf("perms-%04d.json", s))
		}
		sort.Strings(want)
		var have []string
		ents, _ := os.ReadDir(out)
		for _, e := range ents {
			have = append(have, e.Name())
		}
		if !slices.Equal(have, want) {
			t.Errorf("folder holds %v, want %v", have, want)
		}
		man, err := nn.ReadManifest(out)
		if err != nil || len(man.Checkpoints) != steps+1 || !man.Complete {
			t.Errorf("manifest: %v", err)
		}
		ents, _ = os.ReadDir(root)
		for _, e := range ents {
			if strings.HasSuffix(e.Name(), ".partial") || strings.HasSuffix(e.Name(), ".old") {
				t.Errorf("%s left behind", e.Name())
			}
		}
	}
	// A killed --steps 30 run left its partial folder.
	partial := partialDir(out)
	os.MkdirAll(partial, 0o755)
	for _, n := range []string{nn.CheckpointFile(11), "perms-0011.json", "." + nn.CheckpointFile(12) + ".tmp-5"} {
		writeFile(t, filepath.Join(partial, n), []byte("killed"))
	}
	transfer("3")
	expect(3)
	if _, se, code := runCLI("transfer", "--source", filepath.Join(root, "src"), "--target-init", filepath.Join(root, "tgt"),
		"--steps", "2", "--batch", "30", "--out", out); code == 0 || !strings.Contains(se, "--force") {
		t.Errorf("rerun onto a finished transfer without --force: %d %s", code, se)
	}
	transfer("2", "--force")
	expect(2)
	// An interrupted source with --allow-incomplete: transferred, with a
	// warning.
	_, se, code := runCLI("transfer", "--source", filepath.Join(root, "partial"), "--target-init", filepath.Join(root, "tgt"),
		"--steps", "2", "--batch", "30", "--allow-incomplete", "--out", filepath.Join(root, "tp"))
	if code != 0 || !strings.Contains(se, "warning: --source") {
		t.Errorf("--allow-incomplete: code %d, %s", code, se)
	}
}
