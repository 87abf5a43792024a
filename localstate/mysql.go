package localstate

// The MySQL / MariaDB store (issue #14): mysqlDialect and opening a state on
// the server. Reading and writing are the generic sqlStore's (sqlstore.go,
// sqlwrite.go); introspection and type conversions are in mysql_schema.go.
//
// The SQL here is what both MariaDB (10.5+) and MySQL 8 accept; where they
// differ a comment says so.

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"io"
	"net"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/go-sql-driver/mysql"
)

// openMySQL opens a mysql:// state. A writable store writes through the
// pool; a read-only one reads one consistent snapshot for its whole life
// (see mysqlSnapshot).
func openMySQL(ctx context.Context, loc string, opts OpenOptions) (Store, error) {
	if opts.BusyTimeout <= 0 {
		opts.BusyTimeout = DefaultBusyTimeout
	}
	so := opts.Server
	if so.ConnectTimeout <= 0 {
		so.ConnectTimeout = 10 * time.Second
	}
	cfg, err := mysqlConfig(loc, so)
	if err != nil {
		return nil, err
	}
	// RowsAffected must count the rows an UPDATE matched, not only those it
	// changed: the writer's "the row is gone" check depends on it.
	cfg.ClientFoundRows = true
	// A row lock held by the application makes a write wait at most
	// BusyTimeout (whole seconds, at least 1), then fail with 1205.
	secs := int((opts.BusyTimeout + time.Second - 1) / time.Second)
	if secs < 1 {
		secs = 1
	}
	cfg.Params["innodb_lock_wait_timeout"] = strconv.Itoa(secs)
	// A value the column cannot hold is an error, not a silent truncation
	// (the Apply then rolls back), whatever the server's default sql_mode.
	cfg.Params["sql_mode"] = "CONCAT(@@sql_mode, ',STRICT_ALL_TABLES')"
	conn, err := mysql.NewConnector(cfg)
	if err != nil {
		return nil, fmt.Errorf("state %s: %s", RedactLocation(loc), scrubPassword(err.Error(), cfg.Passwd))
	}
	db := sql.OpenDB(conn)
	d := mysqlDialect{}
	pctx, cancel := context.WithTimeout(ctx, so.ConnectTimeout)
	defer cancel()
	if err := db.PingContext(pctx); err != nil {
		db.Close()
		return nil, d.connectError(err, loc, cfg)
	}
	// MariaDB and MySQL both have it; a server that does not answer keeps
	// the default (0: a timeout undoes its statement only).
	var rot sql.NullInt64
	if err := db.QueryRowContext(pctx, "SELECT @@innodb_rollback_on_timeout").Scan(&rot); err == nil {
		d.rollbackOnTimeout = rot.Int64 != 0
	}
	s := newSQLStore(d, loc, db, opts)
	if !opts.ReadOnly {
		return s, nil
	}
	snap, err := newMySQLSnapshot(ctx, db)
	if err != nil {
		db.Close()
		return nil, s.explain(err)
	}
	s.rq = snap.main
	return &mysqlStore{sqlStore: s, snap: snap, opts: opts}, nil
}

// mysqlStore is a read-only MySQL store: the generic store reading through
// a snapshot that Close ends.
//
// Every read runs on ONE snapshot connection (snap.main), so a run sees one
// moment of every table: the engine never queries the store while a Scan's
// rows are open (diff and resync: Count, then Scan, then KeyHealth, one
// table at a time; check-user and replay: Get between Scans). A connection
// streaming a result cannot run another query (the protocol has one result
// in flight), and MySQL, unlike Postgres, cannot share a snapshot between
// connections: so only when a query does arrive while a Scan streams (the
// narrow case no command has today) is a second snapshot opened for it, and
// for every later such query. That second snapshot starts later than the
// first: it may see commits the first does not.
type mysqlStore struct {
	*sqlStore
	snap *mysqlSnapshot
	opts OpenOptions
}

// reader is the store a read other than a streaming Scan goes through: the
// main snapshot, or while a Scan streams on it the side snapshot (opened
// on first need).
func (s *mysqlStore) reader(ctx context.Context) (*sqlStore, error) {
	snap := s.snap
	snap.mu.Lock()
	defer snap.mu.Unlock()
	if snap.streaming == 0 {
		return s.sqlStore, nil
	}
	if snap.side == nil {
		conn, err := startMySQLSnapshot(ctx, s.db)
		if err != nil {
			return nil, s.explain(err)
		}
		snap.sideConn = conn
		snap.side = newSQLStore(s.d, s.path, s.db, s.opts)
		snap.side.rq = conn
	}
	return snap.side, nil
}

