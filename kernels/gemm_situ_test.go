package kernels

import (
	"fmt"
	"runtime"
	"testing"

	"github.com/ltransfer/ltransfer/asm"
)

// BenchmarkSgemmInSitu times the AVX-512 micro-kernel in the access pattern
// of the blocked loop (one B panel against the panels of an A block, C rows
// ldc apart):
//
//	go test ./kernels/ -run '^$' -bench SgemmInSitu
func BenchmarkSgemmInSitu(b *testing.B) {
	if !asm.Supported(asm.AVX512) {
		b.Skip("no AVX-512 kernel on this CPU/build")
	}
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	kn := kernelAVX512
	for _, cfg := range []struct{ kc, mPanels, ldc, nPanels int }{
		{196, 11, 4096, 1}, {196, 11, 32, 1}, {196, 11, 4096 + 32, 1}, {196, 11, 4096, 8}, {256, 16, 1024, 8}, {128, 11, 4096, 8},
	} {
		b.Run(fmt.Sprintf("kc=%d/mPanels=%d/nPanels=%d/ldc=%d", cfg.kc, cfg.mPanels, cfg.nPanels, cfg.ldc), func(b *testing.B) {
			a := make([]float32, cfg.kc*kn.mr*cfg.mPanels)
			bb := make([]float32, cfg.kc*kn.nr*cfg.nPanels)
			c := make([]float32, cfg.mPanels*kn.mr*cfg.ldc+cfg.nPanels*32)
			for b.Loop() {
				for jp := 0; jp < cfg.nPanels; jp++ {
					for ip := 0; ip < cfg.mPanels; ip++ {
						kn.fn(cfg.kc, 1, a[ip*cfg.kc*kn.mr:], bb[jp*cfg.kc*kn.nr:], 1, c[ip*kn.mr*cfg.ldc+jp*32:], cfg.ldc, kn.mr, kn.nr)
					}
				}
			}
			flops := 2 * float64(cfg.kc*kn.mr*kn.nr*cfg.mPanels*cfg.nPanels)
			b.ReportMetric(flops*float64(b.N)/b.Elapsed().Seconds()/1e9, "GFLOP/s")
		})
	}
}
