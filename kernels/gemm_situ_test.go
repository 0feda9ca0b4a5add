//go:build linux

package kernels

import (
	"os"
	"runtime"
	"sort"
	"testing"
)

// TestSgemmInSitu times the AVX-512 micro-kernel in the access pattern of
// the blocked loop (one B panel against the panels of an A block, C rows
// ldc apart), by thread CPU time. LTRANSFER_TUNE=1 only.
func TestSgemmInSitu(t *testing.T) {
	if os.Getenv("LTRANSFER_TUNE") == "" {
		t.Skip("set LTRANSFER_TUNE=1")
	}
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	kn := kernelAVX512
	for _, cfg := range []struct{ kc, mPanels, ldc, nPanels int }{
		{196, 11, 4096, 1}, {196, 11, 32, 1}, {196, 11, 4096 + 32, 1}, {196, 11, 4096, 8}, {256, 16, 1024, 8}, {128, 11, 4096, 8},
	} {
		a := make([]float32, cfg.kc*kn.mr*cfg.mPanels)
		b := make([]float32, cfg.kc*kn.nr*cfg.nPanels)
		c := make([]float32, cfg.mPanels*kn.mr*cfg.ldc+cfg.nPanels*32)
		var ts []float64
		for r := 0; r < 9; r++ {
			t0 := threadCPU()
			for rep := 0; rep < 50; rep++ {
				for jp := 0; jp < cfg.nPanels; jp++ {
					for ip := 0; ip < cfg.mPanels; ip++ {
						kn.fn(cfg.kc, 1, a[ip*cfg.kc*kn.mr:], b[jp*cfg.kc*kn.nr:], 1, c[ip*kn.mr*cfg.ldc+jp*32:], cfg.ldc, kn.mr, kn.nr)
					}
				}
			}
			ts = append(ts, (threadCPU() - t0).Seconds())
		}
		sort.Float64s(ts)
		flops := 50 * 2 * float64(cfg.kc*kn.mr*kn.nr*cfg.mPanels*cfg.nPanels)
		t.Logf("kc=%d mPanels=%d nPanels=%d ldc=%d: %.1f GFLOP/s", cfg.kc, cfg.mPanels, cfg.nPanels, cfg.ldc, flops/ts[len(ts)/2]/1e9)
	}
}
