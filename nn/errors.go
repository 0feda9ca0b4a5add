package nn

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
)

// Errors a caller can test with errors.Is. They are wrapped with context
// (which file, which tensor, what was expected), so the message says what
// is wrong and errors.Is says what kind of wrong it is.
var (
	// ErrFormat: a file is not what it claims to be, is truncated, or
	// declares sizes its own length cannot hold.
	ErrFormat = errors.New("bad or truncated file")
	// ErrTooLarge: an input exceeds a documented size limit (the reader
	// refused it before allocating for it).
	ErrTooLarge = errors.New("input exceeds its size limit")
	// ErrShape: a tensor's or dataset's shape does not match what it is
	// used with.
	ErrShape = errors.New("shape mismatch")
	// ErrNonFinite: a NaN or ±Inf where only finite values make sense.
	ErrNonFinite = errors.New("non-finite value")
)

// kindError keeps err's message and adds a sentinel kind to its chain.
type kindError struct{ err, kind error }

func (e *kindError) Error() string   { return e.err.Error() }
func (e *kindError) Unwrap() []error { return []error{e.err, e.kind} }

// withKind marks err as being of kind (ErrFormat, ErrShape, …) without
// changing its message.
func withKind(kind, err error) error {
	if err == nil || errors.Is(err, kind) {
		return err
	}
	return &kindError{err, kind}
}

// errFormatf is fmt.Errorf marked ErrFormat.
func errFormatf(format string, a ...any) error {
	return withKind(ErrFormat, fmt.Errorf(format, a...))
}

// Size limits of the small files ltransfer reads whole (JSON manifests,
// specs, reports). A larger file is refused with ErrTooLarge before it is
// read.
const (
	MaxManifestBytes = 64 << 20
	MaxJSONBytes     = 64 << 20
)

// ReadFileLimit reads a whole file of at most limit bytes. A regular file
// larger than limit is refused before reading; any other file (a pipe, a
// device such as /dev/zero) is read only until it passes limit. Either way
// the error wraps ErrTooLarge and no more than limit+1 bytes are held.
func ReadFileLimit(path string, limit int64) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, err
	}
	if st.IsDir() {
		return nil, fmt.Errorf("%s is a folder, not a file", path)
	}
	var buf bytes.Buffer
	if st.Mode().IsRegular() {
		if st.Size() > limit {
			return nil, withKind(ErrTooLarge, fmt.Errorf("%s has %d bytes, more than the %d-byte limit for this kind of file", path, st.Size(), limit))
		}
		buf.Grow(int(st.Size()) + 1)
	}
	if _, err := buf.ReadFrom(io.LimitReader(f, limit+1)); err != nil {
		return nil, err
	}
	if int64(buf.Len()) > limit {
		return nil, withKind(ErrTooLarge, fmt.Errorf("%s yields more than the %d-byte limit for this kind of file", path, limit))
	}
	return buf.Bytes(), nil
}
