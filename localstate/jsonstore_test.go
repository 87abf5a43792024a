package localstate_test

import (
	"context"
	"encoding/json"
	"errors"
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
	// Only table b is written anew, in its own one-line style; its
	// untouched keys keep their order, and "a" and "c" are as they were.
	want := `{"b": [{"id": "2", "z": 2, "a": "<&>"}, {"id": "1", "m": {"x":null,"y":true}, "z": 3}], "a": [], "c": [{"id": 1, "n": 1.50}]}`
	if string(got) != want {
		t.Fatalf("got\n%s\nwant\n%s", got, want)
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

// TestJSONChangedOnDiskWhileWriting: another writer that replaces the
// snapshot while reconctl writes its temp file is noticed just before the
// rename: its file survives, the apply fails, no temp file is left.
func TestJSONChangedOnDiskWhileWriting(t *testing.T) {
	path := writeJSON(t, `{"b": [{"id": "1"}]}`)
	st, err := localstate.Open(context.Background(), path, localstate.OpenOptions{})
	if err != nil {
		t.Fatal(err)
	}
	other := `{"b": [{"id": "1"}, {"id": "from-the-app"}]}`
	defer localstate.SetBeforeRenameHook(func() { os.WriteFile(path, []byte(other), 0o644) })()
	err = st.Apply(context.Background(), []localstate.Change{{Table: &localstate.Table{Resource: "b"}, Op: localstate.OpDelete, Key: "1"}})
	if err == nil || !strings.Contains(err.Error(), "changed on disk") {
		t.Fatalf("want a changed-on-disk error, got %v", err)
	}
	if got, _ := os.ReadFile(path); string(got) != other {
		t.Fatalf("the other writer's file must survive, got %s", got)
	}
	if entries, _ := os.ReadDir(filepath.Dir(path)); len(entries) != 1 {
		t.Errorf("temp files left behind: %v", entries)
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
	if got, _ := os.ReadFile(real); string(got) != `{"b": []}` {
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

// TestJSONApplyPreserves: an apply writes anew only the records it changes;
// other tables, untouched records, key order, number spelling, whitespace and
// non-array top-level keys come back byte for byte.
func TestJSONApplyPreserves(t *testing.T) {
	const orders = `"orders": [
      {"zz": 1, "id": "o1", "total": 1.50e2},
      {"id": "o2", "total": 3}
  ]`
	const meta = `"_meta": {"exported_at": "2024-01-01T00:00:00Z", "version": 3, "tags": ["a", "b"]}`
	const untouched = `{
      "name": "Keep Me",
      "id": "u2",
      "email": "KEEP@example.com"
    }`
	content := "{\n  " + meta + ",\n  \"users\": [\n    {\n      \"name\": \"Old\",\n      \"id\": \"u1\",\n      \"email\": \"old@example.com\",\n      \"score\": 1.0\n    },\n    " + untouched + ",\n    {\"id\": \"u3\", \"name\": \"Gone\"}\n  ],\n  " + orders + ",\n  \"version\": 7\n}\n"
	path := writeJSON(t, content)
	ctx := context.Background()
	st, err := localstate.Open(ctx, path, localstate.OpenOptions{})
	if err != nil {
		t.Fatalf("a snapshot with non-array top-level keys must be readable: %v", err)
	}
	users := &localstate.Table{Resource: "users"}
	err = st.Apply(ctx, []localstate.Change{
		{Table: users, Op: localstate.OpUpdate, Key: "u1", Values: map[string]any{"email": "new@example.com", "plan": "pro"}},
		{Table: users, Op: localstate.OpDelete, Key: "u3"},
		{Table: users, Op: localstate.OpCreate, Key: "u4", Values: map[string]any{"name": "New", "email": "u4@example.com"}},
	})
	if err != nil {
		t.Fatal(err)
	}
	got, _ := os.ReadFile(path)
	for _, part := range []string{meta, orders, untouched, "\"version\": 7\n}\n",
		"{\n      \"name\": \"Old\",\n      \"id\": \"u1\",\n      \"email\": \"new@example.com\",\n      \"score\": 1.0,\n      \"plan\": \"pro\"\n    }",
		"{\n      \"id\": \"u4\",\n      \"email\": \"u4@example.com\",\n      \"name\": \"New\"\n    }\n  ],"} {
		if !strings.Contains(string(got), part) {
			t.Errorf("the file lost %q:\n%s", part, got)
		}
	}
	if strings.Contains(string(got), "Gone") {
		t.Errorf("u3 was not deleted:\n%s", got)
	}
	var doc map[string]any
	if err := json.Unmarshal(got, &doc); err != nil {
		t.Fatalf("not JSON any more: %v\n%s", err, got)
	}
	// The layout follows the new file: a second apply on it works too, and
	// a fresh open reads what was written.
	if err := st.Apply(ctx, []localstate.Change{{Table: &localstate.Table{Resource: "orders"}, Op: localstate.OpUpdate, Key: "o2", Values: map[string]any{"total": json.Number("4")}}}); err != nil {
		t.Fatal(err)
	}
	got2, _ := os.ReadFile(path)
	if !strings.Contains(string(got2), `{"id": "o2", "total": 4}`) || !strings.Contains(string(got2), `{"zz": 1, "id": "o1", "total": 1.50e2}`) || !strings.Contains(string(got2), meta) {
		t.Errorf("second apply:\n%s", got2)
	}
	st2, err := localstate.Open(ctx, path, localstate.OpenOptions{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	var keys []string
	st2.Scan(ctx, users, []string{"email"}, func(r localstate.Row) error { keys = append(keys, r.Key+"="+r.Values[0].(string)); return nil })
	if strings.Join(keys, ",") != "u1=new@example.com,u2=KEEP@example.com,u4=u4@example.com" {
		t.Errorf("read back: %v", keys)
	}
	// A resource mapped to a non-array key gets a clear error.
	if _, err := st2.Columns(ctx, &localstate.Table{Resource: "_meta"}); err == nil || !strings.Contains(err.Error(), `"_meta" is not an array of records`) {
		t.Errorf("_meta as a table: %v", err)
	}
}

// TestJSONStaleTempsRemoved: the temp file of an apply that was killed
// before its rename is removed by the next writing open (which holds the
// writer lock), never by a read-only one.
func TestJSONStaleTempsRemoved(t *testing.T) {
	path := writeJSON(t, `{"a": []}`)
	tmp := filepath.Join(filepath.Dir(path), ".state.json.reconctl-12345.tmp")
	other := filepath.Join(filepath.Dir(path), ".other.json.reconctl-1.tmp")
	for _, f := range []string{tmp, other} {
		if err := os.WriteFile(f, []byte(`{"a": [`), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := localstate.Open(context.Background(), path, localstate.OpenOptions{ReadOnly: true}); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(tmp); err != nil {
		t.Fatalf("a read-only open removed the temp file: %v", err)
	}
	if _, err := localstate.Open(context.Background(), path, localstate.OpenOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(tmp); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("the stale temp file is still there: %v", err)
	}
	if _, err := os.Stat(other); err != nil {
		t.Errorf("another snapshot's temp file was removed: %v", err)
	}
}

// TestJSONApplyLayoutFollows: deletes, updates and creates in one table, then
// a second apply on the file the first wrote: every byte not changed stays.
func TestJSONApplyLayoutFollows(t *testing.T) {
	path := writeJSON(t, "{\"t\": [\n  {\"id\": \"1\", \"v\": 1},\n  {\"id\": \"2\", \"v\": 2},\n  {\"id\": \"3\", \"v\": 3},\n  {\"id\": \"4\",   \"v\": 4},\n  {\"id\": \"5\", \"v\": 5}\n], \"after\": [ {\"id\": \"x\"} ]}")
	ctx := context.Background()
	st, err := localstate.Open(ctx, path, localstate.OpenOptions{})
	if err != nil {
		t.Fatal(err)
	}
	tb := &localstate.Table{Resource: "t"}
	if err := st.Apply(ctx, []localstate.Change{
		{Table: tb, Op: localstate.OpDelete, Key: "2"},
		{Table: tb, Op: localstate.OpUpdate, Key: "4", Values: map[string]any{"v": json.Number("40")}},
		{Table: tb, Op: localstate.OpCreate, Key: "6", Values: map[string]any{"v": json.Number("6")}},
	}); err != nil {
		t.Fatal(err)
	}
	if err := st.Apply(ctx, []localstate.Change{
		{Table: tb, Op: localstate.OpUpdate, Key: "5", Values: map[string]any{"v": json.Number("50")}},
		{Table: tb, Op: localstate.OpDelete, Key: "1"},
	}); err != nil {
		t.Fatal(err)
	}
	got, _ := os.ReadFile(path)
	want := "{\"t\": [\n  {\"id\": \"3\", \"v\": 3},\n  {\"id\": \"4\",   \"v\": 40},\n  {\"id\": \"5\", \"v\": 50},\n  {\"id\": \"6\", \"v\": 6}\n], \"after\": [ {\"id\": \"x\"} ]}"
	if string(got) != want {
		t.Fatalf("got\n%s\nwant\n%s", got, want)
	}
}
