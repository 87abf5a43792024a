package localstate_test

import (
	"context"
	"database/sql"
	"fmt"
	"path/filepath"
	"strings"
	"testing"

	"github.com/reconctl/reconctl/localstate"
	"github.com/reconctl/reconctl/localstate/servertest"
	_ "modernc.org/sqlite"
)

// TestDeleteBatch: deletes by a unique key go in batches (DELETE / a
// soft-delete UPDATE … WHERE key IN (…)); all of them land, and if one row
// is gone the whole Apply fails naming that row, with nothing deleted.
func TestDeleteBatch(t *testing.T) {
	for _, kind := range []string{"sqlite", "postgres", "mysql"} {
		for _, soft := range []bool{false, true} {
			t.Run(fmt.Sprintf("%s/soft=%v", kind, soft), func(t *testing.T) {
				var sqlDB *sql.DB
				var loc string
				schema := "CREATE TABLE items (id VARCHAR(20) NOT NULL UNIQUE, name VARCHAR(20), gone VARCHAR(40))"
				if kind == "sqlite" {
					loc = filepath.Join(t.TempDir(), "s.db")
					var err error
					if sqlDB, err = sql.Open("sqlite", loc); err != nil {
						t.Fatal(err)
					}
					t.Cleanup(func() { sqlDB.Close() })
				} else {
					db := servertest.New(t, kind)
					sqlDB, loc = db.SQL, db.DSN
				}
				if _, err := sqlDB.Exec(schema); err != nil {
					t.Fatal(err)
				}
				insert := "INSERT INTO items (id, name) VALUES (?, 'x')"
				if kind == "postgres" {
					insert = "INSERT INTO items (id, name) VALUES ($1, 'x')"
				}
				for i := range 300 {
					if _, err := sqlDB.Exec(insert, fmt.Sprintf("it_%03d", i)); err != nil {
						t.Fatal(err)
					}
				}
				tbl := &localstate.Table{Resource: "items", Name: "items", Key: "id"}
				live := "SELECT count(*) FROM items"
				if soft {
					tbl.SoftDelete = "gone"
					live += " WHERE gone IS NULL"
				}
				count := func() int {
					var n int
					if err := sqlDB.QueryRow(live).Scan(&n); err != nil {
						t.Fatal(err)
					}
					return n
				}
				st, err := localstate.Open(context.Background(), loc, localstate.OpenOptions{})
				if err != nil {
					t.Fatal(err)
				}
				defer st.Close()
				var changes []localstate.Change
				for i := range 250 {
					changes = append(changes, localstate.Change{Table: tbl, Op: localstate.OpDelete, Key: fmt.Sprintf("it_%03d", i)})
				}
				missing := localstate.Change{Table: tbl, Op: localstate.OpDelete, Key: "it_999"}
				bad := append(append(append([]localstate.Change{}, changes[:120]...), missing), changes[120:]...)
				err = st.Apply(context.Background(), bad)
				if err == nil || !strings.Contains(err.Error(), `"it_999"`) || strings.Contains(err.Error(), `"it_000"`) {
					t.Fatalf("a batch with a missing row: %v", err)
				}
				if n := count(); n != 300 {
					t.Fatalf("%d live rows after the failed Apply, want 300", n)
				}
				dup := append(append([]localstate.Change{}, changes[:5]...), changes[3])
				if err := st.Apply(context.Background(), dup); err == nil || !strings.Contains(err.Error(), `"it_003"`) {
					t.Fatalf("a key deleted twice: %v", err)
				}
				if err := st.Apply(context.Background(), changes); err != nil {
					t.Fatal(err)
				}
				if n := count(); n != 50 {
					t.Fatalf("%d live rows, want 50", n)
				}
			})
		}
	}
}
