package kernels

import (
	"math/rand"
	"testing"
)

// FuzzSgemm checks every path against the float64 reference on shapes and
// flags chosen by the fuzzer (go test ./kernels/ -fuzz FuzzSgemm); the seed
// corpus runs as a normal test.
func FuzzSgemm(f *testing.F) {
	f.Add(uint8(13), uint8(33), uint8(17), uint8(0), int64(1))
	f.Add(uint8(128), uint8(10), uint8(200), uint8(5), int64(2))
	f.Add(uint8(1), uint8(1), uint8(1), uint8(15), int64(3))
	f.Add(uint8(25), uint8(16), uint8(255), uint8(10), int64(4))
	f.Fuzz(func(t *testing.T, m, n, k, flags uint8, seed int64) {
		tc := gemmCase{transA: flags&1 != 0, transB: flags&2 != 0, m: int(m), n: int(n), k: int(k),
			alpha: 1, padA: int(flags>>4) % 3, padB: int(flags>>5) % 2, padC: int(flags>>6) % 3}
		switch flags >> 2 & 3 {
		case 0:
			tc.nanC = true
		case 1:
			tc.beta = 1
		case 2:
			tc.alpha, tc.beta = -0.5, 2
		case 3:
			tc.alpha = 0
			tc.beta = 0.5
		}
		for _, e := range enginesUnderTest(t, 2) {
			tc.check(t, e, rand.New(rand.NewSource(seed)))
		}
	})
}
