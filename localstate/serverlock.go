package localstate

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
)

// The one-writer lock of a server state (issue #14): the server's own
// lock, held by a session of its own for the whole run, never a file. One
// lock per resource table, taken in sorted order, so runs over overlapping
// tables serialise and runs over disjoint ones do not wait for each other.
//
//   - Postgres: pg_try_advisory_lock(key), key a 64-bit hash of the
//     database, the current schema and the table (advisory locks are per
//     database; the hash keeps schemas apart).
//   - MySQL/MariaDB: GET_LOCK(name, 0), name "reconctl_" and 40 hex digits
//     of a hash of the database and the table (names are server-wide and at
//     most 64 characters).
//
// A holder that dies (killed, crashed, its connection lost) releases on
// disconnect: the server drops a session's locks with the session. Who
// holds a lock is kept in reconctl_lock_holders (one row per lock, with the
// server session id), trusted only while the server says that session holds
// the lock (pg_locks.pid, IS_USED_LOCK); a row left by a dead session is the
// stale holder the next run reports having taken over.

// LockHolder is who holds a writer lock.
type LockHolder struct {
	RunID     string
	PID       int
	Host      string
	Command   string
	StartedAt time.Time
}

// ServerLock is a held server writer lock.
type ServerLock struct {
	// Stale is the holder recorded by a session that ended without
	// releasing the lock (the server dropped it); nil when none.
	Stale *LockHolder

	pool    *sql.DB
	conn    *sql.Conn
	kind    string
	keys    []serverLockKey
	session int64
	done    bool
	err     error

	location string // redacted
	// mu serialises the session's use by the background check, Check and
	// Release.
	mu            sync.Mutex
	lost          error
	stop, stopped chan struct{}
}

// LockBusyError is returned when another session holds the lock on one of
// the resources.
type LockBusyError struct {
	Location string        // the state, redacted
	Resource string        // the resource table whose lock is held
	Holder   *LockHolder   // nil when no trusted holder row names it
	Session  int64         // the holding server session (0: unknown)
	Waited   time.Duration // how long LockServer waited; 0 for wait 0
}

func (e *LockBusyError) Error() string {
	return fmt.Sprintf("state %s: table %s is locked by another reconctl session", e.Location, e.Resource)
}

// ServerLockPoll is how often a waiting LockServer tries again.
var ServerLockPoll = 200 * time.Millisecond

// lockWaitHook, when set (tests), runs each time LockServer is about to
// wait for a busy lock.
var lockWaitHook func()

// LockServerOf takes the server writer lock of the state at location, as
// its backend does it (Backend.Lock).
func LockServerOf(ctx context.Context, location string, opts ServerOptions, resources []string, h LockHolder, wait time.Duration) (*ServerLock, error) {
	b, err := Lookup(location)
	if err != nil {
		return nil, err
	}
	if b.Lock == nil {
		return nil, fmt.Errorf("state %s: a %s state has no server lock", RedactLocation(location), b.Name)
	}
	return b.Lock(ctx, location, opts, resources, h, wait)
}

// HasServerLock reports whether the state at location is locked in its
// server (Backend.Lock) rather than by a file.
func HasServerLock(location string) bool {
	b, err := Lookup(location)
	return err == nil && b.Lock != nil
}

type serverLockKey struct {
	resource string
	pg       int64  // Postgres advisory key
	name     string // MySQL lock name; for Postgres the key in decimal
}

