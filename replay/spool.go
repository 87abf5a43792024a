package replay

// The window through a spool (issue #16 item 5): replay needs the whole
// window before it writes anything (the brake and the guards count all of
// it), but not in memory. As events arrive, each is appended to a temporary
// file in a compact binary form (its envelope and what it keeps of its
// object: project.go); classifying reads the file once (pass 1: outcomes,
// the brake's counts, the guards' facts), applying reads it again (pass 2:
// the same chunks and transactions as from memory). What stays in memory is
// per record, not per event payload: the outcome of each event (a byte), the
// newest event of each record, and the report.
//
// The file holds customer data: it is created 0600 in the system's temp dir
// and unlinked at once where the system allows (the open file stays
// readable), so nothing is left behind, not even by a crash or Ctrl-C;
// elsewhere it is removed when the run ends.
//
// The in-memory path stays for what the spool cannot keep exactly: events
// out of time order (a provider not sorted: the stable sort by time must see
// the whole window), a value of a type the encoding does not know, a time in
// another location than UTC or Local or with a monotonic reading, and
// deliveries (--deliver-to sends each raw event).

import (
	"bufio"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"time"

	"github.com/reconctl/reconctl/providers"
)

// errUnspoolable: the event cannot be kept exactly in the spool.
var errUnspoolable = errors.New("event not encodable in the replay spool")

// spool is a window of events in a temporary file, in arrival order.
type spool struct {
	f       *os.File
	removed bool // unlinked at creation
	w       *bufio.Writer
	n       int   // records written
	size    int64 // bytes written
	buf     []byte
	err     error // the first write error: the spool is unusable
}

func newSpool() (*spool, error) {
	f, err := os.CreateTemp("", "reconctl-replay-*.spool")
	if err != nil {
		return nil, err
	}
	s := &spool{f: f, w: bufio.NewWriterSize(f, 256<<10)}
	s.removed = os.Remove(f.Name()) == nil
	return s, nil
}

// close closes and removes the file; safe to call again.
func (s *spool) close() {
	if s == nil || s.f == nil {
		return
	}
	s.f.Close()
	if !s.removed {
		os.Remove(s.f.Name())
	}
	s.f = nil
}

// Record flags.
const (
	spDeleted = 1 << iota
	spLocal   // Created is in time.Local (else UTC)
	spPayload // a payload follows
	spObject  // the whole object follows (automatic mapping)
)

// add appends e and its payload; errUnspoolable (nothing written) when they
// cannot be kept exactly.
func (s *spool) add(e *providers.Event, pl *payload) error {
	if s.err != nil {
		return s.err
	}
	var flags byte
	if e.Deleted {
		flags |= spDeleted
	}
	switch e.Created.Location() {
	case time.UTC:
	case time.Local:
		flags |= spLocal
	default:
		return errUnspoolable
	}
	if e.Created != e.Created.Round(0) || len(e.Raw) > 0 {
		return errUnspoolable // a monotonic reading, or a raw body to keep
	}
	if pl != nil {
		flags |= spPayload
	}
	if e.Object != nil {
		flags |= spObject
	}
	b := append(s.buf[:0], flags)
	b = appendString(b, e.ID)
	b = appendString(b, e.Type)
	b = appendString(b, e.Resource)
	b = appendString(b, e.ObjectID)
	b = appendString(b, e.ForeignVersion)
	b = binary.AppendVarint(b, e.Created.Unix())
	b = binary.AppendUvarint(b, uint64(e.Created.Nanosecond()))
	ok := true
	if pl != nil {
		b = binary.AppendUvarint(b, uint64(len(pl.vals)))
		for _, v := range pl.vals {
			if b, ok = appendValue(b, v); !ok {
				return errUnspoolable
			}
		}
	}
	if e.Object != nil {
		if b, ok = appendValue(b, e.Object); !ok {
			return errUnspoolable
		}
	}
	s.buf = b
	var hdr [binary.MaxVarintLen64]byte
	h := binary.PutUvarint(hdr[:], uint64(len(b)))
	if _, err := s.w.Write(hdr[:h]); err != nil {
		s.err = fmt.Errorf("writing the replay spool: %w", err)
		return s.err
	}
	if _, err := s.w.Write(b); err != nil {
		s.err = fmt.Errorf("writing the replay spool: %w", err)
		return s.err
	}
	s.n++
	s.size += int64(h + len(b))
	return nil
}

