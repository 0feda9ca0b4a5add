package kernels

import (
	"errors"
	"os"
	"os/exec"
	"testing"

	"github.com/ltransfer/ltransfer/asm"
)

// TestSelectionErrorReachesCallers runs this test binary again with
// LTRANSFER_KERNELS naming an unknown path: New must return the selection
// error and Default must expose it, never silently run another path.
func TestSelectionErrorReachesCallers(t *testing.T) {
	if os.Getenv("KERNELS_SELECTION_CHILD") == "1" {
		if asm.SelectionError() == nil {
			t.Fatal("asm.SelectionError() is nil in the child")
		}
		if _, err := New(); !errors.Is(err, asm.SelectionError()) {
			t.Fatalf("New() error = %v, want the selection error", err)
		}
		if err := Default().SelectionError(); !errors.Is(err, asm.SelectionError()) {
			t.Fatalf("Default().SelectionError() = %v", err)
		}
		e, err := New(WithPath(asm.Generic))
		if err != nil || e.SelectionError() != nil {
			t.Fatalf("New(WithPath(Generic)) = %v, %v; want an engine without error", err, e.SelectionError())
		}
		return
	}
	if err := asm.SelectionError(); err != nil {
		t.Fatalf("this test needs LTRANSFER_KERNELS unset or valid: %v", err)
	}
	if _, err := New(); err != nil {
		t.Fatal(err)
	}
	if err := Default().SelectionError(); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(os.Args[0], "-test.run=^TestSelectionErrorReachesCallers$", "-test.count=1")
	cmd.Env = append(os.Environ(), "KERNELS_SELECTION_CHILD=1", asm.EnvVar+"=no-such-path")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("child: %v\n%s", err, out)
	}
}

func TestEngineOptions(t *testing.T) {
	if _, err := New(WithSpin(-1)); err == nil {
		t.Error("WithSpin(-1) accepted")
	}
	if _, err := New(WithConvAlgo(ConvDirect + 1)); err == nil {
		t.Error("unknown ConvAlgo accepted")
	}
	e, err := New(WithSpin(0), WithConvAlgo(ConvIm2col))
	if err != nil {
		t.Fatal(err)
	}
	if e.Spin() != 0 || e.WithThreads(3).Spin() != 0 {
		t.Errorf("spin %v, copy %v; want 0", e.Spin(), e.WithThreads(3).Spin())
	}
	p := ConvParams{N: 1, C: 32, H: 8, W: 8, K: 32, R: 3, S: 3, StrideH: 1, StrideW: 1, PadH: 1, PadW: 1}
	if e.useWinograd(p) {
		t.Error("ConvIm2col engine chose Winograd")
	}
	w, _ := New(WithConvAlgo(ConvWinograd))
	if !w.useWinograd(p) {
		t.Error("ConvWinograd engine did not choose Winograd on a 3×3 layer")
	}
	if d, _ := New(); d.Spin() != DefaultSpin {
		t.Errorf("default spin %v, want %v", d.Spin(), DefaultSpin)
	}
}
