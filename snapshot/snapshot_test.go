package snapshot

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"testing"

	"github.com/reconctl/reconctl/providers/pick"
)

func TestPosition(t *testing.T) {
	src := strings.NewReader("ab\ncd\n\nef")
	for off, want := range map[int64][2]int{0: {1, 1}, 1: {1, 2}, 3: {2, 1}, 4: {2, 2}, 6: {3, 1}, 7: {4, 1}, 9: {4, 3}, 1 << 40: {4, 3}} {
		if l, c := Position(src, off); l != want[0] || c != want[1] {
			t.Errorf("Position(%d) = %d:%d, want %d:%d", off, l, c, want[0], want[1])
		}
	}
}

func TestRecordsAndReadRecord(t *testing.T) {
	doc := `{"skip": {"a": [1, {"b": 2}]}, "also": 3, "t": [ {"id": "x", "n": 1.50} ,
	  {"id": 2, "m": {"k": [true, null]}}], "u": []}`
	src := strings.NewReader(doc)
	r := NewReader("doc.json", src)
	var tables []string
	var offs []int64
	var recs []map[string]any
	for {
		name, err := r.NextTable()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		tables = append(tables, name)
		if name != "t" {
			if err := r.Skip(); err != nil {
				t.Fatal(err)
			}
			continue
		}
		err = r.Records(func(off int64, rec map[string]any) error {
			offs, recs = append(offs, off), append(recs, rec)
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	if strings.Join(tables, ",") != "skip,also,t,u" || len(recs) != 2 {
		t.Fatalf("tables %v, records %v", tables, recs)
	}
	if recs[0]["n"] != json.Number("1.50") {
		t.Errorf("numbers must stay json.Number as written: %#v", recs[0]["n"])
	}
	for i, off := range offs {
		rec, err := ReadRecord("doc.json", src, off)
		if err != nil {
			t.Fatal(err)
		}
		a, _ := json.Marshal(rec)
		b, _ := json.Marshal(recs[i])
		if string(a) != string(b) {
			t.Errorf("ReadRecord(%d) = %s, want %s", off, a, b)
		}
	}
}

func TestErrorsArePositioned(t *testing.T) {
	r := NewReader("doc.json", strings.NewReader("{\"t\": [\n {\"id\": 1},\n {\"id\": tru}]}"))
	if _, err := r.NextTable(); err != nil {
		t.Fatal(err)
	}
	err := r.Records(func(int64, map[string]any) error { return nil })
	var se *Error
	if !errors.As(err, &se) || se.Line != 3 || se.Col != 12 || !strings.HasPrefix(err.Error(), "doc.json:3:12: invalid JSON") {
		t.Fatalf("got %v", err)
	}
}

// pickAll decodes a whole record with providers/pick (RecordsWith's decoder).
func pickAll(data []byte) (map[string]any, int, error) { return (*pick.Paths)(nil).Object(data) }

type got struct {
	offs []int64
	recs []string
	err  error
}

func readTable(doc, table string, with bool, stopAt int) got {
	var g got
	r := NewReader("doc.json", strings.NewReader(doc))
	for {
		name, err := r.NextTable()
		if err != nil {
			if err != io.EOF {
				g.err = err
			}
			return g
		}
		if name != table {
			if err := r.Skip(); err != nil {
				g.err = err
				return g
			}
			continue
		}
		fn := func(off int64, rec map[string]any) error {
			b, _ := json.Marshal(rec)
			g.offs, g.recs = append(g.offs, r.skipSpace(off, true)), append(g.recs, string(b))
			if len(g.recs) == stopAt {
				return errors.New("stop")
			}
			return nil
		}
		if with {
			g.err = r.RecordsWith(pickAll, fn)
		} else {
			g.err = r.Records(fn)
		}
		return g
	}
}

// RecordsWith reads what Records reads, at the same offsets, and refuses
// what it refuses with the same error, whatever its buffer size.
func TestRecordsWithMatchesRecords(t *testing.T) {
	defer func(n int) { fastBuffer = n }(fastBuffer)
	docs := []string{
		`{"skip": {"a": [1, {"b": 2}]}, "t" : [ {"id": "x", "n": 1.50} ,
	  {"id": 2, "m": {"k": [true, null], "s": "a\u00e9\"b"}}], "u": []}`,
		`{"t": []}`, `{"t": [ ]}`, `{"t": {"a": 1}}`, `{"t": 3}`,
		"{\"t\": [\n {\"id\": 1},\n {\"id\": tru}]}",
		`{"t": [{"id": 1}, 2]}`, `{"t": [{"id": 1},]}`, `{"t": [{"id": 1} {"id": 2}]}`, `{"t": [{"id": 1}`,
		`{"t": [{"id": 1}, {"id": "cut`, `{"t": [{"id": 1}], "z": tru}`,
	}
	for _, size := range []int{1, 3, 7, 64, 1 << 20} {
		fastBuffer = size
		for _, doc := range docs {
			for _, stop := range []int{0, 1} {
				want, g := readTable(doc, "t", false, stop), readTable(doc, "t", true, stop)
				if fmt.Sprint(want.offs, want.recs) != fmt.Sprint(g.offs, g.recs) || fmt.Sprint(want.err) != fmt.Sprint(g.err) {
					t.Errorf("buffer %d, stop %d, %q:\nRecordsWith %v %v %v\n    Records %v %v %v", size, stop, doc, g.offs, g.recs, g.err, want.offs, want.recs, want.err)
				}
			}
		}
	}
}

func TestRecordsWithEndsTheReader(t *testing.T) {
	r := NewReader("doc.json", strings.NewReader(`{"t": [{"id": 1}], "u": []}`))
	if _, err := r.NextTable(); err != nil {
		t.Fatal(err)
	}
	marked := func(data []byte) (map[string]any, int, error) {
		m, n, err := pickAll(data)
		if m != nil {
			m["fast"] = true
		}
		return m, n, err
	}
	var recs []map[string]any
	if err := r.RecordsWith(marked, func(_ int64, rec map[string]any) error { recs = append(recs, rec); return nil }); err != nil {
		t.Fatal(err)
	}
	if len(recs) != 1 || recs[0]["fast"] != true { // decoded by decode, not encoding/json
		t.Fatalf("records %v", recs)
	}
	if _, err := r.NextTable(); err == nil || err == io.EOF {
		t.Fatalf("NextTable after RecordsWith: %v", err)
	}
}
