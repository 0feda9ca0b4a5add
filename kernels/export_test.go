package kernels

// withConv is a copy of e that uses convolution algorithm a.
func (e *Engine) withConv(a ConvAlgo) *Engine {
	c := *e
	c.conv = a
	return &c
}
