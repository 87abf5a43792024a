package snapshot

import (
	"encoding/json"
	"errors"
	"io"
	"strings"
	"testing"
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