func (s *mysqlStore) Scan(ctx context.Context, t *Table, cols []string, fn func(Row) error) error {
	snap := s.snap
	snap.mu.Lock()
	if snap.streaming > 0 {
		// A Scan inside a Scan reads the side snapshot.
		snap.mu.Unlock()
		r, err := s.reader(ctx)
		if err != nil {
			return err
		}
		return r.Scan(ctx, t, cols, fn)
	}
	snap.streaming++
	snap.mu.Unlock()
	defer func() {
		snap.mu.Lock()
		snap.streaming--
		snap.mu.Unlock()
	}()
	return s.sqlStore.Scan(ctx, t, cols, fn)
}

func (s *mysqlStore) Get(ctx context.Context, t *Table, cols []string, key string) (Row, bool, error) {
	r, err := s.reader(ctx)
	if err != nil {
		return Row{}, false, err
	}
	return r.Get(ctx, t, cols, key)
}

// GetMany reads through reader, as Get does.
func (s *mysqlStore) GetMany(ctx context.Context, t *Table, cols []string, keys []string, fn func(key string, row Row) error) error {
	r, err := s.reader(ctx)
	if err != nil {
		return err
	}
	return r.GetMany(ctx, t, cols, keys, fn)
}

func (s *mysqlStore) Columns(ctx context.Context, t *Table) ([]string, error) {
	r, err := s.reader(ctx)
	if err != nil {
		return nil, err
	}
	return r.Columns(ctx, t)
}

func (s *mysqlStore) Count(ctx context.Context, t *Table) (int, error) {
	r, err := s.reader(ctx)
	if err != nil {
		return 0, err
	}
	return r.Count(ctx, t)
}

func (s *mysqlStore) KeyHealth(ctx context.Context, t *Table) (KeyHealth, error) {
	r, err := s.reader(ctx)
	if err != nil {
		return KeyHealth{}, err
	}
	return r.KeyHealth(ctx, t)
}

func (s *mysqlStore) KeyIndexed(ctx context.Context, t *Table) bool {
	r, err := s.reader(ctx)
	if err != nil {
		return false
	}
	return r.KeyIndexed(ctx, t)
}

// Features are the generic store's, read through reader.
func (s *mysqlStore) Features() Features {
	f := s.sqlStore.Features()
	f.Count, f.KeyIndexed, f.KeyHealth, f.GetMany = s.Count, s.KeyIndexed, s.KeyHealth, s.GetMany
	return f
}

func (s *mysqlStore) Close() error {
	for _, st := range []*sqlStore{s.sqlStore, s.snap.side} {
		if st == nil {
			continue
		}
		st.mu.Lock()
		for _, g := range st.gets {
			g.Close()
		}
		st.gets = map[string]*sql.Stmt{}
		st.mu.Unlock()
	}
	s.snap.close()
	return s.db.Close()
}

// mysqlSnapshot is a read-only run's view of the database: a REPEATABLE
// READ, READ ONLY transaction started WITH CONSISTENT SNAPSHOT when the
// store opens, held until it closes, so every table is read as of one
// moment whatever the application commits meanwhile. side is the second
// snapshot for a query arriving while main streams a Scan (see mysqlStore).
type mysqlSnapshot struct {
	main *sql.Conn

	mu        sync.Mutex
	streaming int // Scans streaming on main (0 or 1)
	side      *sqlStore
	sideConn  *sql.Conn
}

func newMySQLSnapshot(ctx context.Context, db *sql.DB) (*mysqlSnapshot, error) {
	conn, err := startMySQLSnapshot(ctx, db)
	if err != nil {
		return nil, err
	}
	return &mysqlSnapshot{main: conn}, nil
}

// startMySQLSnapshot reserves a connection of db and starts its snapshot.
func startMySQLSnapshot(ctx context.Context, db *sql.DB) (*sql.Conn, error) {
	conn, err := db.Conn(ctx)
	if err != nil {
		return nil, err
	}
	// SET TRANSACTION applies to the next transaction only: the isolation
	// is REPEATABLE READ whatever the server's default.
	if _, err := conn.ExecContext(ctx, "SET TRANSACTION ISOLATION LEVEL REPEATABLE READ"); err != nil {
		conn.Close()
		return nil, err
	}
	if _, err := conn.ExecContext(ctx, "START TRANSACTION WITH CONSISTENT SNAPSHOT, READ ONLY"); err != nil {
		conn.Close()
		return nil, err
	}
	return conn, nil
}

