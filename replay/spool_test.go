package replay

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"testing"
	"time"

	"github.com/reconctl/reconctl/journal"
	"github.com/reconctl/reconctl/localstate"
	"github.com/reconctl/reconctl/providers"
	"github.com/reconctl/reconctl/reconcile"
)

// TestSpoolRoundTrip: what the spool gives back is what was put in, value
// types included, and the file is gone from the temp dir from the start.
func TestSpoolRoundTrip(t *testing.T) {
	dir := t.TempDir()
	t.Setenv("TMPDIR", dir)
	tbl := &localstate.Table{Resource: "customers", Name: "users", Fields: []localstate.Field{{Column: "a", Path: "a"}, {Column: "b", Path: "m.b"}, {Column: "c", Path: "c"}}}
	proj := newProjector(func(string) *localstate.Table { return tbl }, []string{"customers"})
	sp, err := newSpool()
	if err != nil {
		t.Fatal(err)
	}
	defer sp.close()
	if left, _ := os.ReadDir(dir); len(left) != 0 && sp.removed {
		t.Errorf("spool file left in the temp dir: %v", left)
	}
	vals := []any{nil, absent, true, false, "s", json.Number("1.50"), 2.5, 7, int64(-9),
		map[string]any{"k": []any{"x", nil, map[string]any{}}}, map[string]any(nil), []any(nil), []any{}}
	var in []providers.Event
	var pls []*payload
	for i, v := range vals {
		e := providers.Event{ID: fmt.Sprintf("evt_%d", i), Type: "customer.updated", Resource: "customers", ObjectID: "cus_1", Created: time.Unix(1700000000+int64(i), int64(i)*1000)}
		if i%2 == 0 {
			e.Created = e.Created.UTC()
			e.Deleted, e.ForeignVersion = true, "2020-08-27"
		}
		pl := proj.compact("customers", map[string]any{"a": v, "m": map[string]any{"b": v}})
		in, pls = append(in, e), append(pls, pl)
		if err := sp.add(&e, pl); err != nil {
			t.Fatalf("add %T: %v", v, err)
		}
	}
	// A whole object (automatic mapping) and an event without payload.
	obj := providers.Event{ID: "evt_obj", Type: "customer.created", Resource: "other", ObjectID: "o", Created: time.Unix(1, 0).UTC(), Object: map[string]any{"id": "o", "n": json.Number("3")}}
	in, pls = append(in, obj), append(pls, nil)
	if err := sp.add(&obj, nil); err != nil {
		t.Fatal(err)
	}
	// Not kept exactly: refused, nothing written.
	for _, bad := range []providers.Event{
		{ID: "evt_t", Created: time.Now()}, // monotonic reading
		{ID: "evt_z", Created: time.Unix(1, 0).In(time.FixedZone("X", 3600))},
		{ID: "evt_v", Created: time.Unix(1, 0).UTC(), Object: map[string]any{"v": []string{"a"}}},
	} {
		if err := sp.add(&bad, nil); err != errUnspoolable {
			t.Errorf("add %s: %v, want errUnspoolable", bad.ID, err)
		}
	}
	out, outPls, err := sp.load(proj)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(out, in) {
		t.Errorf("events:\n got %#v\nwant %#v", out, in)
	}
	for i := range in {
		if in[i].Created.Location() != out[i].Created.Location() {
			t.Errorf("%s: location %v, want %v", in[i].ID, out[i].Created.Location(), in[i].Created.Location())
		}
		if (pls[i] == nil) != (outPls[i] == nil) || pls[i] != nil && (!reflect.DeepEqual(pls[i].vals, outPls[i].vals) || !reflect.DeepEqual(pls[i].index, outPls[i].index)) {
			t.Errorf("%s: payload %#v, want %#v", in[i].ID, outPls[i], pls[i])
		}
	}
	// Read twice: each pass starts from the first record.
	n := 0
	if err := sp.each(proj, func(i int, e *providers.Event, _ *payload) error {
		if e.ID != in[i].ID {
			t.Errorf("record %d: %s, want %s", i, e.ID, in[i].ID)
		}
		n++
		return nil
	}); err != nil || n != len(in) {
		t.Errorf("each: %d records, %v; want %d", n, err, len(in))
	}
	sp.close()
	if left, _ := os.ReadDir(dir); len(left) != 0 {
		t.Errorf("spool file left after close: %v", left)
	}
}

