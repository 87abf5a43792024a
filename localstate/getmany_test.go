package localstate_test

import (
	"context"
	"fmt"
	"slices"
	"testing"

	"github.com/reconctl/reconctl/localstate"
	"github.com/reconctl/reconctl/localstate/storetest"
)

// TestSQLiteGetManyNocase: on a COLLATE NOCASE key column GetMany answers
// a key of another spelling with the stored row, as Get does, a key asked
// in two spellings once per spelling, and a scoped table's rows only; the
// SQL stores have the capability (Features.GetMany).
func TestSQLiteGetManyNocase(t *testing.T) {
	ctx := context.Background()
	f := storetest.Fixture{Tables: []storetest.FixtureTable{{
		Name:    "users",
		Columns: []storetest.Column{{Name: "id", Type: "TEXT COLLATE NOCASE", PrimaryKey: true}, {Name: "email", Type: "TEXT"}, {Name: "acct", Type: "TEXT"}},
		Rows:    [][]any{{"Abc", "abc@x", "t1"}, {"def", nil, "t1"}, {"Ghi", "ghi@x", "t2"}},
	}}}
	st := openSQLiteFixture(t, f, true)
	defer st.Close()
	if st.Features().GetMany == nil {
		t.Fatal("the SQLite store has no GetMany")
	}
	tb := &localstate.Table{Resource: "users"}
	keys := []string{"abc", "DEF", "def", "zzz", "Abc", "ghi"}
	var got []string
	err := localstate.GetEach(ctx, st, tb, []string{"email"}, keys, func(k string, row localstate.Row) error {
		got = append(got, fmt.Sprintf("%s=%s:%v", k, row.Key, row.Values[0]))
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	var want []string
	for _, k := range keys {
		if row, ok, err := st.Get(ctx, tb, []string{"email"}, k); err != nil {
			t.Fatal(err)
		} else if ok {
			want = append(want, fmt.Sprintf("%s=%s:%v", k, row.Key, row.Values[0]))
		}
	}
	if !slices.Equal(got, want) || len(got) != 5 {
		t.Errorf("GetMany answered %q, Get %q (want 5 keys found)", got, want)
	}
	got = got[:0]
	if err := localstate.GetEach(ctx, st, tb.Scoped("acct", "t1"), []string{"email"}, keys, func(k string, row localstate.Row) error {
		got = append(got, k)
		return nil
	}); err != nil || !slices.Equal(got, []string{"abc", "DEF", "def", "Abc"}) {
		t.Errorf("scoped to t1: %q, %v; want abc DEF def Abc", got, err)
	}
}
