package transfer

import (
	"context"
	"math"
	"sync"
	"testing"

	"github.com/ltransfer/ltransfer/kernels"
)

// TestSelectPerms checks Options.SelectPerms against a direct computation:
// the method's own permutations are those of the plain run; each one's
// endpoint loss is the mean loss of θ₂⁰ + π(θ₁ᵀ − θ₁⁰) on the select
// batches; every point is θ₂⁰ + π*(θ₁ˢ − θ₁⁰) with π* the permutation of
// lowest endpoint loss up to its step; and the result does not depend on
// the thread count.
func TestSelectPerms(t *testing.T) {
	p := newTinyProblem(t)
	traj, err := Linear(p.src0, p.src1, 6, Cosine)
	if err != nil {
		t.Fatal(err)
	}
	_, spec := specSizes(t, p)
	kept := false // some step keeps an earlier step's permutation
	for _, method := range []Method{GMT, FGMT} {
		run := func(threads int, sel bool) ([]stepRecord, *Report) {
			e, _ := kernels.New(kernels.WithThreads(threads))
			var got []stepRecord
			var mu sync.Mutex
			rep, err := Run(context.Background(), Options{Method: method, NewModel: p.newModel, Source: traj, TargetInit: p.tgt0,
				Train: p.trainSet, Val: p.valSet, GradBatches: 1, BatchSize: 16, Seed: 3, Engine: e,
				SelectPerms: sel, SelectBatches: 3, OnStep: recordSteps(&got, &mu)})
			if err != nil {
				t.Fatalf("%s select %v: %v", method, sel, err)
			}
			return got, rep
		}
		plain, _ := run(1, false)
		got, rep := run(1, true)
		got2, rep2 := run(2, true)
		if !rep.SelectPerms {
			t.Error("report does not record the selection")
		}
		c, err := newCommon(Options{Method: method, NewModel: p.newModel, Source: traj, TargetInit: p.tgt0,
			Train: p.trainSet, Val: p.valSet, BatchSize: 16, Seed: 3, SelectBatches: 3})
		if err != nil {
			t.Fatal(err)
		}
		batches := c.selectBatches()
		e := kernels.Default()
		thetaT, _ := traj.At(traj.Len() - 1)
		endLoss := func(perms Perms) float64 {
			d, err := Apply(spec, diff(thetaT, p.src0), perms)
			if err != nil {
				t.Fatal(err)
			}
			q := p.tgt0.Clone()
			for _, name := range q.Names() {
				x, y := q.Get(name).Data, d.Get(name).Data
				for i := range x {
					x[i] += y[i]
				}
			}
			var sum float64
			for _, b := range batches {
				res, err := p.m.Forward(e, q, b, nil, false)
				if err != nil {
					t.Fatal(err)
				}
				sum += res.Loss
			}
			return sum / float64(len(batches))
		}
		best, bestLoss := 0, math.Inf(1)
		for s := 1; s < len(plain); s++ {
			l := endLoss(plain[s].perms)
			if r := rep.Steps[s].EndpointLoss; math.Abs(r-l) > 1e-5*math.Max(1, l) {
				t.Fatalf("%s step %d: endpoint loss %g, direct %g", method, s, r, l)
			}
			if l < bestLoss {
				best, bestLoss = s, l
			}
			if rep.Steps[s].PermsFrom != best || !got[s].perms.Equal(plain[best].perms) {
				t.Fatalf("%s step %d: uses step %d's permutation, want step %d's", method, s, rep.Steps[s].PermsFrom, best)
			}
			kept = kept || best != s && !plain[s].perms.Equal(plain[best].perms)
			theta, _ := traj.At(s)
			d, _ := Apply(spec, diff(theta, p.src0), plain[best].perms)
			for _, name := range d.Names() {
				x, y, b := got[s].params.Get(name).Data, d.Get(name).Data, p.tgt0.Get(name).Data
				for i := range x {
					if diff := x[i] - b[i] - y[i]; diff > 1e-5 || diff < -1e-5 {
						t.Fatalf("%s step %d: %s[%d] = %g, θ₂⁰ + π*(Δ) = %g", method, s, name, i, x[i], b[i]+y[i])
					}
				}
			}
			if !sameParams(got[s].params, got2[s].params) || rep.Steps[s] != rep2.Steps[s] {
				t.Fatalf("%s step %d: 2 threads differ from 1", method, s)
			}
		}
		if !rep.Perms.Equal(plain[best].perms) {
			t.Fatalf("%s: the report's permutation is not the selected one", method)
		}
	}
	if !kept {
		t.Fatal("every step's own permutation was the best so far: the test does not tell selection from none; change the seed")
	}
	for _, o := range []Options{{Method: Naive, SelectPerms: true}, {Method: GMT, SelectPerms: true, Segments: 2}} {
		o.NewModel, o.Source, o.Train, o.Val, o.TargetInit = p.newModel, traj, p.trainSet, p.valSet, p.tgt0
		if _, err := Run(context.Background(), o); err == nil {
			t.Errorf("%s with SelectPerms, %d segments: no error", o.Method, o.Segments)
		}
	}
}
