package file

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/reconctl/reconctl/providers"
)

var raceEnabled bool // set by race_test.go

const export = `{
  "customers": [
    {"id": "cus_1", "email": "ann@example.com", "balance": 1200, "updated": 1700000000},
    {"id": "cus_2", "email": "bob@example.com", "metadata": {"plan": "pro"}, "updated_at": "2026-11-20T10:00:00Z"},
    {"id": 3, "email": "cat@example.com", "updated_at": 1700000000123}
  ],
  "subscriptions": [{"id": "sub_1", "customer": "cus_1"}],
  "accounts": []
}
`

func writeExport(t testing.TB, content string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "export.json")
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

func open(t testing.TB, path string) *Provider {
	t.Helper()
	p, err := providers.Open(providers.Options{Spec: "file:" + path})
	if err != nil {
		t.Fatal(err)
	}
	return p.(*Provider)
}

func list(t *testing.T, p providers.Provider, resource string) []providers.Record {
	t.Helper()
	var out []providers.Record
	if err := p.List(context.Background(), resource, func(r providers.Record) error { out = append(out, r); return nil }); err != nil {
		t.Fatal(err)
	}
	return out
}

func TestList(t *testing.T) {
	p := open(t, writeExport(t, export))
	if p.Name() != "file" {
		t.Errorf("Name = %q", p.Name())
	}
	if got := p.DefaultResources(); !slices.Equal(got, []string{"accounts", "customers", "subscriptions"}) {
		t.Errorf("DefaultResources = %v", got)
	}
	recs := list(t, p, "customers")
	var ids []string
	for _, r := range recs {
		ids = append(ids, r.ID)
	}
	if !slices.Equal(ids, []string{"cus_1", "cus_2", "3"}) {
		t.Fatalf("ids = %v", ids)
	}
	if recs[0].Data["balance"] != json.Number("1200") {
		t.Errorf("numbers stay json.Number: %#v", recs[0].Data["balance"])
	}
	if recs[1].Data["metadata"].(map[string]any)["plan"] != "pro" {
		t.Errorf("nested objects are kept: %#v", recs[1].Data)
	}
	for i, want := range []time.Time{time.Unix(1700000000, 0), time.Date(2026, 11, 20, 10, 0, 0, 0, time.UTC), time.UnixMilli(1700000000123)} {
		if !recs[i].UpdatedAt.Equal(want) {
			t.Errorf("record %d: UpdatedAt = %v, want %v", i, recs[i].UpdatedAt, want)
		}
	}
	if recs := list(t, p, "accounts"); len(recs) != 0 {
		t.Errorf("accounts = %v", recs)
	}
	if recs := list(t, p, "subscriptions"); len(recs) != 1 || !recs[0].UpdatedAt.IsZero() {
		t.Errorf("subscriptions = %v", recs)
	}
}

func TestUnknownResource(t *testing.T) {
	p := open(t, writeExport(t, export))
	err := p.List(context.Background(), "invoices", func(providers.Record) error { return nil })
	var unknown *providers.UnknownResourceError
	if !errors.As(err, &unknown) || !slices.Equal(unknown.Known, []string{"accounts", "customers", "subscriptions"}) {
		t.Fatalf("List: want UnknownResourceError listing the keys, got %v", err)
	}
	if _, _, err := p.Get(context.Background(), "invoices", "in_1"); !errors.As(err, &unknown) {
		t.Fatalf("Get: want UnknownResourceError, got %v", err)
	}
}

func TestGet(t *testing.T) {
	p := open(t, writeExport(t, export))
	ctx := context.Background()
	rec, st, err := p.Get(ctx, "customers", "cus_2")
	if err != nil || st != providers.StatusPresent || rec.ID != "cus_2" || rec.Data["email"] != "bob@example.com" || rec.UpdatedAt.IsZero() {
		t.Fatalf("Get cus_2 = %v %v %v", rec, st, err)
	}
	rec, st, err = p.Get(ctx, "customers", "3")
	if err != nil || st != providers.StatusPresent || rec.Data["email"] != "cat@example.com" {
		t.Fatalf("Get 3 = %v %v %v", rec, st, err)
	}
	rec, st, err = p.Get(ctx, "customers", "cus_404")
	if err != nil || st != providers.StatusDeleted || rec.Data != nil {
		t.Fatalf("Get of an id the export lacks = %v %v %v, want deleted", rec, st, err)
	}
	if _, st, _ := p.Get(ctx, "subscriptions", "sub_1"); st != providers.StatusPresent {
		t.Fatalf("Get sub_1: %v", st)
	}
}

func TestGetAfterReplace(t *testing.T) {
	path := writeExport(t, export)
	p := open(t, path)
	ctx := context.Background()
	if _, st, err := p.Get(ctx, "customers", "cus_1"); err != nil || st != providers.StatusPresent {
		t.Fatal(st, err)
	}
	replaced := `{"customers": [{"id": "cus_9", "pad": "` + strings.Repeat("x", 100) + `"}, {"id": "cus_1", "email": "new@example.com"}]}`
	if err := os.WriteFile(path, []byte(replaced), 0o644); err != nil {
		t.Fatal(err)
	}
	rec, st, err := p.Get(ctx, "customers", "cus_1")
	if err != nil || st != providers.StatusPresent || rec.Data["email"] != "new@example.com" {
		t.Fatalf("after the export changed: %v %v %v", rec, st, err)
	}
}

