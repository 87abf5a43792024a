package journal

import (
	"context"
	"fmt"
	"reflect"
	"sync"
	"testing"
	"time"

	"github.com/reconctl/reconctl/reconcile"
)

// snapshotRows reads every row of k.
func snapshotRows(t *testing.T, j *Journal, k reconcile.SnapshotKey) []reconcile.SnapshotRow {
	t.Helper()
	var out []reconcile.SnapshotRow
	if err := j.SnapshotRows(context.Background(), k, func(r reconcile.SnapshotRow) error {
		out = append(out, r)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	return out
}

// TestSnapshotSaveLoad: a full save, then an incremental one that upserts
// the changed rows and removes others, on every kind; snapshots are apart
// per tenant; the header round-trips.
func TestSnapshotSaveLoad(t *testing.T) {
	eachKind(t, func(t *testing.T, j *Journal) {
		ctx := context.Background()
		k := reconcile.SnapshotKey{Provider: "stripe", Tenant: "acct_1", Resource: "customers"}
		other := reconcile.SnapshotKey{Provider: "stripe", Tenant: "acct_2", Resource: "customers"}
		if _, found, err := j.SnapshotMeta(ctx, k); err != nil || found {
			t.Fatalf("before any save: found=%v err=%v", found, err)
		}
		at := time.Date(2026, 1, 2, 3, 4, 5, 6000, time.UTC)
		full := reconcile.SnapshotSave{Full: true,
			Meta: reconcile.SnapshotMeta{Fingerprint: "fp1", Cursor: at, FullAt: at, Rows: 3},
			Rows: []reconcile.SnapshotRow{
				{ID: "a", Values: []byte{1, 0, '[', '1', ']'}, EventAt: 10},
				{ID: "b", Values: []byte{1, 0, '[', '2', ']'}, UpdatedAt: 99, EventAt: 10},
				{ID: "c", Values: []byte{1, 0, '[', '3', ']'}, EventAt: 10},
			},
			Events: []reconcile.SnapshotEvent{{ID: "evt_1", Created: 5}},
		}
		if err := j.SaveSnapshot(ctx, k, full); err != nil {
			t.Fatal(err)
		}
		if err := j.SaveSnapshot(ctx, other, reconcile.SnapshotSave{Full: true, Meta: reconcile.SnapshotMeta{Fingerprint: "x", Cursor: at, FullAt: at},
			Rows: []reconcile.SnapshotRow{{ID: "a", Values: []byte{7}}}}); err != nil {
			t.Fatal(err)
		}
		if got := snapshotRows(t, j, k); !reflect.DeepEqual(got, full.Rows) {
			t.Fatalf("rows after the full save:\n%+v\nwant\n%+v", got, full.Rows)
		}
		later := at.Add(time.Hour)
		inc := reconcile.SnapshotSave{
			Meta:   reconcile.SnapshotMeta{Fingerprint: "fp1", Cursor: later, FullAt: at, Rows: 3},
			Rows:   []reconcile.SnapshotRow{{ID: "b", Values: []byte{1, 0, '[', '9', ']'}, EventAt: 20}, {ID: "d", Deleted: true, EventAt: 21}},
			Remove: []string{"c"},
			Events: []reconcile.SnapshotEvent{{ID: "evt_2", Created: 20}, {ID: "evt_3", Created: 21}},
		}
		if err := j.SaveSnapshot(ctx, k, inc); err != nil {
			t.Fatal(err)
		}
		want := []reconcile.SnapshotRow{full.Rows[0], {ID: "b", Values: []byte{1, 0, '[', '9', ']'}, EventAt: 20}, {ID: "d", Values: []byte{}, Deleted: true, EventAt: 21}}
		got := snapshotRows(t, j, k)
		if len(got) == 3 && got[2].Values == nil {
			got[2].Values = []byte{} // an empty blob may come back as nil
		}
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("rows after the incremental save:\n%+v\nwant\n%+v", got, want)
		}
		m, found, err := j.SnapshotMeta(ctx, k)
		if err != nil || !found {
			t.Fatal(found, err)
		}
		if m.Fingerprint != "fp1" || !m.Cursor.Equal(later) || !m.FullAt.Equal(at) || m.Rows != 3 {
			t.Fatalf("meta %+v", m)
		}
		evs, err := j.SnapshotEvents(ctx, k)
		if err != nil || len(evs) != 2 {
			t.Fatalf("events %+v, %v", evs, err)
		}
		if got := snapshotRows(t, j, other); len(got) != 1 || got[0].ID != "a" {
			t.Fatalf("the other tenant's snapshot: %+v", got)
		}
		if n, err := j.SnapshotBytes(ctx, k); err != nil || n <= 0 {
			t.Fatalf("SnapshotBytes = %d, %v", n, err)
		}
	})
}

// TestSnapshotSaveAtomic: a save that fails part-way (a row given twice in
// a full save breaks the primary key) leaves the old snapshot whole.
func TestSnapshotSaveAtomic(t *testing.T) {
	eachKind(t, func(t *testing.T, j *Journal) {
		ctx := context.Background()
		k := reconcile.SnapshotKey{Provider: "stripe", Resource: "customers"}
		at := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
		rows := []reconcile.SnapshotRow{{ID: "a", Values: []byte{1}}, {ID: "b", Values: []byte{2}}}
		if err := j.SaveSnapshot(ctx, k, reconcile.SnapshotSave{Full: true, Meta: reconcile.SnapshotMeta{Fingerprint: "old", Cursor: at, FullAt: at, Rows: 2}, Rows: rows}); err != nil {
			t.Fatal(err)
		}
		bad := reconcile.SnapshotSave{Full: true, Meta: reconcile.SnapshotMeta{Fingerprint: "new", Cursor: at, FullAt: at},
			Rows: []reconcile.SnapshotRow{{ID: "x", Values: []byte{3}}, {ID: "x", Values: []byte{4}}}}
		if err := j.SaveSnapshot(ctx, k, bad); err == nil {
			t.Fatal("a save with a duplicated id succeeded")
		}
		if got := snapshotRows(t, j, k); !reflect.DeepEqual(got, rows) {
			t.Fatalf("after the failed save: %+v", got)
		}
		if m, _, _ := j.SnapshotMeta(ctx, k); m.Fingerprint != "old" {
			t.Fatalf("meta after the failed save: %+v", m)
		}
	})
}

// TestSnapshotFirstSavesAtOnce: tenants storing their first snapshots at
// the same time (--tenant-concurrency) each get their own; on a server
// journal an id taken as MAX(snap_id)+1 made all but one fail.
func TestSnapshotFirstSavesAtOnce(t *testing.T) {
	eachKind(t, func(t *testing.T, j *Journal) {
		ctx := context.Background()
		at := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
		var wg sync.WaitGroup
		errs := make([]error, 8)
		for i := range errs {
			wg.Add(1)
			go func() {
				defer wg.Done()
				k := reconcile.SnapshotKey{Provider: "stripe", Tenant: fmt.Sprintf("acct_%d", i), Resource: "customers"}
				errs[i] = j.SaveSnapshot(ctx, k, reconcile.SnapshotSave{Full: true, Meta: reconcile.SnapshotMeta{Fingerprint: "f", Cursor: at, FullAt: at, Rows: 1},
					Rows: []reconcile.SnapshotRow{{ID: fmt.Sprint("cus_", i), Values: []byte{byte(i)}}}})
			}()
		}
		wg.Wait()
		for i, err := range errs {
			if err != nil {
				t.Errorf("tenant %d: %v", i, err)
			}
		}
		for i := range errs {
			k := reconcile.SnapshotKey{Provider: "stripe", Tenant: fmt.Sprintf("acct_%d", i), Resource: "customers"}
			if got := snapshotRows(t, j, k); len(got) != 1 || got[0].ID != fmt.Sprint("cus_", i) {
				t.Errorf("tenant %d: %+v", i, got)
			}
		}
	})
}
