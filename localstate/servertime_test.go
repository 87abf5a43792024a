package localstate_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/reconctl/reconctl/localstate"
	"github.com/reconctl/reconctl/localstate/servertest"
	"github.com/reconctl/reconctl/reconcile"
)

// Provider times with 0, 3, 6 and 9 fraction digits and with an offset,
// written into server time columns of several precisions: the store
// truncates each to its column (in UTC), and the next diff finds nothing.
var serverTimeInputs = []string{
	"2024-03-01T10:20:30Z",
	"2024-03-01T10:20:30.700Z",
	"2024-03-01T10:20:30.999Z",
	"2024-03-01T10:20:30.123456Z",
	"2024-03-01T10:20:30.999999Z",
	"2024-03-01T10:20:30.123456789Z",
	"2024-03-01T10:20:30.9999999Z",
	"2024-03-01T10:20:30.7+02:00",
	"2024-03-01T23:59:59.999-05:30",
}

func TestServerTimePrecision(t *testing.T) {
	for _, tc := range []struct {
		kind   string
		schema string
		digits map[string]int // column -> fraction digits it keeps
	}{
		{"postgres", `CREATE DOMAIN whole_seconds AS timestamptz(0); CREATE TABLE times (id varchar(64) PRIMARY KEY, a timestamptz(0), b timestamp(3), c timestamptz(1), d timestamptz, e whole_seconds)`,
			map[string]int{"a": 0, "b": 3, "c": 1, "d": 6, "e": 0}},
		{"mysql", `CREATE TABLE times (id varchar(64) PRIMARY KEY, a DATETIME NULL, b DATETIME(3) NULL, c TIMESTAMP NULL DEFAULT NULL, d DATETIME(6) NULL, e TIMESTAMP(1) NULL DEFAULT NULL)`,
			map[string]int{"a": 0, "b": 3, "c": 0, "d": 6, "e": 1}},
	} {
		t.Run(tc.kind, func(t *testing.T) {
			db := servertest.New(t, tc.kind)
			db.Exec(t, tc.schema)
			cols := []string{"a", "b", "c", "d", "e"}
			tbl := &localstate.Table{Resource: "things", Name: "times"}
			for _, c := range cols {
				tbl.Fields = append(tbl.Fields, localstate.Field{Column: c, Path: "at", Compare: localstate.CompareTime})
			}
			p := &mapProvider{}
			for i, in := range serverTimeInputs {
				p.recs = append(p.recs, map[string]any{"id": fmt.Sprint("r", i), "at": in})
			}
			n := len(p.recs)
			if s := engineRun(t, db.DSN, p, tbl, reconcile.ModeDiff, true); s.MissingLocal != n {
				t.Fatalf("first apply: want %d creates, got %+v", n, *s)
			}
			inSync(t, "diff after apply", engineRun(t, db.DSN, p, tbl, reconcile.ModeDiff, false), n)
			inSync(t, "resync after apply", engineRun(t, db.DSN, p, tbl, reconcile.ModeResync, false), n)

			// What the columns hold: the provider's instant in UTC,
			// truncated (never rounded) to the column's digits.
			st := openPGStore(t, db.DSN, localstate.OpenOptions{ReadOnly: true})
			err := st.Scan(context.Background(), tbl, cols, func(row localstate.Row) error {
				var i int
				fmt.Sscanf(row.Key, "r%d", &i)
				in, _ := localstate.ParseTime(serverTimeInputs[i])
				for j, c := range cols {
					got, ok := reconcile.Instant(row.Values[j])
					if lt, isT := row.Values[j].(localstate.Time); isT {
						got, ok = lt.T, true
					} else if s, isS := row.Values[j].(string); isS {
						got, ok = localstate.ParseTime(s)
					} else if tt, isTT := row.Values[j].(time.Time); isTT {
						got, ok = tt, true
					}
					want := in.UTC().Truncate(unitOfDigits(tc.digits[c]))
					if !ok || !got.Equal(want) {
						t.Errorf("%s %s=%q: stored %#v, want %s", row.Key, c, serverTimeInputs[i], row.Values[j], want.Format(time.RFC3339Nano))
					}
				}
				return nil
			})
			if err != nil {
				t.Fatal(err)
			}
			st.Close()

			// A stored time a second later than the provider's 30.7 (as a
			// server that rounds would leave it) is drift, and so is a
			// provider time a second later than the stored one.
			switch tc.kind {
			case "postgres":
				db.Exec(t, `UPDATE times SET a = '2024-03-01 10:20:31+00', c = '2024-03-01 10:20:31+00', e = '2024-03-01 10:20:31' WHERE id = 'r1'`)
			default:
				db.Exec(t, `UPDATE times SET a = '2024-03-01 10:20:31', c = c + INTERVAL 1 SECOND, e = e + INTERVAL 1 SECOND WHERE id = 'r1'`)
			}
			p.recs[0]["at"] = "2024-03-01T10:20:31Z"
			s := engineRun(t, db.DSN, p, tbl, reconcile.ModeDiff, true)
			if s.Changed != 2 || s.InSync != n-2 {
				t.Fatalf("after a real change: want 2 changed, got %+v", *s)
			}
			inSync(t, "diff after the fix", engineRun(t, db.DSN, p, tbl, reconcile.ModeDiff, false), n)

			// A different second on one column only is that column's drift.
			p.recs[1]["at"] = "2024-03-01T10:20:29.700Z"
			res := engineCompare(t, db.DSN, p, tbl)
			if len(res.Drift) != 1 || len(res.Drift[0].Fields) != len(cols) {
				t.Fatalf("want r1 changed in every column, got %+v", res.Drift)
			}
		})
	}
}

func unitOfDigits(d int) time.Duration {
	u := time.Second
	for range d {
		u /= 10
	}
	return u
}

// engineCompare is a diff without apply, with its drift.
func engineCompare(t *testing.T, dsn string, p *mapProvider, tbl *localstate.Table) *reconcile.Result {
	t.Helper()
	ctx := context.Background()
	st := openPGStore(t, dsn, localstate.OpenOptions{ReadOnly: true})
	defer st.Close()
	e := &reconcile.Engine{Provider: p, Store: st}
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
