package kernels

import (
	"fmt"
	"runtime"
	"sync"

	"github.com/ltransfer/ltransfer/asm"
)

// Engine runs kernels on one code path with a bounded number of threads.
// An Engine is safe for concurrent use. Its parallel work (Sgemm, and
// ParallelFor for callers' own loops) runs on one worker pool shared by all
// engines; the thread count bounds how many chunks one call splits into.
type Engine struct {
	path    asm.Path
	threads int
}

// Option configures an Engine.
type Option func(*Engine) error

// WithThreads sets the number of worker threads (n ≥ 1).
func WithThreads(n int) Option {
	return func(e *Engine) error {
		if n < 1 {
			return fmt.Errorf("kernels: thread count %d, want ≥ 1", n)
		}
		e.threads = n
		return nil
	}
}

// WithPath forces a code path; it must be supported here.
func WithPath(p asm.Path) Option {
	return func(e *Engine) error {
		if !asm.Supported(p) {
			return fmt.Errorf("kernels: path %s is not supported on this CPU/build (available: %v)", p, asm.Available())
		}
		e.path = p
		return nil
	}
}

// New returns an Engine on the start-up path with GOMAXPROCS threads,
// modified by opts.
func New(opts ...Option) (*Engine, error) {
	e := &Engine{path: asm.Selected(), threads: runtime.GOMAXPROCS(0)}
	for _, o := range opts {
		if err := o(e); err != nil {
			return nil, err
		}
	}
	return e, nil
}

var (
	defaultOnce   sync.Once
	defaultEngine *Engine
)

// Default returns the shared engine: start-up path, GOMAXPROCS threads (read
// once, at first use).
func Default() *Engine {
	defaultOnce.Do(func() { defaultEngine, _ = New() })
	return defaultEngine
}

// Path is the engine's code path.
func (e *Engine) Path() asm.Path { return e.path }

// Threads is the engine's worker count.
func (e *Engine) Threads() int { return e.threads }

// WithThreads returns a copy of e that uses n threads (n < 1 means 1).
func (e *Engine) WithThreads(n int) *Engine {
	if n < 1 {
		n = 1
	}
	c := *e
	c.threads = n
	return &c
}