// Value tags.
const (
	vNil byte = iota
	vAbsent
	vFalse
	vTrue
	vString
	vNumber // json.Number
	vFloat
	vInt
	vInt64
	vMap
	vNilMap
	vSlice
	vNilSlice
)

func appendString(b []byte, s string) []byte {
	b = binary.AppendUvarint(b, uint64(len(s)))
	return append(b, s...)
}

// appendValue encodes a decoded JSON value (and the few Go types providers
// put in objects); false for any other type.
func appendValue(b []byte, v any) ([]byte, bool) {
	switch x := v.(type) {
	case nil:
		return append(b, vNil), true
	case absentValue:
		return append(b, vAbsent), true
	case bool:
		if x {
			return append(b, vTrue), true
		}
		return append(b, vFalse), true
	case string:
		return appendString(append(b, vString), x), true
	case json.Number:
		return appendString(append(b, vNumber), string(x)), true
	case float64:
		return binary.LittleEndian.AppendUint64(append(b, vFloat), math.Float64bits(x)), true
	case int:
		return binary.AppendVarint(append(b, vInt), int64(x)), true
	case int64:
		return binary.AppendVarint(append(b, vInt64), x), true
	case map[string]any:
		if x == nil {
			return append(b, vNilMap), true
		}
		b = binary.AppendUvarint(append(b, vMap), uint64(len(x)))
		for k, e := range x {
			b = appendString(b, k)
			var ok bool
			if b, ok = appendValue(b, e); !ok {
				return b, false
			}
		}
		return b, true
	case []any:
		if x == nil {
			return append(b, vNilSlice), true
		}
		b = binary.AppendUvarint(append(b, vSlice), uint64(len(x)))
		for _, e := range x {
			var ok bool
			if b, ok = appendValue(b, e); !ok {
				return b, false
			}
		}
		return b, true
	}
	return b, false
}

// spoolReader reads a spool's records in order, from the start.
type spoolReader struct {
	r      *bufio.Reader
	proj   *projector
	rec    []byte
	at     int // read position in rec
	intern map[string]string
	err    error // the first corrupt record
}

// reader starts a sequential read of everything written so far.
func (s *spool) reader(proj *projector) (*spoolReader, error) {
	if s.err != nil {
		return nil, s.err
	}
	if err := s.w.Flush(); err != nil {
		s.err = fmt.Errorf("writing the replay spool: %w", err)
		return nil, s.err
	}
	return &spoolReader{r: bufio.NewReaderSize(io.NewSectionReader(s.f, 0, s.size), 256<<10), proj: proj, intern: map[string]string{}}, nil
}

var errSpoolCorrupt = errors.New("replay spool: corrupt record")

// next decodes the next record into e (all of e is overwritten) and returns
// its payload; io.EOF after the last.
func (r *spoolReader) next(e *providers.Event) (*payload, error) {
	n, err := binary.ReadUvarint(r.r)
	if err == io.EOF {
		return nil, io.EOF
	}
	if err != nil {
		return nil, fmt.Errorf("reading the replay spool: %w", err)
	}
	if uint64(cap(r.rec)) < n {
		r.rec = make([]byte, n)
	}
	r.rec = r.rec[:n]
	if _, err := io.ReadFull(r.r, r.rec); err != nil {
		return nil, fmt.Errorf("reading the replay spool: %w", err)
	}
	r.at, r.err = 0, nil
	flags := r.byte()
	*e = providers.Event{ID: r.str(false), Type: r.str(true), Resource: r.str(true), ObjectID: r.str(false), ForeignVersion: r.str(true), Deleted: flags&spDeleted != 0}
	sec, ns := r.varint(), r.uvarint()
	if flags&spLocal != 0 {
		e.Created = time.Unix(sec, int64(ns))
	} else {
		e.Created = time.Unix(sec, int64(ns)).UTC()
	}
	var pl *payload
	if flags&spPayload != 0 {
		vals := make([]any, r.uvarint())
		for i := range vals {
			vals[i] = r.value()
		}
		pl = &payload{vals: vals, index: r.proj.indexOf(e.Resource)}
	}
	if flags&spObject != 0 {
		m, ok := r.value().(map[string]any)
		if !ok {
			r.err = errSpoolCorrupt
		}
		e.Object = m
	}
	if r.err == nil && r.at != len(r.rec) {
		r.err = errSpoolCorrupt
	}
	if r.err != nil {
		return nil, r.err
	}
	return pl, nil
}

