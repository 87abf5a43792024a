package pick

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"reflect"
	"strings"
	"testing"
)

// full decodes data the way the providers did before: encoding/json with
// UseNumber. ok is false when it refuses data as one object.
func full(data []byte) (map[string]any, bool) {
	m, _, ok := fullN(data)
	return m, ok
}

// fullN is full and how many bytes encoding/json took.
func fullN(data []byte) (map[string]any, int, bool) {
	d := json.NewDecoder(bytes.NewReader(data))
	d.UseNumber()
	var v any
	if err := d.Decode(&v); err != nil {
		return nil, 0, false
	}
	m, ok := v.(map[string]any)
	return m, int(d.InputOffset()), ok
}

// prune is what Object must keep of a fully decoded value under n.
func prune(v any, n *node) any {
	if n == nil || n.all {
		return v
	}
	switch x := v.(type) {
	case map[string]any:
		out := map[string]any{}
		for k, kid := range n.kids {
			if kv, ok := x[k]; ok {
				out[k] = prune(kv, kid)
			}
		}
		return out
	case []any:
		out := make([]any, len(x))
		for i, kid := range n.idx {
			if i < len(x) {
				out[i] = prune(x[i], kid)
			}
		}
		return out
	}
	return v
}

var testPaths = [][]string{{"email"}, {"metadata", "plan"}, {"items", "data", "0", "price", "id"}, {"a", "b"}, {"a"}, {"é"}, {"x\ny"}}

var objectCases = []string{
	`{}`,
	` {"id":"cus_1","email":"a@b.c","name":"Ann","balance":-12.5e3,"metadata":{"plan":"pro","other":[1,2,{"x":null}]}}`,
	`{"email":null,"metadata":null}`,
	`{"metadata":"text","items":{"data":[{"price":{"id":"p1","n":1}},{"price":{"id":"p2"}}]}}`,
	`{"items":{"data":[]}}`,
	`{"items":{"data":{"0":{"price":{"id":"keyed"}}}}}`,
	`{"a":{"b":1,"c":2},"a":{"c":3}}`,
	`{"email":"x","email":"y"}`,
	`{"\u00e9":"accent","\u0065mail":"escaped key","x\ny":1}`,
	`{"email":"tab\there \ud83d\ude00 \ud800 lone","metadata":{"plan":"\u0000"}}`,
	"{\"email\":\"bad \xff utf8\",\"z\":\"\xc3\"}",
	`{"n":[0,-0,1.5,1e10,1E-2,-0.0e+1],"t":true,"f":false,"z":null}`,
	`{"deep":[[[[{"a":[{}]}]]]]}`,
	"{\n\t\"email\" :\r\n \"sp\" , \"x\" : [ ] }",
	// invalid
	`{"email":}`, `{"email":"x",}`, `{,}`, `{"a" 1}`, `{"a":1 "b":2}`, `{"a":tru}`, `{"a":nul}`, `{"a":01}`,
	`{"a":1.}`, `{"a":.5}`, `{"a":1e}`, `{"a":-}`, `{"a":+1}`, `{"a":"\x"}`, `{"a":"\u12"}`, "{\"a\":\"ctl\x01\"}",
	`{"a":[1,]}`, `{"a":[,1]}`, `{"a":[1 2]}`, `{"a":{"b":1}`, `{"email":"unterminated`, `{"a":truex}`, `{'a':1}`,
	`[1]`, `"s"`, `1`, `null`, ``, `   `, `{"a":NaN}`, `{"a":Infinity}`, `{1:2}`,
}

func TestObjectMatchesEncodingJSON(t *testing.T) {
	p := Compile(testPaths, "id")
	for _, c := range objectCases {
		checkObject(t, p, []byte(c))
		checkObject(t, nil, []byte(c))
	}
}

