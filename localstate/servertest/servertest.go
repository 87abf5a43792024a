// Package servertest gives tests a fresh database on the Postgres and
// MySQL/MariaDB servers of the machine: each call creates a uniquely named
// database and drops it when the test ends, so no test depends on what an
// earlier run left.
//
// The servers are found through RECONCTL_TEST_POSTGRES and
// RECONCTL_TEST_MYSQL (an admin DSN; defaults: the local servers with trust
// auth and root). A server that does not answer skips the test with a
// message, unless RECONCTL_TEST_SERVERS=require (set by .ci/run), which makes
// it a failure.
package servertest

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"fmt"
	"net/url"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-sql-driver/mysql"
	_ "github.com/jackc/pgx/v5/stdlib"
)

const (
	DefaultPostgres = "postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable"
	DefaultMySQL    = "mysql://root@127.0.0.1:3306/test"
)

// Required reports whether an unreachable server is a failure rather than a skip.
func Required() bool { return os.Getenv("RECONCTL_TEST_SERVERS") == "require" }

// AdminPostgres is the admin DSN of the Postgres server tests use.
func AdminPostgres() string {
	if v := os.Getenv("RECONCTL_TEST_POSTGRES"); v != "" {
		return v
	}
	return DefaultPostgres
}

// AdminMySQL is the admin DSN of the MySQL/MariaDB server tests use.
func AdminMySQL() string {
	if v := os.Getenv("RECONCTL_TEST_MYSQL"); v != "" {
		return v
	}
	return DefaultMySQL
}

// Name is a fresh database (or role) name: rct_<prefix>_<random>.
func Name(prefix string) string {
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	p := strings.ToLower(strings.Map(func(r rune) rune {
		if r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' {
			return r
		}
		return '_'
	}, prefix))
	if len(p) > 20 {
		p = p[:20]
	}
	return "rct_" + p + "_" + hex.EncodeToString(b)
}

var (
	reachMu sync.Mutex
	reach   = map[string]error{}
)

func unreachable(t testing.TB, kind, dsn string, err error) {
	t.Helper()
	msg := fmt.Sprintf("%s server %s does not answer (%v); set RECONCTL_TEST_%s to an admin DSN", kind, redact(dsn), err, strings.ToUpper(kind))
	if Required() {
		t.Fatal(msg + " (RECONCTL_TEST_SERVERS=require: CI needs it)")
	}
	t.Skip(msg)
}

func redact(dsn string) string {
	u, err := url.Parse(dsn)
	if err != nil {
		return "(unparsable DSN)"
	}
	return u.Redacted()
}

// AdminDB opens the admin connection of kind ("postgres" or "mysql"), or
// skips (fails under Required) when the server does not answer.
func AdminDB(t testing.TB, kind string) *sql.DB {
	t.Helper()
	dsn := AdminPostgres()
	if kind == "mysql" {
		dsn = AdminMySQL()
	}
	reachMu.Lock()
	err, seen := reach[kind]
	reachMu.Unlock()
	if seen && err != nil {
		unreachable(t, kind, dsn, err)
	}
	db, err := open(kind, dsn, "")
	if err == nil {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		err = db.PingContext(ctx)
		cancel()
		if err != nil {
			db.Close()
		}
	}
	reachMu.Lock()
	reach[kind] = err
	reachMu.Unlock()
	if err != nil {
		unreachable(t, kind, dsn, err)
	}
	return db
}

// open opens dsn (or, with database set, the same server's database).
func open(kind, dsn, database string) (*sql.DB, error) {
	if kind == "postgres" {
		if database != "" {
			u, err := url.Parse(dsn)
			if err != nil {
				return nil, err
			}
			u.Path = "/" + database
			dsn = u.String()
		}
		return sql.Open("pgx", dsn)
	}
	cfg, err := mysqlConfig(dsn)
	if err != nil {
		return nil, err
	}
	if database != "" {
		cfg.DBName = database
	}
	c, err := mysql.NewConnector(cfg)
	if err != nil {
		return nil, err
	}
	return sql.OpenDB(c), nil
}

