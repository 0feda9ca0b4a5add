package transfer

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/ltransfer/ltransfer/kernels"
	"github.com/ltransfer/ltransfer/nn"
)

// TestSchedWaitsForModelWithoutThreads: with one workspace and two threads,
// a job waiting for the workspace holds no thread, so work that needs no
// workspace (an assignment problem) still gets the second core, and the
// waiting job, once it has the workspace, gets both threads.
func TestSchedWaitsForModelWithoutThreads(t *testing.T) {
	e, err := kernels.New(kernels.WithThreads(2))
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	s := newSched(e, 1, 2, 0, func() (nn.Model, error) { return nn.NewModel("mlp", nn.ModelConfig{}) })
	// The test holds one token, so the first job gets one thread.
	if err := s.acquire(ctx); err != nil {
		t.Fatal(err)
	}
	holding, release := make(chan struct{}), make(chan struct{})
	go s.parallel(ctx, 1, func(nn.Model, *kernels.Engine, int) error {
		close(holding)
		<-release
		return nil
	})
	<-holding
	threads := make(chan int, 1)
	go s.parallel(ctx, 1, func(_ nn.Model, e *kernels.Engine, _ int) error {
		threads <- e.Threads()
		return nil
	})
	s.release(1)
	// The second job waits for the workspace; the token just released
	// must stay free for serial work however long it waits.
	time.Sleep(50 * time.Millisecond)
	if !s.tryAcquire() {
		t.Fatal("a job waiting for a workspace took the free thread")
	}
	s.release(1)
	close(release)
	if got := <-threads; got != 2 {
		t.Errorf("the job that got the workspace ran on %d threads, want 2", got)
	}
}

// TestSolveBorrowsFreeThreads: cost matrices are built on the engine the
// borrow hook lends, every loan is given back, and the result is the one
// the matcher's own engine gives.
func TestSolveBorrowsFreeThreads(t *testing.T) {
	spec, pairs := lowRankPairs(t)
	e1, _ := kernels.New(kernels.WithThreads(1))
	e3, _ := kernels.New(kernels.WithThreads(3))
	solve := func(borrow bool) (Perms, float64, int) {
		m, err := NewMatcher(spec, pairs[0][0], e1)
		if err != nil {
			t.Fatal(err)
		}
		loans := 0
		if borrow {
			m.borrow = func() (*kernels.Engine, func()) {
				loans++
				return e3, func() { loans-- }
			}
		}
		for _, p := range pairs {
			if err := m.AddPair(1, p[0], p[1]); err != nil {
				t.Fatal(err)
			}
		}
		perms, obj, err := m.Solve(context.Background(), nil, MatchOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if m.e != e1 {
			t.Error("the lent engine outlived the solve")
		}
		return perms, obj, loans
	}
	p1, o1, _ := solve(false)
	p2, o2, open := solve(true)
	if open != 0 {
		t.Errorf("%d loans not given back", open)
	}
	if !p1.Equal(p2) || o1 != o2 {
		t.Errorf("borrowed threads changed the result: objective %v vs %v", o2, o1)
	}
}

// TestSchedWorkspaceBudget: a second workspace is made only when two of the
// largest measured so far fit the budget; with one, a job of two tasks
// runs on that workspace with both threads, with two on one thread each.
func TestSchedWorkspaceBudget(t *testing.T) {
	e, err := kernels.New(kernels.WithThreads(2))
	if err != nil {
		t.Fatal(err)
	}
	cfg := nn.ModelConfig{Width: 64, InputShape: []int{32}, NumClasses: 4}
	newModel := func() (nn.Model, error) { return nn.NewModel("mlp-relu", cfg) }
	m0, _ := newModel()
	p := m0.Init(1)
	b := nn.Batch{X: nn.NewTensor(16, 32), Y: make([]int32, 16)}
	if _, err := m0.Forward(e, p, b, p.ZerosLike(), true); err != nil {
		t.Fatal(err)
	}
	ws := nn.WorkspaceBytes(m0)
	for _, c := range []struct {
		budget int64
		models int
	}{{ws * 3 / 2, 1}, {ws * 2, 2}, {-1, 2}} {
		s := newSched(e, 2, 2, c.budget, newModel)
		s.putModel(m0)
		s.made = 1
		var mu sync.Mutex
		seen := map[nn.Model]int{}
		err := s.parallel(context.Background(), 2, func(m nn.Model, e *kernels.Engine, _ int) error {
			mu.Lock()
			seen[m] = e.Threads()
			mu.Unlock()
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		if s.made != c.models {
			t.Errorf("budget %d for workspaces of %d bytes: %d models made, want %d", c.budget, ws, s.made, c.models)
		}
		for _, threads := range seen {
			if threads != 2/c.models {
				t.Errorf("budget %d: a workspace ran on %d threads, want %d", c.budget, threads, 2/c.models)
			}
		}
	}
}
