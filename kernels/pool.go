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
// Why the waiting goroutines spin (measured on the 2-vCPU Zen 4 VM): a
// goroutine readied by a caller that keeps its core busy waits on the
// caller's P until the runtime wakes the other core's idle OS thread to
// steal it, 70–300 µs, and often not before the caller yields. A blocked
// Sgemm makes several fork-joins per product (8 for 512³, 128 for 2048³),
// and with workers that blocked after every chunk a pair of 50 µs chunks
// took 110 µs on 2 threads, and 2-thread Sgemm reached 0.67–0.96 of
// OpenBLAS. So a worker that runs out of work spins, polling for the next
// call, for the spin of the engine whose call it helped (Engine.Spin) before
// it parks, blocked on a channel receive that costs no CPU; and the caller
// spins while the last chunks finish, for at most min(spin, callerSpin),
// before it blocks. The default, DefaultSpin, covers the fork-joins inside
// one product, so an idle service pays at most that much CPU per worker
// after its last call. Back-to-back work wants more: with a 2 ms worker
// spin, back-to-back 128×4096×784 products still fell into runs where the
// worker timed out and then waited behind the caller on one P (93 instead
// of 185 GFLOP/s), so the CLI uses ThroughputSpin (OpenBLAS's threads spin
// for about 100 ms). WithSpin(0) parks workers as soon as they run out of
// work, and callers block at once.
//
// For its first hotSpin a spinning goroutine does not yield its P; after
// that it calls runtime.Gosched every spinYield, so other goroutines run.
// Not earlier or more often: a goroutine that yields may come back on the
// other P, and a caller and a worker that swap cores lose the packed panels
// in their L2 caches (512³ ran at 155 instead of 195 GFLOP/s when both
// yielded every 100 µs, and at 150 when every microsecond).

const (
	// DefaultSpin is the spin of an Engine made without WithSpin.
	DefaultSpin = time.Millisecond
	// ThroughputSpin is the spin for programs that run back-to-back
	// products on all their threads (the ltransfer CLI): 20 ms of CPU per
	// worker after the last call buys 2-thread speed across calls.
	ThroughputSpin = 20 * time.Millisecond

	callerSpin = 2 * time.Millisecond
	hotSpin    = time.Millisecond
	spinYield  = 100 * time.Microsecond
	spinPoll   = 256 // polls between two reads of the clock
)

// parJob is one ParallelFor call.
type parJob struct {
	fn   func(lo, hi int)
	n, t int
	spin time.Duration // how long a goroutine waits spinning before it parks
	next atomic.Int32  // chunks 1 ≤ i < t are claimed by next.Add(1)
	left atomic.Int32  // chunks not yet finished
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
		j = waitJob(j.spin)
	}
}

// waitJob spins for spin (yielding its P only after hotSpin), then parks,
// until a job arrives. The worker is already counted idle.
func waitJob(spin time.Duration) *parJob {
	if spin <= 0 {
		return <-pool.jobs
	}
	start := time.Now()
	yielded := start
	for i := 1; ; i++ {
		select {
		case j := <-pool.jobs:
			return j
		default:
		}
		if i%spinPoll == 0 {
			now := time.Now()
			if now.Sub(start) > spin {
				return <-pool.jobs
			}
			if now.Sub(start) > hotSpin && now.Sub(yielded) > spinYield {
				runtime.Gosched()
				yielded = now
			}
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
// one while fewer than limit workers exist. It reports false if neither
// (the caller then runs the chunks itself). The limit keeps a burst of calls
// from starting workers while the first one is still on its way to a core.
func ask(j *parJob, limit int) bool {
	if reserveIdle() {
		pool.jobs <- j // never blocks: at most one message per waiting worker
		return true
	}
	pool.mu.Lock()
	if pool.n >= min(limit, maxPoolWorkers) {
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
	j := &parJob{fn: fn, n: n, t: t, spin: e.spin}
	j.left.Store(int32(t))
	j.wg.Add(t)
	asked := 0
	for ; asked < t-1; asked++ {
		if !ask(j, e.threads-1) {
			break
		}
	}
	j.runChunk(0, false)
	if int(j.next.Load()) < t-1 && asked > 0 {
		// A worker we asked has not started during all of chunk 0: it
		// waits for a P while the other P's thread sleeps (see above).
		// Starting a goroutine makes the runtime wake an idle P, which can
		// then take the worker; meanwhile this goroutine runs the chunks.
		go func() {}()
	}
	j.help(false)
	if wait := min(e.spin, callerSpin); wait > 0 && j.left.Load() != 0 {
		start := time.Now()
		yielded := start
		for i := 1; j.left.Load() != 0; i++ {
			if i%spinPoll == 0 {
				now := time.Now()
				if now.Sub(start) > wait {
					break
				}
				if now.Sub(start) > hotSpin && now.Sub(yielded) > spinYield {
					runtime.Gosched()
					yielded = now
				}
			}
		}
	}
	j.wg.Wait()
	if j.fail.set {
		panic(j.fail.val)
	}
}
