package lap

import (
	"context"
	"errors"
	"fmt"
	"math"

	"github.com/ltransfer/ltransfer/asm"
	"github.com/ltransfer/ltransfer/internal/hugemem"
)

// Options tune one solve. The zero value (or a nil *Options) minimises with
// no warm start.
//
// A solve only reads its Options, so one may be shared by concurrent solves.
type Options struct {
	// Maximize asks for the assignment of largest total cost. −Inf then
	// marks a forbidden pair (+Inf when minimising).
	Maximize bool
	// RowToCol is an optional warm start: an initial, partial or full,
	// assignment (len n, -1 = unassigned, distinct columns < m). Pairs that
	// are no longer optimal for the row under the starting duals, or are
	// forbidden, are dropped.
	RowToCol []int
	// ColDual is an optional warm start: the column duals v (len m, finite)
	// of a previous solve of a similar matrix (Result.ColDual), in the
	// minimisation form of this solve.
	ColDual []float64
	// Parallel, when set, is asked at the start of each phase that treats
	// the rows independently (the warm start's check of every pair, the
	// candidate lists of a large matrix: reads of the whole matrix) how
	// many goroutines the phase may use; the phase calls release when it
	// ends. A caller that shares its cores can answer with the threads
	// free at the time. The result does not depend on it. nil: one.
	Parallel func() (threads int, release func())
}

// Result is an optimal assignment with its dual certificate.
//
// A Result is the caller's: no Solver keeps or reuses it.
type Result struct {
	// RowToCol[i] is the column assigned to row i; all distinct.
	RowToCol []int
	// Objective is Σ cost[i][RowToCol[i]] (summed in float64), in the
	// caller's sense: the maximum when Maximize.
	Objective float64
	// RowDual (len n) and ColDual (len m) are duals u, v of the minimisation
	// form (c' = cost, or −cost when maximising): c'[i][j] − u[i] − v[j] ≥ 0
	// for every allowed pair and = 0 on the assignment, up to rounding. For
	// n < m, v ≤ 0 everywhere and v = 0 on the unassigned columns.
	RowDual, ColDual []float64
	// Stats counts the work done, for tuning and for measuring warm starts.
	Stats Stats
}

// Stats counts the phases of one solve.
type Stats struct {
	// WarmKept is the number of warm-start pairs kept.
	WarmKept int
	// FreeAfterInit is the number of rows left free after column reduction
	// (or the warm start) and the augmenting row reduction.
	FreeAfterInit int
	// RowReductions counts the rows processed by augmenting row reduction.
	RowReductions int
	// RowScans counts the rows scanned in full by the dense shortest-path
	// searches.
	RowScans int
	// SparseScans counts the rows visited by the sparse searches, which read
	// only a row's candidate list; Expansions counts the rows they read in
	// full because the search reached the row's bound.
	SparseScans, Expansions int
	// ListRefreshes counts the rows whose candidate list could not give the
	// row reduction its two smallest reduced costs and was rebuilt.
	ListRefreshes int
}

// ErrInfeasible is wrapped by the error returned when forbidden pairs leave
// no assignment of every row.
var ErrInfeasible = errors.New("lap: no feasible assignment")

// Solver solves assignment problems on one kernel path, reusing its work
// buffers from one call to the next. A Solver is not safe for concurrent
// use; use one per goroutine.
type Solver struct {
	path   asm.Path
	sparse int // sparseAuto, or forced on/off by tests
	ws     workspace
}

// NewSolver returns a Solver that runs the kernels of path p, which must be
// supported here (see asm.Available).
func NewSolver(p asm.Path) (*Solver, error) {
	if !asm.Supported(p) {
		return nil, fmt.Errorf("lap: kernel path %s is not supported on this CPU/build (available: %v)", p, asm.Available())
	}
	return &Solver{path: p}, nil
}

// Path is the kernel path s runs.
func (s *Solver) Path() asm.Path { return s.path }

// SolveFloat64 solves the n×m problem with row-major cost (len n·m, n ≤ m)
// on the start-up kernel path. opt may be nil.
func SolveFloat64(n, m int, cost []float64, opt *Options) (*Result, error) {
	s := Solver{path: asm.Selected()}
	return s.SolveFloat64Context(context.Background(), n, m, cost, opt)
}

// SolveFloat32 is SolveFloat64 for float32 costs, which are widened exactly:
// the arithmetic is float64 throughout.
func SolveFloat32(n, m int, cost []float32, opt *Options) (*Result, error) {
	s := Solver{path: asm.Selected()}
	return s.SolveFloat32Context(context.Background(), n, m, cost, opt)
}

// SolveFloat64 is the package-level SolveFloat64 on s's path and buffers.
func (s *Solver) SolveFloat64(n, m int, cost []float64, opt *Options) (*Result, error) {
	return s.SolveFloat64Context(context.Background(), n, m, cost, opt)
}

// SolveFloat32 is the package-level SolveFloat32 on s's path and buffers.
func (s *Solver) SolveFloat32(n, m int, cost []float32, opt *Options) (*Result, error) {
	return s.SolveFloat32Context(context.Background(), n, m, cost, opt)
}

