package kernels

import (
	"fmt"
	"runtime"
	"sync"
	"time"

	"github.com/ltransfer/ltransfer/asm"
)

// Engine runs kernels on one code path with a bounded number of threads.
// An Engine is immutable once made and safe for concurrent use by several
// goroutines. Its parallel work (Sgemm, convolution, and ParallelFor for
// callers' own loops) runs on one worker pool shared by all engines; the
// thread count bounds how many chunks one call splits into, and the spin
// (WithSpin) how long idle pool goroutines poll before they park.
type Engine struct {
	path    asm.Path
	threads int
	spin    time.Duration
	conv    ConvAlgo
	forced  bool  // the path was set by WithPath
	selErr  error // why the start-up path is not the one LTRANSFER_KERNELS asked for
}

// Option configures an Engine.
//
// An Option only changes the engine New is building; it may be reused for
// several engines.
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

// WithSpin sets how long a pool goroutine that ran out of work for this
// engine keeps polling for the next call before it parks (d ≥ 0; default
// DefaultSpin). 0 parks at once: an idle program then uses no CPU, at the
// price of a wake-up (70–300 µs) at each fork-join. Long back-to-back work
// on several threads runs fastest with ThroughputSpin.
func WithSpin(d time.Duration) Option {
	return func(e *Engine) error {
		if d < 0 {
			return fmt.Errorf("kernels: spin %v, want ≥ 0", d)
		}
		e.spin = d
		return nil
	}
}

// WithConvAlgo forces a convolution algorithm (default ConvAuto: chosen by
// shape). For benchmarks and for comparing algorithms.
func WithConvAlgo(a ConvAlgo) Option {
	return func(e *Engine) error {
		if a > ConvDirect {
			return fmt.Errorf("kernels: unknown convolution algorithm %v", a)
		}
		e.conv = a
		return nil
	}
}

// WithPath forces a code path; it must be supported here.
func WithPath(p asm.Path) Option {
	return func(e *Engine) error {
		if !asm.Supported(p) {
			return fmt.Errorf("kernels: path %s is not supported on this CPU/build (available: %v)", p, asm.Available())
		}
		e.path, e.forced = p, true
		return nil
	}
}

// New returns an Engine on the start-up path with GOMAXPROCS threads,
// modified by opts.
//
// When LTRANSFER_KERNELS names a path that is unknown or that this CPU or
// build lacks (asm.SelectionError), New returns that error, wrapped (test it
// with errors.Is(err, asm.SelectionError())), unless opts choose the path
// with WithPath: a program never runs on another path than the one asked
// for without being told.
func New(opts ...Option) (*Engine, error) {
	e, err := newEngine(opts)
	if err != nil {
		return nil, err
	}
	if e.selErr != nil {
		return nil, fmt.Errorf("kernels: %w", e.selErr)
	}
	return e, nil
}

func newEngine(opts []Option) (*Engine, error) {
	e := &Engine{path: asm.Selected(), threads: runtime.GOMAXPROCS(0), spin: DefaultSpin}
	for _, o := range opts {
		if err := o(e); err != nil {
			return nil, err
		}
	}
	if !e.forced {
		e.selErr = asm.SelectionError()
	}
	return e, nil
}

var (
	defaultOnce   sync.Once
	defaultEngine *Engine
)

// Default returns the shared engine: start-up path, GOMAXPROCS threads (read
// once, at first use), DefaultSpin. It never fails: when LTRANSFER_KERNELS
// asked for a path that is not available, the engine runs on the best path
// and its SelectionError says so; programs that honour LTRANSFER_KERNELS
// check it (or call New, which returns the error).
func Default() *Engine {
	defaultOnce.Do(func() { defaultEngine, _ = newEngine(nil) })
	return defaultEngine
}

// SelectionError is non-nil when the engine runs on another path than
// LTRANSFER_KERNELS asked for (see asm.SelectionError); nil for engines
// whose path was set with WithPath.
func (e *Engine) SelectionError() error { return e.selErr }

// Path is the engine's code path.
func (e *Engine) Path() asm.Path { return e.path }

// Spin is how long the engine's pool goroutines poll for work before they
// park (see WithSpin).
func (e *Engine) Spin() time.Duration { return e.spin }

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