// limit is a --max-changes of n (-1: unlimited).
type limit int

func (l limit) Limit(int) int  { return int(l) }
func (l limit) String() string { return fmt.Sprint(int(l)) }

// fakeEvents is a provider whose events are given, delivered in the order given.
type fakeEvents struct {
	events []providers.Event
	gets   map[string]map[string]any // object id -> its current object (refetch)
}

func (f *fakeEvents) Name() string               { return "fake" }
func (f *fakeEvents) DefaultResources() []string { return []string{"customers"} }
func (f *fakeEvents) List(context.Context, string, func(providers.Record) error) error {
	return nil
}
func (f *fakeEvents) Get(_ context.Context, res, id string) (providers.Record, providers.RemoteStatus, error) {
	if obj, ok := f.gets[id]; ok {
		return providers.Record{ID: id, Data: obj}, providers.StatusPresent, nil
	}
	return providers.Record{}, providers.StatusDeleted, nil
}
func (f *fakeEvents) Events(ctx context.Context, q providers.EventQuery, fn func(providers.Event) error) error {
	for _, e := range f.events {
		e.Object = clone(e.Object)
		if err := fn(e); err != nil {
			return err
		}
	}
	return nil
}
func (f *fakeEvents) EventRetention() time.Duration { return 100 * 365 * 24 * time.Hour }

func clone(m map[string]any) map[string]any {
	if m == nil {
		return nil
	}
	out := make(map[string]any, len(m))
	for k, v := range m {
		out[k] = v
	}
	return out
}

