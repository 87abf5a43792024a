package main

import (
	"context"
	"database/sql"
	"fmt"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/reconctl/reconctl/localstate"
	"github.com/reconctl/reconctl/localstate/servertest"
	"github.com/rogpeppe/go-internal/testscript"
)

// The store-parameterized scripts (testdata/stores/*.txtar) run once per
// store: TestStores/sqlite/NAME, TestStores/postgres/NAME,
// TestStores/mysql/NAME. Each script gets a state of its own, named by
// $STATE and RECONCTL_STATE (so its reconctl.yaml leaves state: out): a
// SQLite file $WORK/app.db, or a fresh database on the local Postgres or
// MariaDB server (localstate/servertest), dropped when the script ends.
// The script command `db` runs SQL against that state whatever it is, and
// the conditions [sqlite], [postgres], [mysql] and [server] cover the few
// dialect differences (mostly the schema's DDL).

// storeKinds are the stores every script in testdata/stores runs on.
var storeKinds = []string{"sqlite", "postgres", "mysql"}

// scriptState is one script's state, kept in the testscript Env's Values.
type scriptState struct {
	kind     string
	location string         // what --state / RECONCTL_STATE say
	server   *servertest.DB // nil for sqlite
	admin    *sql.DB        // the server's admin connection (nil for sqlite)
	cleanups []func() error // users made by dbuser
	gates    map[string]*gate
}

type scriptStateKey struct{}

func stateOf(ts *testscript.TestScript) *scriptState {
	st, _ := ts.Value(scriptStateKey{}).(*scriptState)
	if st == nil {
		ts.Fatalf("this command only works in testdata/stores scripts")
	}
	return st
}

// storeCmds are the testdata/script commands plus the store-generic ones.
func storeCmds() map[string]func(ts *testscript.TestScript, neg bool, args []string) {
	m := map[string]func(ts *testscript.TestScript, neg bool, args []string){}
	for k, v := range scriptCmds {
		m[k] = v
	}
	m["db"] = cmdDB
	m["dbuser"] = cmdDBUser
	m["gate"] = cmdGate
	m["setpassword"] = cmdSetPassword
	return m
}

// serverReady says why the kind's server store cannot run the scripts yet
// ("" when it can): computed from what the store registry answers for a
// fresh database, so the subtests switch on by themselves when the store
// lands. An unreachable server skips (fails under
// RECONCTL_TEST_SERVERS=require) in servertest.
func serverReady(t *testing.T, kind string) string {
	t.Helper()
	probe := servertest.New(t, kind)
	st, err := localstate.Open(context.Background(), probe.DSN, localstate.OpenOptions{ReadOnly: true})
	if err != nil {
		if strings.Contains(err.Error(), "not supported yet") {
			return fmt.Sprintf("the %s store is missing: localstate.Open says %q", kind, err)
		}
		t.Fatalf("opening an empty %s database as a state: %v", kind, err)
	}
	st.Close()
	if _, err := localstate.JournalOf(probe.DSN); err != nil {
		return fmt.Sprintf("the %s journal is missing: localstate.JournalOf says %q", kind, err)
	}
	return ""
}

// runStoreScripts runs the scripts in dir on one store; needStore: they
// run reconctl on it, so they skip while the store is missing.
func runStoreScripts(t *testing.T, kind, dir string, needStore bool) {
	var admin *sql.DB
	if kind != "sqlite" {
		admin = servertest.AdminDB(t, kind)
		t.Cleanup(func() { admin.Close() })
		if why := serverReady(t, kind); why != "" && needStore {
			t.Skip(why + "; the scripts switch on once it lands")
		}
	}
	wd, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	testscript.Run(t, testscript.Params{
		Dir:                 dir,
		RequireExplicitExec: true,
		UpdateScripts:       *update,
		Setup: func(env *testscript.Env) error {
			env.Setenv("DEMO", wd+"/testdata/demo")
			env.Setenv("NO_COLOR", "1")
			env.Setenv("STORE", kind)
			st := &scriptState{kind: kind, admin: admin, gates: map[string]*gate{}}
			if kind == "sqlite" {
				st.location = filepath.Join(env.WorkDir, "app.db")
			} else {
				name := servertest.Name("st_" + scriptName(env))
				d, err := servertest.Create(admin, kind, name)
				if err != nil {
					return fmt.Errorf("creating the script's %s database %s: %v", kind, name, err)
				}
				st.server, st.location = d, d.DSN
			}
			env.Defer(func() {
				if err := st.close(); err != nil {
					env.T().Fatal(err)
				}
			})
			env.Values[scriptStateKey{}] = st
			env.Setenv("STATE", st.location)
			env.Setenv("RECONCTL_STATE", st.location)
			return nil
		},
		Condition: func(cond string) (bool, error) {
			switch cond {
			case "sqlite", "postgres", "mysql":
				return cond == kind, nil
			case "server":
				return kind != "sqlite", nil
			}
			return false, fmt.Errorf("unknown condition %q (stores: sqlite, postgres, mysql, server)", cond)
		},
		Cmds: storeCmds(),
	})
}

