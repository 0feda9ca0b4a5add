package transfer

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/ltransfer/ltransfer/kernels"
	"github.com/ltransfer/ltransfer/nn"
)

// SyncedMode is how a synced transfer finds its permutation.
type SyncedMode string

const (
	// SyncedGMT matches, at every matching point, the gradients at all the
	// source points stored so far (each with the batch it was stored with),
	// recomputed at the current transfer, as GMT does.
	SyncedGMT SyncedMode = "gmt"
	// SyncedFGMT keeps the earlier pairs and adds only the newest, as FGMT.
	SyncedFGMT SyncedMode = "fgmt"
	// SyncedTrueGrads matches the source's gradients against the target's
	// own, from training the target directly (the paper code's
	// use_true_grads): a reference, not a transfer.
	SyncedTrueGrads SyncedMode = "true-grads"
	// SyncedRandom uses one random permutation (use_random_perm).
	SyncedRandom SyncedMode = "random"
)

// SyncedOptions configures Synced. Zero values take the documented defaults.
type SyncedOptions struct {
	Mode SyncedMode
	// NewModel builds the architecture; Spec is its permutation spec (nil:
	// BuiltinSpec).
	NewModel func() (nn.Model, error)
	Spec     *Spec
	// SourceInit and TargetInit are θ₁⁰ and θ₂⁰.
	SourceInit, TargetInit *nn.ParamSet
	// Train supplies the training batches of both networks (the same
	// batches, in the same order); Val is evaluated after every epoch.
	Train, Val nn.Dataset
	Optim      nn.OptimConfig
	Schedule   nn.ScheduleConfig
	Epochs     int
	// BatchSize defaults to 128.
	BatchSize int
	// Augment applies Train's training augmentation to the batches.
	Augment bool
	// Splits is the number of matchings per epoch (the paper code's
	// num_splits; default 1).
	Splits int
	// Seed fixes the batch order and the matching order.
	Seed  int64
	Match MatchOptions
	// BNBatches training batches recompute the transferred point's BN
	// statistics before it is evaluated (default 10).
	BNBatches int
	Engine    *kernels.Engine
	// Progress, if set, receives (epoch, batch, batches per epoch).
	Progress func(epoch, batch, batches int)
}

// SyncedEpoch is the validation accuracy of the three networks after an
// epoch: the source and the target trained directly, and the transfer
// θ₂⁰ + π(θ₁ − θ₁⁰) with the permutation found so far.
type SyncedEpoch struct {
	Epoch       int     `json:"epoch"`
	Source      float64 `json:"source_val_acc"`
	Target      float64 `json:"target_val_acc"`
	Transferred float64 `json:"transferred_val_acc"`
}

// SyncedReport is the result of Synced.
type SyncedReport struct {
	Mode      SyncedMode    `json:"mode"`
	Epochs    []SyncedEpoch `json:"epochs"`
	Matchings int           `json:"matchings"`
	Seconds   float64       `json:"seconds"`
	// Perms is the last permutation; Source, Target and Transferred are
	// the final parameters of the three networks.
	Perms                       Perms        `json:"-"`
	Source, Target, Transferred *nn.ParamSet `json:"-"`
}

