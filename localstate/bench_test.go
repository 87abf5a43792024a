package localstate_test

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"path/filepath"
	"strconv"
	"testing"

	"github.com/reconctl/reconctl/localstate"
)

const benchRows = 1_000_000

const benchSchema = `CREATE TABLE users (id TEXT PRIMARY KEY, email TEXT, name TEXT, plan TEXT, score INTEGER, deleted_at TEXT)`

var benchTable = &localstate.Table{Resource: "customers", Name: "users", SoftDelete: "deleted_at"}

func benchDB(b *testing.B, rows int) string {
	b.Helper()
	path := filepath.Join(b.TempDir(), "bench.db")
	db, err := sql.Open("sqlite", path)
	if err != nil {
		b.Fatal(err)
	}
	defer db.Close()
	if _, err := db.Exec(benchSchema); err != nil {
		b.Fatal(err)
	}
	tx, err := db.Begin()
	if err != nil {
		b.Fatal(err)
	}
	ins, err := tx.Prepare(`INSERT INTO users (id, email, name, plan, score) VALUES (?, ?, ?, ?, ?)`)
	if err != nil {
		b.Fatal(err)
	}
	for i := range rows {
		if _, err := ins.Exec(fmt.Sprintf("cus_%07d", i), fmt.Sprintf("user%d@example.com", i), "Name "+strconv.Itoa(i), "pro", int64(i)); err != nil {
			b.Fatal(err)
		}
	}
	if err := tx.Commit(); err != nil {
		b.Fatal(err)
	}
	return path
}

// BenchmarkSQLiteScan1M: diff streams every local row once.
func BenchmarkSQLiteScan1M(b *testing.B) {
	path := benchDB(b, benchRows)
	ctx := context.Background()
	st, err := localstate.Open(ctx, path, localstate.OpenOptions{ReadOnly: true})
	if err != nil {
		b.Fatal(err)
	}
	defer st.Close()
	cols := []string{"email", "name", "plan", "score"}
	b.ResetTimer()
	for range b.N {
		n := 0
		err := st.Scan(ctx, benchTable, cols, func(localstate.Row) error { n++; return nil })
		if err != nil {
			b.Fatal(err)
		}
		if n != benchRows {
			b.Fatalf("scanned %d rows", n)
		}
	}
	b.ReportMetric(float64(benchRows*b.N)/b.Elapsed().Seconds(), "rows/s")
}

// BenchmarkSQLiteApplyCreate1M: resync --force of a million records into an
// empty table, in one transaction.
func BenchmarkSQLiteApplyCreate1M(b *testing.B) {
	changes := make([]localstate.Change, benchRows)
	for i := range changes {
		changes[i] = localstate.Change{Table: benchTable, Op: localstate.OpCreate, Key: fmt.Sprintf("cus_%07d", i), Values: map[string]any{
			"email": fmt.Sprintf("user%d@example.com", i), "name": "Name " + strconv.Itoa(i), "plan": "pro", "score": json.Number(strconv.Itoa(i)),
		}}
	}
	// A cancellable context, as the CLI uses (Ctrl-C).
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	b.ResetTimer()
	for range b.N {
		b.StopTimer()
		path := benchDB(b, 0)
		st, err := localstate.Open(ctx, path, localstate.OpenOptions{})
		if err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
		if err := st.Apply(ctx, changes); err != nil {
			b.Fatal(err)
		}
		b.StopTimer()
		st.Close()
		b.StartTimer()
	}
	b.ReportMetric(float64(benchRows*b.N)/b.Elapsed().Seconds(), "rows/s")
}

// BenchmarkSQLiteApplyUpdate1M: resync --force when every row exists and two
// mapped columns changed.
func BenchmarkSQLiteApplyUpdate1M(b *testing.B) {
	changes := make([]localstate.Change, benchRows)
	for i := range changes {
		changes[i] = localstate.Change{Table: benchTable, Op: localstate.OpUpdate, Key: fmt.Sprintf("cus_%07d", i),
			Values: map[string]any{"email": fmt.Sprintf("new%d@example.com", i), "plan": "free"}}
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	b.ResetTimer()
	for range b.N {
		b.StopTimer()
		path := benchDB(b, benchRows)
		st, err := localstate.Open(ctx, path, localstate.OpenOptions{})
		if err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
		if err := st.Apply(ctx, changes); err != nil {
			b.Fatal(err)
		}
		b.StopTimer()
		st.Close()
		b.StartTimer()
	}
	b.ReportMetric(float64(benchRows*b.N)/b.Elapsed().Seconds(), "rows/s")
}
