package localstate

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/url"
	"time"

	"github.com/go-sql-driver/mysql"
	"github.com/jackc/pgx/v5/pgconn"
)

// This file is the seam for a database that is not a state store, on any
// SQL backend: the journal's own database (a SQLite file, or a Postgres or
// MySQL/MariaDB database named by a DSN, the state's own or another). Only
// localstate drives database/sql and the drivers; callers see DB, Conn, Tx,
// Querier, the SQL kind and the error helpers below, and write the SQL of
// that kind themselves.

// SQL kinds, as DB.Kind reports them.
const (
	KindSQLite   = "sqlite"
	KindPostgres = "postgres"
	KindMySQL    = "mysql"
)

// DBOptions configure OpenDB.
type DBOptions struct {
	// Create lets a SQLite file be made when it does not exist (see
	// SQLiteDBOptions). A server database is never created.
	Create bool
	// BusyTimeout is SQLite's lock wait (0: DefaultBusyTimeout).
	BusyTimeout time.Duration
	// Server says how to reach a server DSN (password_env:, schema:).
	Server ServerOptions
}

// DB is an open database that is not a state: a SQLite file or a server
// database. It has the Querier methods, prepared statements, transactions
// behind the Tx seam, dedicated sessions (Conn) and Close, and says which
// SQL it speaks (Kind). It is safe for concurrent use.
type DB struct {
	db       *sql.DB
	kind     string
	location string
}

var (
	_ Querier  = (*DB)(nil)
	_ Preparer = (*DB)(nil)
)

// OpenDB opens the database at location: a server DSN (postgres://,
// postgresql://, mysql://), connected and checked (errors name the location
// redacted), or else a SQLite file path (nothing read yet, see
// OpenSQLiteDB).
func OpenDB(ctx context.Context, location string, opts DBOptions) (*DB, error) {
	if kind := serverKind(location); kind != "" {
		db, err := openPool(ctx, location, opts.Server)
		if err != nil {
			return nil, err
		}
		return &DB{db: db, kind: kind, location: location}, nil
	}
	if !IsFile(location) {
		return nil, fmt.Errorf("%s is not a SQLite file path or a postgres:// or mysql:// DSN", RedactLocation(location))
	}
	s, err := OpenSQLiteDB(location, SQLiteDBOptions{Create: opts.Create, BusyTimeout: opts.BusyTimeout})
	if err != nil {
		return nil, err
	}
	return &DB{db: s.db, kind: KindSQLite, location: location}, nil
}

// Kind is the SQL the database speaks: KindSQLite, KindPostgres or KindMySQL.
func (d *DB) Kind() string { return d.kind }

// KindOf is the SQL kind of a location: KindPostgres or KindMySQL for a
// server DSN, KindSQLite for anything else (a file path).
func KindOf(location string) string {
	if k := serverKind(location); k != "" {
		return k
	}
	return KindSQLite
}

// SameServer reports whether two server DSNs name the same kind of server
// at the same host and port.
func SameServer(a, b string) bool {
	ua, errA := url.Parse(a)
	ub, errB := url.Parse(b)
	return errA == nil && errB == nil && serverKind(a) != "" && serverKind(a) == serverKind(b) && ua.Host == ub.Host
}

// ExecContext runs a statement that returns no rows.
func (d *DB) ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error) {
	return d.db.ExecContext(ctx, query, args...)
}

// QueryContext runs a query; close the rows.
func (d *DB) QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error) {
	return d.db.QueryContext(ctx, query, args...)
}

// QueryRowContext runs a query for at most one row.
func (d *DB) QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row {
	return d.db.QueryRowContext(ctx, query, args...)
}

// PrepareContext prepares a statement for a batch of executions; close it.
func (d *DB) PrepareContext(ctx context.Context, query string) (*sql.Stmt, error) {
	return d.db.PrepareContext(ctx, query)
}

// Begin starts a transaction behind the Tx seam (Apply refuses: it holds
// no store). Its savepoints use the syntax every kind accepts (tx.go).
func (d *DB) Begin(ctx context.Context) (Tx, error) {
	tx, err := d.db.BeginTx(ctx, nil)
	if err != nil {
		return nil, err
	}
	return &sqlTx{Tx: tx}, nil
}

// Conn reserves one session of the database until its Close: for what
// belongs to a session (MySQL's GET_LOCK, a Postgres session setting).
func (d *DB) Conn(ctx context.Context) (*Conn, error) {
	c, err := d.db.Conn(ctx)
	if err != nil {
		return nil, err
	}
	return &Conn{c: c}, nil
}

// Close closes the database's connections.
func (d *DB) Close() error { return d.db.Close() }

// Conn is one reserved session of a DB.
type Conn struct{ c *sql.Conn }

var _ Querier = (*Conn)(nil)

// ExecContext runs a statement on the session.
func (c *Conn) ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error) {
	return c.c.ExecContext(ctx, query, args...)
}

// QueryContext runs a query on the session.
func (c *Conn) QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error) {
	return c.c.QueryContext(ctx, query, args...)
}

// QueryRowContext runs a query for at most one row on the session.
func (c *Conn) QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row {
	return c.c.QueryRowContext(ctx, query, args...)
}

// Close gives the session back to its DB's pool.
func (c *Conn) Close() error { return c.c.Close() }

// IsPermissionDenied reports whether err is the database refusing the
// statement for lack of a privilege: Postgres SQLSTATE 42501, MySQL's
// access-denied errors (1044, 1142, 1143, 1227, 1370), a read-only SQLite
// file.
func IsPermissionDenied(err error) bool {
	if err == nil {
		return false
	}
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		return pe.Code == "42501"
	}
	var me *mysql.MySQLError
	if errors.As(err, &me) {
		switch me.Number {
		case 1044, 1142, 1143, 1227, 1370:
			return true
		}
		return false
	}
	if code, _, ok := SQLiteErrorCode(err); ok {
		return code == SQLiteReadOnly
	}
	return false
}

// IsDuplicateObject reports whether err says a table, type or index being
// created already exists (Postgres 42P07/42710/23505 on the catalog, MySQL
// 1050/1060/1061): a concurrent creation that lost the race.
func IsDuplicateObject(err error) bool {
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		switch pe.Code {
		case "42P07", "42710", "23505":
			return true
		}
	}
	var me *mysql.MySQLError
	if errors.As(err, &me) {
		switch me.Number {
		case 1050, 1060, 1061:
			return true
		}
	}
	return false
}

// IsRetryable reports whether err says a server rolled its transaction back
// whole so that running it again is safe: a deadlock victim or a
// serialization failure (Postgres 40001/40P01, MySQL 1213).
func IsRetryable(err error) bool {
	return err != nil && (pgDialect{}.retryable(err) || mysqlDialect{}.retryable(err))
}
