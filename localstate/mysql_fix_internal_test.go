package localstate

import (
	"database/sql/driver"
	"fmt"
	"testing"

	"github.com/go-sql-driver/mysql"
)

// Which MySQL errors end the whole transaction: a deadlock, a lost
// connection, and a lock wait timeout only when the server runs with
// innodb_rollback_on_timeout=1.
func TestMySQLTxGoneClassification(t *testing.T) {
	for _, tc := range []struct {
		err       error
		rot, want bool
	}{
		{&mysql.MySQLError{Number: 1213}, false, true},
		{fmt.Errorf("state x: %w", &mysql.MySQLError{Number: 1213}), false, true},
		{&mysql.MySQLError{Number: 1205}, false, false},
		{&mysql.MySQLError{Number: 1205}, true, true},
		{&mysql.MySQLError{Number: 1406}, true, false},
		{&mysql.MySQLError{Number: 1062}, false, false},
		{driver.ErrBadConn, false, true},
		{mysql.ErrInvalidConn, false, true},
	} {
		d := mysqlDialect{rollbackOnTimeout: tc.rot}
		if _, got := d.txGone(tc.err); got != tc.want {
			t.Errorf("txGone(%v) with rollback_on_timeout=%v = %v, want %v", tc.err, tc.rot, got, tc.want)
		}
		if got := d.txAbortsOnError(tc.err); got != tc.want {
			t.Errorf("txAbortsOnError(%v) with rollback_on_timeout=%v = %v, want %v", tc.err, tc.rot, got, tc.want)
		}
	}
}
