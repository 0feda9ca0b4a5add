package nn

import (
	"fmt"
	"math"
)

// SoftmaxCrossEntropy returns the mean softmax cross-entropy of logits
// [N, K] against labels y (PyTorch F.cross_entropy, reduction "mean") and
// the number of rows whose argmax (first maximum) equals the label. With
// dlogits non-nil (same size as logits) it writes the gradient of the mean
// loss, (softmax − onehot)/N. Labels must lie in [0, K).
func SoftmaxCrossEntropy(logits []float32, n, k int, y []int32, dlogits []float32) (loss float64, correct int) {
	if len(logits) != n*k || len(y) != n || (dlogits != nil && len(dlogits) != n*k) {
		panic(fmt.Sprintf("nn: SoftmaxCrossEntropy sizes: logits %d, labels %d, dlogits %d for n=%d k=%d", len(logits), len(y), len(dlogits), n, k))
	}
	if n == 0 {
		return 0, 0
	}
	inv := 1 / float64(n)
	var total float64
	for i := 0; i < n; i++ {
		row := logits[i*k : (i+1)*k]
		label := int(y[i])
		best, arg := row[0], 0
		for j, v := range row {
			if v > best {
				best, arg = v, j
			}
		}
		if arg == label {
			correct++
		}
		m := float64(best)
		var s float64
		for _, v := range row {
			s += math.Exp(float64(v) - m)
		}
		lse := m + math.Log(s)
		total += lse - float64(row[label])
		if dlogits != nil {
			d := dlogits[i*k : (i+1)*k]
			for j, v := range row {
				d[j] = float32(math.Exp(float64(v)-lse) * inv)
			}
			d[label] -= float32(inv)
		}
	}
	return total * inv, correct
}
