package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"sort"
	"strings"
	"testing"
)

// treeFiles lists the regular files under dir (relative paths), sorted.
func treeFiles(t *testing.T, dir string) []string {
	t.Helper()
	var out []string
	err := filepath.Walk(dir, func(p string, info os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		if !info.IsDir() {
			r, _ := filepath.Rel(dir, p)
			out = append(out, r)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	sort.Strings(out)
	return out
}

// stripTimings removes the fields of report.json and summary.json that
// depend on the run rather than on the result.
func stripTimings(t *testing.T, b []byte, more ...string) []byte {
	t.Helper()
	var v map[string]any
	if err := json.Unmarshal(b, &v); err != nil {
		t.Fatal(err)
	}
	for _, k := range append([]string{"timings_s", "peak_rss_mb", "threads"}, more...) {
		delete(v, k)
	}
	out, _ := json.Marshal(v)
	return out
}

// sameResults checks that two many-target folders hold the same results:
// the same files, byte-identical but for the timings in the reports.
func sameResults(t *testing.T, a, b string) {
	t.Helper()
	fa, fb := treeFiles(t, a), treeFiles(t, b)
	if strings.Join(fa, ",") != strings.Join(fb, ",") {
		t.Fatalf("%s and %s hold different files:\n%v\n%v", a, b, fa, fb)
	}
	for _, f := range fa {
		x, err := os.ReadFile(filepath.Join(a, f))
		if err != nil {
			t.Fatal(err)
		}
		y, err := os.ReadFile(filepath.Join(b, f))
		if err != nil {
			t.Fatal(err)
		}
		base := filepath.Base(f)
		if base == "report.json" || base == "summary.json" || base == "targets.json" {
			// targets.json records the shard count of sharded runs.
			x, y = stripTimings(t, x, "shards"), stripTimings(t, y, "shards")
		}
		if base == "summary.md" {
			continue // its last line is the timing
		}
		if !bytes.Equal(x, y) {
			t.Errorf("%s differs between %s and %s", f, a, b)
		}
	}
}

// TestTransferManyTargetsCLI runs a many-target transfer whole, in shards,
// and after a simulated kill, and checks that every way gives the same
// bytes, and that bad shard and plan arguments are refused with nothing
// written.
func TestTransferManyTargetsCLI(t *testing.T) {
	mnistOrSkip(t)
	dir := t.TempDir()
	src := filepath.Join(dir, "src")
	if _, e, code := run(t, "train", "--model", "mlp", "--width", "16", "--epochs", "1", "--limit", "600", "--batch", "32",
		"--seed", "101", "--threads", "2", "--no-test", "--out", src); code != 0 {
		t.Fatalf("train: %s", e)
	}
	base := []string{"transfer", "--source", src, "--targets", "3", "--target-seed", "5", "--method", "gmt", "--steps", "3",
		"--batch", "32", "--limit", "600"}
	many := func(out string, extra ...string) (string, string, int) {
		return run(t, append(append(append([]string(nil), base...), "--out", out), extra...)...)
	}
	whole := filepath.Join(dir, "whole")
	o, e, code := many(whole, "--threads", "2")
	if code != 0 {
		t.Fatalf("many-target transfer: %s", e)
	}
	if !strings.Contains(o, "ensemble of the 3 best points") {
		t.Errorf("no ensemble line in:\n%s", o)
	}
	var sum manySummary
	b, err := os.ReadFile(filepath.Join(whole, "summary.json"))
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, &sum); err != nil {
		t.Fatal(err)
	}
	if len(sum.Targets) != 3 || sum.Ensemble == nil || sum.Ensemble.Members != 3 || sum.BestValAcc.Mean <= 0.1 {
		t.Fatalf("summary: %+v", sum)
	}
	// Each target folder carries its own digest, the one the summary uses.
	for _, tn := range []string{"target-000", "target-001", "target-002"} {
		d, err := targetDigest(filepath.Join(whole, tn))
		if err != nil {
			t.Fatal(err)
		}
		if b, err := os.ReadFile(filepath.Join(whole, tn, digestFile)); err != nil || string(b) != d+"\n" {
			t.Errorf("%s/%s holds %q, the folder's digest is %s (%v)", tn, digestFile, b, d, err)
		}
	}
	// The same with one thread.
	one := filepath.Join(dir, "one")
	if _, e, code := many(one, "--threads", "1"); code != 0 {
		t.Fatalf("one thread: %s", e)
	}
	sameResults(t, whole, one)
	// A rerun does nothing and changes nothing.
	if o, e, code := many(whole); code != 0 || !strings.Contains(e, "0 to run, 3 finished") {
		t.Fatalf("rerun: code %d\n%s\n%s", code, o, e)
	}
	// A plan that records the spacing under its former name, "schedule",
	// is the same plan.
	planFile := filepath.Join(whole, "targets.json")
	pb, err := os.ReadFile(planFile)
	if err != nil || !bytes.Contains(pb, []byte(`"spacing": "cosine"`)) {
		t.Fatalf("targets.json records no spacing: %v\n%s", err, pb)
	}
	if err := os.WriteFile(planFile, bytes.Replace(pb, []byte(`"spacing": "cosine"`), []byte(`"schedule": "cosine"`), 1), 0o644); err != nil {
		t.Fatal(err)
	}
	if o, e, code := many(whole); code != 0 || !strings.Contains(e, "0 to run, 3 finished") {
		t.Fatalf("rerun over a plan with \"schedule\": code %d\n%s\n%s", code, o, e)
	}
	// A plan from before --repair (no "repair" setting) is a plan without
	// it; one with repair on is another plan.
	if !bytes.Contains(pb, []byte(`"repair": "false",`)) {
		t.Fatalf("targets.json records no repair setting:\n%s", pb)
	}
	if err := os.WriteFile(planFile, bytes.Replace(pb, []byte(`"repair": "false",`), nil, 1), 0o644); err != nil {
		t.Fatal(err)
	}
	if o, e, code := many(whole); code != 0 || !strings.Contains(e, "0 to run, 3 finished") {
		t.Fatalf("rerun over a plan without \"repair\": code %d\n%s\n%s", code, o, e)
	}
	if o, e, code := many(whole, "--repair"); code == 0 || !strings.Contains(e, "repair") {
		t.Fatalf("rerun with --repair over a plan without: code %d\n%s\n%s", code, o, e)
	}
	if err := os.WriteFile(planFile, pb, 0o644); err != nil {
		t.Fatal(err)
	}

	// In two shards, the second one finishing the run. The first finds
	// the temporary file of another shard writing the plan at the same
	// moment, and is not put off by it.
	sh := filepath.Join(dir, "sharded")
	if err := os.MkdirAll(sh, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(sh, ".targets.json.tmp-1"), []byte("{"), 0o644); err != nil {
		t.Fatal(err)
	}
	o, e, code = many(sh, "--shard", "0/2")
	if code != 0 || !strings.Contains(o, "waiting for: target-001") {
		t.Fatalf("shard 0/2: code %d\n%s\n%s", code, o, e)
	}
	if _, err := os.Stat(filepath.Join(sh, "summary.json")); err == nil {
		t.Fatal("summary written before every shard finished")
	}
	os.Remove(filepath.Join(sh, ".targets.json.tmp-1")) // its writer would rename it
	if _, e, code := run(t, "summary", sh); code == 0 || !strings.Contains(e, "target-001") {
		t.Fatalf("summary of an unfinished run: code %d, %s", code, e)
	}
	// Bad shard arguments and a plan with other settings: refused, nothing written.
	before := treeFiles(t, sh)
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"--shard", "2/2"}, "0 ≤ I < N"},
		{[]string{"--shard", "1/3"}, "started with 2 shards"},
		{[]string{"--shard", "x"}, "want I/N"},
		{[]string{"--shard", "1/2", "--seed", "9"}, "other settings"},
	} {
		if _, e, code := many(sh, c.args...); code == 0 || !strings.Contains(e, c.want) {
			t.Errorf("%v: code %d, stderr %q, want %q", c.args, code, e, c.want)
		}
	}
	if after := treeFiles(t, sh); strings.Join(after, ",") != strings.Join(before, ",") {
		t.Errorf("refused runs changed the folder: %v → %v", before, after)
	}
	t.Setenv("SLURM_ARRAY_TASK_ID", "1")
	t.Setenv("SLURM_ARRAY_TASK_COUNT", "2")
	if o, e, code := many(sh); code != 0 || !strings.Contains(o, "wrote") {
		t.Fatalf("shard 1/2 from SLURM_ARRAY_TASK_ID: code %d\n%s\n%s", code, o, e)
	}
	t.Setenv("SLURM_ARRAY_TASK_ID", "")
	t.Setenv("SLURM_ARRAY_TASK_COUNT", "")
	sameResults(t, whole, sh)

	// A killed shard: its target folder is gone and a partial one is
	// left; the rerun restarts that target and gives the same bytes.
	if err := os.RemoveAll(filepath.Join(sh, "target-002")); err != nil {
		t.Fatal(err)
	}
	if err := os.Remove(filepath.Join(sh, "summary.json")); err != nil {
		t.Fatal(err)
	}
	os.Remove(filepath.Join(sh, "summary.md"))
	part := filepath.Join(sh, ".target-002.partial")
	if err := os.MkdirAll(part, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(part, "ckpt-0000.safetensors"), []byte("half"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, e, code := many(sh, "--shard", "0/2"); code != 0 {
		t.Fatalf("rerun of a killed shard: %s", e)
	}
	if _, err := os.Stat(part); err == nil {
		t.Error("the partial folder of the killed run is still there")
	}
	sameResults(t, whole, sh)

	// ltransfer summary over the shards' folders gives the same summary.
	if _, e, code := run(t, "summary", "--out", filepath.Join(dir, "gathered"), sh); code != 0 {
		t.Fatalf("summary: %s", e)
	}
	x, _ := os.ReadFile(filepath.Join(dir, "gathered", "summary.json"))
	y, _ := os.ReadFile(filepath.Join(whole, "summary.json"))
	if !bytes.Equal(stripTimings(t, x), stripTimings(t, y)) {
		t.Error("ltransfer summary differs from the run's own summary")
	}
	// The ensemble comes from each target's kept logits (best-logits.npy);
	// a folder without them (written before they were kept) gives the same
	// ensemble from its best point, and a file that lies about its shape
	// or is cut short is refused by name, with the summary left alone.
	noLogits := filepath.Join(dir, "nologits")
	if err := os.CopyFS(noLogits, os.DirFS(whole)); err != nil {
		t.Fatal(err)
	}
	for _, tn := range []string{"target-000", "target-001", "target-002"} {
		if err := os.Remove(filepath.Join(noLogits, tn, bestLogitsFile)); err != nil {
			t.Fatal(err)
		}
	}
	if _, e, code := run(t, "summary", "--out", filepath.Join(dir, "g2"), noLogits); code != 0 {
		t.Fatalf("summary without kept logits: %s", e)
	}
	var s2 manySummary
	b, _ = os.ReadFile(filepath.Join(dir, "g2", "summary.json"))
	if err := json.Unmarshal(b, &s2); err != nil || !reflect.DeepEqual(s2.Ensemble, sum.Ensemble) {
		t.Errorf("ensemble from the best points %+v, from the kept logits %+v (%v)", s2.Ensemble, sum.Ensemble, err)
	}
	lf := filepath.Join(whole, "target-001", bestLogitsFile)
	good, err := os.ReadFile(lf)
	if err != nil {
		t.Fatal(err)
	}
	sumBefore, _ := os.ReadFile(filepath.Join(whole, "summary.json"))
	for name, bad := range map[string][]byte{
		"cut short": good[:len(good)-4],
		// as many values, as twice the examples of half the classes
		"other shape": regexp.MustCompile(`'shape': \(\d+, 10\)`).ReplaceAllFunc(good, func(m []byte) []byte {
			var n int
			fmt.Sscanf(string(m), "'shape': (%d", &n)
			return fmt.Appendf(nil, "'shape': (%d, 5)", 2*n)
		}),
	} {
		if err := os.WriteFile(lf, bad, 0o644); err != nil {
			t.Fatal(err)
		}
		if _, e, code := run(t, "summary", whole); code == 0 || !strings.Contains(e, "target-001/"+bestLogitsFile) {
			t.Errorf("summary over best logits %s: code %d, %s", name, code, e)
		}
		if after, _ := os.ReadFile(filepath.Join(whole, "summary.json")); !bytes.Equal(after, sumBefore) {
			t.Errorf("a refused summary (%s) rewrote summary.json", name)
		}
	}
	if err := os.WriteFile(lf, good, 0o644); err != nil {
		t.Fatal(err)
	}
	// Folders of different plans are refused.
	other := filepath.Join(dir, "other")
	if _, e, code := run(t, "transfer", "--source", src, "--targets", "2", "--method", "naive", "--steps", "2", "--limit", "600", "--out", other); code != 0 {
		t.Fatalf("naive: %s", e)
	}
	if _, e, code := run(t, "summary", "--out", filepath.Join(dir, "mixed"), whole, other); code == 0 || !strings.Contains(e, "different sources or settings") {
		t.Errorf("summary over different plans: code %d, %s", code, e)
	}
	if _, err := os.Stat(filepath.Join(dir, "mixed")); err == nil {
		t.Error("a refused summary created its output folder")
	}
	// A training trajectory is never an output folder.
	if _, e, code := many(src); code == 0 || !strings.Contains(e, "not a many-target transfer") {
		t.Errorf("--out onto the source trajectory: code %d, %s", code, e)
	}
	if _, e, code := run(t, "transfer", "--source", src, "--target-init", filepath.Join(whole, "target-000", "ckpt-0000.safetensors"),
		"--method", "naive", "--steps", "2", "--limit", "600", "--out", src, "--force"); code == 0 || !strings.Contains(e, "did not write") {
		t.Errorf("single transfer --out onto the source trajectory with --force: code %d, %s", code, e)
	}
}

// TestShardResolve: the shard from --shard, Slurm array variables
// (with offsets and an explicit count) and Kubernetes completion indexes,
// and the errors for indexes out of range or counts missing.
func TestShardResolve(t *testing.T) {
	vars := []string{"SLURM_ARRAY_TASK_ID", "SLURM_ARRAY_TASK_MIN", "SLURM_ARRAY_TASK_COUNT", "JOB_COMPLETION_INDEX", "LTRANSFER_SHARD_COUNT"}
	for _, c := range []struct {
		flag  string
		count int
		env   map[string]string
		want  string // "I/N", "" for unsharded, or "error: …"
	}{
		{"", 0, nil, ""},
		{"1/4", 0, nil, "1/4"},
		{"1/4", 4, nil, "1/4"},
		{"1/4", 3, nil, "error: disagrees"},
		{"", 0, map[string]string{"SLURM_ARRAY_TASK_ID": "3", "SLURM_ARRAY_TASK_COUNT": "4"}, "3/4"},
		{"", 0, map[string]string{"SLURM_ARRAY_TASK_ID": "4", "SLURM_ARRAY_TASK_MIN": "1", "SLURM_ARRAY_TASK_COUNT": "4"}, "3/4"},
		{"", 0, map[string]string{"SLURM_ARRAY_TASK_ID": "4", "SLURM_ARRAY_TASK_COUNT": "4"}, "error: out of range"},
		{"", 0, map[string]string{"SLURM_ARRAY_TASK_ID": "6", "SLURM_ARRAY_TASK_MIN": "0", "SLURM_ARRAY_TASK_COUNT": "4"}, "error: gaps or steps"},
		{"", 8, map[string]string{"SLURM_ARRAY_TASK_ID": "5", "SLURM_ARRAY_TASK_MIN": "5", "SLURM_ARRAY_TASK_COUNT": "1"}, "5/8"},
		{"", 0, map[string]string{"SLURM_ARRAY_TASK_ID": "5", "SLURM_ARRAY_TASK_MIN": "5", "SLURM_ARRAY_TASK_COUNT": "1", "LTRANSFER_SHARD_COUNT": "8"}, "5/8"},
		{"", 0, map[string]string{"SLURM_ARRAY_TASK_ID": "2"}, "error: SLURM_ARRAY_TASK_COUNT is not"},
		{"", 0, map[string]string{"SLURM_ARRAY_TASK_ID": "x", "SLURM_ARRAY_TASK_COUNT": "2"}, "error: not a number"},
		{"2/3", 0, map[string]string{"SLURM_ARRAY_TASK_ID": "0", "SLURM_ARRAY_TASK_COUNT": "2"}, "2/3"},
		{"", 0, map[string]string{"JOB_COMPLETION_INDEX": "2"}, "error: --shard-count or LTRANSFER_SHARD_COUNT"},
		{"", 3, map[string]string{"JOB_COMPLETION_INDEX": "2"}, "2/3"},
		{"", 0, map[string]string{"JOB_COMPLETION_INDEX": "2", "LTRANSFER_SHARD_COUNT": "3"}, "2/3"},
		{"", 0, map[string]string{"JOB_COMPLETION_INDEX": "3", "LTRANSFER_SHARD_COUNT": "3"}, "error: out of range"},
		{"", 0, map[string]string{"JOB_COMPLETION_INDEX": "0", "LTRANSFER_SHARD_COUNT": "0"}, "error: want ≥ 1"},
		{"", 2, nil, "error: needs --shard"},
	} {
		for _, v := range vars {
			t.Setenv(v, c.env[v])
		}
		var f shardFlag
		if c.flag != "" {
			if err := f.Set(c.flag); err != nil {
				t.Fatal(err)
			}
		}
		got, err := f.resolve(c.count)
		switch {
		case strings.HasPrefix(c.want, "error: "):
			if err == nil || !strings.Contains(err.Error(), strings.TrimPrefix(c.want, "error: ")) {
				t.Errorf("--shard %q count %d env %v: got %v, %v; want %s", c.flag, c.count, c.env, got, err, c.want)
			}
		case err != nil:
			t.Errorf("--shard %q count %d env %v: %v", c.flag, c.count, c.env, err)
		case got.String() != c.want:
			t.Errorf("--shard %q count %d env %v: shard %q, want %q", c.flag, c.count, c.env, got.String(), c.want)
		}
	}
}
