package localstate

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
)

// Each server failure an operator can act on is one line saying what to do
// (codes the local trust-auth server cannot be made to send).
func TestPostgresExplain(t *testing.T) {
	const loc = "postgres://app:***@db/app"
	for code, want := range map[string]string{
		"55P03": "locked by another session (still locked after waiting 5s",
		"40001": "serialization failure",
		"40P01": "deadlock",
		"57014": "statement_timeout",
		"25006": "cannot be written",
		"42501": "grant the role",
		"57P01": "shutting down",
		"08006": "lost the connection",
		"23505": "duplicate key value (Key (id)=(x) already exists.) [SQLSTATE 23505]",
	} {
		pe := &pgconn.PgError{Code: code, Message: "duplicate key value", Detail: "Key (id)=(x) already exists."}
		err := pgDialect{}.explain(fmt.Errorf("wrapped: %w", pe), loc, 5*time.Second)
		if err == nil || !strings.Contains(err.Error(), want) || !strings.Contains(err.Error(), loc) || strings.Contains(err.Error(), "\n") {
			t.Errorf("%s: %v, want one line with %q", code, err, want)
		}
		if !errors.As(err, &pe) {
			t.Errorf("%s: the server's error must stay underneath", code)
		}
	}
	plain := errors.New("something else")
	if err := (pgDialect{}).explain(plain, loc, time.Second); err != plain {
		t.Errorf("another error must pass through: %v", err)
	}
	for code, want := range map[string]string{
		"28P01": "PGPASSWORD or ~/.pgpass, or name the variable holding it with password_env:",
		"28000": "pg_hba.conf",
		"3D000": "check the database name",
		"53300": "max_connections",
	} {
		err := pgConnectError(&stateError{msg: "cannot connect", err: &pgconn.PgError{Code: code, Message: "m"}}, "postgres://app:pw@db/app")
		if err == nil || !strings.Contains(err.Error(), want) || !strings.Contains(err.Error(), "app:***@db") || strings.Contains(err.Error(), "pw@") {
			t.Errorf("connect %s: %v, want %q", code, err, want)
		}
	}
}

func TestCanonNumeric(t *testing.T) {
	for in, want := range map[string]any{"10.50": "10.5", "10.00": "10", "-0.0": "0", "12345678901234567890.10": "12345678901234567890.1", "7": "7", "NaN": "NaN", "100": "100"} {
		got := canonNumeric(in)
		if fmt.Sprint(got) != want {
			t.Errorf("canonNumeric(%s) = %v, want %v", in, got, want)
		}
	}
}
