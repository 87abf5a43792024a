// Package snapshot reads the JSON snapshot shape shared by the JSON state
// store and the file: provider:
//
//	{"customers": [{"id": "cus_1", ...}, ...], "subscriptions": [...]}
//
// It walks the file token by token, so a caller can stream one table of a file
// larger than memory, and it reports every problem as PATH:LINE:COL.
package snapshot

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
)

// Error is a problem at a position in a snapshot file.
type Error struct {
	Path      string
	Line, Col int // 1-based; 0 when the problem has no position
	Msg       string
	Err       error // the underlying decoder error, if any
}

func (e *Error) Error() string {
	if e.Line == 0 {
		return e.Path + ": " + e.Msg
	}
	return fmt.Sprintf("%s:%d:%d: %s", e.Path, e.Line, e.Col, e.Msg)
}

func (e *Error) Unwrap() error { return e.Err }

// Position converts a byte offset in src to a 1-based line and column (in
// bytes, as Go tools count them). It reads src from the start: errors are
// rare, so this keeps the happy path free of line bookkeeping.
func Position(src io.ReaderAt, off int64) (line, col int) {
	line, lineStart := 1, int64(0)
	buf := make([]byte, 32<<10)
	for pos := int64(0); pos < off; {
		n, err := src.ReadAt(buf[:min(int64(len(buf)), off-pos)], pos)
		for i, c := range buf[:n] {
			if c == '\n' {
				line++
				lineStart = pos + int64(i) + 1
			}
		}
		pos += int64(n)
		if err != nil || n == 0 {
			off = pos // the offset lies past the end: report the end
			break
		}
	}
	return line, int(off-lineStart) + 1
}

// Reader walks a snapshot. Call NextTable, then Records or Skip for that
// table, until NextTable returns io.EOF.
type Reader struct {
	path    string
	src     io.ReaderAt
	dec     *json.Decoder
	state   int // 0 before '{', 1 expecting a key, 2 a table's value is next, 3 done, 4 left by RecordsWith
	table   string
	tableAt int64 // offset of the current table's key
}

// NewReader reads the snapshot in src; path only names it in errors.
func NewReader(path string, src io.ReaderAt) *Reader {
	dec := json.NewDecoder(bufio.NewReaderSize(io.NewSectionReader(src, 0, math.MaxInt64), 64<<10))
	dec.UseNumber()
	return &Reader{path: path, src: src, dec: dec}
}

// Errorf returns an *Error positioned at the value at or after byte offset
// off: an offset Records reported may point at the whitespace or comma
// before its record.
func (r *Reader) Errorf(off int64, format string, args ...any) error {
	return r.errorAt(r.skipSpace(off, true), format, args...)
}

func (r *Reader) errorAt(off int64, format string, args ...any) error {
	line, col := Position(r.src, off)
	return &Error{Path: r.path, Line: line, Col: col, Msg: fmt.Sprintf(format, args...)}
}

// NextTable advances to the next top-level key and returns it; io.EOF after
// the last one. The caller must consume the table with Records or Skip.
func (r *Reader) NextTable() (string, error) {
	switch r.state {
	case 2:
		return "", fmt.Errorf("snapshot: table %q not consumed before NextTable", r.table)
	case 3:
		return "", io.EOF
	case 4:
		return "", errors.New("snapshot: the reader read a table with RecordsWith and cannot go on")
	case 0:
		before := r.dec.InputOffset()
		tok, err := r.dec.Token()
		if err == io.EOF {
			return "", &Error{Path: r.path, Msg: `the file is empty; a snapshot is an object of tables, like {"customers": [{"id": "cus_1"}]}`}
		}
		if err != nil {
			return "", r.decodeError(before, err)
		}
		if d, ok := tok.(json.Delim); !ok || d != '{' {
			return "", r.errorAt(r.skipSpace(before, false),
				`the top level must be an object of tables, like {"customers": [{"id": "cus_1"}]}; found %s`, describeToken(tok))
		}
		r.state = 1
	}
	before := r.dec.InputOffset()
	if !r.dec.More() {
		tok, err := r.dec.Token()
		if err != nil {
			return "", r.decodeError(before, err)
		}
		if d, ok := tok.(json.Delim); !ok || d != '}' {
			return "", r.Errorf(before, "expected a table name or '}'")
		}
		end := r.dec.InputOffset()
		if _, err := r.dec.Token(); err != io.EOF {
			return "", r.errorAt(r.skipSpace(end, false), "unexpected data after the top-level object")
		}
		r.state = 3
		return "", io.EOF
	}
	tok, err := r.dec.Token()
	if err != nil {
		return "", r.decodeError(before, err)
	}
	key, ok := tok.(string)
	if !ok { // the decoder only yields strings in key position; be defensive
		return "", r.Errorf(before, "expected a table name")
	}
	r.state, r.table, r.tableAt = 2, key, r.skipSpace(before, true)
	return key, nil
}

