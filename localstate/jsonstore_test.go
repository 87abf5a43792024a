package localstate_test

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/reconctl/reconctl/localstate"
	"github.com/reconctl/reconctl/localstate/storetest"
)

func openJSONFixture(t *testing.T, f storetest.Fixture, readOnly bool) localstate.Store {
	t.Helper()
	path := filepath.Join(t.TempDir(), "state.json")
	f.WriteJSON(t, path)
	st, err := localstate.Open(context.Background(), path, localstate.OpenOptions{ReadOnly: readOnly})
	if err != nil {
		t.Fatal(err)
	}
	return st
}

func TestJSONConformance(t *testing.T) { storetest.Run(t, openJSONFixture) }

func writeJSON(t *testing.T, content string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "state.json")
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestJSONMalformed(t *testing.T) {
	for _, tc := range []struct{ name, content, want string }{
		{"trailing comma", "{\n  \"customers\": [\n    {\"id\": \"a\",}\n  ]\n}\n", ":3:16: invalid JSON: invalid character '}'"},
		{"missing comma", `{"c": [{"id": 1} {"id": 2}]}`, ":1:18: invalid JSON:"},
		{"bad key", "{\n  customers: []}", ":2:3: invalid JSON: invalid character 'c'"},
		{"cut short", "{\"customers\": [{\"id\": \"a\"}", "unexpected end of file"},
		{"empty", "", "the file is empty"},
		{"top-level array", "  [1, 2]", `:1:3: the top level must be an object of tables, like {"customers": [{"id": "cus_1"}]}; found an array`},
		{"table is an object", `{"customers": {"id": 1}}`, `:1:15: "customers" must be an array of records; found an object`},
		{"table is null", `{"customers": null}`, `:1:15: "customers" must be an array of records; found null`},
		{"record is a number", "{\"customers\": [\n  {\"id\": 1},\n  7]}", `:3:3: "customers": each record must be an object; found a number`},
		{"trailing data", `{"a": []} {}`, ":1:11: unexpected data after the top-level object"},
		{"duplicate table", `{"a": [], "a": []}`, `table "a" appears twice`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := writeJSON(t, tc.content)
			_, err := localstate.Open(context.Background(), path, localstate.OpenOptions{})
			if err == nil || !strings.HasPrefix(err.Error(), path) || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("want %q after the path, got %v", tc.want, err)
			}
		})
	}
}

func TestJSONWriteFormat(t *testing.T) {
	path := writeJSON(t, `{"b": [{"id": "2", "z": 1, "a": "<&>"}], "a": [], "c": [{"id": 1, "n": 1.50}]}`)
	if err := os.Chmod(path, 0o600); err != nil {
		t.Fatal(err)
	}
	st, err := localstate.Open(context.Background(), path, localstate.OpenOptions{})
	if err != nil {
		t.Fatal(err)
	}
	b := &localstate.Table{Resource: "b"}
	err = st.Apply(context.Background(), []localstate.Change{
		{Table: b, Op: localstate.OpCreate, Key: "1", Values: map[string]any{"z": json.Number("3"), "m": map[string]any{"y": true, "x": nil}}},
		{Table: b, Op: localstate.OpUpdate, Key: "2", Values: map[string]any{"z": int64(2)}},
	})
	if err != nil {
		t.Fatal(err)
	}
	got, _ := os.ReadFile(path)
	want := `{
  "a": [],
  "b": [
    {
      "a": "<&>",
      "id": "2",
      "z": 2
    },
    {
      "id": "1",
      "m": {
        "x": null,
        "y": true
      },
      "z": 3
    }
  ],
  "c": [
    {
      "id": 1,
      "n": 1.50
    }
  ]
}
`
	if string(got) != want {
		t.Fatalf("got\n%s\nwant\n%s", got, want)
	}
	// It is exactly what json.Encoder with a two-space indent writes.
	var doc any
	dec := json.NewDecoder(bytes.NewReader(got))
	dec.UseNumber()
	dec.Decode(&doc)
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	enc.Encode(doc)
	if buf.String() != string(got) {
		t.Errorf("differs from json.Encoder:\n%s", buf.String())
	}
	fi, _ := os.Stat(path)
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("mode = %v, want the original 0600", fi.Mode().Perm())
	}
	entries, _ := os.ReadDir(filepath.Dir(path))
	if len(entries) != 1 {
		t.Errorf("temp files left behind: %v", entries)
	}
}

func TestJSONAtomicFailureLeavesFile(t *testing.T) {
	path := writeJSON(t, `{"b": [{"id": "1"}]}`)
	st, err := localstate.Open(context.Background(), path, localstate.OpenOptions{})
	if err != nil {
		t.Fatal(err)
	}
	b := &localstate.Table{Resource: "b"}
	// A value JSON cannot hold fails the write after the temp file was created.
	err = st.Apply(context.Background(), []localstate.Change{{Table: b, Op: localstate.OpCreate, Key: "2", Values: map[string]any{"v": make(chan int)}}})
	if err == nil {
		t.Fatal("want an error")
	}
	got, _ := os.ReadFile(path)
	if string(got) != `{"b": [{"id": "1"}]}` {
		t.Fatalf("file changed: %s", got)
	}
	entries, _ := os.ReadDir(filepath.Dir(path))
	if len(entries) != 1 {
		t.Errorf("temp files left behind: %v", entries)
	}
}

