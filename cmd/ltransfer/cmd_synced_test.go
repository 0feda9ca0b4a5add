package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestSyncedCLI(t *testing.T) {
	mnistOrSkip(t)
	dir := t.TempDir()
	out := filepath.Join(dir, "synced")
	args := []string{"synced", "--model", "mlp", "--width", "32", "--epochs", "2", "--limit", "600", "--batch", "32", "--splits", "2",
		"--mode", "fgmt", "--threads", "2", "--out", out}
	o, e, code := run(t, args...)
	if code != 0 {
		t.Fatalf("synced: %s", e)
	}
	if !strings.Contains(o, "| 2 |") {
		t.Errorf("no epoch table:\n%s", o)
	}
	for _, f := range []string{"report.json", "synced.png", "source.safetensors", "target.safetensors", "transferred.safetensors", "perms.json"} {
		if _, err := os.Stat(filepath.Join(out, f)); err != nil {
			t.Errorf("missing %s", f)
		}
	}
	b, _ := os.ReadFile(filepath.Join(out, "report.json"))
	var rep struct {
		Matchings int `json:"matchings"`
		Epochs    []struct {
			Transferred float64 `json:"transferred_val_acc"`
		} `json:"epochs"`
	}
	if err := json.Unmarshal(b, &rep); err != nil || rep.Matchings != 4 || len(rep.Epochs) != 2 || rep.Epochs[1].Transferred <= 0.2 {
		t.Errorf("report %s (%v)", b, err)
	}
	if _, e, code := run(t, args...); code == 0 || !strings.Contains(e, "--force") {
		t.Errorf("rerun without --force: code %d, %s", code, e)
	}
	for _, bad := range [][]string{{"--mode", "nope"}, {"--lr", "NaN"}, {"--splits", "0"}, {"--schedule", "step"}} {
		o := filepath.Join(dir, "bad")
		a := append(append([]string(nil), args[:len(args)-2]...), append(bad, "--out", o)...)
		if _, _, code := run(t, a...); code == 0 {
			t.Errorf("%v: exit 0", bad)
		}
		if _, err := os.Stat(o); err == nil {
			t.Errorf("%v: wrote %s", bad, o)
		}
	}
}
