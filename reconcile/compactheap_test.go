package reconcile_test

import (
	"context"
	"path/filepath"
	"runtime"
	"testing"

	"github.com/reconctl/reconctl/localstate"
	"github.com/reconctl/reconctl/reconcile"
)

// TestResyncForcePlanIsCompact: the plan of a resync --force holds its
// rewrites in compact blocks, not as Go objects per record (issue #16):
// what the plan keeps on the heap once the comparison is done stays under
// 120 bytes a record (as pending entries with their value slices and the
// provider's strings it was ~300), and it still writes every record.
func TestResyncForcePlanIsCompact(t *testing.T) {
	const n = 50000
	path := filepath.Join(t.TempDir(), "app.db")
	writeBenchDB(t, path, n)
	ctx := context.Background()
	store, err := localstate.Open(ctx, path, localstate.OpenOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	tbl := &localstate.Table{Resource: "customers", Name: "users", Key: "stripe_customer_id", Fields: []localstate.Field{
		{Column: "email", Path: "email", Compare: "casefold"},
		{Column: "name", Path: "name"},
		{Column: "plan", Path: "metadata.plan"},
		{Column: "balance", Path: "balance"},
	}}
	e := &reconcile.Engine{Provider: &genProvider{n: n}, Store: store}
	r, err := e.Prepare(ctx, tbl)
	if err != nil {
		t.Fatal(err)
	}
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	res, err := e.Compare(ctx, []*reconcile.Resource{r}, reconcile.ModeResyncForce)
	if err != nil {
		t.Fatal(err)
	}
	runtime.GC()
	runtime.ReadMemStats(&after)
	held := int64(after.HeapAlloc) - int64(before.HeapAlloc)
	written := res.PlannedWrites()
	if want := n - n/100 + n/100; written != want { // every listed record, and the deletions
		t.Fatalf("planned writes = %d, want %d", written, want)
	}
	if per := held / int64(written); per > 120 {
		t.Errorf("the plan holds %d bytes a record on the heap (%d for %d writes), want <= 120", per, held, written)
	}
	if err := e.Apply(ctx, res); err != nil {
		t.Fatal(err)
	}
	runtime.KeepAlive(res)
	if c := res.Conflicts(); c != 0 {
		t.Fatalf("%d conflicts", c)
	}
}
