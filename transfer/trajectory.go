package transfer

import (
	"fmt"
	"slices"

	"github.com/ltransfer/ltransfer/nn"
)

// Trajectory is a source trajectory θ⁰ … θᵀ, read one point at a time so
// memory stays bounded whatever its length. At must be safe for concurrent
// use and return a fresh set the caller may modify. The trajectories of
// package nn (a recorded folder, nn.OpenTrajectory; one trained in memory,
// nn.MemoryTrajectory) are Trajectories as they are.
type Trajectory interface {
	// Len is the number of points, T+1 (point 0 is the initialisation).
	Len() int
	At(i int) (*nn.ParamSet, error)
}

// Schedule spaces the points of a linear trajectory (nn.InterpSchedule).
type Schedule = nn.InterpSchedule

const (
	// Uniform spaces points evenly: λₜ = t/T.
	Uniform = nn.Uniform
	// Cosine takes step t proportional to 1+cos(πt/T), like a cosine
	// learning-rate schedule: long steps first, short ones near the end
	// (the paper's default).
	Cosine = nn.Cosine
)

// ParseSchedule parses "uniform" or "cosine".
func ParseSchedule(s string) (Schedule, error) {
	switch Schedule(s) {
	case Uniform, Cosine:
		return Schedule(s), nil
	}
	return "", fmt.Errorf("transfer: unknown schedule %q (want cosine or uniform)", s)
}

// Lambdas returns λ₀ … λ_T, the interpolation coefficients of the T+1
// points (λ₀ = 0, λ_T = 1).
func Lambdas(T int, sched Schedule) ([]float64, error) {
	if _, err := ParseSchedule(string(sched)); err != nil {
		return nil, err
	}
	if T < 1 {
		return nil, fmt.Errorf("transfer: trajectory needs at least 1 step, got %d", T)
	}
	return nn.InterpLambdas(T, sched)
}

// LinearTrajectory is the straight path from A to B (nn.LinearTrajectory):
// θᵗ = A + λₜ·(B − A), the end points exactly A and B.
type LinearTrajectory = nn.LinearTrajectory

// Linear returns the linear trajectory from init to final with T steps.
func Linear(init, final *nn.ParamSet, T int, sched Schedule) (*LinearTrajectory, error) {
	if _, err := Lambdas(T, sched); err != nil {
		return nil, err
	}
	if err := sameLayout(init, final, "source initialisation", "source final point"); err != nil {
		return nil, err
	}
	return nn.NewLinearTrajectory(init, final, T, sched)
}

// FuncTrajectory adapts a loader (recorded checkpoints on disk, say).
type FuncTrajectory struct {
	N    int
	Load func(i int) (*nn.ParamSet, error)
}

// Len implements Trajectory.
func (f FuncTrajectory) Len() int { return f.N }

// At implements Trajectory.
func (f FuncTrajectory) At(i int) (*nn.ParamSet, error) {
	if i < 0 || i >= f.N {
		return nil, fmt.Errorf("transfer: trajectory point %d out of range [0,%d)", i, f.N)
	}
	return f.Load(i)
}

// sameLayout checks two sets have the same names and shapes, and finite values.
func sameLayout(a, b *nn.ParamSet, an, bn string) error {
	if a.Len() != b.Len() {
		return fmt.Errorf("transfer: %s has %d tensors, %s has %d", an, a.Len(), bn, b.Len())
	}
	for _, name := range a.Names() {
		x, y := a.Get(name), b.Get(name)
		if y == nil {
			return fmt.Errorf("transfer: %s has tensor %q, %s lacks it", an, name, bn)
		}
		if !slices.Equal(x.Shape, y.Shape) {
			return fmt.Errorf("transfer: tensor %q has shape %v in %s but %v in %s", name, x.Shape, an, y.Shape, bn)
		}
	}
	return nil
}

// checkFinite reports the first NaN or Inf in a parameter set.
func checkFinite(p *nn.ParamSet, what string) error {
	for _, name := range p.Names() {
		x := p.Get(name)
		if len(x.Data) != nn.Numel(x.Shape) {
			return fmt.Errorf("transfer: %s tensor %q has %d values for shape %v", what, name, len(x.Data), x.Shape)
		}
		if i := firstNonFinite(x.Data); i >= 0 {
			return fmt.Errorf("transfer: %s tensor %q has a non-finite value %v at index %d", what, name, x.Data[i], i)
		}
	}
	return nil
}
