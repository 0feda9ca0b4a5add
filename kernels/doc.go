// Package kernels is the numerical API of ltransfer: float32 GEMM (packing,
// cache blocking, threading), convolution, pooling, batch-norm and the
// elementwise kernels training needs. It sits on the routines of package asm.
//
// All work goes through an *Engine, which fixes the code path (asm.Path) and
// the number of worker threads. Default() returns an engine with the path
// chosen at start-up and GOMAXPROCS threads; New builds others (tests use it
// to run every path). Results never depend on the thread count: each output
// element is computed by exactly one worker in a fixed order.
//
// Concurrency: an Engine is immutable and may be shared by any number of
// goroutines; all engines share one pool of worker goroutines, which spin
// for the engine's WithSpin duration after a call (DefaultSpin, 1 ms) and
// then park, using no CPU while idle. A panic in a caller's ParallelFor
// function is re-raised on the calling goroutine. ConvParams, PoolParams
// and BatchNormParams are plain values.
package kernels
