package kernels

import "sync"

// The worker pool is shared by every Engine: persistent goroutines, started on
// first need, that run the chunks of ParallelFor calls. A chunk that finds no
// idle worker runs on the calling goroutine, so nested or concurrent calls
// never deadlock and never use more goroutines than callers × threads.
// Chunk boundaries depend only on n and the engine's thread count, never on
// which goroutine runs a chunk, which keeps results bit-identical.

type poolTask struct {
	fn     func(lo, hi int)
	lo, hi int
	wg     *sync.WaitGroup
	fail   *failure
}

// failure records the first panic of a ParallelFor's chunks, to re-panic
// on the calling goroutine (a panic on a worker would kill the process).
type failure struct {
	once sync.Once
	val  any
	set  bool
}

// run calls the chunk, turning a panic into a recorded failure.
func (t poolTask) run() {
	defer t.wg.Done()
	defer func() {
		if v := recover(); v != nil {
			t.fail.once.Do(func() { t.fail.val, t.fail.set = v, true })
		}
	}()
	t.fn(t.lo, t.hi)
}

const maxPoolWorkers = 256

var pool struct {
	tasks chan poolTask
	mu    sync.Mutex
	n     int // workers started
}

func init() { pool.tasks = make(chan poolTask) }

func poolWorker(t poolTask) {
	for {
		t.run()
		t = <-pool.tasks
	}
}

// submit hands t to an idle worker, starts a new one, or runs t inline.
func submit(t poolTask) {
	select {
	case pool.tasks <- t:
		return
	default:
	}
	pool.mu.Lock()
	if pool.n < maxPoolWorkers {
		pool.n++
		pool.mu.Unlock()
		go poolWorker(t)
		return
	}
	pool.mu.Unlock()
	t.run()
}

// ParallelFor splits [0, n) into at most e.Threads() contiguous chunks of
// near-equal size and calls fn(lo, hi) once per chunk, concurrently, returning
// when all have finished. The chunks depend only on n and the thread count:
// chunk i is [i·n/T, (i+1)·n/T) with T = min(n, e.Threads()). fn must be safe
// to run concurrently on disjoint ranges. n ≤ 0 does nothing. If a chunk
// panics, ParallelFor waits for the others and re-panics with the first
// panic value on the calling goroutine.
func (e *Engine) ParallelFor(n int, fn func(lo, hi int)) {
	if n <= 0 {
		return
	}
	t := min(n, e.threads)
	if t <= 1 {
		fn(0, n)
		return
	}
	var wg sync.WaitGroup
	var fail failure
	wg.Add(t)
	for i := 1; i < t; i++ {
		submit(poolTask{fn: fn, lo: i * n / t, hi: (i + 1) * n / t, wg: &wg, fail: &fail})
	}
	poolTask{fn: fn, lo: 0, hi: n / t, wg: &wg, fail: &fail}.run()
	wg.Wait()
	if fail.set {
		panic(fail.val)
	}
}
