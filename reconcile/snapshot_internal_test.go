package reconcile

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"reflect"
	"slices"
	"strings"
	"testing"
)

// slowDecode is decodeValues' general path (encoding/json), for comparison.
func slowDecode(b []byte, n int) ([]any, error) {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	var out []any
	if err := dec.Decode(&out); err != nil {
		return nil, err
	}
	if len(out) != n {
		return nil, fmt.Errorf("%d values", len(out))
	}
	return out, nil
}

// TestDecodeFlatMatchesJSON: the fast path decodes what it accepts exactly
// as encoding/json does, values and types, and decodeValues gives the same
// values for everything encodeValues writes.
func TestDecodeFlatMatchesJSON(t *testing.T) {
	scalars := []any{nil, true, false, "", "a@example.com", "héllo ✓", "<tag>&", "quote\"d", "tab\there", "back\\slash",
		json.Number("0"), json.Number("-12"), json.Number("3.25"), json.Number("1e9"), json.Number("-0.5E-3"), 12, 1.5,
		map[string]any{"b": 1, "a": "x"}, []any{"x", 2}, string([]byte{0xff, 'a'})}
	rng := rand.New(rand.NewPCG(1, 2))
	for range 5000 {
		n := rng.IntN(5)
		vals, found := make([]any, n), make([]bool, n)
		for i := range vals {
			vals[i], found[i] = scalars[rng.IntN(len(scalars))], rng.IntN(5) != 0
		}
		enc, err := encodeValues(vals, found)
		if err != nil {
			t.Fatal(err)
		}
		gotV, gotF := make([]any, n), make([]bool, n)
		if err := decodeValues(enc, gotV, gotF); err != nil {
			t.Fatalf("%q: %v", enc, err)
		}
		body := enc[bytes.IndexByte(enc, '['):]
		want, err := slowDecode(body, n)
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(gotV, want) || !slices.Equal(gotF, found) {
			t.Fatalf("%q: got %#v %v, want %#v %v", enc, gotV, gotF, want, found)
		}
	}
	// Hand-made arrays: what the fast path takes equals encoding/json's
	// reading; what it refuses, it refuses.
	for _, c := range []struct {
		in   string
		n    int
		fast bool
	}{
		{`[]`, 0, true}, {`[null]`, 1, true}, {`["a",1,true,false,null]`, 5, true}, {`[-0.0e+1]`, 1, true},
		{`[]`, 1, false}, {`[1]`, 0, false}, {`[1,]`, 1, false}, {`[,1]`, 1, false}, {`[01]`, 1, false},
		{`[1.]`, 1, false}, {`[-]`, 1, false}, {`["a\"b"]`, 1, false}, {`[{"a":1}]`, 1, false}, {`[[1]]`, 1, false},
		{`[nul]`, 1, false}, {`[truex]`, 1, false}, {`["a"`, 1, false}, {`[ 1]`, 1, false}, {"[\"\x01\"]", 1, false},
		{`[1,2]`, 1, false}, {`[1]x`, 1, false},
	} {
		got := make([]any, c.n)
		ok := decodeFlat([]byte(c.in), got)
		if ok != c.fast {
			t.Errorf("decodeFlat(%s, %d) = %v, want %v", c.in, c.n, ok, c.fast)
			continue
		}
		if ok {
			want, err := slowDecode([]byte(c.in), c.n)
			if err != nil || !reflect.DeepEqual(got, want) {
				t.Errorf("decodeFlat(%s) = %#v, encoding/json %#v (%v)", c.in, got, want, err)
			}
		}
	}
}

// TestSnapStateOverlay: a snapshot loaded in any order reads by id, lists
// by id with this run's records over the loaded ones, and counts both.
func TestSnapStateOverlay(t *testing.T) {
	s := newSnapState(SnapshotKey{Resource: "customers"}, SnapshotMeta{})
	for _, id := range []string{"c", "a", "e", "b"} {
		s.load(SnapshotRow{ID: id, Values: []byte("v" + id), EventAt: 1, Deleted: id == "e"})
	}
	s.sortBase()
	s.set("b", snapRec{vals: []byte("new b"), eventAt: 2})
	s.set("d", snapRec{vals: []byte("vd"), eventAt: 2})
	s.set("0", snapRec{deleted: true, eventAt: 2})
	s.set("z", snapRec{vals: []byte("vz"), upd: 5})
	s.set("d", snapRec{vals: []byte("vd2")})
	if r, ok := s.get("b"); !ok || string(r.vals) != "new b" {
		t.Errorf("get(b) = %q %v", r.vals, ok)
	}
	if r, ok := s.get("c"); !ok || string(r.vals) != "vc" || r.eventAt != 1 {
		t.Errorf("get(c) = %+v %v", r, ok)
	}
	if _, ok := s.get("y"); ok {
		t.Error("get(y) found")
	}
	var got []string
	if err := s.each(func(id string, r snapRec) error {
		got = append(got, fmt.Sprintf("%s=%s/%t", id, r.vals, r.deleted))
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	want := "0=/true a=va/false b=new b/false c=vc/false d=vd2/false e=ve/true z=vz/false"
	if g := strings.Join(got, " "); g != want {
		t.Errorf("each:\n got %s\nwant %s", g, want)
	}
	if s.count() != 7 || !s.hasUpd {
		t.Errorf("count %d, hasUpd %t", s.count(), s.hasUpd)
	}
}
