package transfer

import (
	"context"
	"math"
	"reflect"
	"slices"
	"testing"

	"github.com/ltransfer/ltransfer/kernels"
	"github.com/ltransfer/ltransfer/nn"
)

// logitsIn returns p's logits on data, computed in slices of batch.
func logitsIn(t testing.TB, m nn.Model, p *nn.ParamSet, data nn.Dataset, batch int) []float32 {
	t.Helper()
	e, _ := kernels.New(kernels.WithThreads(1))
	var out []float32
	for lo := 0; lo < data.Len(); lo += batch {
		var idx []int
		for i := lo; i < min(lo+batch, data.Len()); i++ {
			idx = append(idx, i)
		}
		l, err := nn.Logits(e, m, p, gather(data, idx, nil))
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, l...)
	}
	return out
}

// TestKeepBestLogits: Report.BestLogits are the logits of Report.BestParams
// (repaired or not) on the validation set, the same from Run and RunMany on
// any thread count, and give the best accuracy.
func TestKeepBestLogits(t *testing.T) {
	const seed = 3
	t.Logf("seed %d", seed)
	p := newTinyProblem(t)
	traj, err := Linear(p.src0, p.src1, 4, Cosine)
	if err != nil {
		t.Fatal(err)
	}
	for _, repair := range []bool{false, true} {
		// 300 examples in slices of 64: the last slice is partial.
		base := Options{Method: GMT, NewModel: p.newModel, Source: traj, Train: p.trainSet, Val: p.valSet, TargetInit: p.tgt0,
			GradBatches: 2, BatchSize: 32, EvalBatch: 64, Seed: seed, Repair: repair, RepairBatches: 2, KeepBest: true, KeepBestLogits: true}
		var first []float32
		for _, threads := range []int{1, 2} {
			e, _ := kernels.New(kernels.WithThreads(threads))
			o := base
			o.Engine = e
			rep, err := Run(context.Background(), o)
			if err != nil {
				t.Fatal(err)
			}
			want := logitsIn(t, p.m, rep.BestParams, p.valSet, 64)
			if !reflect.DeepEqual(rep.BestLogits, want) {
				t.Fatalf("repair %v, %d threads: kept logits are not the best point's", repair, threads)
			}
			_, correct := nn.SoftmaxCrossEntropy(rep.BestLogits, p.valSet.Len(), 5, p.valSet.Y, nil)
			if acc := float64(correct) / float64(p.valSet.Len()); acc != rep.BestValAcc {
				t.Fatalf("repair %v: the kept logits score %.4f, the best point %.4f", repair, acc, rep.BestValAcc)
			}
			o.TargetInit = nil
			reps, err := RunMany(context.Background(), o, []Target{{Init: p.tgt0}, {Init: p.m.Init(107)}})
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(reps[0].BestLogits, rep.BestLogits) {
				t.Fatalf("repair %v, %d threads: RunMany kept other logits than Run", repair, threads)
			}
			if first == nil {
				first = rep.BestLogits
			} else if !reflect.DeepEqual(first, rep.BestLogits) {
				t.Fatalf("repair %v: kept logits differ between 1 and %d threads", repair, threads)
			}
		}
		o := base
		o.KeepBestLogits = false
		if rep, err := Run(context.Background(), o); err != nil || rep.BestLogits != nil {
			t.Fatalf("without KeepBestLogits: %v, %d logits kept", err, len(rep.BestLogits))
		}
	}
}

// TestEnsembleOfLogits: scoring an ensemble from its members' logits gives
// the report Ensemble gives by evaluating the members, and bad logits or
// labels are refused.
func TestEnsembleOfLogits(t *testing.T) {
	p := newTinyProblem(t)
	members := []*nn.ParamSet{p.src1, p.tgt1, p.m.Init(5), p.tgt0}
	want, err := Ensemble(context.Background(), nil, p.newModel, members, p.valSet, 70)
	if err != nil {
		t.Fatal(err)
	}
	var logits [][]float32
	for _, m := range members {
		logits = append(logits, logitsIn(t, p.m, m, p.valSet, 70))
	}
	got, err := EnsembleOfLogits(logits, p.valSet.Y, 5)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("from logits %+v, evaluated %+v", got, want)
	}
	if want.Accuracy <= 0 || want.Disagreement <= 0 || want.N != p.valSet.Len() {
		t.Fatalf("degenerate ensemble %+v", want)
	}
	// The figures themselves, counted here example by example.
	correct, pairs, differ := 0, 0, 0
	for i, y := range p.valSet.Y {
		mean := make([]float64, 5)
		var pred []int
		for _, l := range logits {
			row := l[i*5 : i*5+5]
			mx := slices.Max(row)
			var z float64
			for _, v := range row {
				z += math.Exp(float64(v - mx))
			}
			for c, v := range row {
				mean[c] += math.Exp(float64(v-mx)) / z
			}
			pred = append(pred, slices.Index(row, mx))
		}
		if slices.Index(mean, slices.Max(mean)) == int(y) {
			correct++
		}
		for a := range pred {
			for b := a + 1; b < len(pred); b++ {
				pairs++
				if pred[a] != pred[b] {
					differ++
				}
			}
		}
	}
	if acc, dis := float64(correct)/float64(len(p.valSet.Y)), float64(differ)/float64(pairs); got.Accuracy != acc || math.Abs(got.Disagreement-dis) > 1e-12 {
		t.Fatalf("accuracy %v and disagreement %v, counted %v and %v", got.Accuracy, got.Disagreement, acc, dis)
	}
	if _, err := EnsembleOfLogits([][]float32{logits[0][:10]}, p.valSet.Y, 5); err == nil {
		t.Fatal("short logits accepted")
	}
	if _, err := EnsembleOfLogits(logits, append([]int32{5}, p.valSet.Y[1:]...), 5); err == nil {
		t.Fatal("a label outside the classes accepted")
	}
	if _, err := EnsembleOfLogits(nil, p.valSet.Y, 5); err == nil {
		t.Fatal("an empty ensemble accepted")
	}
}
