package kernels

// split decides how a kernel with `tasks` independent tasks uses e's
// threads: with at least as many tasks as threads, the tasks are spread over
// the threads and each GEMM inside runs single-threaded (inner); with fewer,
// the tasks run one after another and each GEMM gets all of e's threads.
// Either way results are identical, because the GEMM's results do not depend
// on its thread count and each task's work is fixed by the shape alone.
func (e *Engine) split(tasks int) (inner *Engine, threads int) {
	if e.threads <= 1 || tasks <= 1 || tasks < e.threads {
		return e, 1
	}
	return e.WithThreads(1), e.threads
}

// parallel runs fn(b, i) for i in [0, n) on up to `threads` workers of the
// shared pool (ParallelFor chunks), each chunk with its own scratch b.
func (e *Engine) parallel(n, threads int, fn func(b *convBufs, i int)) {
	run := func(lo, hi int) {
		b := getBufs()
		defer putBufs(b)
		for i := lo; i < hi; i++ {
			fn(b, i)
		}
	}
	if threads <= 1 || n <= 1 {
		run(0, n)
		return
	}
	e.WithThreads(threads).ParallelFor(n, run)
}
