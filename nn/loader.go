package nn

import (
	"context"
	"fmt"
)

// Loader cuts a Dataset into mini-batches. Batches of an epoch are
// prepared by a goroutine a few batches ahead of the compute. The order of
// epoch e depends only on (Seed, e), and the augmentation of batch b only on
// (Seed, e, b), so a run resumed at any batch sees the same data.
//
// A Loader is a configuration that Epoch only reads: share it freely; each
// BatchIter is used by one goroutine.
type Loader struct {
	Data      Dataset
	BatchSize int
	// Shuffle draws a new permutation every epoch (PyTorch shuffle=True).
	Shuffle bool
	// Augment applies the dataset's training augmentation.
	Augment bool
	Seed    int64
	// DropLast drops a final partial batch (PyTorch drop_last).
	DropLast bool
	// Ahead is the number of batches prepared in advance (default 2).
	Ahead int
}

// NumBatches is the number of batches per epoch.
func (l *Loader) NumBatches() int {
	n := l.Data.Len()
	if l.BatchSize <= 0 {
		return 0
	}
	if l.DropLast {
		return n / l.BatchSize
	}
	return (n + l.BatchSize - 1) / l.BatchSize
}

// BatchIter yields the batches of one epoch.
//
// A BatchIter is used by one goroutine; Close it to stop its producer.
type BatchIter struct {
	ready  chan *batchBuf
	free   chan *batchBuf
	cancel context.CancelFunc
	cur    *batchBuf
	err    error
	done   bool
}

type batchBuf struct {
	x     Tensor
	y     []int32
	index int
}

// Epoch starts preparing the batches of epoch (0-based) from batch start
// on. The caller must Close the iterator.
func (l *Loader) Epoch(ctx context.Context, epoch, start int) (*BatchIter, error) {
	if l.BatchSize <= 0 {
		return nil, fmt.Errorf("nn: batch size %d, want ≥ 1", l.BatchSize)
	}
	n := l.Data.Len()
	if n == 0 {
		return nil, fmt.Errorf("nn: dataset is empty")
	}
	nb := l.NumBatches()
	if start < 0 || start > nb {
		return nil, fmt.Errorf("nn: start batch %d outside [0, %d]", start, nb)
	}
	var order []int
	if l.Shuffle {
		order = NewRand(l.Seed, 0x5348000000000000|uint64(epoch)).Perm(n)
	}
	ahead := l.Ahead
	if ahead <= 0 {
		ahead = 2
	}
	ctx, cancel := context.WithCancel(ctx)
	it := &BatchIter{ready: make(chan *batchBuf, ahead), free: make(chan *batchBuf, ahead+2), cancel: cancel}
	shape := l.Data.SampleShape()
	per := Numel(shape)
	for i := 0; i < ahead+2; i++ {
		b := &batchBuf{y: make([]int32, 0, l.BatchSize)}
		b.x.Data = make([]float32, 0, l.BatchSize*per)
		it.free <- b
	}
	go func() {
		defer close(it.ready)
		for bi := start; bi < nb; bi++ {
			var buf *batchBuf
			select {
			case buf = <-it.free:
			case <-ctx.Done():
				return
			}
			lo := bi * l.BatchSize
			hi := min(lo+l.BatchSize, n)
			m := hi - lo
			buf.index = bi
			buf.y = buf.y[:m]
			buf.x.Data = buf.x.Data[:m*per]
			buf.x.Shape = append(append(buf.x.Shape[:0], m), shape...)
			var aug = NewRand(l.Seed, 0x4147000000000000|uint64(epoch)<<24|uint64(bi))
			if !l.Augment {
				aug = nil
			}
			for k := 0; k < m; k++ {
				i := lo + k
				if order != nil {
					i = order[i]
				}
				buf.y[k] = l.Data.Sample(i, buf.x.Data[k*per:(k+1)*per], aug)
			}
			select {
			case it.ready <- buf:
			case <-ctx.Done():
				return
			}
		}
	}()
	return it, nil
}

// Next returns the next batch and its index within the epoch; ok is false
// at the end of the epoch. The batch is valid until the next call.
func (it *BatchIter) Next() (b Batch, index int, ok bool) {
	if it.cur != nil {
		it.free <- it.cur
		it.cur = nil
	}
	if it.done {
		return Batch{}, 0, false
	}
	buf, ok := <-it.ready
	if !ok {
		it.done = true
		return Batch{}, 0, false
	}
	it.cur = buf
	return Batch{X: &buf.x, Y: buf.y}, buf.index, true
}

// Close stops the producer and waits for it.
func (it *BatchIter) Close() {
	it.cancel()
	for range it.ready {
	}
	it.done = true
}