// scriptName is the script's name (its test's last element).
func scriptName(env *testscript.Env) string {
	if n, ok := env.T().(interface{ Name() string }); ok {
		return filepath.Base(n.Name())
	}
	return filepath.Base(env.WorkDir)
}

// close drops what the script made: its users, then its database.
func (st *scriptState) close() error {
	var errs []string
	for _, g := range st.gates {
		g.open()
	}
	for i := len(st.cleanups) - 1; i >= 0; i-- {
		if err := st.cleanups[i](); err != nil {
			errs = append(errs, err.Error())
		}
	}
	if st.server != nil {
		st.server.SQL.Close()
		if err := servertest.Drop(st.admin, st.kind, st.server.Name); err != nil {
			errs = append(errs, fmt.Sprintf("dropping %s database %s: %v", st.kind, st.server.Name, err))
		}
	}
	if len(errs) > 0 {
		return fmt.Errorf("cleaning up the script's state: %s", strings.Join(errs, "; "))
	}
	return nil
}

// handle is a connection pool on the script's state and how to let it go:
// the server's stays open for the script; a SQLite file is opened for each
// command, as an app would, so no connection lingers between runs.
func (st *scriptState) handle() (*sql.DB, func(), error) {
	if st.server != nil {
		return st.server.SQL, func() {}, nil
	}
	db, err := sql.Open("sqlite", "file:"+st.location+"?_pragma=busy_timeout(10000)")
	if err != nil {
		return nil, nil, err
	}
	db.SetMaxOpenConns(1)
	return db, func() { db.Close() }, nil
}

// db SQL | db @FILE.sql: runs SQL (several statements separated by
// semicolons) against the script's state, whatever store it is (a SQLite
// state file is created if missing). A query (SELECT, WITH, SHOW) prints its
// rows as tab-separated lines in the same text on every store (see
// formatRows). With !, the SQL must fail.
func cmdDB(ts *testscript.TestScript, neg bool, args []string) {
	if len(args) < 1 {
		ts.Fatalf("usage: db SQL | db @FILE.sql")
	}
	st := stateOf(ts)
	q := strings.Join(args, " ")
	if strings.HasPrefix(q, "@") {
		q = ts.ReadFile(q[1:])
	}
	db, done, err := st.handle()
	ts.Check(err)
	defer done()
	if !isQuery(q) {
		_, err := db.Exec(q)
		if neg {
			if err == nil {
				ts.Fatalf("db: unexpected success")
			}
			return
		}
		ts.Check(err)
		return
	}
	rows, err := db.Query(q)
	if err == nil {
		var out string
		out, err = formatRows(rows)
		fmt.Fprint(ts.Stdout(), out)
	}
	if neg {
		if err == nil {
			ts.Fatalf("db: unexpected success")
		}
		return
	}
	ts.Check(err)
}

func isQuery(q string) bool {
	w := strings.ToUpper(strings.TrimSpace(q))
	for _, p := range []string{"SELECT", "WITH", "SHOW", "VALUES"} {
		if strings.HasPrefix(w, p) {
			return true
		}
	}
	return false
}

