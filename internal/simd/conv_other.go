//go:build !amd64 || purego

package simd

// Without assembly the AVX2 and AVX-512 entry points forward to the twins
// (asm.Supported reports false for those paths, so they are never selected).

func WinoInput16AVX2(s, o []float32, stride int)   { WinoInput16Generic(s, o, stride) }
func WinoInput16AVX512(s, o []float32, stride int) { WinoInput16Generic(s, o, stride) }

func WinoOutput16AVX2(m []float32, stride int, bias float32, o []float32) {
	WinoOutput16Generic(m, stride, bias, o)
}

func WinoOutput16AVX512(m []float32, stride int, bias float32, o []float32) {
	WinoOutput16Generic(m, stride, bias, o)
}

func WinoGradOut16AVX2(d, o []float32, stride int)   { WinoGradOut16Generic(d, o, stride) }
func WinoGradOut16AVX512(d, o []float32, stride int) { WinoGradOut16Generic(d, o, stride) }

func WinoInputRow16AVX2(rows []float32, rs int, o []float32, stride int) {
	WinoInputRow16Generic(rows, rs, o, stride)
}

func WinoInputRow16AVX512(rows []float32, rs int, o []float32, stride int) {
	WinoInputRow16Generic(rows, rs, o, stride)
}

func WinoInputGather16AVX2(p []float32, idx []int32, ps int, o []float32, stride int) {
	WinoInputGather16Generic(p, idx, ps, o, stride)
}

func WinoInputGather16AVX512(p []float32, idx []int32, ps int, o []float32, stride int) {
	WinoInputGather16Generic(p, idx, ps, o, stride)
}

func WinoOutputRows16AVX512(m []float32, stride int, bias float32, y []float32, o00, o01, o10, o11 int) {
	WinoOutputRows16Generic(m, stride, bias, y, o00, o01, o10, o11)
}

func WinoGradOutRows16AVX512(dy []float32, o00, o01, o10, o11 int, o []float32, stride int) {
	WinoGradOutRows16Generic(dy, o00, o01, o10, o11, o, stride)
}

func MaxPool2x2Row16AVX512(r0, r1, y []float32, idx []int32, base, w int) int {
	return MaxPool2x2Row16Generic(r0, r1, y, idx, base, w)
}

func WinoInputGatherMasked16AVX512(x []float32, idx []int32, w int, masks []uint16, o []float32, stride int) {
	WinoInputGatherMasked16Generic(x, idx, w, masks, o, stride)
}

func WinoInputW16AVX512(rows *[6][]float32, o []float32, stride int) {
	WinoInputW16Generic(rows, o, stride)
}

func WinoInputPerm16AVX512(src *[4][]float32, tbl *[16][16]int32, msk *[32]uint16, o []float32, stride int) {
	WinoInputPerm16Generic(src, tbl, msk, o, stride)
}

func WinoOutputPerm16AVX512(m []float32, stride int, bias float32, dst *[4][]float32, tbl *[4][16]int32, msk *[8]uint16) {
	WinoOutputPerm16Generic(m, stride, bias, dst, tbl, msk)
}

func WinoGradOutPerm16AVX512(src *[4][]float32, tbl *[4][16]int32, msk *[8]uint16, o []float32, stride int) {
	WinoGradOutPerm16Generic(src, tbl, msk, o, stride)
}

func Direct3x3K16AVX512(rows [][]float32, w0 int, w []float32, bias []float32, y []float32, ys int) {
	Direct3x3K16Generic(rows, w0, w, bias, y, ys)
}

func DirectGradW3x3AVX512(dyT []float32, rows *[3][]float32, acc []float32) {
	DirectGradW3x3Generic(dyT, rows, acc)
}

func WinoInputW32AVX512(rows *[4][]float32, o []float32, stride int) {
	WinoInputW32Generic(rows, o, stride)
}