// Skip consumes the current table's value without keeping it: each record is
// decoded as raw bytes and dropped, so memory stays bounded by one record.
func (r *Reader) Skip() error {
	return r.each(func(_ int64, decode func(any) error) error {
		var raw json.RawMessage
		return decode(&raw)
	}, false)
}

// Records streams the current table's records. off is where the record
// starts (possibly preceded by whitespace and a comma); ReadRecord(off)
// decodes it again later. Numbers are json.Number.
func (r *Reader) Records(fn func(off int64, rec map[string]any) error) error {
	return r.each(func(off int64, decode func(any) error) error {
		var v any
		if err := decode(&v); err != nil {
			return err
		}
		rec, ok := v.(map[string]any)
		if !ok {
			return r.Errorf(off, "%q: each record must be an object; found %s", r.table, describeValue(v))
		}
		return fn(off, rec)
	}, true)
}

// DecodeFunc decodes the one JSON object that begins data and returns it
// with the number of bytes it took. io.ErrUnexpectedEOF means data ends
// inside it; any other error that it cannot (RecordsWith then reads the
// table with encoding/json). RecordsWith calls it from several goroutines
// at once.
type DecodeFunc func(data []byte) (map[string]any, int, error)

// RecordsWith streams the current table's records like Records, each decoded
// by decode from the bytes of the file, which is much faster than the
// token-by-token decoder when decode keeps only a few fields
// (providers/pick), and decoded on every core while fn runs on the
// caller's goroutine, one record at a time, in file order. Input decode refuses is read again from the table's start
// with encoding/json, skipping the records already delivered, so an error
// reads exactly as Records reports it. The reader cannot go on to another
// table afterwards.
func (r *Reader) RecordsWith(decode DecodeFunc, fn func(off int64, rec map[string]any) error) error {
	if r.state != 2 {
		return errors.New("snapshot: no table to read: call NextTable first")
	}
	delivered := 0
	var fnErr error
	ok := r.fastRecords(r.dec.InputOffset(), decode, func(off int64, rec map[string]any) error {
		delivered++
		fnErr = fn(off, rec)
		return fnErr
	})
	if ok || fnErr != nil {
		r.state = 4
		return fnErr
	}
	// The decoder still sits after the table's key: read it the slow way.
	skip := delivered
	err := r.Records(func(off int64, rec map[string]any) error {
		if skip > 0 {
			skip--
			return nil
		}
		return fn(off, rec)
	})
	r.state = 4
	return err
}

// Each streams the current table's records like Records, but lets fn decode
// each one into a value of its choice (a struct picking one field is much
// cheaper than a map). fn must call decode exactly once.
func (r *Reader) Each(fn func(off int64, decode func(v any) error) error) error {
	return r.each(fn, true)
}

