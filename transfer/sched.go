package transfer

import (
	"context"
	"fmt"
	"runtime/debug"
	"sync"
	"sync/atomic"

	"github.com/ltransfer/ltransfer/kernels"
	"github.com/ltransfer/ltransfer/nn"
)

// sched hands out the two resources a transfer spends: threads (tokens,
// one per engine thread) and model workspaces (at most maxModels models
// exist, each owning the activation buffers of one forward/backward pass).
// Every goroutine that computes holds at least one token while it does.
// A goroutine takes its first model before any token, and one that holds
// tokens never waits for a model (it only takes idle ones), so the waits
// cannot form a cycle; and a goroutine waiting for a workspace leaves the
// threads to those that can use them. Targets of RunMany and background
// evaluations all draw from the same sched, so the cores stay busy without
// fork-join barriers between targets.
type sched struct {
	e         *kernels.Engine
	tokens    chan struct{}
	maxGrab   atomic.Int32 // tokens one phase may take at once
	newModel  func() (nn.Model, error)
	mu        sync.Mutex
	idle      []nn.Model
	made      int
	maxModels int
	freed     chan struct{} // signalled when a model is returned
	// budget bounds the models' workspaces together (bytes; ≤ 0: no
	// bound): a model beyond the first is made only while one more of the
	// largest workspace measured so far fits (wsMax, measured as models
	// come back; none is made before one has been measured).
	budget int64
	wsMax  int64
}

func newSched(e *kernels.Engine, maxModels, maxGrab int, budget int64, newModel func() (nn.Model, error)) *sched {
	s := &sched{e: e, tokens: make(chan struct{}, e.Threads()),
		newModel: newModel, maxModels: max(1, maxModels), freed: make(chan struct{}, 1), budget: budget}
	s.maxGrab.Store(int32(max(1, maxGrab)))
	for i := 0; i < e.Threads(); i++ {
		s.tokens <- struct{}{}
	}
	return s
}