// LockServer takes the writer lock on resources (table names) of the
// server state at location for a run held by h: at once (wait 0: a
// *LockBusyError when another session holds one), or trying again every
// ServerLockPoll until it has them all, wait runs out (*LockBusyError with
// Waited) or ctx is done. It holds either every lock or none.
func LockServer(ctx context.Context, location string, opts ServerOptions, resources []string, h LockHolder, wait time.Duration) (*ServerLock, error) {
	kind := serverKind(location)
	if kind == "" {
		return nil, fmt.Errorf("state %s: not a database server DSN", RedactLocation(location))
	}
	res := slices.Clone(resources)
	slices.Sort(res)
	res = slices.Compact(res)
	if len(res) == 0 {
		return nil, fmt.Errorf("state %s: no resource to lock", RedactLocation(location))
	}
	pool, err := openPool(ctx, location, opts)
	if err != nil {
		if ctx.Err() != nil {
			return nil, fmt.Errorf("waiting for the lock on state %s: %w", RedactLocation(location), ctx.Err())
		}
		return nil, err
	}
	pool.SetMaxOpenConns(1)
	conn, err := pool.Conn(ctx)
	if err != nil {
		pool.Close()
		return nil, fmt.Errorf("state %s: connecting for the writer lock: %s", RedactLocation(location), scrubDSNError(err.Error(), location))
	}
	l := &ServerLock{pool: pool, conn: conn, kind: kind}
	fail := func(err error) (*ServerLock, error) {
		conn.Close()
		pool.Close()
		return nil, err
	}
	wrap := func(err error) error {
		return fmt.Errorf("state %s: taking the writer lock: %s", RedactLocation(location), scrubDSNError(err.Error(), location))
	}
	var db, schema string
	if kind == KindPostgres {
		err = conn.QueryRowContext(ctx, `SELECT current_database(), coalesce(current_schema(), ''), pg_backend_pid()`).Scan(&db, &schema, &l.session)
	} else {
		err = conn.QueryRowContext(ctx, `SELECT DATABASE(), CONNECTION_ID()`).Scan(&db, &l.session)
	}
	if err != nil {
		return fail(wrap(err))
	}
	seen := map[string]bool{}
	for _, r := range res {
		// The lock is the table's, not its spelling's: keyed by the schema
		// (database) and name the server resolves it to.
		nsp, rel, err := l.identity(ctx, r, db, schema)
		if err != nil {
			return fail(wrap(err))
		}
		sum := sha256.Sum256([]byte("reconctl writer lock\x00" + db + "\x00" + nsp + "\x00" + rel))
		k := serverLockKey{resource: r, pg: int64(binary.BigEndian.Uint64(sum[:8]))}
		if kind == KindPostgres {
			k.name = strconv.FormatInt(k.pg, 10)
		} else {
			k.name = "reconctl_" + hex.EncodeToString(sum[:20])
		}
		if seen[k.name] {
			continue // two spellings of one table: one lock
		}
		seen[k.name] = true
		l.keys = append(l.keys, k)
	}
	slices.SortFunc(l.keys, func(a, b serverLockKey) int { return strings.Compare(a.name, b.name) })
	holders := l.ensureHolders(ctx)

	start := time.Now()
	var timer *time.Timer
	for {
		busy, err := l.tryAll(ctx)
		if err != nil {
			return fail(wrap(err))
		}
		if busy == nil {
			break
		}
		waited := time.Since(start)
		if wait <= 0 || waited >= wait {
			be := &LockBusyError{Location: RedactLocation(location), Resource: busy.resource}
			if wait > 0 {
				be.Waited = wait
			}
			be.Session, be.Holder = l.holderOf(ctx, *busy, holders)
			return fail(be)
		}
		if lockWaitHook != nil {
			lockWaitHook()
		}
		d := min(ServerLockPoll, wait-waited)
		if timer == nil {
			timer = time.NewTimer(d)
			defer timer.Stop()
		} else {
			timer.Reset(d)
		}
		select {
		case <-ctx.Done():
			return fail(fmt.Errorf("waiting for the lock on state %s: %w", RedactLocation(location), ctx.Err()))
		case <-timer.C:
		}
	}
	if holders {
		// The lock is held; a holder row that cannot be written only
		// leaves a refusal unable to name this run.
		_ = l.recordHolder(ctx, h)
	}
	l.location = RedactLocation(location)
	l.stop = make(chan struct{})
	l.stopped = make(chan struct{})
	go l.keepAlive(ServerLockKeepAlive)
	return l, nil
}

