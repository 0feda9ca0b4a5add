package nn

import (
	"fmt"

	"github.com/ltransfer/ltransfer/kernels"
)

// Logits runs b through m in evaluation mode and returns the logits,
// len(b.Y) × classes row-major, in a fresh slice (b.Y only gives the batch
// size). m must be a *LayerModel, as every built-in architecture is.
func Logits(e *kernels.Engine, m Model, p *ParamSet, b Batch) ([]float32, error) {
	lm, ok := m.(*LayerModel)
	if !ok {
		return nil, fmt.Errorf("nn: model %s does not expose its logits", m.Arch())
	}
	if err := CheckParams(m, p, "parameters"); err != nil {
		return nil, err
	}
	n := len(b.Y)
	per := Numel(lm.in)
	if b.X == nil || n == 0 || len(b.X.Data) != n*per || Numel(b.X.Shape) != len(b.X.Data) {
		return nil, fmt.Errorf("nn: model %s: batch inputs do not hold %d samples of shape %s", m.Arch(), n, shapeString(lm.in))
	}
	if e == nil {
		e = kernels.Default()
	}
	lm.pass = Pass{E: e, P: p}
	x := &lm.x
	x.Data = b.X.Data
	x.Shape = append(append(x.Shape[:0], n), lm.in...)
	out := lm.net.Forward(&lm.pass, x)
	lm.pass = Pass{}
	return append([]float32(nil), out.Data[:n*lm.classes]...), nil
}
