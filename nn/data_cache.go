package nn

// The decoded-data cache (DataConfig.CacheDir). Decoding a dataset is a
// serial cost every process pays before it computes anything: inflating
// the MNIST training images takes about 0.3 s, decoding the 60,000 JPEGs of
// the CIFAR-10 tar about 5 s of CPU. The cache keeps the decoded sets in
// one file per dataset and source, read back in tens of milliseconds for as
// long as the source files keep their size and modification time.
//
// File layout: the magic line, a little-endian uint32 header length, the
// JSON header (dataCacheHeader), then for each set its pixels and its
// labels (int32, little-endian). The header records the source files'
// stamps, the sets' shapes and classes, and the CRC-32C of everything after
// it. A file that is unreadable, stale, of the wrong size or whose checksum
// or labels do not hold is ignored and written anew; a cache folder that
// cannot be written is ignored. Files are written to a temporary name and
// renamed into place, so concurrent processes (the shards of a job array)
// never read a half-written one.

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"hash/crc32"
	"io"
	"os"
	"path/filepath"
	"slices"
	"sync/atomic"

	"github.com/ltransfer/ltransfer/internal/hugemem"
)

const dataCacheMagic = "ltransfer-data-cache/1\n"

// dataCacheMaxHeader bounds the JSON header of a cache file.
const dataCacheMaxHeader = 1 << 20

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// dataCacheHits counts the loads served from the cache (tests read it).
var dataCacheHits atomic.Int64

type dataCacheHeader struct {
	Dataset string         `json:"dataset"`
	Source  string         `json:"source"`
	Stamp   []string       `json:"stamp"`
	Sets    []dataCacheSet `json:"sets"` // train, then test when there is one
	Payload int64          `json:"payload_bytes"`
	CRC32C  uint32         `json:"crc32c"`
}

type dataCacheSet struct {
	N       int       `json:"n"`
	C       int       `json:"c"`
	H       int       `json:"h"`
	W       int       `json:"w"`
	Classes []string  `json:"classes"`
	Mean    []float32 `json:"mean"`
	Std     []float32 `json:"std"`
}

// dataStamp describes the files a dataset is read from: name, size and
// modification time of each. Only sources that change by being replaced
// are cached: a single file (the CIFAR-10 or image-folder tar) or the flat
// folder of MNIST / Fashion-MNIST idx files. ok is false for the others
// (folders of CIFAR-10 binary batches, which read fast anyway, and image
// folders, whose thousands of files would all need a stat).
func dataStamp(name, path string) (stamp []string, ok bool) {
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, false
	}
	st, err := os.Stat(abs)
	if err != nil {
		return nil, false
	}
	add := func(p string, fi os.FileInfo) {
		stamp = append(stamp, fmt.Sprintf("%s %d %d", p, fi.Size(), fi.ModTime().UnixNano()))
	}
	switch {
	case st.Mode().IsRegular():
		add(abs, st)
		return stamp, true
	case st.IsDir() && (name == MNIST || name == FashionMNIST):
		ents, err := os.ReadDir(abs)
		if err != nil {
			return nil, false
		}
		for _, e := range ents {
			fi, err := os.Stat(filepath.Join(abs, e.Name()))
			if err == nil && fi.Mode().IsRegular() {
				add(filepath.Join(abs, e.Name()), fi)
			}
		}
		slices.Sort(stamp)
		return stamp, len(stamp) > 0
	}
	return nil, false
}

// dataCachePath is the cache file of dataset name read from path: one
// file per dataset and source, replaced when the source changes.
func dataCachePath(dir, name, path string) string {
	abs, _ := filepath.Abs(path)
	h := sha256.Sum256([]byte(name + "\x00" + abs))
	return filepath.Join(dir, name+"-"+hex.EncodeToString(h[:12])+".ltdata")
}

