package localstate

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/go-sql-driver/mysql"
)

// TestMySQLExplain: the server's busy and lost-connection errors are one
// line saying what to do; others pass through, wrapped.
func TestMySQLExplain(t *testing.T) {
	d := mysqlDialect{}
	for _, tc := range []struct {
		err  error
		want string
	}{
		{&mysql.MySQLError{Number: 1205, Message: "Lock wait timeout exceeded"}, "locked by another session (still locked after waiting 3s"},
		{&mysql.MySQLError{Number: 1213, Message: "Deadlock found"}, "deadlock with another session"},
		{&mysql.MySQLError{Number: 2013, Message: "Lost connection"}, "lost the connection to the server"},
		{fmt.Errorf("exec: %w", mysql.ErrInvalidConn), "lost the connection to the server"},
		{&mysql.MySQLError{Number: 1142, Message: "UPDATE command denied"}, "lacks a privilege"},
		{&mysql.MySQLError{Number: 1290, Message: "--read-only"}, "the server is read-only"},
	} {
		err := d.explain(tc.err, "mysql://app:***@db/app", 3*time.Second)
		if !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), "mysql://app:***@db/app") || strings.Contains(err.Error(), "\n") || !errors.Is(err, tc.err) {
			t.Errorf("explain(%v) = %q, want one line with %q that wraps the error", tc.err, err, tc.want)
		}
	}
	other := &mysql.MySQLError{Number: 1062, Message: "Duplicate entry"}
	if err := d.explain(other, "mysql://db/app", time.Second); !errors.Is(err, other) || !strings.Contains(err.Error(), "Duplicate entry") {
		t.Errorf("explain(1062) = %v", err)
	}
}
