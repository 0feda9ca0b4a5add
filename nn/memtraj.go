package nn

import "fmt"

// MemoryTrajectory is a trajectory held in memory: the parameters at each
// checkpoint of a run that recorded nothing on disk (TrainResult.Trajectory).
// It implements Trajectory. It is not modified by its methods, so several
// goroutines may read it at once; appending to Points while others read is
// a data race.
type MemoryTrajectory struct {
	Points []*ParamSet
}

// Len is the number of points.
func (t *MemoryTrajectory) Len() int { return len(t.Points) }

// At returns a copy of point i (callers may modify it freely).
func (t *MemoryTrajectory) At(i int) (*ParamSet, error) {
	if i < 0 || i >= len(t.Points) {
		return nil, fmt.Errorf("nn: trajectory point %d outside [0, %d)", i, len(t.Points))
	}
	return t.Points[i].Clone(), nil
}