// identity is the table r resolves to on the server, as the store resolves
// it: Postgres the schema and relation the catalog finds for r with the
// session's search_path (schema:) — "schema.table" names its schema —,
// MySQL the database and TABLE_NAME as information_schema spells it
// (lower_case_table_names). A table that does not exist yet is its spelled
// name lower-cased, with the current schema (database) made explicit.
func (l *ServerLock) identity(ctx context.Context, r, db, current string) (schema, table string, err error) {
	if l.kind == KindPostgres {
		schema, table := splitPGName(r)
		var oid uint32
		var nsp, rel, kind string
		err := l.conn.QueryRowContext(ctx, pgRelation, schema, table).Scan(&oid, &nsp, &rel, &kind)
		if errors.Is(err, sql.ErrNoRows) && schema != "" {
			err = l.conn.QueryRowContext(ctx, pgRelation, "", r).Scan(&oid, &nsp, &rel, &kind)
		}
		switch {
		case err == nil:
			return nsp, rel, nil
		case errors.Is(err, sql.ErrNoRows):
			if schema == "" {
				schema = current
			}
			return strings.ToLower(schema), strings.ToLower(table), nil
		}
		return "", "", err
	}
	var name string
	err = l.conn.QueryRowContext(ctx, `SELECT TABLE_NAME FROM information_schema.TABLES WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = ?
		ORDER BY BINARY TABLE_NAME = BINARY ? DESC LIMIT 1`, r, r).Scan(&name)
	switch {
	case err == nil:
		return db, name, nil
	case errors.Is(err, sql.ErrNoRows):
		return db, strings.ToLower(r), nil
	}
	return "", "", err
}

// ServerLockKeepAlive is how often a held lock's session is checked in the
// background (which also keeps an idle connection from timing out).
var ServerLockKeepAlive = 30 * time.Second

// keepAliveHook, when set (tests), gets the result of each background check.
var keepAliveHook func(error)

// LockLostError says a held writer lock is gone: its session ended (a
// network failure, wait_timeout, a proxy, an operator's kill) and the
// server released the lock, so another run may be writing.
type LockLostError struct {
	Location string // the state, redacted
	Resource string // the table whose lock is gone
	Err      error  // what the check saw
}

func (e *LockLostError) Error() string {
	return fmt.Sprintf("the writer lock on state %s (table %s) was lost (its session ended): nothing was written; run again", e.Location, e.Resource)
}

func (e *LockLostError) Unwrap() error { return e.Err }

func (l *ServerLock) keepAlive(every time.Duration) {
	defer close(l.stopped)
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-l.stop:
			return
		case <-t.C:
		}
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		err := l.Check(ctx)
		cancel()
		if keepAliveHook != nil {
			keepAliveHook(err)
		}
		if err != nil {
			return
		}
	}
}

// Check says whether the server still says this session holds every lock:
// nil, or a *LockLostError once the session or a lock is gone (it stays
// lost). A write must not commit after Check fails.
func (l *ServerLock) Check(ctx context.Context) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.lost != nil {
		return l.lost
	}
	if l.done {
		return &LockLostError{Location: l.location, Resource: l.keys[0].resource, Err: errors.New("released")}
	}
	for _, k := range l.keys {
		var held bool
		var err error
		if l.kind == KindPostgres {
			u := uint64(k.pg)
			err = l.conn.QueryRowContext(ctx, `SELECT EXISTS (SELECT 1 FROM pg_locks WHERE locktype = 'advisory' AND granted
				AND pid = pg_backend_pid() AND database = (SELECT oid FROM pg_database WHERE datname = current_database())
				AND classid::bigint = $1 AND objid::bigint = $2 AND objsubid = 1)`, int64(u>>32), int64(u&0xffffffff)).Scan(&held)
		} else {
			var n *int64
			err = l.conn.QueryRowContext(ctx, `SELECT IS_USED_LOCK(?) = CONNECTION_ID()`, k.name).Scan(&n)
			held = n != nil && *n == 1
		}
		if err != nil && ctx.Err() != nil {
			return fmt.Errorf("checking the writer lock on state %s: %w", l.location, ctx.Err())
		}
		if err == nil && !held {
			err = errors.New("the server no longer says this session holds it")
		}
		if err != nil {
			l.lost = &LockLostError{Location: l.location, Resource: k.resource, Err: err}
			return l.lost
		}
	}
	return nil
}

// tryAll tries every lock in order; on the first busy one it releases
// those it took and returns that key.
func (l *ServerLock) tryAll(ctx context.Context) (*serverLockKey, error) {
	for i := range l.keys {
		ok, err := l.try(ctx, l.keys[i])
		if err != nil || !ok {
			l.unlock(context.WithoutCancel(ctx), l.keys[:i])
			if err != nil {
				return nil, err
			}
			return &l.keys[i], nil
		}
	}
	return nil, nil
}