func (r *spoolReader) byte() byte {
	if r.at >= len(r.rec) {
		r.err = errSpoolCorrupt
		return 0
	}
	r.at++
	return r.rec[r.at-1]
}

func (r *spoolReader) uvarint() uint64 {
	v, n := binary.Uvarint(r.rec[r.at:])
	if n <= 0 {
		r.err = errSpoolCorrupt
		return 0
	}
	r.at += n
	return v
}

func (r *spoolReader) varint() int64 {
	v, n := binary.Varint(r.rec[r.at:])
	if n <= 0 {
		r.err = errSpoolCorrupt
		return 0
	}
	r.at += n
	return v
}

// str reads a string; interned ones (types, resources, versions, object
// keys: few distinct values) share one copy.
func (r *spoolReader) str(interned bool) string {
	n := r.uvarint()
	if uint64(len(r.rec)-r.at) < n {
		r.err = errSpoolCorrupt
		return ""
	}
	b := r.rec[r.at : r.at+int(n)]
	r.at += int(n)
	if !interned {
		return string(b)
	}
	if s, ok := r.intern[string(b)]; ok {
		return s
	}
	s := string(b)
	if len(r.intern) < 4096 {
		r.intern[s] = s
	}
	return s
}

func (r *spoolReader) value() any {
	switch tag := r.byte(); tag {
	case vNil:
		return nil
	case vAbsent:
		return absent
	case vFalse:
		return false
	case vTrue:
		return true
	case vString:
		return r.str(false)
	case vNumber:
		return json.Number(r.str(false))
	case vFloat:
		if len(r.rec)-r.at < 8 {
			r.err = errSpoolCorrupt
			return nil
		}
		r.at += 8
		return math.Float64frombits(binary.LittleEndian.Uint64(r.rec[r.at-8:]))
	case vInt:
		return int(r.varint())
	case vInt64:
		return r.varint()
	case vMap:
		n := r.uvarint()
		if n > uint64(len(r.rec)) {
			r.err = errSpoolCorrupt
			return nil
		}
		m := make(map[string]any, n)
		for i := uint64(0); i < n && r.err == nil; i++ {
			k := r.str(true)
			m[k] = r.value()
		}
		return m
	case vNilMap:
		return map[string]any(nil)
	case vSlice:
		n := r.uvarint()
		if n > uint64(len(r.rec)) {
			r.err = errSpoolCorrupt
			return nil
		}
		a := make([]any, n)
		for i := range a {
			if r.err != nil {
				break
			}
			a[i] = r.value()
		}
		return a
	case vNilSlice:
		return []any(nil)
	}
	r.err = errSpoolCorrupt
	return nil
}

// load reads the whole spool back into memory (the in-memory path takes
// over: spool.go's header says when).
func (s *spool) load(proj *projector) ([]providers.Event, []*payload, error) {
	r, err := s.reader(proj)
	if err != nil {
		return nil, nil, err
	}
	events := make([]providers.Event, 0, s.n)
	pls := make([]*payload, 0, s.n)
	for {
		var e providers.Event
		pl, err := r.next(&e)
		if err == io.EOF {
			return events, pls, nil
		}
		if err != nil {
			return nil, nil, err
		}
		events = append(events, e)
		pls = append(pls, pl)
	}
}

// each reads every record in order and calls fn with its position; the
// event is reused by the next record.
func (s *spool) each(proj *projector, fn func(i int, e *providers.Event, pl *payload) error) error {
	r, err := s.reader(proj)
	if err != nil {
		return err
	}
	var e providers.Event
	for i := 0; ; i++ {
		pl, err := r.next(&e)
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
		if err := fn(i, &e, pl); err != nil {
			return err
		}
	}
}