// formatRows prints rows as tab-separated lines, the same text on every
// store: NULL as NULL, booleans as 1 and 0 (SQLite and MySQL have no other),
// integers and decimals as their digits, and times (Postgres timestamptz,
// MySQL DATETIME/TIMESTAMP) as UTC RFC 3339 with the fraction trimmed:
// 2026-01-02T03:04:05Z. Text stays as stored.
func formatRows(rows *sql.Rows) (string, error) {
	defer rows.Close()
	types, err := rows.ColumnTypes()
	if err != nil {
		return "", err
	}
	var b strings.Builder
	for rows.Next() {
		vals := make([]any, len(types))
		ptrs := make([]any, len(types))
		for i := range vals {
			ptrs[i] = &vals[i]
		}
		if err := rows.Scan(ptrs...); err != nil {
			return "", err
		}
		out := make([]string, len(vals))
		for i, v := range vals {
			out[i] = formatValue(v, strings.ToUpper(types[i].DatabaseTypeName()))
		}
		b.WriteString(strings.Join(out, "\t"))
		b.WriteByte('\n')
	}
	return b.String(), rows.Err()
}

func formatValue(v any, dbType string) string {
	switch x := v.(type) {
	case nil:
		return "NULL"
	case bool:
		if x {
			return "1"
		}
		return "0"
	case time.Time:
		return x.UTC().Format(time.RFC3339Nano)
	case float64:
		return strconv.FormatFloat(x, 'f', -1, 64)
	case float32:
		return strconv.FormatFloat(float64(x), 'f', -1, 32)
	case []byte:
		return formatText(string(x), dbType)
	case string:
		return formatText(x, dbType)
	default:
		return fmt.Sprint(x)
	}
}

// formatText normalises what stores return as text: a time (MySQL's
// DATETIME "2006-01-02 15:04:05.999999", a SQLite TEXT time in any of the
// usual layouts) becomes UTC RFC 3339, and a DECIMAL/NUMERIC loses its
// trailing fraction zeros (12.50 → 12.5), as SQLite's REAL prints it.
func formatText(s, dbType string) string {
	if timeText.MatchString(s) {
		for _, layout := range []string{time.RFC3339Nano, "2006-01-02 15:04:05.999999999Z07:00", "2006-01-02T15:04:05.999999999", "2006-01-02 15:04:05.999999999", "2006-01-02 15:04:05.999999999-07"} {
			if t, err := time.Parse(layout, s); err == nil {
				return t.UTC().Format(time.RFC3339Nano)
			}
		}
	}
	switch dbType {
	case "DECIMAL", "NUMERIC":
		if strings.Contains(s, ".") {
			s = strings.TrimRight(strings.TrimRight(s, "0"), ".")
		}
	}
	return s
}

var timeText = regexp.MustCompile(`^\d{4}-\d{2}-\d{2}[ T]\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}(:?\d{2})?)?$`)

