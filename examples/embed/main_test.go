package main

import (
	"context"
	"errors"
	"testing"
	"time"
)

// TestEmbed runs the program: the first transfer must work, the second
// must stop on its deadline, promptly.
func TestEmbed(t *testing.T) {
	start := time.Now()
	rep, err := run(time.Second)
	if rep == nil || rep.BestValAcc < 0.5 || rep.BestStep < 1 {
		t.Fatalf("first transfer: %+v", rep)
	}
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("second transfer: got %v, want the deadline's error", err)
	}
	if d := time.Since(start); d > 30*time.Second {
		t.Errorf("took %v: the cancelled transfer did not stop promptly", d)
	}
}