// SolveFloat64Context is SolveFloat64, abandoned when ctx is done (checked
// before the solve and between augmentations) with an error that wraps
// ctx's: errors.Is(err, context.Canceled) or context.DeadlineExceeded.
func (s *Solver) SolveFloat64Context(ctx context.Context, n, m int, cost []float64, opt *Options) (*Result, error) {
	if opt == nil {
		opt = &Options{}
	}
	if err := checkDims(n, m, len(cost)); err != nil {
		return nil, err
	}
	c64, err := prepare(s.path, &s.ws, n, m, cost, opt.Maximize)
	if err != nil {
		return nil, err
	}
	res, err := s.solve(ctx, n, m, c64, nil, opt)
	if err != nil {
		return nil, err
	}
	res.Objective = objective(cost, m, res.RowToCol)
	return res, nil
}

// SolveFloat32Context is SolveFloat32, abandoned when ctx is done (checked
// before the solve and between augmentations) with an error that wraps
// ctx's: errors.Is(err, context.Canceled) or context.DeadlineExceeded.
func (s *Solver) SolveFloat32Context(ctx context.Context, n, m int, cost []float32, opt *Options) (*Result, error) {
	if opt == nil {
		opt = &Options{}
	}
	if err := checkDims(n, m, len(cost)); err != nil {
		return nil, err
	}
	c32, err := prepare(s.path, &s.ws, n, m, cost, opt.Maximize)
	if err != nil {
		return nil, err
	}
	res, err := s.solve(ctx, n, m, nil, c32, opt)
	if err != nil {
		return nil, err
	}
	res.Objective = objective(cost, m, res.RowToCol)
	return res, nil
}

func checkDims(n, m, l int) error {
	switch {
	case n < 0 || m < 0:
		return fmt.Errorf("lap: negative dimensions %d×%d", n, m)
	case n > m:
		return fmt.Errorf("lap: %d rows > %d columns: every row needs its own column (transpose the matrix)", n, m)
	case m > 0 && n > math.MaxInt32/m:
		return fmt.Errorf("lap: %d×%d matrix is too large", n, m)
	case l != n*m:
		return fmt.Errorf("lap: cost has %d entries, want n·m = %d·%d = %d", l, n, m, n*m)
	}
	return nil
}

func objective[T float32 | float64](cost []T, m int, x []int) float64 {
	var s float64
	for i, j := range x {
		s += float64(cost[i*m+j])
	}
	return s
}

// prepare validates cost and returns the minimisation matrix the solver
// works on, in the caller's precision: cost itself when minimising, else a
// negated copy in ws (negation is exact). A float32 matrix stays float32 —
// half the memory traffic of the scans — and is widened exactly inside the
// kernels.
func prepare[T float32 | float64](path asm.Path, ws *workspace, n, m int, cost []T, maximize bool) ([]T, error) {
	// |c| ≤ limit keeps every distance and dual, which are sums of at most
	// 2m+2 costs, finite.
	limit := math.MaxFloat64 / (8 * float64(m+1))
	forbid := math.Inf(1)
	if maximize {
		forbid = math.Inf(-1)
	}
	bad := func(k int, f float64) error {
		switch {
		case f != f:
			return fmt.Errorf("lap: cost[%d][%d] is NaN", k/m, k%m)
		case f == forbid:
			return nil
		case math.IsInf(f, 0):
			return fmt.Errorf("lap: cost[%d][%d] = %v: only %v (a forbidden pair) is allowed when %s", k/m, k%m, f, forbid, sense(maximize))
		}
		return fmt.Errorf("lap: cost[%d][%d] = %g is too large: |cost| must be ≤ %.3g for %d columns so that dual sums cannot overflow", k/m, k%m, f, limit, m)
	}
	check := func(x []T) int {
		switch x := any(x).(type) {
		case []float64:
			return asm.LapCheck(path, x, limit)
		case []float32:
			return asm.LapCheckF32(path, x, limit)
		}
		panic("unreachable")
	}
	// The vector check finds the next suspicious entry at memory speed;
	// forbidden pairs are allowed and the search goes on past them.
	for k := 0; k < len(cost); {
		if k%asm.LapLanes == 0 && len(cost)-k >= asm.LapLanes {
			end := k + (len(cost)-k)&^(asm.LapLanes-1)
			k += check(cost[k:end])
			if k == end {
				continue
			}
		}
		if f := float64(cost[k]); !(math.Abs(f) <= limit) {
			if err := bad(k, f); err != nil {
				return nil, err
			}
		}
		k++
	}
	if !maximize {
		return cost, nil
	}
	var c []T
	switch any(cost).(type) {
	case []float64:
		c = any(grow(&ws.c, n*m)).([]T)
	case []float32:
		c = any(grow(&ws.c32, n*m)).([]T)
	}
	for k, x := range cost {
		c[k] = -x
	}
	return c, nil
}

func sense(maximize bool) string {
	if maximize {
		return "maximising"
	}
	return "minimising"
}

// grow returns (*p)[:n], reallocating when the capacity is short.
func grow[T any](p *[]T, n int) []T {
	if cap(*p) < n {
		if f, ok := any(p).(*[]float32); ok {
			*f = hugemem.Float32s(n) // the n×m cost copy: huge pages save its faults
		} else {
			*p = make([]T, n)
		}
	}
	return (*p)[:n]
}
