package localstate

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"reflect"
	"slices"
	"strings"
)

// A snapshot's layout: where each top-level value and each record lies in
// the file as loaded. Apply rewrites only what it changes: every other byte
// (other tables, non-array top-level keys such as "_meta", untouched records,
// whitespace) is copied from the old file as it was.

type span struct{ start, end int64 } // [start, end) in the file

type tableLayout struct {
	value span   // the whole value, '[' ... ']' for a table
	array bool   // a table (an array); other values are kept and ignored
	recs  []span // each record of a table, in order
}

type fileLayout struct {
	order  []string // top-level keys in file order
	values map[string]*tableLayout
}

// value is the layout of a top-level key, nil when l is nil or lacks it.
func (l *fileLayout) value(name string) *tableLayout {
	if l == nil {
		return nil
	}
	return l.values[name]
}

// scanner walks JSON text that has already been checked to be valid.
type scanner struct {
	b []byte
	i int
}

var errLayout = errors.New("unexpected JSON while reading the snapshot's layout")

func (s *scanner) ws() {
	for s.i < len(s.b) {
		switch s.b[s.i] {
		case ' ', '\t', '\r', '\n':
			s.i++
		default:
			return
		}
	}
}

func (s *scanner) peek() byte {
	s.ws()
	if s.i >= len(s.b) {
		return 0
	}
	return s.b[s.i]
}

func (s *scanner) expect(c byte) error {
	if s.peek() != c {
		return errLayout
	}
	s.i++
	return nil
}

// str skips a string and returns its raw bytes (quotes included).
func (s *scanner) str() ([]byte, error) {
	if s.peek() != '"' {
		return nil, errLayout
	}
	start := s.i
	for s.i++; s.i < len(s.b); s.i++ {
		switch s.b[s.i] {
		case '\\':
			s.i++
		case '"':
			s.i++
			return s.b[start:s.i], nil
		}
	}
	return nil, errLayout
}

// value skips one value.
func (s *scanner) value() error {
	switch s.peek() {
	case '"':
		_, err := s.str()
		return err
	case '{', '[':
		depth := 0
		for ; s.i < len(s.b); s.i++ {
			switch s.b[s.i] {
			case '"':
				if _, err := s.str(); err != nil {
					return err
				}
				s.i--
			case '{', '[':
				depth++
			case '}', ']':
				depth--
				if depth == 0 {
					s.i++
					return nil
				}
			}
		}
		return errLayout
	case 0:
		return errLayout
	}
	for s.i < len(s.b) { // a number, true, false, null
		switch s.b[s.i] {
		case ',', '}', ']', ' ', '\t', '\r', '\n':
			return nil
		}
		s.i++
	}
	return nil
}

func decodeKey(raw []byte) (string, error) {
	var k string
	err := json.Unmarshal(raw, &k)
	return k, err
}

// layoutOf reads the layout of a valid snapshot.
func layoutOf(data []byte) (*fileLayout, error) {
	s := &scanner{b: data}
	l := &fileLayout{values: map[string]*tableLayout{}}
	if err := s.expect('{'); err != nil {
		return nil, err
	}
	for first := true; ; first = false {
		if s.peek() == '}' {
			return l, nil
		}
		if !first {
			if err := s.expect(','); err != nil {
				return nil, err
			}
		}
		raw, err := s.str()
		if err != nil {
			return nil, err
		}
		name, err := decodeKey(raw)
		if err != nil {
			return nil, err
		}
		if err := s.expect(':'); err != nil {
			return nil, err
		}
		tl := &tableLayout{}
		tl.value.start = int64(s.i)
		if s.peek() == '[' {
			tl.value.start = int64(s.i)
			tl.array = true
			s.i++
			for n := 0; s.peek() != ']'; n++ {
				if n > 0 {
					if err := s.expect(','); err != nil {
						return nil, err
					}
				}
				s.ws()
				start := s.i
				if err := s.value(); err != nil {
					return nil, err
				}
				tl.recs = append(tl.recs, span{int64(start), int64(s.i)})
			}
			s.i++
		} else {
			s.ws()
			tl.value.start = int64(s.i)
			if err := s.value(); err != nil {
				return nil, err
			}
		}
		tl.value.end = int64(s.i)
		if _, dup := l.values[name]; !dup {
			l.order = append(l.order, name)
		}
		l.values[name] = tl
	}
}

// member is one key of a record as written: where its value lies.
type member struct {
	key   string
	name  span // the key's quoted text, relative to the record's start
	value span // relative to the record's start
}

// membersOf reads the keys of one record's raw text, in order.
func membersOf(rec []byte) ([]member, error) {
	s := &scanner{b: rec}
	if err := s.expect('{'); err != nil {
		return nil, err
	}
	var out []member
	for first := true; ; first = false {
		if s.peek() == '}' {
			return out, nil
		}
		if !first {
			if err := s.expect(','); err != nil {
				return nil, err
			}
		}
		s.ws()
		nameStart := s.i
		raw, err := s.str()
		if err != nil {
			return nil, err
		}
		name := span{int64(nameStart), int64(s.i)}
		key, err := decodeKey(raw)
		if err != nil {
			return nil, err
		}
		if err := s.expect(':'); err != nil {
			return nil, err
		}
		s.ws()
		start := s.i
		if err := s.value(); err != nil {
			return nil, err
		}
		out = append(out, member{key, name, span{int64(start), int64(s.i)}})
	}
}

