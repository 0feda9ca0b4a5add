package nn

import (
	"context"
	"testing"

	"github.com/ltransfer/ltransfer/kernels"
)

// BenchmarkRepair compares one Repair of Conv8 ×0.25 on 512 calibration
// images (two passes: the reference's statistics, then the renormalised
// network's) with the plain forward pass of the same 512 images.
func BenchmarkRepair(b *testing.B) {
	m, err := NewModel("conv8", ModelConfig{WidthFactor: 0.25, InputShape: []int{3, 32, 32}})
	if err != nil {
		b.Fatal(err)
	}
	rng := NewRand(1, 1)
	var batches []Batch
	for i := 0; i < 4; i++ {
		batches = append(batches, randBatch(rng, 128, []int{3, 32, 32}, 10))
	}
	e := kernels.Default()
	ref, p := m.Init(1), m.Init(2)
	b.Run("repair", func(b *testing.B) {
		for i := 0; i < b.N; i++ {
			if err := Repair(context.Background(), e, m, p.Clone(), ref, batches); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("forward", func(b *testing.B) {
		for i := 0; i < b.N; i++ {
			for _, bt := range batches {
				if _, err := m.Forward(e, p, bt, nil, false); err != nil {
					b.Fatal(err)
				}
			}
		}
	})
}