func (snap *mysqlSnapshot) close() {
	for _, c := range []*sql.Conn{snap.main, snap.sideConn} {
		if c != nil {
			_, _ = c.ExecContext(context.Background(), "ROLLBACK")
			c.Close()
		}
	}
}

// mysqlDialect is MySQL 8's and MariaDB's. rollbackOnTimeout is the
// server's @@innodb_rollback_on_timeout (a global, read-only variable, read
// once at open): when set, a lock wait timeout (1205) rolls the whole
// transaction back, not only the statement.
type mysqlDialect struct {
	rollbackOnTimeout bool
}

func (mysqlDialect) kind() string { return "mysql" }

// quote: backticks, a backtick in the name doubled.
func (mysqlDialect) quote(name string) string { return "`" + strings.ReplaceAll(name, "`", "``") + "`" }

// rebind: the driver takes ? placeholders.
func (mysqlDialect) rebind(query string) string { return query }

func (mysqlDialect) intAffinity(decl string) bool {
	switch baseType(decl) {
	case "TINYINT", "SMALLINT", "MEDIUMINT", "INT", "INTEGER", "BIGINT", "YEAR":
		return true
	}
	return false
}

// boolAffinity: MySQL's BOOLEAN is TINYINT(1).
func (mysqlDialect) boolAffinity(decl string) bool {
	return strings.HasPrefix(decl, "TINYINT(1)") || decl == "BOOL" || decl == "BOOLEAN"
}

// upsertClause: ON DUPLICATE KEY UPDATE has no conflict target; "do
// nothing" is a no-op assignment of the key.
func (mysqlDialect) upsertClause(key string, set []string) string {
	if len(set) == 0 {
		return fmt.Sprintf(" ON DUPLICATE KEY UPDATE %s = %s", key, key)
	}
	return " ON DUPLICATE KEY UPDATE " + strings.Join(set, ", ")
}

// inserted: VALUES(col) works on both. MySQL 8.0.20+ deprecates it (with a
// warning) for INSERT … AS new … new.col, which MariaDB does not accept.
func (mysqlDialect) inserted(col string) string { return "VALUES(" + col + ")" }

func (mysqlDialect) badConflictTarget(error) bool { return false }

// updateFrom: neither has UPDATE … FROM; a joined UPDATE over a derived
// table of SELECT … UNION ALL SELECT … rows works on both (MySQL 8's
// VALUES ROW(…) does not exist in MariaDB, and MariaDB's VALUES (…) cannot
// name its columns). The rows' parameters come in the same order as the
// VALUES list the writer built (key, v1, v2, … per row), whose row count
// this reads back from it. STRAIGHT_JOIN reads the rows first and looks
// each up by the key's index: a plan that scanned the table would lock (and
// wait for) every row it passes, not only the batch's.
func (mysqlDialect) updateFrom(table, key string, cols []string, _ []*column, values, live string) string {
	width := len(cols) + 1
	rows := strings.Count(values, "?") / width
	var b strings.Builder
	b.WriteString("UPDATE (SELECT ? AS reconctl_k")
	for j := range cols {
		fmt.Fprintf(&b, ", ? AS reconctl_c%d", j+1)
	}
	row := " UNION ALL SELECT ?" + strings.Repeat(", ?", len(cols))
	for r := 1; r < rows; r++ {
		b.WriteString(row)
	}
	fmt.Fprintf(&b, ") AS reconctl_v STRAIGHT_JOIN %s ON %s.%s = reconctl_v.reconctl_k SET ", table, table, key)
	for j, c := range cols {
		if j > 0 {
			b.WriteString(", ")
		}
		fmt.Fprintf(&b, "%s.%s = reconctl_v.reconctl_c%d", table, c, j+1)
	}
	if live != "" {
		b.WriteString(" WHERE " + strings.TrimPrefix(live, " AND "))
	}
	return b.String()
}

// retryable: a deadlock victim's transaction was rolled back whole by
// InnoDB, so Apply may run it again. A lock wait timeout (1205) is not
// retried (it would wait as long again), nor a lost connection (a commit
// may have happened).
func (mysqlDialect) retryable(err error) bool {
	var me *mysql.MySQLError
	return errors.As(err, &me) && me.Number == 1213
}

// txAbortsOnError: InnoDB rolls a deadlock victim's whole transaction
// back (and a lock wait timeout's when the server runs with
// innodb_rollback_on_timeout=1), and a lost connection ends it; later
// statements would run outside it (autocommit), so the writer must stop at
// once. Other errors undo only their statement.
func (d mysqlDialect) txAbortsOnError(err error) bool {
	_, gone := d.txGone(err)
	return gone
}