func checkObject(t *testing.T, p *Paths, data []byte) {
	t.Helper()
	want, took, ok := fullN(data)
	got, n, err := p.Object(data)
	if !ok {
		if err == nil {
			t.Errorf("%q: encoding/json refuses it, pick kept %v", data, got)
		}
		return
	}
	if err != nil {
		t.Errorf("%q: encoding/json reads it, pick: %v", data, err)
		return
	}
	root := &node{all: true}
	if p != nil {
		root = p.root
	}
	if w := prune(want, root); !reflect.DeepEqual(got, w) {
		t.Errorf("%q:\n got %#v\nwant %#v", data, got, w)
	}
	if n != took {
		t.Errorf("%q: took %d bytes, encoding/json %d", data, n, took)
	}
}

// A path that is absent stays absent and a null stays null: the engine's
// absent-path guard tells the two apart.
func TestAbsentIsNotNull(t *testing.T) {
	p := Compile([][]string{{"email"}, {"metadata", "plan"}}, "id")
	got, _, err := p.Object([]byte(`{"id":"1","email":null,"metadata":{},"name":"skipped"}`))
	if err != nil {
		t.Fatal(err)
	}
	if v, ok := got["email"]; !ok || v != nil {
		t.Errorf("email = %v, %v; want null, present", v, ok)
	}
	if _, ok := got["metadata"].(map[string]any)["plan"]; ok {
		t.Error("metadata.plan is present")
	}
	if _, ok := got["name"]; ok {
		t.Error("an unmapped field was kept")
	}
}

// A stream reader cuts input anywhere: every prefix of a valid object is
// ErrShort (so the reader reads more), never a different value.
func TestShortPrefixes(t *testing.T) {
	p := Compile(testPaths, "id")
	for _, c := range objectCases {
		if _, ok := full([]byte(c)); !ok {
			continue
		}
		data := []byte(strings.TrimSpace(c))
		for i := range len(data) {
			if _, _, err := p.Object(data[:i]); !errors.Is(err, ErrShort) {
				t.Errorf("%q cut at %d: %v, want ErrShort", data, i, err)
			}
		}
	}
	if ErrShort != io.ErrUnexpectedEOF {
		t.Error("ErrShort is not io.ErrUnexpectedEOF")
	}
}

func TestObjectsMatchesEncodingJSON(t *testing.T) {
	p := Compile(testPaths, "id")
	cases := []string{`[]`, ` [ {"id":"1","email":"e","x":[1]} , {"id":"2"} ] `, `null`, `[null,{"id":"3"}]`,
		`[{"id":1},]`, `[1]`, `[{"a":1}`, `{"id":1}`, `[{"a":"b"} {"c":1}]`, `[`, ``, `[{"a":1}] trailing`}
	for _, c := range cases {
		d := json.NewDecoder(strings.NewReader(c))
		d.UseNumber()
		var want []map[string]any
		werr := d.Decode(&want)
		got, err := p.Objects([]byte(c))
		if werr != nil {
			if err == nil {
				t.Errorf("%q: encoding/json refuses it (%v), pick read %v", c, werr, got)
			}
			continue
		}
		if err != nil {
			t.Errorf("%q: encoding/json reads it, pick: %v", c, err)
			continue
		}
		if len(got) != len(want) {
			t.Errorf("%q: %d objects, want %d", c, len(got), len(want))
			continue
		}
		for i := range want {
			var w any
			if want[i] != nil {
				w = prune(want[i], p.root)
			}
			var g any
			if got[i] != nil {
				g = got[i]
			}
			if !reflect.DeepEqual(g, w) {
				t.Errorf("%q #%d: got %#v, want %#v", c, i, g, w)
			}
		}
	}
}

func FuzzObject(f *testing.F) {
	for _, c := range objectCases {
		f.Add([]byte(c))
	}
	p := Compile(testPaths, "id")
	f.Fuzz(func(t *testing.T, data []byte) {
		checkObject(t, p, data)
		checkObject(t, nil, data)
	})
}
