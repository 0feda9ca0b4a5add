package transfer

import (
	"runtime/metrics"
	"testing"
)

// FuzzSpec parses the input as a JSON permutation spec: no panic, and
// memory bounded by the input.
//
//	go test -run '^$' -fuzz FuzzSpec -fuzztime 1000000x -parallel 1 ./transfer/
func FuzzSpec(f *testing.F) {
	f.Add([]byte(`{"tensors":[{"name":"w","axes":["P0",null]},{"name":"b","axes":["P0"]}]}`))
	f.Add([]byte(`{"axes":{"conv.weight":["P1","P0",null,null],"bn.running_mean":["P1"]}}`))
	f.Add([]byte(`{"tensors":[{"name":"fc","axes":[null,"P0"],"repeat":[1,1000000000]}]}`))
	f.Add([]byte(`{"tensors":[]}`))
	f.Add([]byte(`{"tensors":[{"name":"w","axes":["P0","P0"]}],"extra":1}`))
	s := []metrics.Sample{{Name: "/gc/heap/allocs:bytes"}}
	f.Fuzz(func(t *testing.T, b []byte) {
		metrics.Read(s)
		before := s[0].Value.Uint64()
		sp, err := ParseSpec(b)
		if err == nil {
			if _, err := sp.MarshalJSON(); err != nil {
				t.Fatalf("a parsed spec does not marshal: %v", err)
			}
		}
		// A few MiB of slack: small allocations are counted when a cache
		// span is handed back, possibly inside this window.
		metrics.Read(s)
		if got, bound := s[0].Value.Uint64()-before, 128*uint64(len(b))+4<<20; got > bound {
			t.Fatalf("allocated %d bytes for a %d-byte input (bound %d)", got, len(b), bound)
		}
	})
}