func mysqlConfig(dsn string) (*mysql.Config, error) {
	u, err := url.Parse(dsn)
	if err != nil {
		return nil, err
	}
	cfg := mysql.NewConfig()
	if u.User != nil {
		cfg.User = u.User.Username()
		cfg.Passwd, _ = u.User.Password()
	}
	cfg.Net, cfg.Addr = "tcp", u.Host
	if !strings.Contains(u.Host, ":") {
		cfg.Addr += ":3306"
	}
	cfg.DBName = strings.TrimPrefix(u.Path, "/")
	cfg.MultiStatements = true
	return cfg, nil
}

// DB is one fresh database on a server.
type DB struct {
	Kind string // "postgres" or "mysql"
	Name string
	// DSN is the database's reconctl location: postgres://…/NAME or mysql://…/NAME.
	DSN string
	// SQL is an open handle on it (multi-statement Exec works on both servers).
	SQL *sql.DB
}

// Exec runs statements (several, separated by semicolons) and fails the test on error.
func (d *DB) Exec(t testing.TB, stmts string) {
	t.Helper()
	if _, err := d.SQL.Exec(stmts); err != nil {
		t.Fatalf("%s: %v\n%s", d.Kind, err, stmts)
	}
}

// New creates a fresh database of kind ("postgres" or "mysql") and drops
// it when the test ends.
func New(t testing.TB, kind string) *DB {
	t.Helper()
	admin := AdminDB(t, kind)
	name := Name(t.Name())
	d, err := Create(admin, kind, name)
	if err != nil {
		admin.Close()
		t.Fatalf("creating %s database %s: %v", kind, name, err)
	}
	t.Cleanup(func() {
		d.SQL.Close()
		if err := Drop(admin, kind, name); err != nil {
			t.Errorf("dropping %s database %s: %v", kind, name, err)
		}
		admin.Close()
	})
	return d
}

// Create makes database name on the server behind admin (for callers that
// manage the lifetime themselves: a testscript, a benchmark).
func Create(admin *sql.DB, kind, name string) (*DB, error) {
	dsn := AdminPostgres()
	q := `CREATE DATABASE "` + name + `"`
	if kind == "mysql" {
		dsn = AdminMySQL()
		q = "CREATE DATABASE `" + name + "` CHARACTER SET utf8mb4 COLLATE utf8mb4_bin"
	}
	if _, err := admin.Exec(q); err != nil {
		return nil, err
	}
	db, err := open(kind, dsn, name)
	if err != nil {
		return nil, err
	}
	u, _ := url.Parse(dsn)
	u.Path = "/" + name
	if kind == "mysql" {
		u.RawQuery = ""
	}
	return &DB{Kind: kind, Name: name, DSN: u.String(), SQL: db}, nil
}

// Drop removes database name, closing the other sessions on it first (a
// session a failed test left inside an open transaction would otherwise hold
// a metadata lock that makes MySQL's DROP wait for as long as
// lock_wait_timeout: a year by default). The drop itself is bounded.
func Drop(admin *sql.DB, kind, name string) error {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	if kind != "mysql" {
		_, err := admin.ExecContext(ctx, `DROP DATABASE IF EXISTS "`+name+`" WITH (FORCE)`)
		return err
	}
	conn, err := admin.Conn(ctx)
	if err != nil {
		return err
	}
	defer conn.Close()
	rows, err := conn.QueryContext(ctx, "SELECT ID FROM information_schema.PROCESSLIST WHERE DB = ? AND ID <> CONNECTION_ID()", name)
	if err != nil {
		return err
	}
	var ids []int64
	for rows.Next() {
		var id int64
		if err := rows.Scan(&id); err != nil {
			rows.Close()
			return err
		}
		ids = append(ids, id)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return err
	}
	for _, id := range ids {
		// A session that ended meanwhile is not an error.
		_, _ = conn.ExecContext(ctx, fmt.Sprintf("KILL %d", id))
	}
	if _, err := conn.ExecContext(ctx, "SET SESSION lock_wait_timeout = 120"); err != nil {
		return err
	}
	_, err = conn.ExecContext(ctx, "DROP DATABASE IF EXISTS `"+name+"`")
	return err
}