func (l *ServerLock) try(ctx context.Context, k serverLockKey) (bool, error) {
	if l.kind == KindPostgres {
		var ok bool
		err := l.conn.QueryRowContext(ctx, `SELECT pg_try_advisory_lock($1)`, k.pg).Scan(&ok)
		return ok, err
	}
	var got *int64
	if err := l.conn.QueryRowContext(ctx, `SELECT GET_LOCK(?, 0)`, k.name).Scan(&got); err != nil {
		return false, err
	}
	if got == nil {
		return false, errors.New("GET_LOCK returned NULL")
	}
	return *got == 1, nil
}

func (l *ServerLock) unlock(ctx context.Context, keys []serverLockKey) error {
	var errs []error
	for _, k := range keys {
		var err error
		if l.kind == KindPostgres {
			_, err = l.conn.ExecContext(ctx, `SELECT pg_advisory_unlock($1)`, k.pg)
		} else {
			_, err = l.conn.ExecContext(ctx, `DO RELEASE_LOCK(?)`, k.name)
		}
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

// ensureHolders makes reconctl_lock_holders when it is missing and says
// whether it can be used. A role that may not create it still locks; its
// refusals then cannot name the holding run.
func (l *ServerLock) ensureHolders(ctx context.Context) bool {
	var n int
	probe := `SELECT count(*) FROM information_schema.tables WHERE table_schema = DATABASE() AND table_name = 'reconctl_lock_holders'`
	if l.kind == KindPostgres {
		probe = `SELECT count(*) FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
			WHERE n.nspname = current_schema() AND c.relname = 'reconctl_lock_holders'`
	}
	if err := l.conn.QueryRowContext(ctx, probe).Scan(&n); err != nil {
		return false
	}
	if n > 0 {
		return true
	}
	if l.kind == KindMySQL {
		_, err := l.conn.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS reconctl_lock_holders (
			lock_key   VARCHAR(64) NOT NULL PRIMARY KEY,
			session_id BIGINT NOT NULL,
			run_id     VARCHAR(191) NOT NULL,
			pid        INT NOT NULL,
			host       VARCHAR(255) NOT NULL,
			command    VARCHAR(255) NOT NULL,
			started_at VARCHAR(40) NOT NULL
		) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin`)
		return err == nil
	}
	// Two sessions creating it at once would collide in the catalog: one
	// at a time, in a transaction.
	tx, err := l.conn.BeginTx(ctx, nil)
	if err != nil {
		return false
	}
	defer tx.Rollback()
	if _, err := tx.ExecContext(ctx, `SELECT pg_advisory_xact_lock(hashtextextended('reconctl lock holders ' || coalesce(current_schema(), ''), 0))`); err != nil {
		return false
	}
	if _, err := tx.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS reconctl_lock_holders (
			lock_key   TEXT PRIMARY KEY,
			session_id BIGINT NOT NULL,
			run_id     TEXT NOT NULL,
			pid        INTEGER NOT NULL,
			host       TEXT NOT NULL,
			command    TEXT NOT NULL,
			started_at TEXT NOT NULL
		)`); err != nil {
		return false
	}
	return tx.Commit() == nil
}

const lockTS = "2006-01-02T15:04:05.000000000Z"

// recordHolder writes h as the holder of every lock, noting a row left by
// another session (one that died holding it: we hold the lock now).
func (l *ServerLock) recordHolder(ctx context.Context, h LockHolder) error {
	if h.PID == 0 {
		h.PID = os.Getpid()
	}
	if h.Host == "" {
		h.Host, _ = os.Hostname()
	}
	if h.StartedAt.IsZero() {
		h.StartedAt = time.Now()
	}
	bind := func(q string) string { return q }
	if l.kind == KindPostgres {
		bind = pgBind
	}
	for _, k := range l.keys {
		var sess int64
		var old LockHolder
		var started string
		err := l.conn.QueryRowContext(ctx, bind(`SELECT session_id, run_id, pid, host, command, started_at FROM reconctl_lock_holders WHERE lock_key = ?`), k.name).
			Scan(&sess, &old.RunID, &old.PID, &old.Host, &old.Command, &started)
		switch {
		case err == nil:
			if sess != l.session && l.Stale == nil {
				old.StartedAt, _ = time.Parse(lockTS, started)
				l.Stale = &old
			}
			_, err = l.conn.ExecContext(ctx, bind(`UPDATE reconctl_lock_holders SET session_id = ?, run_id = ?, pid = ?, host = ?, command = ?, started_at = ? WHERE lock_key = ?`),
				l.session, h.RunID, h.PID, h.Host, h.Command, h.StartedAt.UTC().Format(lockTS), k.name)
		case errors.Is(err, sql.ErrNoRows):
			_, err = l.conn.ExecContext(ctx, bind(`INSERT INTO reconctl_lock_holders (lock_key, session_id, run_id, pid, host, command, started_at) VALUES (?, ?, ?, ?, ?, ?, ?)`),
				k.name, l.session, h.RunID, h.PID, h.Host, h.Command, h.StartedAt.UTC().Format(lockTS))
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// holderOf finds the session holding k and, when its holder row is that
// session's, who it is.
func (l *ServerLock) holderOf(ctx context.Context, k serverLockKey, holders bool) (int64, *LockHolder) {
	var sess *int64
	var err error
	if l.kind == KindPostgres {
		u := uint64(k.pg)
		err = l.conn.QueryRowContext(ctx, `SELECT pid FROM pg_locks WHERE locktype = 'advisory' AND granted
			AND database = (SELECT oid FROM pg_database WHERE datname = current_database())
			AND classid::bigint = $1 AND objid::bigint = $2 AND objsubid = 1 LIMIT 1`, int64(u>>32), int64(u&0xffffffff)).Scan(&sess)
	} else {
		err = l.conn.QueryRowContext(ctx, `SELECT IS_USED_LOCK(?)`, k.name).Scan(&sess)
	}
	if err != nil || sess == nil {
		return 0, nil
	}
	if !holders {
		return *sess, nil
	}
	bind := func(q string) string { return q }
	if l.kind == KindPostgres {
		bind = pgBind
	}
	var h LockHolder
	var started string
	err = l.conn.QueryRowContext(ctx, bind(`SELECT run_id, pid, host, command, started_at FROM reconctl_lock_holders WHERE lock_key = ? AND session_id = ?`), k.name, *sess).
		Scan(&h.RunID, &h.PID, &h.Host, &h.Command, &started)
	if err != nil {
		return *sess, nil
	}
	h.StartedAt, _ = time.Parse(lockTS, started)
	return *sess, &h
}

// Release clears the holder rows and releases every lock, then closes the
// lock's session. Calling it again does nothing.
func (l *ServerLock) Release() error {
	if l.stop != nil {
		select {
		case <-l.stop:
		default:
			close(l.stop)
		}
		<-l.stopped
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.done {
		return l.err
	}
	l.done = true
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	bind := func(q string) string { return q }
	if l.kind == KindPostgres {
		bind = pgBind
	}
	for _, k := range l.keys {
		_, _ = l.conn.ExecContext(ctx, bind(`DELETE FROM reconctl_lock_holders WHERE lock_key = ? AND session_id = ?`), k.name, l.session)
	}
	errUnlock := l.unlock(ctx, l.keys)
	errConn := l.conn.Close()
	errPool := l.pool.Close() // the session ends: whatever was held is released
	if err := errors.Join(errUnlock, errConn, errPool); err != nil {
		l.err = fmt.Errorf("releasing the server writer lock: %w", err)
	}
	return l.err
}

// Resources are the locked resource tables, sorted.
func (l *ServerLock) Resources() []string {
	out := make([]string, len(l.keys))
	for i, k := range l.keys {
		out[i] = k.resource
	}
	slices.Sort(out)
	return out
}

// pgBind numbers ? placeholders for Postgres ($1, $2, …).
func pgBind(q string) string {
	out := make([]byte, 0, len(q)+8)
	n := 0
	for i := 0; i < len(q); i++ {
		if q[i] == '?' {
			n++
			out = append(out, '$')
			out = strconv.AppendInt(out, int64(n), 10)
			continue
		}
		out = append(out, q[i])
	}
	return string(out)
}