func TestJSONChangedOnDisk(t *testing.T) {
	path := writeJSON(t, `{"b": [{"id": "1"}]}`)
	st, err := localstate.Open(context.Background(), path, localstate.OpenOptions{})
	if err != nil {
		t.Fatal(err)
	}
	other := `{"b": [{"id": "1"}, {"id": "from-the-app"}]}`
	os.WriteFile(path, []byte(other), 0o644)
	err = st.Apply(context.Background(), []localstate.Change{{Table: &localstate.Table{Resource: "b"}, Op: localstate.OpDelete, Key: "1"}})
	if err == nil || !strings.Contains(err.Error(), "changed on disk") {
		t.Fatalf("want a changed-on-disk error, got %v", err)
	}
	if got, _ := os.ReadFile(path); string(got) != other {
		t.Fatalf("the other writer's file must survive, got %s", got)
	}
}

func TestJSONMissingTableListsKeys(t *testing.T) {
	path := writeJSON(t, `{"users": [], "orders": []}`)
	st, err := localstate.Open(context.Background(), path, localstate.OpenOptions{})
	if err != nil {
		t.Fatal(err)
	}
	_, err = st.Columns(context.Background(), &localstate.Table{Resource: "customers"})
	if err == nil || !strings.Contains(err.Error(), `no table "customers"`) || !strings.Contains(err.Error(), "orders, users") {
		t.Fatalf("want an error naming customers and listing orders, users; got %v", err)
	}
}

func TestJSONBadKey(t *testing.T) {
	path := writeJSON(t, `{"users": [{"id": {"x": 1}}]}`)
	st, err := localstate.Open(context.Background(), path, localstate.OpenOptions{})
	if err != nil {
		t.Fatal(err)
	}
	err = st.Scan(context.Background(), &localstate.Table{Resource: "users"}, nil, func(localstate.Row) error { return nil })
	if err == nil || !strings.Contains(err.Error(), "users[0].id") {
		t.Fatalf("want an error naming users[0].id, got %v", err)
	}
}

func TestJSONSymlink(t *testing.T) {
	dir := t.TempDir()
	real := filepath.Join(dir, "real.json")
	os.WriteFile(real, []byte(`{"b": [{"id": "1"}]}`), 0o644)
	link := filepath.Join(dir, "state.json")
	if err := os.Symlink(real, link); err != nil {
		t.Skip(err)
	}
	st, err := localstate.Open(context.Background(), link, localstate.OpenOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if err := st.Apply(context.Background(), []localstate.Change{{Table: &localstate.Table{Resource: "b"}, Op: localstate.OpDelete, Key: "1"}}); err != nil {
		t.Fatal(err)
	}
	if fi, _ := os.Lstat(link); fi.Mode()&os.ModeSymlink == 0 {
		t.Error("the symlink was replaced by a file")
	}
	if got, _ := os.ReadFile(real); string(got) != "{\n  \"b\": []\n}\n" {
		t.Errorf("target = %q", got)
	}
}

func FuzzJSONSnapshot(f *testing.F) {
	f.Add([]byte(`{"users": [{"id": "a", "n": 1.5e3, "m": {"x": [1, null]}}, {"id": 7}], "empty": []}`))
	f.Add([]byte("{\n  \"users\": [\n    {\"id\": \"a\",}\n  ]\n}\n"))
	f.Add([]byte(`{"users": [{"id": "\u00e9\"<"}]} `))
	f.Fuzz(func(t *testing.T, data []byte) {
		path := filepath.Join(t.TempDir(), "state.json")
		if err := os.WriteFile(path, data, 0o644); err != nil {
			t.Fatal(err)
		}
		ctx := context.Background()
		st, err := localstate.Open(ctx, path, localstate.OpenOptions{})
		if err != nil {
			if !strings.HasPrefix(err.Error(), path) {
				t.Fatalf("error without the file name: %v", err)
			}
			return
		}
		var doc map[string]json.RawMessage
		if err := json.Unmarshal(data, &doc); err != nil {
			t.Fatalf("loaded a snapshot encoding/json rejects: %v", err)
		}
		for name := range doc {
			tb := &localstate.Table{Resource: name}
			if _, err := st.Columns(ctx, tb); err != nil {
				t.Fatal(err)
			}
			if err := st.Scan(ctx, tb, []string{"x"}, func(localstate.Row) error { return nil }); err != nil {
				return // a record whose id is not a string or number
			}
			if err := st.Apply(ctx, []localstate.Change{{Table: tb, Op: localstate.OpCreate, Key: "fuzz:new", Values: map[string]any{"x": "y"}}}); err != nil {
				t.Fatal(err)
			}
			re, err := localstate.Open(ctx, path, localstate.OpenOptions{ReadOnly: true})
			if err != nil {
				t.Fatalf("cannot read back what Apply wrote: %v", err)
			}
			if row, ok, err := re.Get(ctx, tb, []string{"x"}, "fuzz:new"); err != nil || !ok || row.Values[0] != "y" {
				t.Fatalf("written record not read back: %v %v %v", row, ok, err)
			}
			return
		}
	})
}
