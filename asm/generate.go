package asm

// The assembly lives in internal/simd, next to its Go declarations and
// pure-Go twins; `go generate ./asm/` rewrites it from the generators in gen/.

//go:generate sh -c "cd ../gen && go run ./vec -out ../internal/simd/vec_amd64.s -stubs ../internal/simd/vec_amd64_stubs.go -pkg simd"
//go:generate sh -c "cd ../gen && go run ./gemm -out ../internal/simd/gemm_amd64.s -stubs ../internal/simd/gemm_amd64_stubs.go -pkg simd"
//go:generate sh -c "cd ../gen && go run ./conv -out ../internal/simd/conv_amd64.s -stubs ../internal/simd/conv_amd64_stubs.go -pkg simd"
//go:generate sh -c "cd ../gen && go run ./lap -out ../internal/simd/lap_amd64.s -stubs ../internal/simd/lap_amd64_stubs.go -pkg simd"
