package asm

import "testing"

// runnable reports whether the tests of path p can run here. A path the
// CPU has (by cpuid) but Supported denies fails the test instead of being
// skipped: on a CPU with the feature, a missing implementation is a bug.
func runnable(t testing.TB, p Path) bool {
	t.Helper()
	if Supported(p) {
		return true
	}
	if cpuHas(p) {
		t.Fatalf("CPU has the %s features but Supported(%s) is false (paths: %v, %s)", p, p, Available(), CPUDescription())
	}
	t.Logf("path %s: not on this CPU/build; skipped", p)
	return false
}

// TestPathsMatchCPU: every path the CPU has is offered, and no other.
func TestPathsMatchCPU(t *testing.T) {
	for _, p := range allPaths {
		if Supported(p) != cpuHas(p) {
			t.Errorf("Supported(%s) = %v, cpuid says %v (%s)", p, Supported(p), cpuHas(p), CPUDescription())
		}
	}
	t.Logf("paths: %v (%s)", Available(), CPUDescription())
}

// testPaths lists the paths to test here, failing the test if the CPU has
// a path that is not offered.
func testPaths(t testing.TB) []Path {
	t.Helper()
	var ps []Path
	for _, p := range allPaths {
		if runnable(t, p) {
			ps = append(ps, p)
		}
	}
	return ps
}