// encodeValue writes v compactly, as the snapshot reads it back.
func encodeValue(v any) ([]byte, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return bytes.TrimSuffix(buf.Bytes(), []byte("\n")), nil
}

// recordStyle is how a table's records lay out their members, learnt from
// its first record: {"id": "x", "email": "y"} by default.
type recordStyle struct{ open, sep, colon, close string }

var defaultStyle = recordStyle{open: "", sep: ", ", colon: ": ", close: ""}

func styleOf(rec []byte, ms []member) recordStyle {
	st := defaultStyle
	if len(ms) == 0 {
		return st
	}
	first, last := ms[0], ms[len(ms)-1]
	st.open = string(rec[1:first.name.start])
	st.colon = string(rec[first.name.end:first.value.start])
	if len(ms) > 1 {
		st.sep = string(rec[first.value.end:ms[1].name.start])
	}
	st.close = string(rec[last.value.end : len(rec)-1])
	return st
}

func mustKey(k string) []byte {
	b, _ := encodeValue(k)
	return b
}

// rewriteRecord writes rec, which was orig (raw text raw, members ms) when
// loaded: the members keep their order and, when unchanged, their bytes; new
// members are appended in key order in the record's own style.
func rewriteRecord(w io.Writer, raw []byte, ms []member, orig, rec map[string]any, st recordStyle) error {
	if len(ms) == 0 {
		return newRecord(w, rec, "", st)
	}
	var out bytes.Buffer
	prev := int64(0)
	seen := map[string]bool{}
	for _, m := range ms {
		seen[m.key] = true
		nv, ok := rec[m.key]
		if !ok || reflect.DeepEqual(nv, orig[m.key]) {
			continue // copied with the text around it
		}
		out.Write(raw[prev:m.value.start])
		b, err := encodeValue(nv)
		if err != nil {
			return fmt.Errorf("field %q: %w", m.key, err)
		}
		out.Write(b)
		prev = m.value.end
	}
	var added []string
	for k := range rec {
		if !seen[k] {
			added = append(added, k)
		}
	}
	slices.Sort(added)
	end := ms[len(ms)-1].value.end
	out.Write(raw[prev:end])
	for _, k := range added {
		out.WriteString(st.sep)
		out.Write(mustKey(k))
		out.WriteString(st.colon)
		b, err := encodeValue(rec[k])
		if err != nil {
			return fmt.Errorf("field %q: %w", k, err)
		}
		out.Write(b)
	}
	out.Write(raw[end:])
	_, err := w.Write(out.Bytes())
	return err
}

// newRecord writes a record that did not exist: the key first, then the
// other fields in key order, in the table's style.
func newRecord(w io.Writer, rec map[string]any, key string, st recordStyle) error {
	var out bytes.Buffer
	keys := slices.Sorted(maps.Keys(rec))
	if i := slices.Index(keys, key); i > 0 {
		keys = append(append([]string{key}, keys[:i]...), keys[i+1:]...)
	}
	out.WriteString("{")
	if len(keys) > 0 {
		out.WriteString(st.open)
	}
	for i, k := range keys {
		if i > 0 {
			out.WriteString(st.sep)
		}
		out.Write(mustKey(k))
		out.WriteString(st.colon)
		b, err := encodeValue(rec[k])
		if err != nil {
			return fmt.Errorf("field %q: %w", k, err)
		}
		out.Write(b)
	}
	if len(keys) > 0 {
		out.WriteString(st.close)
	}
	out.WriteString("}")
	_, err := w.Write(out.Bytes())
	return err
}

type countWriter struct {
	w io.Writer
	n int64
}

func (c *countWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n += int64(n)
	return n, err
}

func readSpan(src io.ReaderAt, sp span) ([]byte, error) {
	b := make([]byte, sp.end-sp.start)
	_, err := src.ReadAt(b, sp.start)
	if err == io.EOF && len(b) == 0 {
		err = nil
	}
	return b, err
}

func copySpan(w io.Writer, src io.ReaderAt, from, to int64) error {
	if to <= from {
		return nil
	}
	_, err := io.Copy(w, io.NewSectionReader(src, from, to-from))
	return err
}

func (tl *tableLayout) shifted(delta int64) *tableLayout {
	out := &tableLayout{value: span{tl.value.start + delta, tl.value.end + delta}, array: tl.array, recs: make([]span, len(tl.recs))}
	for i, r := range tl.recs {
		out.recs[i] = span{r.start + delta, r.end + delta}
	}
	return out
}

