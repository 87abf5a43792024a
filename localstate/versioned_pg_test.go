package localstate_test

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"testing"

	"github.com/reconctl/reconctl/localstate"
	"github.com/reconctl/reconctl/localstate/servertest"
	"github.com/reconctl/reconctl/reconcile"
)

// TestPostgresVersionedForceConflicts: a resync --force whose rows the app
// writes between the scan and the apply. The rewrites are checked by row
// version in the batched UPDATE itself: the rows the app changed are
// conflicts and keep the app's values; a row the app rewrote with equal
// values moved to another version but still holds what was read, so it is
// written; a row the app deleted is a conflict; every other row is written
// by the batched statement without being read back (only the moved rows
// are rechecked).
func TestPostgresVersionedForceConflicts(t *testing.T) {
	const n = 2500 // three batches of the Postgres writer's 1000 rows
	db := servertest.New(t, "postgres")
	db.Exec(t, fmt.Sprintf(`CREATE TABLE users (id bigserial PRIMARY KEY, stripe_customer_id text UNIQUE, email text, name text, plan text, balance bigint);
		INSERT INTO users (stripe_customer_id, email, name, plan, balance)
		SELECT 'cus_' || (100000000 + i), 'user' || i || '@example.com', 'User ' || i,
			CASE WHEN i %% 100 = 3 THEN 'legacy' ELSE (ARRAY['free', 'pro', 'team'])[i %% 3 + 1] END, i %% 1000
		FROM generate_series(0, %d) AS i WHERE i %% 100 <> 1`, n-1))
	ctx := context.Background()
	st := openPGStore(t, db.DSN, localstate.OpenOptions{})
	e := &reconcile.Engine{Provider: &benchGenProvider{n: n}, Store: st}
	r, err := e.Prepare(ctx, benchPGTable)
	if err != nil {
		t.Fatal(err)
	}
	res, err := e.Compare(ctx, []*reconcile.Resource{r}, reconcile.ModeResyncForce)
	if err != nil {
		t.Fatal(err)
	}

	// The app, after the scan: changes, rewrites unchanged, deletes.
	var changed, rewritten, deleted []string
	for i := 0; i < n; i++ {
		if i%100 == 1 || i%100 == 2 {
			continue // only at the provider / only local
		}
		switch i % 250 {
		case 7, 103: // 103: some of them with a legacy plan (a drift item, not a rewrite)
			changed = append(changed, benchID(i))
		case 11:
			rewritten = append(rewritten, benchID(i))
		case 13:
			deleted = append(deleted, benchID(i))
		}
	}
	for _, k := range changed {
		db.Exec(t, fmt.Sprintf(`UPDATE users SET name = 'changed by the app' WHERE stripe_customer_id = '%s'`, k))
	}
	for _, k := range rewritten {
		db.Exec(t, fmt.Sprintf(`UPDATE users SET name = name, email = email WHERE stripe_customer_id = '%s'`, k))
	}
	for _, k := range deleted {
		db.Exec(t, fmt.Sprintf(`DELETE FROM users WHERE stripe_customer_id = '%s'`, k))
	}

	var mu sync.Mutex
	var rechecked []string
	defer localstate.SetRecheckHook(func(keys []string) {
		mu.Lock()
		rechecked = append(rechecked, keys...)
		mu.Unlock()
	})()
	if err := e.Apply(ctx, res); err != nil {
		t.Fatal(err)
	}

	moved := slices.Concat(changed, rewritten, deleted)
	slices.Sort(moved)
	slices.Sort(rechecked)
	if !slices.Equal(rechecked, moved) {
		t.Errorf("rechecked %d rows %v, want exactly the %d the app wrote %v", len(rechecked), rechecked, len(moved), moved)
	}
	var conflicts []string
	for _, d := range res.Drift {
		if d.Conflict {
			conflicts = append(conflicts, d.ID)
		}
	}
	want := slices.Concat(changed, deleted)
	slices.Sort(want)
	slices.Sort(conflicts)
	if !slices.Equal(conflicts, want) {
		t.Errorf("conflicts %v, want the changed and deleted rows %v", conflicts, want)
	}
	if got := res.Conflicts(); got != len(want) {
		t.Errorf("Conflicts() = %d, want %d", got, len(want))
	}
	for _, k := range changed {
		var name string
		if err := db.SQL.QueryRow(`SELECT name FROM users WHERE stripe_customer_id = $1`, k).Scan(&name); err != nil || name != "changed by the app" {
			t.Errorf("%s: name %q (%v), want the app's value kept", k, name, err)
		}
	}
	// Every other listed row was written by the apply's transaction: they
	// share its xmin, and the legacy plans are the provider's now.
	var ours, legacy int
	if err := db.SQL.QueryRow(`SELECT count(*) FROM users WHERE xmin = (SELECT xmin FROM users WHERE stripe_customer_id = $1)`, benchID(0)).Scan(&ours); err != nil {
		t.Fatal(err)
	}
	both, created, legacyKept := 0, 0, 0
	for i := 0; i < n; i++ {
		switch {
		case i%100 == 1:
			created++
		case i%100 != 2:
			both++
		}
		if i%100 == 3 && slices.Contains(changed, benchID(i)) {
			legacyKept++
		}
	}
	if wantOurs := both - len(changed) - len(deleted) + created; ours != wantOurs {
		t.Errorf("%d rows written by the apply, want %d (every listed row but the conflicts)", ours, wantOurs)
	}
	if err := db.SQL.QueryRow(`SELECT count(*) FROM users WHERE plan = 'legacy'`).Scan(&legacy); err != nil || legacy != legacyKept || legacyKept == 0 {
		t.Errorf("%d legacy plans left (%v), want %d (the conflicts')", legacy, err, legacyKept)
	}
}