// readDataCache returns the sets cached for name read from path with the
// given stamp, or ok false.
func readDataCache(file, name string, stamp []string) (train, test *ImageSet, src string, ok bool) {
	f, err := os.Open(file)
	if err != nil {
		return nil, nil, "", false
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil || !fi.Mode().IsRegular() {
		return nil, nil, "", false
	}
	size := fi.Size()
	head := make([]byte, len(dataCacheMagic)+4)
	if _, err := io.ReadFull(f, head); err != nil || string(head[:len(dataCacheMagic)]) != dataCacheMagic {
		return nil, nil, "", false
	}
	hlen := int64(binary.LittleEndian.Uint32(head[len(dataCacheMagic):]))
	if hlen > dataCacheMaxHeader || int64(len(head))+hlen > size {
		return nil, nil, "", false
	}
	hb := make([]byte, hlen)
	if _, err := io.ReadFull(f, hb); err != nil {
		return nil, nil, "", false
	}
	var h dataCacheHeader
	if json.Unmarshal(hb, &h) != nil || h.Dataset != name || !slices.Equal(h.Stamp, stamp) ||
		len(h.Sets) < 1 || len(h.Sets) > 2 || int64(len(head))+hlen+h.Payload != size {
		return nil, nil, "", false
	}
	// The sets' sizes must add up to the payload before it is read.
	var want int64
	for _, s := range h.Sets {
		if s.N < 0 || s.C < 1 || s.H < 1 || s.W < 1 || s.C > 4096 || s.H > 1<<16 || s.W > 1<<16 ||
			len(s.Classes) < 1 || len(s.Mean) != s.C || len(s.Std) != s.C {
			return nil, nil, "", false
		}
		px := int64(s.N) * int64(s.C) * int64(s.H) * int64(s.W)
		if px/int64(s.C*s.H*s.W) != int64(s.N) {
			return nil, nil, "", false
		}
		want += px + 4*int64(s.N)
	}
	if want != h.Payload {
		return nil, nil, "", false
	}
	payload := hugemem.Bytes(int(h.Payload))
	if _, err := io.ReadFull(f, payload); err != nil || crc32.Checksum(payload, castagnoli) != h.CRC32C {
		return nil, nil, "", false
	}
	sets := make([]*ImageSet, len(h.Sets))
	off := int64(0)
	for i, s := range h.Sets {
		px := int64(s.N * s.C * s.H * s.W)
		set := &ImageSet{Name: name, C: s.C, H: s.H, W: s.W, Pix: payload[off : off+px : off+px],
			Labels: make([]int32, s.N), Classes: s.Classes, Mean: s.Mean, Std: s.Std}
		off += px
		for k := range set.Labels {
			l := int32(binary.LittleEndian.Uint32(payload[off+4*int64(k):]))
			if l < 0 || int(l) >= len(s.Classes) {
				return nil, nil, "", false
			}
			set.Labels[k] = l
		}
		off += 4 * int64(s.N)
		sets[i] = set
	}
	train = sets[0]
	if len(sets) == 2 {
		test = sets[1]
	}
	dataCacheHits.Add(1)
	return train, test, h.Source, true
}

// writeDataCache stores the sets; any failure leaves no file behind and
// is not reported (the cache only saves time).
func writeDataCache(file, name, src string, stamp []string, train, test *ImageSet) {
	sets := []*ImageSet{train}
	if test != nil {
		sets = append(sets, test)
	}
	h := dataCacheHeader{Dataset: name, Source: src, Stamp: stamp}
	crc := crc32.New(castagnoli)
	lbls := make([][]byte, len(sets)) // each set's labels as written
	for i, s := range sets {
		if s.idx != nil || s.Len()*s.C*s.H*s.W != len(s.Pix) {
			return // only whole sets as a loader returns them
		}
		h.Sets = append(h.Sets, dataCacheSet{N: s.Len(), C: s.C, H: s.H, W: s.W, Classes: s.Classes, Mean: s.Mean, Std: s.Std})
		h.Payload += int64(len(s.Pix)) + 4*int64(s.Len())
		for _, l := range s.Labels {
			lbls[i] = binary.LittleEndian.AppendUint32(lbls[i], uint32(l))
		}
		crc.Write(s.Pix)
		crc.Write(lbls[i])
	}
	h.CRC32C = crc.Sum32()
	hb, err := json.Marshal(h)
	if err != nil || len(hb) > dataCacheMaxHeader {
		return
	}
	dir := filepath.Dir(file)
	if os.MkdirAll(dir, 0o755) != nil {
		return
	}
	f, err := os.CreateTemp(dir, "."+filepath.Base(file)+".tmp-*")
	if err != nil {
		return
	}
	ok := false
	defer func() {
		if !ok {
			f.Close()
			os.Remove(f.Name())
		}
	}()
	var pre bytes.Buffer
	pre.WriteString(dataCacheMagic)
	binary.Write(&pre, binary.LittleEndian, uint32(len(hb)))
	pre.Write(hb)
	if _, err := f.Write(pre.Bytes()); err != nil {
		return
	}
	for i, s := range sets {
		if _, err := f.Write(s.Pix); err != nil {
			return
		}
		if _, err := f.Write(lbls[i]); err != nil {
			return
		}
	}
	if f.Chmod(0o644) != nil || f.Close() != nil {
		return
	}
	if os.Rename(f.Name(), file) != nil {
		return
	}
	ok = true
}

// loadCached loads dataset name from path through the cache in dir when
// the source can be cached, else with load.
func loadCached(dir, name, path string, load func() (*ImageSet, *ImageSet, string, error)) (train, test *ImageSet, src string, err error) {
	stamp, ok := dataStamp(name, path)
	if dir == "" || !ok {
		return load()
	}
	file := dataCachePath(dir, name, path)
	if train, test, src, ok := readDataCache(file, name, stamp); ok {
		return train, test, src, nil
	}
	if train, test, src, err = load(); err != nil {
		return nil, nil, "", err
	}
	// The source must not have changed while it was read.
	if now, ok := dataStamp(name, path); ok && slices.Equal(now, stamp) {
		writeDataCache(file, name, src, stamp, train, test)
	}
	return train, test, src, nil
}