// runFake replays f's events (events of "orders" are not configured) into a
// fresh SQLite state holding rows, its journal in the state; it returns the
// report's JSON (run-dependent fields blanked) and the state's rows.
func runFake(t *testing.T, f *fakeEvents, o Options, rows ...string) (string, string) {
	t.Helper()
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "app.db")
	script := append([]string{"CREATE TABLE users (id TEXT PRIMARY KEY, plan TEXT, email TEXT)"}, rows...)
	if err := localstate.CreateSQLite(ctx, path, script...); err != nil {
		t.Fatal(err)
	}
	j, err := journal.Open(ctx, path, journal.Options{Create: true})
	if err != nil {
		t.Fatal(err)
	}
	defer j.Close()
	// An earlier run processed evt_dup and saw cus_old at 12:00.
	if err := j.RecordEvents(ctx, nil, []journal.EventRow{{Provider: "fake", EventID: "evt_dup", RunID: "r0", Type: "customer.updated", Created: t0, Outcome: OutcomeApplied}}); err != nil {
		t.Fatal(err)
	}
	if err := j.RecordVersions(ctx, nil, []journal.VersionRow{{Provider: "fake", Resource: "customers", ObjectID: "cus_old", At: t0.Add(2 * time.Hour), EventID: "evt_x", Source: "diff"}}); err != nil {
		t.Fatal(err)
	}
	tbl := &localstate.Table{Resource: "customers", Name: "users", Fields: []localstate.Field{{Column: "plan", Path: "metadata.plan"}, {Column: "email", Path: "email"}}}
	env := &Env{Provider: f, Journal: j, RunID: "r1", Resources: []string{"customers"}, JournalInState: true,
		Table: func(res string) *localstate.Table {
			if res == "customers" {
				return tbl
			}
			return nil
		},
		Prepare: func(ctx context.Context, eng *reconcile.Engine, t *localstate.Table) (*reconcile.Resource, error) {
			return eng.Prepare(ctx, t)
		},
		OpenStore: func(ctx context.Context, readOnly bool) (localstate.Store, error) {
			return localstate.Open(ctx, path, localstate.OpenOptions{ReadOnly: readOnly})
		}}
	o.Since = "2025-12-31T00:00:00Z"
	o.Until = "2026-01-02T00:00:00Z"
	if o.Brake == nil {
		o.Brake = limit(-1)
	}
	rep := NewReport("r1", t0, "app.db", o)
	runErr := Run(ctx, env, o, rep)
	var b bytes.Buffer
	if err := rep.WriteJSON(&b); err != nil {
		t.Fatal(err)
	}
	st, err := localstate.Open(ctx, path, localstate.OpenOptions{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	var got bytes.Buffer
	fmt.Fprintf(&got, "err: %v\n", runErr)
	if err := st.Scan(ctx, tbl, []string{"plan", "email"}, func(r localstate.Row) error {
		fmt.Fprintf(&got, "%s %v\n", r.Key, r.Values)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	id, created, found, err := j.Checkpoint(ctx, "fake")
	fmt.Fprintf(&got, "checkpoint %s %s %v %v\n", id, created.UTC().Format(time.RFC3339Nano), found, err)
	return regexp.MustCompile(`"(started_at|finished_at)": "[^"]*"`).ReplaceAllString(b.String(), ""), got.String()
}

// TestSpooledReplaySameAsInMemory: a window replayed through the spool (the
// events in time order) gives the report, state and checkpoint the
// in-memory path gives (forced: one event out of time order first), for
// each outcome, in a run, a dry run and one the brake refuses.
func TestSpooledReplaySameAsInMemory(t *testing.T) {
	ev := func(id, typ, obj, plan string, at time.Duration) providers.Event {
		res := "customers"
		if typ == "order.created" {
			res = "orders"
		}
		e := providers.Event{ID: id, Type: typ, Created: t0.Add(at).Truncate(time.Second), Resource: res, ObjectID: obj,
			Object: map[string]any{"id": obj, "email": obj + "@example.com", "metadata": map[string]any{"plan": plan}}}
		if typ == "customer.deleted" {
			e.Deleted = true
		}
		return e
	}
	var window []providers.Event
	for i := 0; i < 1300; i++ { // more than a classify batch and two apply chunks
		obj := fmt.Sprintf("cus_%03d", i%400)
		typ := "customer.updated"
		if i < 400 {
			typ = "customer.created"
		}
		window = append(window, ev(fmt.Sprintf("evt_%04d", (i*7919)%10000), typ, obj, fmt.Sprint("p", i), time.Duration(i)*time.Second/3))
	}
	window = append(window,
		ev("evt_dup", "customer.updated", "cus_001", "dup", 500*time.Second),
		ev("evt_ord", "order.created", "ord_1", "", 500*time.Second),
		ev("evt_old", "customer.updated", "cus_old", "stale", 501*time.Second),
		ev("evt_del", "customer.deleted", "cus_002", "", 502*time.Second),
	)
	fv := ev("evt_fv", "customer.updated", "cus_003", "foreign", 503*time.Second)
	fv.ForeignVersion = "2020-08-27"
	delete(fv.Object, "email")
	window = append(window, fv, ev("evt_last", "customer.updated", "cus_004", "last", 504*time.Second))
	gets := map[string]map[string]any{"cus_003": {"id": "cus_003", "email": "now@example.com", "metadata": map[string]any{"plan": "now"}}}
	rows := []string{"INSERT INTO users VALUES ('cus_000', 'x', 'x'), ('cus_old', 'y', 'y'), ('cus_local', 'z', 'z')"}

	for _, c := range []struct {
		name string
		o    Options
	}{
		{"apply", Options{}},
		{"dry run", Options{DryRun: true}},
		{"brake", Options{Brake: limit(10)}},
	} {
		t.Run(c.name, func(t *testing.T) {
			var paths []bool
			windowHook = func(spooled bool) { paths = append(paths, spooled) }
			defer func() { windowHook = nil }()
			spooled, spooledState := runFake(t, &fakeEvents{events: window, gets: gets}, c.o, rows...)
			// The same window with its first two events swapped (out of
			// time order): held in memory and stably sorted back.
			swapped := append([]providers.Event{window[2], window[0], window[1]}, window[3:]...)
			mem, memState := runFake(t, &fakeEvents{events: swapped, gets: gets}, c.o, rows...)
			if !reflect.DeepEqual(paths, []bool{true, false}) {
				t.Errorf("spooled: %v, want [true false]", paths)
			}
			if !regexp.MustCompile(`"(applied|would_apply)": [1-9]`).MatchString(spooled) || !regexp.MustCompile(`"(duplicate|stale|ignored)": [1-9]`).MatchString(spooled) {
				t.Errorf("the run did not go through: %s", spooled[len(spooled)-800:])
			}
			if spooled != mem {
				t.Errorf("report through the spool differs from in memory:\n%s\n---\n%s", spooled, mem)
			}
			if spooledState != memState {
				t.Errorf("state through the spool differs from in memory:\n%s\n---\n%s", spooledState, memState)
			}
		})
	}
}
