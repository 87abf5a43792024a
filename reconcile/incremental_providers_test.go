package reconcile_test

import (
	"context"
	"fmt"
	"github.com/reconctl/reconctl/providers/clerk"
	"github.com/reconctl/reconctl/providers/clerk/clerkfake"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/reconctl/reconctl/journal"
	"github.com/reconctl/reconctl/localstate"
	"github.com/reconctl/reconctl/providers"
	"github.com/reconctl/reconctl/providers/rest"
	"github.com/reconctl/reconctl/providers/rest/restfake"
	"github.com/reconctl/reconctl/providers/workos"
	"github.com/reconctl/reconctl/providers/workos/workosfake"
	"github.com/reconctl/reconctl/reconcile"
)

// endToEnd runs the incremental cycle over p: a first run that falls back
// ("no snapshot"), provider changes through mutate (each with its event),
// then a run that is incremental and reports exactly what a full diff does.
func endToEnd(t *testing.T, p providers.Provider, tbl *localstate.Table, seed [][]any, mutate func(), wantDrift int) {
	t.Helper()
	ctx := context.Background()
	dir := t.TempDir()
	state := filepath.Join(dir, "app.db")
	if err := localstate.CreateSQLite(ctx, state, `CREATE TABLE users (id TEXT PRIMARY KEY, email TEXT, name TEXT)`); err != nil {
		t.Fatal(err)
	}
	db, err := localstate.OpenDB(ctx, state, localstate.DBOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	for _, row := range seed {
		if _, err := db.ExecContext(ctx, `INSERT INTO users (id, email, name) VALUES (?, ?, ?)`, row...); err != nil {
			t.Fatal(err)
		}
	}
	store, err := localstate.Open(ctx, state, localstate.OpenOptions{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	j, err := journal.Open(ctx, filepath.Join(dir, "journal.db"), journal.Options{Create: true})
	if err != nil {
		t.Fatal(err)
	}
	defer j.Close()
	inc := &reconcile.Incremental{Store: j}
	diff := func(inc *reconcile.Incremental) *reconcile.Result {
		e := &reconcile.Engine{Provider: p, Store: store, Incremental: inc}
		r, err := e.Prepare(ctx, tbl)
		if err != nil {
			t.Fatal(err)
		}
		res, err := e.Compare(ctx, []*reconcile.Resource{r}, reconcile.ModeDiff)
		if err != nil {
			t.Fatal(err)
		}
		return res
	}
	if ir := diff(inc).Incremental(); ir.Incremental || *ir.Fallback != reconcile.FallbackNoSnapshot {
		t.Fatalf("first run: %+v", ir)
	}
	mutate()
	res := diff(inc)
	if ir := res.Incremental(); !ir.Incremental {
		t.Fatalf("second run fell back: %s", *ir.Fallback)
	}
	full := diff(nil)
	if got, want := driftText(res), driftText(full); got != want {
		t.Fatalf("incremental\n%s\nfull\n%s", got, want)
	}
	if len(full.Drift) != wantDrift {
		t.Fatalf("%d drift items, want %d:\n%s", len(full.Drift), wantDrift, driftText(full))
	}
}

// TestIncrementalWorkOS: the cycle on the WorkOS fake (user.created,
// user.updated, user.deleted from /events).
func TestIncrementalWorkOS(t *testing.T) {
	const key = "sk_test_workosincremental0123"
	t.Setenv("INCR_WORKOS_KEY", key)
	f, srv := workosfake.NewServer(workosfake.Config{APIKey: key})
	defer srv.Close()
	var seed [][]any
	var ids []string
	for i := range 4 {
		u := f.CreateUser(map[string]any{"email": fmt.Sprintf("w%d@example.com", i), "first_name": fmt.Sprint("W", i)})
		id := u["id"].(string)
		ids = append(ids, id)
		seed = append(seed, []any{id, fmt.Sprintf("w%d@example.com", i), fmt.Sprint("W", i)})
	}
	p, err := workos.New(providers.Options{APIBase: srv.URL, APIKeyEnv: "INCR_WORKOS_KEY", RPS: -1})
	if err != nil {
		t.Fatal(err)
	}
	tbl := &localstate.Table{Resource: workos.Users, Name: "users", Key: "id", Fields: []localstate.Field{
		{Column: "email", Path: "email"}, {Column: "name", Path: "first_name"}}}
	endToEnd(t, p, tbl, seed, func() {
		time.Sleep(10 * time.Millisecond)
		if _, err := f.UpdateUser(ids[0], map[string]any{"first_name": "Changed"}); err != nil {
			t.Fatal(err)
		}
		if err := f.DeleteUser(ids[1]); err != nil {
			t.Fatal(err)
		}
		f.CreateUser(map[string]any{"email": "new@example.com", "first_name": "New"})
	}, 3)
}

// TestIncrementalREST: the cycle on the REST fake with its events: section.
func TestIncrementalREST(t *testing.T) {
	const key = "rest-incremental-0123456789abcdef"
	t.Setenv("INCR_REST_KEY", key)
	f, srv := restfake.NewServer(restfake.Config{APIKey: key, Style: restfake.Cursor})
	defer srv.Close()
	var seed [][]any
	var ids []string
	for i := range 4 {
		u := f.Create("users", map[string]any{"email": fmt.Sprintf("r%d@example.com", i), "name": fmt.Sprint("R", i)})
		id := u["id"].(string)
		ids = append(ids, id)
		seed = append(seed, []any{id, fmt.Sprintf("r%d@example.com", i), fmt.Sprint("R", i)})
	}
	b, err := yaml.Marshal(f.ConfigFor(srv.URL, "users", "INCR_REST_KEY"))
	if err != nil {
		t.Fatal(err)
	}
	var doc yaml.Node
	if err := yaml.Unmarshal(b, &doc); err != nil {
		t.Fatal(err)
	}
	cfg, err := providers.DecodeSection("rest", doc.Content[0], "reconctl.yaml")
	if err != nil {
		t.Fatal(err)
	}
	p, err := rest.New(providers.Options{APIKeyEnv: "INCR_REST_KEY", RPS: -1, Config: cfg})
	if err != nil {
		t.Fatal(err)
	}
	tbl := &localstate.Table{Resource: "users", Name: "users", Key: "id", Fields: []localstate.Field{
		{Column: "email", Path: "email"}, {Column: "name", Path: "name"}}}
	endToEnd(t, p, tbl, seed, func() {
		time.Sleep(10 * time.Millisecond)
		if _, err := f.Update("users", ids[0], map[string]any{"name": "Changed"}); err != nil {
			t.Fatal(err)
		}
		if err := f.Delete("users", ids[1]); err != nil {
			t.Fatal(err)
		}
		f.Create("users", map[string]any{"email": "new@example.com", "name": "New"})
	}, 3)
}

// TestIncrementalRESTChangesFeed: a REST API without events: but with
// updated_after reads its changes from that filter (no full listing), and
// since such a feed cannot show deletions, a record deleted at the provider
// that the app still has is found only by a full listing (--full, or
// full_every:), which is said in the coverage of the docs.
func TestIncrementalRESTChangesFeed(t *testing.T) {
	f, srv := restfake.NewServer(restfake.Config{Style: restfake.Cursor, UpdatedAfter: true})
	defer srv.Close()
	var seed [][]any
	var ids []string
	for i := range 3 {
		u := f.Create("users", map[string]any{"email": fmt.Sprintf("f%d@example.com", i), "name": fmt.Sprint("F", i)})
		ids = append(ids, u["id"].(string))
		seed = append(seed, []any{u["id"], fmt.Sprintf("f%d@example.com", i), fmt.Sprint("F", i)})
	}
	m := f.ConfigFor(srv.URL, "users", "")
	delete(m, "events")
	m["resources"].(map[string]any)["users"].(map[string]any)["updated_after_param"] = "updated_after"
	b, _ := yaml.Marshal(m)
	var doc yaml.Node
	if err := yaml.Unmarshal(b, &doc); err != nil {
		t.Fatal(err)
	}
	cfg, err := providers.DecodeSection("rest", doc.Content[0], "reconctl.yaml")
	if err != nil {
		t.Fatal(err)
	}
	p, err := rest.New(providers.Options{RPS: -1, Config: cfg})
	if err != nil {
		t.Fatal(err)
	}
	if providers.FeaturesOf(p).Changes == nil {
		t.Fatal("the provider has no changes feed")
	}
	tbl := &localstate.Table{Resource: "users", Name: "users", Key: "id", Fields: []localstate.Field{{Column: "email", Path: "email"}, {Column: "name", Path: "name"}}}
	feedCycle(t, p, tbl, seed, func() {
		time.Sleep(10 * time.Millisecond)
		if _, err := f.Update("users", ids[0], map[string]any{"name": "Changed"}); err != nil {
			t.Fatal(err)
		}
		if err := f.Delete("users", ids[1]); err != nil {
			t.Fatal(err)
		}
		f.Create("users", map[string]any{"email": "new@example.com", "name": "New"})
	})
}

// feedCycle runs the cycle of a provider whose changes come from its own
// feed, which shows no deletions: a first run lists in full (no snapshot);
// after mutate (a change, a deletion and a create at the provider) an
// incremental run finds the change and the create but not the deletion,
// which a full listing then finds.
func feedCycle(t *testing.T, p providers.Provider, tbl *localstate.Table, seed [][]any, mutate func()) {
	t.Helper()
	ctx := context.Background()
	dir := t.TempDir()
	state := filepath.Join(dir, "app.db")
	if err := localstate.CreateSQLite(ctx, state, `CREATE TABLE users (id TEXT PRIMARY KEY, email TEXT, name TEXT)`); err != nil {
		t.Fatal(err)
	}
	db, err := localstate.OpenDB(ctx, state, localstate.DBOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for _, row := range seed {
		if _, err := db.ExecContext(ctx, `INSERT INTO users (id, email, name) VALUES (?, ?, ?)`, row...); err != nil {
			t.Fatal(err)
		}
	}
	db.Close()
	store, err := localstate.Open(ctx, state, localstate.OpenOptions{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	j, err := journal.Open(ctx, filepath.Join(dir, "journal.db"), journal.Options{Create: true})
	if err != nil {
		t.Fatal(err)
	}
	defer j.Close()
	diff := func(inc *reconcile.Incremental) *reconcile.Result {
		e := &reconcile.Engine{Provider: p, Store: store, Incremental: inc}
		r, err := e.Prepare(ctx, tbl)
		if err != nil {
			t.Fatal(err)
		}
		res, err := e.Compare(ctx, []*reconcile.Resource{r}, reconcile.ModeDiff)
		if err != nil {
			t.Fatal(err)
		}
		return res
	}
	if ir := diff(&reconcile.Incremental{Store: j}).Incremental(); ir.Incremental || *ir.Fallback != reconcile.FallbackNoSnapshot {
		t.Fatalf("first run: %+v", ir)
	}
	mutate()
	res := diff(&reconcile.Incremental{Store: j})
	if ir := res.Incremental(); !ir.Incremental {
		t.Fatalf("second run fell back: %s", *ir.Fallback)
	}
	// The change and the create come from the feed; the deletion is not in it.
	if got := driftKinds(res); got != "changed missing_local" {
		t.Fatalf("incremental over the feed: %s\n%s", got, driftText(res))
	}
	full := diff(&reconcile.Incremental{Store: j, Full: true})
	if got := driftKinds(full); got != "changed missing_local missing_remote" {
		t.Fatalf("full listing: %s\n%s", got, driftText(full))
	}
}

// TestIncrementalClerk: Clerk has no events API; its users ordered by
// updated_at are the changes feed of an incremental run (the deletion is
// found by the next full listing).
func TestIncrementalClerk(t *testing.T) {
	const key = "sk_test_clerkincremental0123456789"
	t.Setenv("INCR_CLERK_KEY", key)
	f, srv := clerkfake.NewServer(clerkfake.Config{APIKey: key})
	defer srv.Close()
	ids := f.SeedUsers(3, func(i int) map[string]any { return map[string]any{"first_name": fmt.Sprint("C", i)} })
	var seed [][]any
	for i, id := range ids {
		seed = append(seed, []any{id, nil, fmt.Sprint("C", i)})
	}
	p, err := clerk.New(providers.Options{APIBase: srv.URL, APIKeyEnv: "INCR_CLERK_KEY", RPS: -1})
	if err != nil {
		t.Fatal(err)
	}
	tbl := &localstate.Table{Resource: "users", Name: "users", Key: "id", Fields: []localstate.Field{{Column: "name", Path: "first_name"}}}
	feedCycle(t, p, tbl, seed, func() {
		time.Sleep(10 * time.Millisecond)
		if _, err := f.UpdateUser(ids[0], map[string]any{"first_name": "Changed"}); err != nil {
			t.Fatal(err)
		}
		if err := f.DeleteUser(ids[1]); err != nil {
			t.Fatal(err)
		}
		f.CreateUser(map[string]any{"first_name": "New"})
	})
}

// driftKinds lists res's drift kinds, sorted.
func driftKinds(res *reconcile.Result) string {
	var kinds []string
	for _, d := range res.Drift {
		kinds = append(kinds, string(d.Kind))
	}
	slices.Sort(kinds)
	return strings.Join(kinds, " ")
}
