package localstate

import (
	"context"
	"database/sql"
	"fmt"
	"net"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/go-sql-driver/mysql"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/stdlib"
)

// ServerOptions say how to reach a database server beyond its DSN.
type ServerOptions struct {
	// PasswordEnv names the environment variable holding the password
	// (password_env: in reconctl.yaml). Empty: Postgres reads PGPASSWORD
	// and ~/.pgpass as libpq does; MySQL reads MYSQL_PWD.
	PasswordEnv string
	// Schema is the Postgres schema the state's tables are in (schema:);
	// it becomes the connection's search_path. Empty: the server's default.
	Schema string
	// ConnectTimeout bounds connecting; 0 means 10s.
	ConnectTimeout time.Duration
	// Settings are Postgres session settings (lock_timeout, …) every
	// connection starts with; a DSN's own parameter wins.
	Settings map[string]string
}

// serverKind is the backend of a server DSN: "postgres" or "mysql", "" for
// anything else.
func serverKind(location string) string {
	switch Scheme(location) {
	case "postgres", "postgresql":
		return "postgres"
	case "mysql":
		return "mysql"
	}
	return ""
}

// openPool opens a connection pool for a server DSN and checks that it
// answers. Errors never carry the password: they name the redacted
// location.
func openPool(ctx context.Context, location string, opts ServerOptions) (*sql.DB, error) {
	if opts.ConnectTimeout <= 0 {
		opts.ConnectTimeout = 10 * time.Second
	}
	var db *sql.DB
	switch serverKind(location) {
	case "postgres":
		cfg, err := pgConfig(location, opts)
		if err != nil {
			return nil, err
		}
		db = stdlib.OpenDB(*cfg)
	case "mysql":
		cfg, err := mysqlConfig(location, opts)
		if err != nil {
			return nil, err
		}
		conn, err := mysql.NewConnector(cfg)
		if err != nil {
			return nil, fmt.Errorf("state %s: %s", RedactLocation(location), scrubPassword(err.Error(), cfg.Passwd))
		}
		db = sql.OpenDB(conn)
	default:
		return nil, fmt.Errorf("state %s: not a database server DSN", RedactLocation(location))
	}
	pctx, cancel := context.WithTimeout(ctx, opts.ConnectTimeout)
	defer cancel()
	if err := db.PingContext(pctx); err != nil {
		db.Close()
		return nil, &stateError{msg: fmt.Sprintf("cannot connect to state %s: %s", RedactLocation(location), scrubDSNError(err.Error(), location)), err: err}
	}
	return db, nil
}

// pgConfig parses a postgres:// DSN. pgx applies PGPASSWORD, ~/.pgpass and
// the other libpq variables; password_env overrides them.
func pgConfig(location string, opts ServerOptions) (*pgx.ConnConfig, error) {
	cfg, err := pgx.ParseConfig(location)
	if err != nil {
		return nil, fmt.Errorf("state %s: not a valid PostgreSQL DSN: %s", RedactLocation(location), scrubDSNError(err.Error(), location))
	}
	if opts.PasswordEnv != "" {
		pw, ok := os.LookupEnv(opts.PasswordEnv)
		if !ok {
			return nil, fmt.Errorf("state %s: password_env names %s, which is not set: export it with the database password", RedactLocation(location), opts.PasswordEnv)
		}
		cfg.Password = pw
	}
	if cfg.ConnectTimeout == 0 {
		cfg.ConnectTimeout = opts.ConnectTimeout
	}
	if cfg.RuntimeParams == nil {
		cfg.RuntimeParams = map[string]string{}
	}
	if _, ok := cfg.RuntimeParams["application_name"]; !ok {
		cfg.RuntimeParams["application_name"] = "reconctl"
	}
	for k, v := range opts.Settings {
		if _, ok := cfg.RuntimeParams[k]; !ok {
			cfg.RuntimeParams[k] = v
		}
	}
	if opts.Schema != "" {
		cfg.RuntimeParams["search_path"] = pgx.Identifier{opts.Schema}.Sanitize()
	}
	return cfg, nil
}

// mysqlConfig turns mysql://user[:password]@host[:port]/db[?param=value]
// into the driver's configuration. The password comes from password_env,
// else the DSN (user:password@, else ?password=), else MYSQL_PWD.
func mysqlConfig(location string, opts ServerOptions) (*mysql.Config, error) {
	u, err := url.Parse(location)
	if err != nil {
		return nil, fmt.Errorf("state %s: not a valid MySQL DSN (mysql://user@host:3306/database)", RedactLocation(location))
	}
	cfg := mysql.NewConfig()
	q := u.Query()
	if u.User != nil {
		cfg.User = u.User.Username()
		cfg.Passwd, _ = u.User.Password()
	}
	// ?password= is a DSN password too (the contract accepts one in the
	// DSN); the userinfo's wins when both are given.
	if pw := q.Get("password"); pw != "" && cfg.Passwd == "" {
		cfg.Passwd = pw
	}
	q.Del("password")
	switch {
	case opts.PasswordEnv != "":
		pw, ok := os.LookupEnv(opts.PasswordEnv)
		if !ok {
			return nil, fmt.Errorf("state %s: password_env names %s, which is not set: export it with the database password", RedactLocation(location), opts.PasswordEnv)
		}
		cfg.Passwd = pw
	case cfg.Passwd == "":
		cfg.Passwd = os.Getenv("MYSQL_PWD")
	}
	host := u.Host
	if sock := q.Get("socket"); sock != "" {
		cfg.Net, cfg.Addr = "unix", sock
		q.Del("socket")
	} else {
		if host == "" {
			host = "127.0.0.1"
		}
		if _, _, err := net.SplitHostPort(host); err != nil {
			host = net.JoinHostPort(strings.Trim(host, "[]"), "3306")
		}
		cfg.Net, cfg.Addr = "tcp", host
	}
	cfg.DBName = strings.TrimPrefix(u.Path, "/")
	if cfg.DBName == "" {
		return nil, fmt.Errorf("state %s: the DSN names no database: use mysql://user@host:3306/DATABASE", RedactLocation(location))
	}
	cfg.Timeout = opts.ConnectTimeout
	if v := q.Get("tls"); v != "" {
		cfg.TLSConfig = v
		q.Del("tls")
	}
	for k := range q {
		return nil, fmt.Errorf("state %s: unknown DSN parameter %q (reconctl's MySQL DSNs take socket=, tls= and password=)", RedactLocation(location), k)
	}
	// Times are read as written: UTC wall clock, no driver conversion.
	cfg.Loc = time.UTC
	cfg.ParseTime = false
	cfg.Params = map[string]string{"time_zone": "'+00:00'"}
	return cfg, nil
}

// scrubDSNError removes a DSN's password (and the DSN itself) from a
// driver's error text.
func scrubDSNError(msg, location string) string {
	msg = strings.ReplaceAll(msg, location, RedactLocation(location))
	if u, err := url.Parse(location); err == nil && u.User != nil {
		if pw, ok := u.User.Password(); ok {
			msg = scrubPassword(msg, pw)
			msg = scrubPassword(msg, url.QueryEscape(pw))
		}
	}
	if u, err := url.Parse(location); err == nil {
		if pw := u.Query().Get("password"); pw != "" {
			msg = scrubPassword(msg, pw)
			msg = scrubPassword(msg, url.QueryEscape(pw))
		}
	}
	return msg
}

func scrubPassword(msg, pw string) string {
	if pw == "" {
		return msg
	}
	return strings.ReplaceAll(msg, pw, "***")
}