// writePreserving writes the snapshot src (laid out as l, its tables as
// orig) with the drafts' changes: only the changed tables' arrays are
// rebuilt, and in them only changed and new records are written anew.
// It returns the layout of what it wrote.
func writePreserving(ctx context.Context, w io.Writer, src io.ReaderAt, size int64, l *fileLayout, orig map[string][]map[string]any, drafts map[string]*draft) (*fileLayout, error) {
	cw := &countWriter{w: w}
	next := &fileLayout{order: l.order, values: map[string]*tableLayout{}}
	pos := int64(0) // the old file is copied up to here
	for _, name := range l.order {
		tl := l.values[name]
		d := drafts[name]
		if d == nil || !tl.array {
			next.values[name] = tl.shifted(cw.n - pos)
			continue
		}
		if err := copySpan(cw, src, pos, tl.value.start); err != nil {
			return nil, err
		}
		ntl, err := writeTable(ctx, cw, src, tl, orig[name], d)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", name, err)
		}
		next.values[name] = ntl
		pos = tl.value.end
	}
	if err := copySpan(cw, src, pos, size); err != nil {
		return nil, err
	}
	return next, nil
}

func writeTable(ctx context.Context, cw *countWriter, src io.ReaderAt, tl *tableLayout, orig []map[string]any, d *draft) (*tableLayout, error) {
	ntl := &tableLayout{array: true}
	ntl.value.start = cw.n
	n := len(tl.recs)
	text := func(from, to int64) (string, error) {
		b, err := readSpan(src, span{from, to})
		return string(b), err
	}
	// The separators as written: before the first record, between two,
	// after the last.
	prefix, between, suffix := "\n    ", ",\n    ", "\n  "
	style := defaultStyle
	if n > 0 {
		var err error
		if prefix, err = text(tl.value.start+1, tl.recs[0].start); err != nil {
			return nil, err
		}
		if suffix, err = text(tl.recs[n-1].end, tl.value.end-1); err != nil {
			return nil, err
		}
		between = ", " // one record on one line: [{...}, {...}]
		if strings.ContainsAny(prefix, "\n") {
			between = "," + prefix
		}
		if n > 1 {
			if between, err = text(tl.recs[0].end, tl.recs[1].start); err != nil {
				return nil, err
			}
		}
		raw, err := readSpan(src, tl.recs[0])
		if err != nil {
			return nil, err
		}
		if ms, err := membersOf(raw); err == nil {
			style = styleOf(raw, ms)
		}
	}
	if _, err := io.WriteString(cw, "["); err != nil {
		return nil, err
	}
	// Runs of untouched records are copied, with the separators between
	// them, in one piece: [from, to) of the old file lands at base.
	var pend struct {
		from, to, base int64
		active         bool
	}
	flush := func() error {
		if !pend.active {
			return nil
		}
		pend.active = false
		return copySpan(cw, src, pend.from, pend.to)
	}
	k, prevOrig := 0, -1 // records written; the old index of the last one (-1: new)
	for i, rec := range d.recs {
		if i%4096 == 0 {
			if err := ctx.Err(); err != nil {
				return nil, err
			}
		}
		if rec == nil {
			continue // deleted
		}
		untouched := i < n && !d.cloned[i]
		if untouched && k > 0 && i > 0 && prevOrig == i-1 {
			if !pend.active {
				pend.active, pend.from, pend.to, pend.base = true, tl.recs[i-1].end, tl.recs[i-1].end, cw.n
			}
			pend.to = tl.recs[i].end
			ntl.recs = append(ntl.recs, span{pend.base + tl.recs[i].start - pend.from, pend.base + tl.recs[i].end - pend.from})
			k, prevOrig = k+1, i
			continue
		}
		if err := flush(); err != nil {
			return nil, err
		}
		sep := between
		switch {
		case k == 0:
			sep = prefix
		case i < n && i > 0:
			var err error
			if sep, err = text(tl.recs[i-1].end, tl.recs[i].start); err != nil {
				return nil, err
			}
		}
		if _, err := io.WriteString(cw, sep); err != nil {
			return nil, err
		}
		start := cw.n
		switch {
		case untouched:
			pend.active, pend.from, pend.to, pend.base = true, tl.recs[i].start, tl.recs[i].end, cw.n
			ntl.recs = append(ntl.recs, span{start, start + tl.recs[i].end - tl.recs[i].start})
			k, prevOrig = k+1, i
			continue
		case i < n:
			raw, err := readSpan(src, tl.recs[i])
			if err != nil {
				return nil, err
			}
			ms, err := membersOf(raw)
			if err != nil {
				return nil, err
			}
			if err := rewriteRecord(cw, raw, ms, orig[i], rec, styleOf(raw, ms)); err != nil {
				return nil, fmt.Errorf("[%d]: %w", i, err)
			}
			prevOrig = i
		default:
			if err := newRecord(cw, rec, d.key, style); err != nil {
				return nil, fmt.Errorf("[%d]: %w", i, err)
			}
			prevOrig = -1
		}
		ntl.recs = append(ntl.recs, span{start, cw.n})
		k++
	}
	if err := flush(); err != nil {
		return nil, err
	}
	if k > 0 {
		if _, err := io.WriteString(cw, suffix); err != nil {
			return nil, err
		}
	}
	if _, err := io.WriteString(cw, "]"); err != nil {
		return nil, err
	}
	ntl.value.end = cw.n
	return ntl, nil
}
