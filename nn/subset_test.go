package nn

import (
	"image/color"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

func TestParseClassSubset(t *testing.T) {
	for _, c := range []struct {
		in   string
		want []int
	}{
		{"", nil}, {"  ", nil}, {"0-4", []int{0, 1, 2, 3, 4}}, {"5,6,7,8,9", []int{5, 6, 7, 8, 9}},
		{" 9 , 5 ", []int{9, 5}}, {"0-2,7", []int{0, 1, 2, 7}}, {"3-3", []int{3}}, {"5-9,0-1", []int{5, 6, 7, 8, 9, 0, 1}},
	} {
		got, err := ParseClassSubset(c.in)
		if err != nil || !reflect.DeepEqual(got, c.want) {
			t.Errorf("ParseClassSubset(%q) = %v, %v; want %v", c.in, got, err, c.want)
		}
		if c.want != nil {
			if back, _ := ParseClassSubset(FormatClassSubset(got)); !reflect.DeepEqual(back, got) {
				t.Errorf("FormatClassSubset(%v) = %q does not parse back", got, FormatClassSubset(got))
			}
		}
	}
	for in, msg := range map[string]string{
		"1,1": "twice", "0-4,3": "twice", "4-2": "descending", "a": "not a class index", "1,,2": "empty entry",
		"-1": "not a class index", "1-": "not a range", "1-x": "not a range", ",": "empty entry",
	} {
		if _, err := ParseClassSubset(in); err == nil || !strings.Contains(err.Error(), msg) {
			t.Errorf("ParseClassSubset(%q): error %v, want one containing %q", in, err, msg)
		}
	}
	for _, c := range []struct {
		cls []int
		msg string
	}{{[]int{}, "empty"}, {[]int{3, 10}, "class 10 outside [0, 10)"}, {[]int{-1}, "class -1 outside"}, {[]int{2, 2}, "twice"}} {
		if err := CheckClassSubset(c.cls, 10); err == nil || !strings.Contains(err.Error(), c.msg) {
			t.Errorf("CheckClassSubset(%v): error %v, want %q", c.cls, err, c.msg)
		}
	}
}

// TestImageSetClassSubset relabels by listed order and keeps a view's
// order; a subset of a subset composes.
func TestImageSetClassSubset(t *testing.T) {
	s := synthSet(200, 6, 1)
	v := s.Subset([]int{5, 4, 3, 2, 1, 0, 199, 100})
	sub, err := v.ClassSubset([]int{4, 1})
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(sub.Classes, []string{"e", "b"}) || sub.NumClasses() != 2 {
		t.Fatalf("classes %v", sub.Classes)
	}
	var want []int32
	for i := 0; i < v.Len(); i++ {
		switch v.Label(i) {
		case 4:
			want = append(want, 0)
		case 1:
			want = append(want, 1)
		}
	}
	x1, x2 := make([]float32, 48), make([]float32, 48)
	if sub.Len() != len(want) {
		t.Fatalf("kept %d samples, want %d", sub.Len(), len(want))
	}
	k := 0
	for i := 0; i < v.Len(); i++ {
		if l := v.Label(i); l != 4 && l != 1 {
			continue
		}
		if y := sub.Sample(k, x1, nil); y != want[k] || sub.Label(k) != want[k] {
			t.Fatalf("sample %d: label %d, want %d", k, y, want[k])
		}
		v.Sample(i, x2, nil)
		if !equalF32(x1, x2) {
			t.Fatalf("sample %d: pixels differ from the original's", k)
		}
		k++
	}
	// The original is untouched.
	if s.NumClasses() != 6 || s.Len() != 200 {
		t.Fatalf("original changed: %d classes, %d samples", s.NumClasses(), s.Len())
	}
	if _, err := s.ClassSubset([]int{6}); err == nil || !strings.Contains(err.Error(), "outside [0, 6)") {
		t.Errorf("out-of-range error: %v", err)
	}
}

// TestLoadDataClassSubset takes a class subset of every dataset kind
// (idx: MNIST and Fashion-MNIST, CIFAR-10 binary, image folder).
func TestLoadDataClassSubset(t *testing.T) {
	idx := t.TempDir()
	writeIdx(t, idx, 100, 50, 4, 4) // labels i%10
	for _, name := range []string{MNIST, FashionMNIST} {
		d, err := LoadData(DataConfig{Name: name, Path: idx, ClassSubset: []int{5, 6, 7, 8, 9}, ValFraction: 0.2})
		if err != nil {
			t.Fatal(err)
		}
		if len(d.Classes) != 5 || !reflect.DeepEqual(d.ClassSubset, []int{5, 6, 7, 8, 9}) || d.Train.Len() != 40 || d.Val.Len() != 10 || d.Test.Len() != 25 {
			t.Fatalf("%s: classes %v subset %v sizes %d/%d/%d", name, d.Classes, d.ClassSubset, d.Train.Len(), d.Val.Len(), d.Test.Len())
		}
		x := make([]float32, 16)
		for _, part := range []*ImageSet{d.Train, d.Val, d.Test} {
			for i := 0; i < part.Len(); i++ {
				y := part.Sample(i, x, nil)
				// Pixel 0 of original item n is byte(n) and n%10 = label+5.
				orig := int(x[0]*part.Std[0]*255+part.Mean[0]*255+0.5) % 10
				if y < 0 || y > 4 || orig != int(y)+5 {
					t.Fatalf("%s: sample %d has label %d, original class %d", name, i, y, orig)
				}
			}
		}
		// Limit counts the kept samples.
		d, err = LoadData(DataConfig{Name: name, Path: idx, ClassSubset: []int{0, 1}, Limit: 8, ValFraction: -1})
		if err != nil || d.Train.Len() != 8 || d.Test.Len() != 8 {
			t.Fatalf("%s: subset with limit: %v", name, err)
		}
	}
	if _, err := LoadData(DataConfig{Name: MNIST, Path: idx, ClassSubset: []int{3, 10}}); err == nil || !strings.Contains(err.Error(), "class 10 outside [0, 10)") {
		t.Errorf("out-of-range error: %v", err)
	}
	if _, err := LoadData(DataConfig{Name: MNIST, Path: idx, ClassSubset: []int{}}); err == nil || !strings.Contains(err.Error(), "empty") {
		t.Errorf("empty subset error: %v", err)
	}

	cif := t.TempDir()
	for i := 1; i <= 5; i++ {
		var b []byte
		for r := 0; r < 10; r++ {
			b = append(b, byte(r))
			b = append(b, make([]byte, 3072)...)
		}
		os.WriteFile(filepath.Join(cif, "data_batch_"+string(rune('0'+i))+".bin"), b, 0o644)
		if i == 1 {
			os.WriteFile(filepath.Join(cif, "test_batch.bin"), b, 0o644)
		}
	}
	d, err := LoadData(DataConfig{Name: CIFAR10, Path: cif, ClassSubset: []int{0, 1, 2, 3, 4}, ValFraction: -1})
	if err != nil {
		t.Fatal(err)
	}
	if d.Train.Len() != 25 || d.Test.Len() != 5 || strings.Join(d.Classes, ",") != "airplane,automobile,bird,cat,deer" || d.Train.Aug.Pad != 4 {
		t.Fatalf("cifar10 subset: %d/%d %v aug %+v", d.Train.Len(), d.Test.Len(), d.Classes, d.Train.Aug)
	}

	img := t.TempDir()
	for name, c := range map[string]color.Color{"train/a/1.png": color.White, "train/b/1.png": color.Black, "train/c/1.png": color.White, "test/c/2.png": color.Black} {
		p := filepath.Join(img, name)
		os.MkdirAll(filepath.Dir(p), 0o755)
		os.WriteFile(p, writePNG(t, 2, 2, c), 0o644)
	}
	d, err = LoadData(DataConfig{Name: ImageFolder, Path: img, ClassSubset: []int{2, 0}, ValFraction: -1})
	if err != nil {
		t.Fatal(err)
	}
	if strings.Join(d.Classes, ",") != "c,a" || d.Train.Len() != 2 || d.Train.Label(0) != 1 || d.Train.Label(1) != 0 || d.Test.Len() != 1 || d.Test.Label(0) != 0 {
		t.Fatalf("imagefolder subset: classes %v, %d train, %d test", d.Classes, d.Train.Len(), d.Test.Len())
	}
	if _, err := LoadData(DataConfig{Name: ImageFolder, Path: img, ClassSubset: []int{1}, ValFraction: -1}); err != nil {
		t.Fatal(err) // class b has a training image, no test image: fine
	}
}
