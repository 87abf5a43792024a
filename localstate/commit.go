package localstate

import (
	"database/sql/driver"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"

	"github.com/go-sql-driver/mysql"
	"github.com/jackc/pgx/v5/pgconn"
)

// CommitUnknownError is a COMMIT whose connection was lost before the
// server answered: the transaction may have committed or not, and nothing
// on this side can tell. It never says "rolled back".
type CommitUnknownError struct {
	Location string // the state, redacted
	Err      error
}

func (e *CommitUnknownError) Error() string {
	return fmt.Sprintf("state %s: the connection was lost while committing: the writes may or may not be in the state; run diff to see", e.Location)
}

func (e *CommitUnknownError) Unwrap() error { return e.Err }

// commitOutcomeUnknown says whether err, from a COMMIT, leaves its outcome
// unknown: the connection failed (or the server ended the session) after
// the COMMIT may have reached it. A definite refusal (a deferred
// constraint, a serialization failure) and a COMMIT never sent (pgconn's
// SafeToRetry) are not.
func commitOutcomeUnknown(err error) bool {
	if err == nil {
		return false
	}
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		return strings.HasPrefix(pe.Code, "08") || pe.Code == "57P01" || pe.Code == "57P02" || pe.Code == "57P03"
	}
	var me *mysql.MySQLError
	if errors.As(err, &me) {
		switch me.Number {
		case 1053, 1927, 2006, 2013:
			return true
		}
		return false
	}
	if pgconn.SafeToRetry(err) {
		return false
	}
	var ne net.Error
	return errors.Is(err, driver.ErrBadConn) || errors.Is(err, mysql.ErrInvalidConn) || errors.Is(err, io.EOF) ||
		errors.Is(err, io.ErrUnexpectedEOF) || errors.As(err, &ne)
}

// stateTx is a store's Tx whose Commit says when its outcome is unknown.
type stateTx struct {
	*sqlTx
	loc string
}

func (t *stateTx) Commit() error {
	err := t.sqlTx.Commit()
	if commitOutcomeUnknown(err) {
		return &CommitUnknownError{Location: t.loc, Err: err}
	}
	return err
}
