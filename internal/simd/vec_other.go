//go:build !amd64 || purego

package simd

// Without assembly the AVX2 and AVX-512 entry points exist so that callers
// compile everywhere; asm.Supported reports false for those paths, so they are
// never selected, and they fall back to the twins if called anyway.

func AxpyAVX2(alpha float32, x, y []float32)   { AxpyGeneric(alpha, x, y) }
func AxpyAVX512(alpha float32, x, y []float32) { AxpyGeneric(alpha, x, y) }
func ScaleAVX2(alpha float32, x []float32)     { ScaleGeneric(alpha, x) }
func ScaleAVX512(alpha float32, x []float32)   { ScaleGeneric(alpha, x) }
func AddAVX2(dst, a, b []float32)              { AddGeneric(dst, a, b) }
func AddAVX512(dst, a, b []float32)            { AddGeneric(dst, a, b) }
func MulAVX2(dst, a, b []float32)              { MulGeneric(dst, a, b) }
func MulAVX512(dst, a, b []float32)            { MulGeneric(dst, a, b) }
func ReLUAVX2(dst, x []float32)                { ReLUGeneric(dst, x) }
func ReLUAVX512(dst, x []float32)              { ReLUGeneric(dst, x) }
func ReLUBackwardAVX2(dx, dy, x []float32)     { ReLUBackwardGeneric(dx, dy, x) }
func ReLUBackwardAVX512(dx, dy, x []float32)   { ReLUBackwardGeneric(dx, dy, x) }
func DotAVX2(x, y []float32) float32           { return DotGeneric(x, y) }
func DotAVX512(x, y []float32) float32         { return DotGeneric(x, y) }
func SumAVX2(x []float32) float32              { return SumGeneric(x) }
func SumAVX512(x []float32) float32            { return SumGeneric(x) }

func AffineAVX2(a, b float32, dst, x []float32)   { AffineGeneric(a, b, dst, x) }
func AffineAVX512(a, b float32, dst, x []float32) { AffineGeneric(a, b, dst, x) }

func BNBackwardAVX2(k, a, b float32, dst, dy, x []float32)   { BNBackwardGeneric(k, a, b, dst, dy, x) }
func BNBackwardAVX512(k, a, b float32, dst, dy, x []float32) { BNBackwardGeneric(k, a, b, dst, dy, x) }

func SumSqDevAVX2(mu float32, x []float32) float32   { return SumSqDevGeneric(mu, x) }
func SumSqDevAVX512(mu float32, x []float32) float32 { return SumSqDevGeneric(mu, x) }

func DotDevAVX2(mu float32, g, x []float32) float32   { return DotDevGeneric(mu, g, x) }
func DotDevAVX512(mu float32, g, x []float32) float32 { return DotDevGeneric(mu, g, x) }