func TestMalformed(t *testing.T) {
	path := writeExport(t, "{\n  \"customers\": [\n    {\"id\": \"a\",}\n  ]\n}\n")
	p := open(t, path)
	err := p.List(context.Background(), "customers", func(providers.Record) error { return nil })
	if err == nil || !strings.Contains(err.Error(), path+":3:16: invalid JSON") {
		t.Fatalf("want %s:3:16, got %v", path, err)
	}
	if _, _, err := p.Get(context.Background(), "customers", "a"); err == nil || !strings.Contains(err.Error(), path+":3:16:") {
		t.Fatalf("Get: want %s:3:16, got %v", path, err)
	}
	if got := p.DefaultResources(); got != nil {
		t.Errorf("DefaultResources of a broken file = %v", got)
	}
	for content, want := range map[string]string{
		"{\"customers\": [\n  {\"email\": \"x\"}\n]}": ":2:3: customers record #1 has no \"id\"",
		"{\"customers\": [{\"id\": true}]}":           ":1:16: customers record #1 has no \"id\"",
		"[]":                                          ":1:1: the top level must be an object",
		"{\"customers\": [{\"id\": \"a\"}":            "unexpected end of file",
	} {
		path := writeExport(t, content)
		err := open(t, path).List(context.Background(), "customers", func(providers.Record) error { return nil })
		if err == nil || !strings.Contains(err.Error(), want) || !strings.Contains(err.Error(), path) {
			t.Errorf("%q: want %q, got %v", content, want, err)
		}
	}
}

func TestMissingFile(t *testing.T) {
	_, err := providers.Open(providers.Options{Spec: "file:" + filepath.Join(t.TempDir(), "nope.json")})
	if err == nil || !strings.Contains(err.Error(), "does not exist") {
		t.Fatalf("want a does-not-exist error, got %v", err)
	}
}

func TestCallbackErrorAndCancel(t *testing.T) {
	p := open(t, writeExport(t, export))
	stop := errors.New("stop")
	if err := p.List(context.Background(), "customers", func(providers.Record) error { return stop }); err != stop {
		t.Errorf("the callback's error must come back as is, got %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := p.List(ctx, "customers", func(providers.Record) error { return nil }); !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled: got %v", err)
	}
}

// writeLarge streams an export of n customers (after a decoy table) to disk.
func writeLarge(t *testing.T, n int) (string, int64) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "large.json")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	w := bufio.NewWriter(f)
	fmt.Fprintf(w, "{\"decoy\": [{\"id\": \"d\", \"blob\": %q}],\n\"customers\": [\n", strings.Repeat("z", 10000))
	for i := range n {
		if i > 0 {
			w.WriteString(",\n")
		}
		fmt.Fprintf(w, `  {"id": "cus_%07d", "email": "user%d@example.com", "name": "Customer %d", "metadata": {"plan": "pro", "n": %d}, "created": 1700000000}`, i, i, i, i)
	}
	w.WriteString("\n]}\n")
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	f.Close()
	fi, _ := os.Stat(path)
	return path, fi.Size()
}

func TestLargeExportStreams(t *testing.T) {
	n := 100_000
	if testing.Short() || raceEnabled {
		n = 20_000
	}
	path, size := writeLarge(t, n)
	p := open(t, path)
	ctx := context.Background()

	count := 0
	var heap uint64
	err := p.List(ctx, "customers", func(r providers.Record) error {
		if want := fmt.Sprintf("cus_%07d", count); r.ID != want {
			return fmt.Errorf("record %d: id %s, want %s", count, r.ID, want)
		}
		count++
		if count == n*3/4 {
			runtime.GC()
			var ms runtime.MemStats
			runtime.ReadMemStats(&ms)
			heap = ms.HeapAlloc
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if count != n {
		t.Fatalf("listed %d records, want %d", count, n)
	}
	// Streaming: what is held is the id-hash index (~16 bytes a record, plus
	// map overhead), never the records.
	if heap > uint64(size)/4+uint64(48*n) {
		t.Errorf("List holds %d bytes of heap for a %d-byte export: it must stream", heap, size)
	}

	// 10,000 Gets from concurrent workers build the index once.
	start := time.Now()
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for w := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := w; i < 10_000; i += 8 {
				id := fmt.Sprintf("cus_%07d", (i*7919)%n)
				rec, st, err := p.Get(ctx, "customers", id)
				if err != nil || st != providers.StatusPresent || rec.ID != id {
					errs <- fmt.Errorf("Get %s: %v %v", id, st, err)
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	t.Logf("listed %d records (%d MB) and did 10,000 Gets in %s", n, size>>20, time.Since(start))
	// The listing left a hash index behind: the Gets needed no second pass.
	if ix := p.indexes["customers"]; len(p.indexes) != 1 || ix.built || ix.hashed == nil {
		t.Errorf("want the listing's hash index, got %+v", p.indexes)
	}
	if _, st, err := p.Get(ctx, "customers", "cus_x"); err != nil || st != providers.StatusDeleted {
		t.Errorf("absent id: %v %v", st, err)
	}
}

func FuzzList(f *testing.F) {
	f.Add([]byte(export))
	f.Add([]byte(`{"customers": [{"id": 1}, {"id": "x", "a": [1, {"b": null}]}], "x": {"y": 1}}`))
	f.Add([]byte(`{"customers": [{"id": "a",}]}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		path := filepath.Join(t.TempDir(), "export.json")
		if err := os.WriteFile(path, data, 0o644); err != nil {
			t.Fatal(err)
		}
		p := open(t, path)
		p.DefaultResources()
		var ids []string
		err := p.List(context.Background(), "customers", func(r providers.Record) error { ids = append(ids, r.ID); return nil })
		if err != nil {
			return
		}
		for _, id := range ids {
			if _, st, err := p.Get(context.Background(), "customers", id); err != nil || st != providers.StatusPresent {
				t.Fatalf("listed %q but Get says %v %v", id, st, err)
			}
		}
	})
}