// acquire takes one token, waiting for it.
func (s *sched) acquire(ctx context.Context) error {
	select {
	case <-s.tokens:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// tryAcquire takes a token if one is free.
func (s *sched) tryAcquire() bool {
	select {
	case <-s.tokens:
		return true
	default:
		return false
	}
}

// tryMore takes up to n tokens that are free now and returns how many.
func (s *sched) tryMore(n int) int {
	k := 0
	for k < n && s.tryAcquire() {
		k++
	}
	return k
}

// lend returns an engine with one thread (the token its caller holds)
// plus the tokens free now, and the function that gives those back.
func (s *sched) lend() (*kernels.Engine, func()) {
	k := s.tryMore(s.e.Threads() - 1)
	return s.e.WithThreads(1 + k), func() { s.release(k) }
}

func (s *sched) release(n int) {
	for i := 0; i < n; i++ {
		s.tokens <- struct{}{}
	}
}

// grab takes one token (waiting) and then up to want−1 more that are free.
func (s *sched) grab(ctx context.Context, want int) (int, error) {
	if err := s.acquire(ctx); err != nil {
		return 0, err
	}
	n := 1
	for n < min(want, int(s.maxGrab.Load())) && s.tryAcquire() {
		n++
	}
	return n, nil
}

// model returns an idle model or makes one while fewer than maxModels
// exist; with wait it waits for one to be returned, else it reports false.
func (s *sched) model(ctx context.Context, wait bool) (nn.Model, bool, error) {
	for {
		s.mu.Lock()
		if k := len(s.idle); k > 0 {
			m := s.idle[k-1]
			s.idle = s.idle[:k-1]
			s.mu.Unlock()
			return m, true, nil
		}
		if s.made < s.maxModels && s.fits() {
			s.made++
			s.mu.Unlock()
			m, err := s.newModel()
			if err != nil {
				s.mu.Lock()
				s.made--
				s.mu.Unlock()
				return nil, false, err
			}
			return m, true, nil
		}
		s.mu.Unlock()
		if !wait {
			return nil, false, nil
		}
		select {
		case <-s.freed:
		case <-ctx.Done():
			return nil, false, ctx.Err()
		}
	}
}

// fits reports whether one more workspace fits the budget; s.mu is held.
func (s *sched) fits() bool {
	switch {
	case s.budget <= 0 || s.made == 0:
		return true
	case s.wsMax == 0:
		return false // the first model has not come back yet
	}
	return int64(s.made+1)*s.wsMax <= s.budget
}

func (s *sched) putModel(m nn.Model) {
	var b int64
	s.mu.Lock()
	measure := s.budget > 0 && s.made < s.maxModels // else fits is never asked again
	s.mu.Unlock()
	if measure {
		b = nn.WorkspaceBytes(m)
	}
	s.mu.Lock()
	s.wsMax = max(s.wsMax, b)
	s.idle = append(s.idle, m)
	s.mu.Unlock()
	select {
	case s.freed <- struct{}{}:
	default:
	}
}

// parallel runs jobs 0 … n−1 on the tokens and models it can get: at least
// one of each (waiting for them), more when free, each worker holding one
// model and an engine with its share of the tokens. The first error wins;
// a panic in a job becomes its error.
func (s *sched) parallel(ctx context.Context, n int, job func(m nn.Model, e *kernels.Engine, i int) error) error {
	if n == 0 {
		return nil
	}
	// The first model is taken before any token: a goroutine waiting for
	// a workspace holds no thread, so with fewer workspaces than threads
	// the one that has a workspace gets every free thread.
	var models []nn.Model
	defer func() {
		for _, m := range models {
			s.putModel(m)
		}
	}()
	m, _, err := s.model(ctx, true)
	if err != nil {
		return err
	}
	models = append(models, m)
	tok, err := s.grab(ctx, s.e.Threads())
	if err != nil {
		return err
	}
	defer func() { s.release(tok) }()
	for len(models) < min(n, tok) {
		m, ok, err := s.model(ctx, false)
		if err != nil {
			return err
		}
		if !ok {
			break
		}
		models = append(models, m)
	}
	nw := len(models)
	var (
		mu    sync.Mutex
		next  int
		first error
		wg    sync.WaitGroup
	)
	for w := 0; w < nw; w++ {
		// Tokens beyond one per worker become threads of the first workers.
		e := s.e.WithThreads(tok/nw + b2i(w < tok%nw))
		wg.Add(1)
		go func(m nn.Model) {
			defer wg.Done()
			for {
				mu.Lock()
				if first != nil || next >= n {
					mu.Unlock()
					return
				}
				i := next
				next++
				mu.Unlock()
				err := ctx.Err()
				if err == nil {
					err = guard(func() error { return job(m, e, i) })
				}
				if err != nil {
					mu.Lock()
					if first == nil {
						first = err
					}
					mu.Unlock()
					return
				}
			}
		}(models[w])
	}
	wg.Wait()
	return first
}

// serial runs f holding one token (work that does not use a model: the
// assignment problems, building a transferred point).
func (s *sched) serial(ctx context.Context, f func() error) error {
	if err := s.acquire(ctx); err != nil {
		return err
	}
	defer s.release(1)
	return guard(f)
}

func b2i(b bool) int {
	if b {
		return 1
	}
	return 0
}

// PanicError is a panic raised in code a transfer called (a caller's Model,
// Dataset, Trajectory or callback, or the library itself), recovered and
// returned as an error so it does not end the caller's process.
type PanicError struct {
	Value any
	Stack []byte
}

func (p *PanicError) Error() string {
	return fmt.Sprintf("transfer: panic: %v", p.Value)
}

// guard calls f, turning a panic into a *PanicError.
func guard(f func() error) (err error) {
	defer func() {
		if v := recover(); v != nil {
			err = &PanicError{Value: v, Stack: debug.Stack()}
		}
	}()
	return f()
}
