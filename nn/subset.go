package nn

import (
	"fmt"
	"strconv"
	"strings"
)

// ParseClassSubset parses a class subset such as "0-4", "5,6,7,8,9" or
// "0-2,7": comma-separated class indices and inclusive ascending ranges.
// The result is in the order written (ranges ascending), which is the
// order of the new labels: the first class listed becomes label 0. It
// rejects an empty list, negative indices, descending ranges and
// duplicates; whether the classes exist is checked against the dataset
// (CheckClassSubset). An empty or blank s returns nil (no subset).
func ParseClassSubset(s string) ([]int, error) {
	if strings.TrimSpace(s) == "" {
		return nil, nil
	}
	var out []int
	seen := map[int]bool{}
	add := func(c int) error {
		if seen[c] {
			return fmt.Errorf("nn: class subset %q lists class %d twice", s, c)
		}
		seen[c] = true
		out = append(out, c)
		return nil
	}
	for _, f := range strings.Split(s, ",") {
		f = strings.TrimSpace(f)
		if f == "" {
			return nil, fmt.Errorf("nn: class subset %q has an empty entry (want e.g. 0-4 or 5,6,7,8,9)", s)
		}
		lo, hi, isRange := strings.Cut(f, "-")
		a, err := strconv.Atoi(strings.TrimSpace(lo))
		if err != nil || strings.TrimSpace(lo) == "" {
			return nil, fmt.Errorf("nn: class subset %q: %q is not a class index or a range A-B of non-negative indices", s, f)
		}
		b := a
		if isRange {
			if b, err = strconv.Atoi(strings.TrimSpace(hi)); err != nil {
				return nil, fmt.Errorf("nn: class subset %q: %q is not a range A-B of non-negative indices", s, f)
			}
			if b < a {
				return nil, fmt.Errorf("nn: class subset %q: range %q is descending (want A-B with A ≤ B)", s, f)
			}
		}
		if a < 0 {
			return nil, fmt.Errorf("nn: class subset %q: class %d is negative", s, a)
		}
		for c := a; c <= b; c++ {
			if err := add(c); err != nil {
				return nil, err
			}
		}
	}
	return out, nil
}

// FormatClassSubset writes a subset back in ParseClassSubset's syntax,
// folding ascending runs into ranges ("5-9", "0-2,7").
func FormatClassSubset(classes []int) string {
	var parts []string
	for i := 0; i < len(classes); {
		j := i
		for j+1 < len(classes) && classes[j+1] == classes[j]+1 {
			j++
		}
		if j > i {
			parts = append(parts, fmt.Sprintf("%d-%d", classes[i], classes[j]))
		} else {
			parts = append(parts, strconv.Itoa(classes[i]))
		}
		i = j + 1
	}
	return strings.Join(parts, ",")
}

// CheckClassSubset verifies a subset against a dataset of numClasses
// classes: non-empty, every class in [0, numClasses), no duplicates.
func CheckClassSubset(classes []int, numClasses int) error {
	if len(classes) == 0 {
		return fmt.Errorf("nn: class subset is empty (want at least one class of [0, %d))", numClasses)
	}
	seen := make(map[int]bool, len(classes))
	for _, c := range classes {
		if c < 0 || c >= numClasses {
			return fmt.Errorf("nn: class subset %s: class %d outside [0, %d) (the dataset has %d classes)", FormatClassSubset(classes), c, numClasses, numClasses)
		}
		if seen[c] {
			return fmt.Errorf("nn: class subset %s lists class %d twice", FormatClassSubset(classes), c)
		}
		seen[c] = true
	}
	return nil
}

// ClassSubset returns a view of s holding only the samples of the given
// classes, relabelled by their position in classes: classes[k] becomes
// label k (so {5,6,7,8,9} maps 5→0 … 9→4), and Classes holds the kept
// names in that order. Pixels are shared with s; sample order is kept.
func (s *ImageSet) ClassSubset(classes []int) (*ImageSet, error) {
	if err := CheckClassSubset(classes, len(s.Classes)); err != nil {
		return nil, err
	}
	relabel := make([]int32, len(s.Classes))
	for i := range relabel {
		relabel[i] = -1
	}
	names := make([]string, len(classes))
	for k, c := range classes {
		relabel[c] = int32(k)
		names[k] = s.Classes[c]
	}
	c := *s
	c.Classes = names
	c.Labels = make([]int32, len(s.Labels))
	for i, l := range s.Labels {
		if l >= 0 && int(l) < len(relabel) {
			c.Labels[i] = relabel[l]
		} else {
			c.Labels[i] = -1
		}
	}
	// Keep the view's samples (indices into s) whose class is kept.
	var keep []int
	for i := 0; i < s.Len(); i++ {
		if c.Label(i) >= 0 {
			keep = append(keep, i)
		}
	}
	if keep == nil {
		keep = []int{}
	}
	return c.Subset(keep), nil
}
