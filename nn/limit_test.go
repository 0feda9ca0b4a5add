package nn

import "testing"

// A class-sorted set (as the CIFAR-10 JPEG tar is read) limited to a few
// samples must keep every class, not the first one or two.
func TestLimitSetKeepsEveryClass(t *testing.T) {
	const perClass, classes = 50, 10
	s := &ImageSet{Name: "sorted", C: 1, H: 1, W: 1, Pix: make([]uint8, perClass*classes), Labels: make([]int32, perClass*classes),
		Classes: make([]string, classes), Mean: []float32{0}, Std: []float32{1}}
	for i := range s.Labels {
		s.Labels[i] = int32(i / perClass)
	}
	l := limitSet(s, 40)
	if l.Len() != 40 {
		t.Fatalf("limited set has %d samples, want 40", l.Len())
	}
	seen := map[int32]int{}
	for i := 0; i < l.Len(); i++ {
		seen[l.Label(i)]++
	}
	if len(seen) != classes {
		t.Fatalf("limited set covers %d classes (%v), want %d", len(seen), seen, classes)
	}
	if s2 := limitSet(s, 1000); s2 != s {
		t.Error("a limit above the set size must keep the set as it is")
	}
}
