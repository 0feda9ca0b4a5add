package kernels

import (
	"runtime"
	"sync"
	"sync/atomic"
	"time"
)

// The worker pool is shared by every Engine: persistent goroutines, started on
// first need, that help run the chunks of ParallelFor calls. The caller runs
// chunk 0 itself and then claims every chunk that no worker has claimed yet,
// so nested or concurrent calls never deadlock, never wait for a worker to
// wake up before a chunk can start, and never use more goroutines than
// callers × threads. Chunk boundaries depend only on n and the engine's
// thread count, never on which goroutine runs a chunk, which keeps results
// bit-identical.
//
// Waking a goroutine that blocked costs tens of microseconds on a virtual
// machine (a futex wake of an idle OS thread, then a steal), once per
// fork-join: a blocked Sgemm makes several fork-joins per product, and a
// 50 µs pair of chunks used to take 110 µs on 2 threads. So a worker that
// runs out of work spins for workerSpin polling for the next call before it
// blocks (as OpenBLAS's threads do), and the caller spins while the last
// chunks finish, for at most callerSpin, before it blocks.

const (
	workerSpin = 5 * time.Millisecond
	callerSpin = 2 * time.Millisecond
	// spinYield is the number of polls between runtime.Gosched calls, so a
	// spinning goroutine lets other runnable goroutines have its P.
	spinYield = 256
)

// parJob is one ParallelFor call.
type parJob struct {
	fn   func(lo, hi int)
	n, t int
	next atomic.Int32 // chunks 1 ≤ i < t are claimed by next.Add(1)
	left atomic.Int32 // chunks not yet finished
	wg   sync.WaitGroup
	fail failure
}

// failure records the first panic of a ParallelFor's chunks, to re-panic
// on the calling goroutine (a panic on a worker would kill the process).
type failure struct {
	once sync.Once
	val  any
	set  bool
}

// runChunk runs chunk i, turning a panic into a recorded failure. A worker
// (worker true) counts itself idle before it reports its last chunk done,
// so that the caller's next ParallelFor, which may start at once, finds it
// waiting instead of starting another goroutine.
func (j *parJob) runChunk(i int, worker bool) (idle bool) {
	defer j.wg.Done()
	defer func() {
		if worker && int(j.next.Load()) >= j.t-1 {
			pool.idle.Add(1)
			idle = true
		}
		j.left.Add(-1)
	}()
	defer func() {
		if v := recover(); v != nil {
			j.fail.once.Do(func() { j.fail.val, j.fail.set = v, true })
		}
	}()
	j.fn(i*j.n/j.t, (i+1)*j.n/j.t)
	return false // set by the deferred call
}

// help runs unclaimed chunks of j until there are none. A worker returns
// counted idle (see runChunk).
func (j *parJob) help(worker bool) {
	for {
		i := int(j.next.Add(1))
		if i >= j.t {
			if worker {
				pool.idle.Add(1)
			}
			return
		}
		if j.runChunk(i, worker) {
			return
		}
	}
}

const maxPoolWorkers = 256

var pool struct {
	// jobs carries one message per worker asked to help. Every message was
	// paid for by decrementing idle, so idle = workers waiting − messages
	// queued, and a message always finds a worker.
	jobs chan *parJob
	idle atomic.Int32
	mu   sync.Mutex
	n    int // workers started
}

func init() { pool.jobs = make(chan *parJob, maxPoolWorkers) }

func poolWorker(j *parJob) {
	for {
		j.help(true)
		j = waitJob()
	}
}

// waitJob spins for workerSpin, then blocks, until a job arrives. The
// worker is already counted idle.
func waitJob() *parJob {
	start := time.Now()
	for i := 1; ; i++ {
		select {
		case j := <-pool.jobs:
			return j
		default:
		}
		if i%spinYield == 0 {
			if time.Since(start) > workerSpin {
				return <-pool.jobs
			}
			runtime.Gosched()
		}
	}
}

// reserveIdle claims one waiting worker, if there is one.
func reserveIdle() bool {
	for {
		v := pool.idle.Load()
		if v <= 0 {
			return false
		}
		if pool.idle.CompareAndSwap(v, v-1) {
			return true
		}
	}
}

// ask gets one more goroutine to help with j: a waiting worker, or a new
// one while there are fewer than maxPoolWorkers. It reports false if
// neither (the caller then runs the chunks itself).
func ask(j *parJob) bool {
	if reserveIdle() {
		pool.jobs <- j // never blocks: at most one message per waiting worker
		return true
	}
	pool.mu.Lock()
	if pool.n >= maxPoolWorkers {
		pool.mu.Unlock()
		return false
	}
	pool.n++
	pool.mu.Unlock()
	go poolWorker(j)
	return true
}

// ParallelFor splits [0, n) into at most e.Threads() contiguous chunks of
// near-equal size and calls fn(lo, hi) once per chunk, concurrently, returning
// when all have finished. The chunks depend only on n and the thread count:
// chunk i is [i·n/T, (i+1)·n/T) with T = min(n, e.Threads()); the calling
// goroutine runs chunk 0. fn must be safe to run concurrently on disjoint
// ranges. n ≤ 0 does nothing. If a chunk panics, ParallelFor waits for the
// others and re-panics with the first panic value on the calling goroutine.
func (e *Engine) ParallelFor(n int, fn func(lo, hi int)) {
	if n <= 0 {
		return
	}
	t := min(n, e.threads)
	if t <= 1 {
		fn(0, n)
		return
	}
	j := &parJob{fn: fn, n: n, t: t}
	j.left.Store(int32(t))
	j.wg.Add(t)
	for i := 1; i < t; i++ {
		if !ask(j) {
			break
		}
	}
	j.runChunk(0, false)
	j.help(false)
	if j.left.Load() != 0 {
		start := time.Now()
		for i := 1; j.left.Load() != 0; i++ {
			if i%spinYield == 0 {
				if time.Since(start) > callerSpin {
					break
				}
				runtime.Gosched()
			}
		}
	}
	j.wg.Wait()
	if j.fail.set {
		panic(j.fail.val)
	}
}
