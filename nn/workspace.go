package nn

import (
	"reflect"

	"github.com/ltransfer/ltransfer/kernels"
)

// WorkspaceBytes is the memory a model's activation workspaces hold now:
// every numeric buffer reachable from m (layer outputs, their gradients,
// saved statistics and masks), each counted once by capacity. Parameters
// and gradients passed to Forward (ParamSets) and the engine are not the
// model's and are not counted. It grows as the model runs larger batches
// or its first backward pass; a model never run holds next to nothing.
func WorkspaceBytes(m Model) int64 {
	w := workspaceWalk{seen: map[uintptr]bool{}}
	w.add(reflect.ValueOf(m))
	return w.bytes
}

type workspaceWalk struct {
	seen  map[uintptr]bool
	bytes int64
}

var (
	paramSetType = reflect.TypeOf((*ParamSet)(nil))
	engineType   = reflect.TypeOf((*kernels.Engine)(nil))
)

func (w *workspaceWalk) add(v reflect.Value) {
	switch v.Kind() {
	case reflect.Interface:
		if !v.IsNil() {
			w.add(v.Elem())
		}
	case reflect.Pointer:
		if v.IsNil() || v.Type() == paramSetType || v.Type() == engineType || w.seen[v.Pointer()] {
			return
		}
		w.seen[v.Pointer()] = true
		w.add(v.Elem())
	case reflect.Struct:
		for i := 0; i < v.NumField(); i++ {
			w.add(v.Field(i))
		}
	case reflect.Array:
		for i := 0; i < v.Len(); i++ {
			w.add(v.Index(i))
		}
	case reflect.Slice:
		if v.Cap() == 0 {
			return
		}
		switch v.Type().Elem().Kind() {
		case reflect.Float32, reflect.Float64, reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
			reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Bool:
			if p := v.Pointer(); !w.seen[p] {
				w.seen[p] = true
				w.bytes += int64(v.Cap()) * int64(v.Type().Elem().Size())
			}
		default:
			for i := 0; i < v.Len(); i++ {
				w.add(v.Index(i))
			}
		}
	}
}