// txGone (see txGoner) is txAbortsOnError with the reason.
func (d mysqlDialect) txGone(err error) (string, bool) {
	var me *mysql.MySQLError
	if errors.As(err, &me) {
		switch {
		case me.Number == 1213:
			return "deadlock", true
		case me.Number == 1205 && d.rollbackOnTimeout:
			return "lock wait timeout, with innodb_rollback_on_timeout", true
		case me.Number == 2006 || me.Number == 2013:
			return "lost connection", true
		}
		return "", false
	}
	if errors.Is(err, driver.ErrBadConn) || errors.Is(err, mysql.ErrInvalidConn) {
		return "lost connection", true
	}
	return "", false
}

// batchRows is mysqlBatchRows (batchLimits also bounds the parameters).
func (mysqlDialect) batchRows() int { return mysqlBatchRows }

// batchLimits: a statement's round trip and parse cost more on a server
// than in SQLite, so batches are larger; the protocol allows 65535 bound
// parameters.
func (mysqlDialect) batchLimits() (rows, params int) { return mysqlBatchRows, 60000 }

// mysqlBatchRows is how many rows one batch statement writes.
var mysqlBatchRows = 1000

// explain turns the MySQL failures an operator can act on into one line
// that says what to do; other errors pass through, named by the state.
func (d mysqlDialect) explain(err error, loc string, busy time.Duration) error {
	if err == nil {
		return nil
	}
	var me *mysql.MySQLError
	var msg string
	switch {
	case errors.As(err, &me):
		switch me.Number {
		case 1205:
			msg = fmt.Sprintf("state %s: a row is locked by another session (still locked after waiting %s, innodb_lock_wait_timeout): retry when the application's transaction has finished", loc, busy)
		case 1213:
			msg = fmt.Sprintf("state %s: deadlock with another session (the server rolled this transaction back): run again", loc)
		case 1044:
			msg = fmt.Sprintf("cannot connect to state %s: the user may not use the database, or it does not exist (%s): check the database name in the DSN and the user's grants", loc, me.Message)
		case 1045:
			msg = fmt.Sprintf("cannot connect to state %s: access denied (%s): check the user in the DSN and the password (password_env:, MYSQL_PWD or the DSN)", loc, me.Message)
		case 1049:
			msg = fmt.Sprintf("cannot connect to state %s: the database does not exist (%s): check the database name in the DSN", loc, me.Message)
		case 1142, 1143, 1227:
			msg = fmt.Sprintf("state %s: the database user lacks a privilege (%s): grant it SELECT, INSERT, UPDATE and DELETE on the state's tables", loc, me.Message)
		case 1290, 1792, 1836:
			msg = fmt.Sprintf("state %s: the server is read-only (%s): point the DSN at the primary", loc, me.Message)
		case 2006, 2013:
			msg = fmt.Sprintf("state %s: lost the connection to the server (%s): check that it is running and run again; nothing was committed", loc, me.Message)
		default:
			return fmt.Errorf("state %s: %w", loc, err)
		}
	case errors.Is(err, mysql.ErrInvalidConn), errors.Is(err, driver.ErrBadConn), errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, io.EOF):
		msg = fmt.Sprintf("state %s: lost the connection to the server: check that it is running and run again", loc)
	default:
		var ne net.Error
		if errors.As(err, &ne) {
			msg = fmt.Sprintf("state %s: the connection to the server failed (%v): check that it is running and reachable, then run again", loc, err)
			break
		}
		return fmt.Errorf("state %s: %w", loc, err)
	}
	return &stateError{msg: msg, err: err}
}

// connectError explains a failed first connection in one line.
func (d mysqlDialect) connectError(err error, loc string, cfg *mysql.Config) error {
	red := RedactLocation(loc)
	var me *mysql.MySQLError
	if errors.As(err, &me) {
		return d.explain(err, red, 0)
	}
	var oe *net.OpError
	if errors.As(err, &oe) && oe.Op == "dial" {
		return &stateError{msg: fmt.Sprintf("cannot connect to state %s: nothing answers at %s (%s): check the host and port in the DSN and that the server is running",
			red, cfg.Addr, scrubPassword(oe.Err.Error(), cfg.Passwd)), err: err}
	}
	if errors.Is(err, context.DeadlineExceeded) {
		return &stateError{msg: fmt.Sprintf("cannot connect to state %s: no answer from %s within %s: check the host and port in the DSN and that the server is running", red, cfg.Addr, cfg.Timeout), err: err}
	}
	return fmt.Errorf("cannot connect to state %s: %s", red, scrubPassword(scrubDSNError(err.Error(), loc), cfg.Passwd))
}
