package servertest

import "testing"

func TestNewAndDrop(t *testing.T) {
	for _, kind := range []string{"postgres", "mysql"} {
		t.Run(kind, func(t *testing.T) {
			d := New(t, kind)
			d.Exec(t, "CREATE TABLE t1 (id VARCHAR(20) PRIMARY KEY); INSERT INTO t1 VALUES ('a')")
			var n int
			if err := d.SQL.QueryRow("SELECT count(*) FROM t1").Scan(&n); err != nil || n != 1 {
				t.Fatalf("count = %d, %v", n, err)
			}
		})
	}
}
