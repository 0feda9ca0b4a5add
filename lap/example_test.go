package lap_test

import (
	"context"
	"errors"
	"fmt"
	"math"

	"github.com/ltransfer/ltransfer/asm"
	"github.com/ltransfer/ltransfer/lap"
)

// Assign three workers to three jobs at the least total cost.
func ExampleSolveFloat64() {
	cost := []float64{
		4, 1, 3, // worker 0
		2, 0, 5, // worker 1
		3, 2, 2, // worker 2
	}
	r, err := lap.SolveFloat64(3, 3, cost, nil)
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println("row → column:", r.RowToCol, "total cost:", r.Objective)
	// Output:
	// row → column: [1 0 2] total cost: 5
}

// +Inf marks a forbidden pair; when no assignment avoids them the error is
// lap.ErrInfeasible, and a cancelled solve reports context.Canceled.
func ExampleSolver_SolveFloat64Context() {
	s, err := lap.NewSolver(asm.Selected()) // the path chosen at start-up
	if err != nil {
		fmt.Println(err)
		return
	}
	inf := math.Inf(1)
	_, err = s.SolveFloat64Context(context.Background(), 2, 2, []float64{1, inf, 2, inf}, nil)
	fmt.Println("infeasible:", errors.Is(err, lap.ErrInfeasible))

	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err = s.SolveFloat64Context(ctx, 2, 2, []float64{1, 2, 3, 4}, nil)
	fmt.Println("cancelled:", errors.Is(err, context.Canceled))
	// Output:
	// infeasible: true
	// cancelled: true
}