// dbuser VAR PASSWORD: creates a login user on the script's server with
// PASSWORD, allowed to read and write the script's database (its tables as
// they are now and those it creates), and sets VAR to the state's DSN with
// that user and password in it. The user is dropped when the script ends.
// Not for SQLite.
func cmdDBUser(ts *testscript.TestScript, neg bool, args []string) {
	if len(args) != 2 {
		ts.Fatalf("usage: dbuser VAR PASSWORD")
	}
	st := stateOf(ts)
	if st.server == nil {
		ts.Fatalf("dbuser: a SQLite state has no users")
	}
	user, pw := servertest.Name("u"), args[1]
	if strings.ContainsAny(pw, `'\"`+"`") {
		ts.Fatalf("dbuser: keep quotes out of the password")
	}
	db := st.server.SQL
	switch st.kind {
	case "postgres":
		_, err := st.admin.Exec(`CREATE ROLE "` + user + `" LOGIN PASSWORD '` + pw + `'`)
		ts.Check(err)
		st.cleanups = append(st.cleanups, func() error {
			if _, err := db.Exec(`DROP OWNED BY "` + user + `"`); err != nil {
				return fmt.Errorf("dropping what role %s owns: %v", user, err)
			}
			if _, err := st.admin.Exec(`DROP ROLE IF EXISTS "` + user + `"`); err != nil {
				return fmt.Errorf("dropping role %s: %v", user, err)
			}
			return nil
		})
		_, err = db.Exec(`GRANT ALL ON DATABASE "` + st.server.Name + `" TO "` + user + `";
			GRANT ALL ON SCHEMA public TO "` + user + `";
			GRANT ALL ON ALL TABLES IN SCHEMA public TO "` + user + `";
			GRANT ALL ON ALL SEQUENCES IN SCHEMA public TO "` + user + `"`)
		ts.Check(err)
	case "mysql":
		_, err := st.admin.Exec("CREATE USER '" + user + "'@'%' IDENTIFIED BY '" + pw + "'")
		ts.Check(err)
		st.cleanups = append(st.cleanups, func() error {
			if _, err := st.admin.Exec("DROP USER IF EXISTS '" + user + "'@'%'"); err != nil {
				return fmt.Errorf("dropping user %s: %v", user, err)
			}
			return nil
		})
		_, err = st.admin.Exec("GRANT ALL ON `" + st.server.Name + "`.* TO '" + user + "'@'%'")
		ts.Check(err)
	}
	u, err := url.Parse(st.location)
	ts.Check(err)
	u.User = url.UserPassword(user, pw)
	ts.Setenv(args[0], u.String())
}

// gate NAME TARGET_URL: starts a proxy to TARGET_URL (e.g. $STRIPE_API_BASE)
// that holds every request until `gate NAME open`, and sets GATE_URL_NAME.
// `gate NAME wait` blocks until a request has reached the gate (a run that
// lists its provider has taken the writer lock by then). Holding a writer
// mid-run this way needs no timing.
func cmdGate(ts *testscript.TestScript, neg bool, args []string) {
	if len(args) < 2 {
		ts.Fatalf("usage: gate NAME TARGET_URL | gate NAME wait | gate NAME open")
	}
	st := stateOf(ts)
	name := args[0]
	switch args[1] {
	case "wait":
		g := st.gates[name]
		if g == nil {
			ts.Fatalf("no gate %s", name)
		}
		select {
		case <-g.reached:
		case <-time.After(2 * time.Minute): // a guard against a hang, not a timing assertion
			ts.Fatalf("gate %s: no request arrived", name)
		}
		return
	case "open":
		g := st.gates[name]
		if g == nil {
			ts.Fatalf("no gate %s", name)
		}
		g.open()
		return
	}
	target, err := url.Parse(args[1])
	ts.Check(err)
	g := &gate{reached: make(chan struct{}), released: make(chan struct{})}
	proxy := httputil.NewSingleHostReverseProxy(target)
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		g.reach()
		select {
		case <-g.released:
		case <-r.Context().Done():
			return
		}
		proxy.ServeHTTP(w, r)
	})}
	ln, err := listenLoopback()
	ts.Check(err)
	go srv.Serve(ln)
	ts.Defer(func() { g.open(); srv.Close() })
	st.gates[name] = g
	ts.Setenv("GATE_URL_"+name, "http://"+ln.Addr().String())
}

type gate struct {
	once1, once2      sync.Once
	reached, released chan struct{}
}

func (g *gate) reach() { g.once1.Do(func() { close(g.reached) }) }
func (g *gate) open()  { g.once2.Do(func() { close(g.released) }) }

func listenLoopback() (net.Listener, error) { return net.Listen("tcp", "127.0.0.1:0") }

// setpassword VAR DSN PASSWORD: sets VAR to DSN with its user's password
// replaced by PASSWORD (- : without a password).
func cmdSetPassword(ts *testscript.TestScript, neg bool, args []string) {
	if len(args) != 3 {
		ts.Fatalf("usage: setpassword VAR DSN PASSWORD")
	}
	u, err := url.Parse(args[1])
	ts.Check(err)
	if u.User == nil {
		ts.Fatalf("setpassword: the DSN names no user")
	}
	u.User = url.UserPassword(u.User.Username(), args[2])
	if args[2] == "-" {
		u.User = url.User(u.User.Username())
	}
	ts.Setenv(args[0], u.String())
}