func (r *Reader) each(fn func(off int64, decode func(any) error) error, mustBeRecords bool) error {
	if r.state != 2 {
		return errors.New("snapshot: no table to read: call NextTable first")
	}
	r.state = 1
	before := r.dec.InputOffset()
	tok, err := r.dec.Token()
	if err != nil {
		return r.decodeError(before, err)
	}
	if d, ok := tok.(json.Delim); !ok || d != '[' {
		if !mustBeRecords { // skipping: consume whatever it is and move on
			if d, ok := tok.(json.Delim); ok && d == '{' {
				return r.skipRest()
			}
			return nil
		}
		return r.Errorf(before, "%q must be an array of records; found %s", r.table, describeToken(tok))
	}
	for r.dec.More() {
		off := r.dec.InputOffset()
		decode := func(v any) error {
			if err := r.dec.Decode(v); err != nil {
				var te *json.UnmarshalTypeError
				if errors.As(err, &te) {
					if te.Field != "" {
						return r.Errorf(off, "%q: field %q of a record cannot be %s", r.table, te.Field, te.Value)
					}
					return r.Errorf(off, "%q: each record must be an object; found %s", r.table, te.Value)
				}
				return r.decodeError(off, err)
			}
			return nil
		}
		if err := fn(off, decode); err != nil {
			return err
		}
	}
	before = r.dec.InputOffset()
	if _, err := r.dec.Token(); err != nil { // ']'
		return r.decodeError(before, err)
	}
	return nil
}

// skipRest consumes the rest of an object or array whose opening delimiter
// was just read, one token at a time.
func (r *Reader) skipRest() error {
	for depth := 1; depth > 0; {
		before := r.dec.InputOffset()
		tok, err := r.dec.Token()
		if err != nil {
			return r.decodeError(before, err)
		}
		if d, ok := tok.(json.Delim); ok {
			if d == '{' || d == '[' {
				depth++
			} else {
				depth--
			}
		}
	}
	return nil
}

// ReadRecord decodes the one record at off, an offset Records or Each
// reported. It is safe to call concurrently on an io.ReaderAt such as *os.File.
func ReadRecord(path string, src io.ReaderAt, off int64) (map[string]any, error) {
	r := &Reader{path: path, src: src}
	start := r.skipSpace(off, true)
	dec := json.NewDecoder(bufio.NewReader(io.NewSectionReader(src, start, math.MaxInt64-start)))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, r.decodeError(start, err)
	}
	rec, ok := v.(map[string]any)
	if !ok {
		return nil, r.errorAt(start, "expected a record (an object); found %s", describeValue(v))
	}
	return rec, nil
}

// skipSpace returns the offset of the first byte at or after off that is not
// whitespace (nor, when sep, a ',' or ':' separator).
func (r *Reader) skipSpace(off int64, sep bool) int64 {
	var b [1]byte
	for {
		if n, _ := r.src.ReadAt(b[:], off); n == 0 {
			return off
		}
		switch b[0] {
		case ' ', '\t', '\r', '\n':
		case ',', ':':
			if !sep {
				return off
			}
		default:
			return off
		}
		off++
	}
}

// decodeError positions a decoder error. json.Decoder's offsets are not
// reliable once Token and Decode are mixed, so a syntax error is located by
// decoding the failing value again, alone, from where it starts.
func (r *Reader) decodeError(before int64, err error) error {
	if errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF) {
		return r.errorAt(math.MaxInt64, "unexpected end of file: the JSON is cut short (an unfinished write or copy?)")
	}
	var se *json.SyntaxError
	if !errors.As(err, &se) {
		var pe *Error
		if errors.As(err, &pe) {
			return err
		}
		return &Error{Path: r.path, Msg: err.Error(), Err: err}
	}
	off, msg := se.Offset, se.Error()
	start := r.skipSpace(before, true)
	dec := json.NewDecoder(bufio.NewReader(io.NewSectionReader(r.src, start, math.MaxInt64-start)))
	var raw json.RawMessage
	var se2 *json.SyntaxError
	if err2 := dec.Decode(&raw); errors.As(err2, &se2) {
		off, msg = start+se2.Offset-1, se2.Error()
	}
	e := r.errorAt(off, "invalid JSON: %s", msg).(*Error)
	e.Err = err
	return e
}

func describeToken(tok json.Token) string {
	if d, ok := tok.(json.Delim); ok {
		switch d {
		case '[':
			return "an array"
		case '{':
			return "an object"
		}
		return fmt.Sprintf("%q", string(d))
	}
	return describeValue(tok)
}

func describeValue(v any) string {
	switch v.(type) {
	case nil:
		return "null"
	case string:
		return "a string"
	case json.Number, float64:
		return "a number"
	case bool:
		return "a boolean"
	case []any:
		return "an array"
	case map[string]any:
		return "an object"
	}
	return fmt.Sprintf("%T", v)
}
