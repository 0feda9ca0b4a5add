package nn

import (
	"fmt"
	"math"
	"strings"
)

// ScheduleConfig is a learning-rate schedule, evaluated per optimiser step.
type ScheduleConfig struct {
	// Name is "constant" (default), "cosine" or "multistep".
	Name string `json:"name"`
	// WarmupSteps ramps the rate linearly from base/WarmupSteps up to base
	// over the first steps (any schedule).
	WarmupSteps int `json:"warmup_steps,omitempty"`
	// MinLR is the floor of the cosine schedule (eta_min).
	MinLR float64 `json:"min_lr,omitempty"`
	// Milestones are the epochs at which multistep multiplies the rate by
	// Gamma (default 0.1), as torch's MultiStepLR stepped once per epoch.
	Milestones []int   `json:"milestones,omitempty"`
	Gamma      float64 `json:"gamma,omitempty"`
}

// Validate checks the schedule's fields.
func (s ScheduleConfig) Validate() error {
	switch strings.ToLower(s.Name) {
	case "", "constant", "cosine", "multistep":
	default:
		return fmt.Errorf("nn: unknown LR schedule %q (want constant, cosine or multistep)", s.Name)
	}
	if math.IsNaN(s.MinLR) || math.IsInf(s.MinLR, 0) || math.IsNaN(s.Gamma) || math.IsInf(s.Gamma, 0) {
		return fmt.Errorf("nn: LR schedule: min LR %v and gamma %v must be finite", s.MinLR, s.Gamma)
	}
	if s.WarmupSteps < 0 || s.MinLR < 0 || s.Gamma < 0 {
		return fmt.Errorf("nn: LR schedule: warm-up %d, min LR %v and gamma %v must be ≥ 0", s.WarmupSteps, s.MinLR, s.Gamma)
	}
	for i, m := range s.Milestones {
		if m < 0 || (i > 0 && m <= s.Milestones[i-1]) {
			return fmt.Errorf("nn: LR schedule: milestones %v must be increasing epochs ≥ 0", s.Milestones)
		}
	}
	return nil
}

// LR returns the learning rate for optimiser step `step` (0-based) of a
// run of totalSteps steps with stepsPerEpoch steps per epoch.
//
// cosine: after warm-up, base decays to MinLR along
// MinLR + (base−MinLR)·(1+cos(π·s/S))/2, s counting steps after warm-up
// and S the steps remaining after warm-up (torch's CosineAnnealingLR with
// T_max in steps).
func (s ScheduleConfig) LR(base float64, step, stepsPerEpoch, totalSteps int) float64 {
	if s.WarmupSteps > 0 && step < s.WarmupSteps {
		return base * float64(step+1) / float64(s.WarmupSteps)
	}
	switch strings.ToLower(s.Name) {
	case "cosine":
		span := totalSteps - s.WarmupSteps
		if span <= 0 {
			return base
		}
		t := float64(step-s.WarmupSteps) / float64(span)
		return s.MinLR + (base-s.MinLR)*(1+math.Cos(math.Pi*t))/2
	case "multistep":
		g := s.Gamma
		if g == 0 {
			g = 0.1
		}
		epoch := 0
		if stepsPerEpoch > 0 {
			epoch = step / stepsPerEpoch
		}
		lr := base
		for _, m := range s.Milestones {
			if epoch >= m {
				lr *= g
			}
		}
		return lr
	}
	return base
}
