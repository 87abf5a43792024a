package replay

import (
	"context"
	"testing"

	"github.com/reconctl/reconctl/localstate"
)

// countGets counts the store's Gets.
type countGets struct {
	localstate.Store
	gets int
}

func (c *countGets) Get(ctx context.Context, t *localstate.Table, cols []string, key string) (localstate.Row, bool, error) {
	c.gets++
	return c.Store.Get(ctx, t, cols, key)
}

// TestChunkExistenceInOneQuery: a chunk's records are looked up together
// (Features.Exists), not one Get each, with the answers Get would give.
func TestChunkExistenceInOneQuery(t *testing.T) {
	st, et := replayState(t, false, "INSERT INTO users VALUES ('cus_a', 'free', NULL), ('cus_c', 'pro', NULL)")
	cg := &countGets{Store: st}
	var chunk []planned
	for _, id := range []string{"cus_a", "cus_b", "cus_a", "cus_c"} {
		e := event(id, t0, "pro")
		chunk = append(chunk, planned{e: &e, et: et})
	}
	stale := event("cus_d", t0, "x")
	chunk = append(chunk, planned{e: &stale}) // stale: never looked up
	known := existence{}
	if err := known.load(context.Background(), cg, chunk); err != nil {
		t.Fatal(err)
	}
	for id, want := range map[string]bool{"cus_a": true, "cus_b": false, "cus_c": true} {
		got, err := known.exists(context.Background(), cg, et.table, id)
		if err != nil || got != want {
			t.Errorf("exists %s = %v, %v; want %v", id, got, err, want)
		}
	}
	if cg.gets != 0 {
		t.Errorf("%d Gets, want none (one Exists query for the chunk)", cg.gets)
	}
	if _, seen := known["customers/cus_d"]; seen {
		t.Error("a stale event's record was looked up")
	}
}