// Synced transfers a trajectory while the source trains (the paper code's
// synced_transfer): the source and, for comparison, the target are trained
// on the same batches; Splits times an epoch the permutation is updated
// from the current source point and the stored batches, and after every
// epoch the transfer θ₂⁰ + π(θ₁ − θ₁⁰) is evaluated. No trajectory is
// stored on disk.
func Synced(ctx context.Context, o SyncedOptions) (*SyncedReport, error) {
	start := time.Now()
	switch o.Mode {
	case SyncedGMT, SyncedFGMT, SyncedTrueGrads, SyncedRandom:
	default:
		return nil, fmt.Errorf("transfer: unknown synced mode %q (want gmt, fgmt, true-grads or random)", o.Mode)
	}
	if o.NewModel == nil || o.SourceInit == nil || o.TargetInit == nil {
		return nil, errors.New("transfer: synced transfer needs NewModel, SourceInit and TargetInit")
	}
	if o.Epochs < 1 {
		return nil, fmt.Errorf("transfer: synced transfer for %d epochs", o.Epochs)
	}
	if o.BatchSize == 0 {
		o.BatchSize = 128
	}
	if o.Splits == 0 {
		o.Splits = 1
	}
	if o.BNBatches == 0 {
		o.BNBatches = 10
	}
	if o.BatchSize < 0 || o.Splits < 0 || o.BNBatches < 0 {
		return nil, fmt.Errorf("transfer: negative counts (batch %d, splits %d, BN batches %d)", o.BatchSize, o.Splits, o.BNBatches)
	}
	if err := checkData(o.Train, "synced training"); err != nil {
		return nil, err
	}
	if o.Val != nil {
		if err := checkData(o.Val, "validation"); err != nil {
			return nil, err
		}
	}
	if err := o.Schedule.Validate(); err != nil {
		return nil, err
	}
	if err := o.Match.check(); err != nil {
		return nil, err
	}
	if o.Match.Seed == 0 {
		o.Match.Seed = uint64(o.Seed)
	}
	e := o.Engine
	if e == nil {
		e = kernels.Default()
	}
	newModel := func() (nn.Model, error) {
		var m nn.Model
		err := guard(func() (err error) { m, err = o.NewModel(); return err })
		return m, err
	}
	ms, err := newModel()
	if err != nil {
		return nil, err
	}
	mt, err := newModel()
	if err != nil {
		return nil, err
	}
	mg, err := newModel() // gradients at stored points and evaluation
	if err != nil {
		return nil, err
	}
	// The transfer's own checks (layout, spec, finite values), through the
	// same code as Run.
	c, err := newCommon(Options{Method: GMT, NewModel: o.NewModel, Spec: o.Spec, Source: twoPoints{o.SourceInit, o.SourceInit},
		Train: o.Train, Val: o.Val, BatchSize: o.BatchSize, BNBatches: o.BNBatches, Seed: uint64(o.Seed), Engine: e, Workers: 1})
	if err != nil {
		return nil, err
	}
	if err := c.checkTarget(&Target{Init: o.TargetInit}); err != nil {
		return nil, err
	}
	ps, pt := o.SourceInit.Clone(), o.TargetInit.Clone()
	optS, err := nn.NewOptimizer(o.Optim, ms.State())
	if err != nil {
		return nil, err
	}
	optT, err := nn.NewOptimizer(o.Optim, mt.State())
	if err != nil {
		return nil, err
	}
	loader := &nn.Loader{Data: o.Train, BatchSize: o.BatchSize, Shuffle: true, Augment: o.Augment, Seed: o.Seed}
	nb := loader.NumBatches()
	interval := 1 + nb/o.Splits
	rep := &SyncedReport{Mode: o.Mode}
	perms := Identity(c.sizes)
	if o.Mode == SyncedRandom {
		perms = RandomPerms(c.sizes, uint64(o.Seed))
	}
	matcher, err := NewMatcher(c.spec, o.TargetInit, e)
	if err != nil {
		return nil, err
	}
	var stored []syncedPoint
	gs, gt := ps.ZerosLike(), pt.ZerosLike()
	step := 0
	for ep := 0; ep < o.Epochs; ep++ {
		it, err := loader.Epoch(ctx, ep, 0)
		if err != nil {
			return nil, err
		}
		for {
			b, bi, ok := it.Next()
			if !ok {
				break
			}
			if err := ctx.Err(); err != nil {
				it.Close()
				return nil, err
			}
			match := bi%interval == 0
			if match && (o.Mode == SyncedGMT || o.Mode == SyncedFGMT) {
				pt := syncedPoint{ps.Clone(), nn.Batch{X: b.X.Clone(), Y: append([]int32(nil), b.Y...)}}
				if o.Mode == SyncedFGMT {
					stored = []syncedPoint{pt}
				} else {
					stored = append(stored, pt)
					matcher.Reset()
				}
				for _, sp := range stored {
					tr := c.transferred(sp.theta, o.SourceInit, o.TargetInit, perms)
					g1, err := syncedGradient(e, mg, sp.theta, sp.batch)
					if err != nil {
						it.Close()
						return nil, fmt.Errorf("source gradient: %w", err)
					}
					g2, err := syncedGradient(e, mg, tr, sp.batch)
					if err != nil {
						it.Close()
						return nil, fmt.Errorf("transferred gradient: %w", err)
					}
					if err := matcher.AddPair(1, g2, g1); err != nil {
						it.Close()
						return nil, err
					}
				}
				if perms, err = syncedSolve(ctx, matcher, perms, o.Match); err != nil {
					it.Close()
					return nil, err
				}
				rep.Matchings++
			}
			lr := o.Schedule.LR(o.Optim.LR, step, nb, nb*o.Epochs)
			for _, x := range []struct {
				m    nn.Model
				p, g *nn.ParamSet
				opt  nn.Optimizer
			}{{ms, ps, gs, optS}, {mt, pt, gt, optT}} {
				res, err := x.m.Forward(e, x.p, b, x.g, true)
				if err != nil {
					it.Close()
					return nil, err
				}
				if err := checkFinite(x.g, fmt.Sprintf("training gradient at step %d (loss %v)", step, res.Loss)); err != nil {
					it.Close()
					return nil, err
				}
				x.opt.Step(e, x.p, x.g, lr)
			}
			if match && o.Mode == SyncedTrueGrads {
				if err := matcher.AddPair(1, gt.Clone(), gs.Clone()); err != nil {
					it.Close()
					return nil, err
				}
				if perms, err = syncedSolve(ctx, matcher, perms, o.Match); err != nil {
					it.Close()
					return nil, err
				}
				rep.Matchings++
			}
			step++
			if o.Progress != nil {
				o.Progress(ep, bi+1, nb)
			}
		}
		it.Close()
		tr := c.transferred(ps, o.SourceInit, o.TargetInit, perms)
		se := SyncedEpoch{Epoch: ep + 1}
		if o.Val != nil {
			// The trained networks keep their own BN statistics.
			if se.Source, err = c.evaluateWith(ctx, ps, false, nil); err != nil {
				return nil, err
			}
			if se.Target, err = c.evaluateWith(ctx, pt, false, nil); err != nil {
				return nil, err
			}
			if se.Transferred, err = c.evaluate(ctx, tr, nil); err != nil {
				return nil, err
			}
		}
		rep.Epochs = append(rep.Epochs, se)
		rep.Transferred = tr
	}
	rep.Perms, rep.Source, rep.Target = perms, ps, pt
	rep.Seconds = time.Since(start).Seconds()
	return rep, nil
}

type syncedPoint struct {
	theta *nn.ParamSet
	batch nn.Batch
}

// twoPoints is the two-point trajectory newCommon needs to check a
// synced transfer's inputs.
type twoPoints [2]*nn.ParamSet

func (p twoPoints) Len() int { return 2 }
func (p twoPoints) At(i int) (*nn.ParamSet, error) {
	if i < 0 || i > 1 {
		return nil, fmt.Errorf("transfer: point %d of 2", i)
	}
	return p[i], nil
}

// syncedGradient is the gradient at p on b in evaluation mode (BN with its
// running statistics), as the paper code's synced transfer takes it.
func syncedGradient(e *kernels.Engine, m nn.Model, p *nn.ParamSet, b nn.Batch) (*nn.ParamSet, error) {
	g := p.ZerosLike()
	if _, err := m.Forward(e, p, b, g, false); err != nil {
		return nil, err
	}
	return g, checkFinite(g, "gradient")
}

func syncedSolve(ctx context.Context, m *Matcher, perms Perms, opt MatchOptions) (Perms, error) {
	p, _, err := m.Solve(ctx, perms, opt)
	return p, err
}
