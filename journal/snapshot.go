package journal

// The provider snapshots of diff --incremental (issue #18; the engine's side
// is reconcile/snapshot.go): reconctl_snapshots holds one header per
// (provider, tenant, resource) with a small integer id, reconctl_snapshot_rows
// each record's projected values under that id (so a row does not repeat the
// three names), reconctl_snapshot_events the event ids already applied inside
// the overlap window. Every save is one transaction; an incremental save
// rewrites only the rows that changed.

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"time"

	"github.com/reconctl/reconctl/localstate"
	"github.com/reconctl/reconctl/reconcile"
)

var _ reconcile.SnapshotStore = (*Journal)(nil)

// migrateSnapshots adds the snapshot tables.
func migrateSnapshots(ctx context.Context, d dialect, tx Querier) error {
	switch d.kind {
	case localstate.KindPostgres:
		return execAll(ctx, tx,
			`CREATE TABLE reconctl_snapshots (
				snap_id     BIGINT PRIMARY KEY,
				provider    TEXT NOT NULL,
				tenant      TEXT NOT NULL,
				resource    TEXT NOT NULL,
				fingerprint TEXT NOT NULL,
				cursor_at   TEXT NOT NULL,
				full_at     TEXT NOT NULL,
				saved_at    TEXT NOT NULL,
				row_count   BIGINT NOT NULL,
				UNIQUE (provider, tenant, resource)
			)`,
			`CREATE TABLE reconctl_snapshot_rows (
				snap_id        BIGINT NOT NULL,
				object_id      TEXT NOT NULL,
				vals           BYTEA NOT NULL,
				remote_updated BIGINT NOT NULL,
				event_at       BIGINT NOT NULL,
				deleted        INTEGER NOT NULL,
				PRIMARY KEY (snap_id, object_id)
			)`,
			`CREATE TABLE reconctl_snapshot_events (
				snap_id  BIGINT NOT NULL,
				event_id TEXT NOT NULL,
				created  BIGINT NOT NULL,
				PRIMARY KEY (snap_id, event_id)
			)`,
		)
	case localstate.KindMySQL:
		return execAll(ctx, tx,
			`CREATE TABLE IF NOT EXISTS reconctl_snapshots (
				snap_id     BIGINT NOT NULL PRIMARY KEY,
				provider    VARCHAR(191) NOT NULL,
				tenant      VARCHAR(191) NOT NULL,
				resource    VARCHAR(191) NOT NULL,
				fingerprint VARCHAR(64) NOT NULL,
				cursor_at   VARCHAR(40) NOT NULL,
				full_at     VARCHAR(40) NOT NULL,
				saved_at    VARCHAR(40) NOT NULL,
				row_count   BIGINT NOT NULL,
				UNIQUE KEY reconctl_snapshots_key (provider, tenant, resource)
			)`+mysqlTable,
			`CREATE TABLE IF NOT EXISTS reconctl_snapshot_rows (
				snap_id        BIGINT NOT NULL,
				object_id      VARCHAR(191) NOT NULL,
				vals           MEDIUMBLOB NOT NULL,
				remote_updated BIGINT NOT NULL,
				event_at       BIGINT NOT NULL,
				deleted        INT NOT NULL,
				PRIMARY KEY (snap_id, object_id)
			)`+mysqlTable,
			`CREATE TABLE IF NOT EXISTS reconctl_snapshot_events (
				snap_id  BIGINT NOT NULL,
				event_id VARCHAR(191) NOT NULL,
				created  BIGINT NOT NULL,
				PRIMARY KEY (snap_id, event_id)
			)`+mysqlTable,
		)
	}
	return execAll(ctx, tx,
		`CREATE TABLE reconctl_snapshots (
			snap_id     INTEGER PRIMARY KEY,
			provider    TEXT NOT NULL,
			tenant      TEXT NOT NULL,
			resource    TEXT NOT NULL,
			fingerprint TEXT NOT NULL,
			cursor_at   TEXT NOT NULL,
			full_at     TEXT NOT NULL,
			saved_at    TEXT NOT NULL,
			row_count   INTEGER NOT NULL,
			UNIQUE (provider, tenant, resource)
		)`,
		`CREATE TABLE reconctl_snapshot_rows (
			snap_id        INTEGER NOT NULL,
			object_id      TEXT NOT NULL,
			vals           BLOB NOT NULL,
			remote_updated INTEGER NOT NULL,
			event_at       INTEGER NOT NULL,
			deleted        INTEGER NOT NULL,
			PRIMARY KEY (snap_id, object_id)
		) WITHOUT ROWID`,
		`CREATE TABLE reconctl_snapshot_events (
			snap_id  INTEGER NOT NULL,
			event_id TEXT NOT NULL,
			created  INTEGER NOT NULL,
			PRIMARY KEY (snap_id, event_id)
		) WITHOUT ROWID`,
	)
}

// snapID is the id of k's snapshot (found false when there is none).
func (j *Journal) snapID(ctx context.Context, q Querier, k reconcile.SnapshotKey) (int64, bool, error) {
	var id int64
	err := j.q(q).QueryRowContext(ctx, j.d.bind(`SELECT snap_id FROM reconctl_snapshots WHERE provider = ? AND tenant = ? AND resource = ?`),
		k.Provider, k.Tenant, k.Resource).Scan(&id)
	if err == localstate.ErrNoRows {
		return 0, false, nil
	}
	if err != nil {
		return 0, false, err
	}
	return id, true, nil
}

// SnapshotMeta reads k's snapshot header.
func (j *Journal) SnapshotMeta(ctx context.Context, k reconcile.SnapshotKey) (reconcile.SnapshotMeta, bool, error) {
	var m reconcile.SnapshotMeta
	var cursor, full string
	err := j.db.QueryRowContext(ctx, j.d.bind(`SELECT fingerprint, cursor_at, full_at, row_count FROM reconctl_snapshots
		WHERE provider = ? AND tenant = ? AND resource = ?`), k.Provider, k.Tenant, k.Resource).Scan(&m.Fingerprint, &cursor, &full, &m.Rows)
	if err == localstate.ErrNoRows {
		return m, false, nil
	}
	if err != nil {
		return m, false, j.fail("reading the snapshot of "+k.String(), err)
	}
	if m.Cursor, err = parseTS(cursor); err != nil {
		return m, false, err
	}
	if m.FullAt, err = parseTS(full); err != nil {
		return m, false, err
	}
	return m, true, nil
}

// SnapshotRows streams k's rows by id.
func (j *Journal) SnapshotRows(ctx context.Context, k reconcile.SnapshotKey, fn func(reconcile.SnapshotRow) error) error {
	id, found, err := j.snapID(ctx, nil, k)
	if err != nil || !found {
		return j.fail("reading the snapshot of "+k.String(), err)
	}
	rows, err := j.db.QueryContext(ctx, j.d.bind(`SELECT object_id, vals, remote_updated, event_at, deleted FROM reconctl_snapshot_rows
		WHERE snap_id = ? ORDER BY object_id`), id)
	if err != nil {
		return j.fail("reading the snapshot of "+k.String(), err)
	}
	defer rows.Close()
	for rows.Next() {
		var r reconcile.SnapshotRow
		var del int
		if err := rows.Scan(&r.ID, &r.Values, &r.UpdatedAt, &r.EventAt, &del); err != nil {
			return j.fail("reading the snapshot of "+k.String(), err)
		}
		r.Deleted = del != 0
		if err := fn(r); err != nil {
			return err
		}
	}
	return j.fail("reading the snapshot of "+k.String(), rows.Err())
}

// SnapshotEvents reads the ids of the events k's snapshot has applied
// inside the overlap window.
func (j *Journal) SnapshotEvents(ctx context.Context, k reconcile.SnapshotKey) ([]reconcile.SnapshotEvent, error) {
	id, found, err := j.snapID(ctx, nil, k)
	if err != nil || !found {
		return nil, j.fail("reading the snapshot of "+k.String(), err)
	}
	rows, err := j.db.QueryContext(ctx, j.d.bind(`SELECT event_id, created FROM reconctl_snapshot_events WHERE snap_id = ?`), id)
	if err != nil {
		return nil, j.fail("reading the snapshot of "+k.String(), err)
	}
	defer rows.Close()
	var out []reconcile.SnapshotEvent
	for rows.Next() {
		var e reconcile.SnapshotEvent
		if err := rows.Scan(&e.ID, &e.Created); err != nil {
			return nil, j.fail("reading the snapshot of "+k.String(), err)
		}
		out = append(out, e)
	}
	return out, j.fail("reading the snapshot of "+k.String(), rows.Err())
}

// snapIDOf is the snapshot id of key k: 62 bits of a SHA-256 of its parts
// (positive in every SQL integer type the journal uses). Two keys sharing
// one is a primary-key violation on insert, never a shared snapshot.
func snapIDOf(k reconcile.SnapshotKey) int64 {
	h := sha256.Sum256([]byte(k.Provider + "\x00" + k.Tenant + "\x00" + k.Resource))
	return int64(binary.BigEndian.Uint64(h[:8]) >> 2)
}

// SaveSnapshot writes s for k in one transaction: a full save replaces
// every row, an incremental one upserts s.Rows and deletes s.Remove.
// A deadlock victim (MySQL's gap locks when tenants store their snapshots
// at once) was rolled back whole and is tried again.
func (j *Journal) SaveSnapshot(ctx context.Context, k reconcile.SnapshotKey, s reconcile.SnapshotSave) error {
	op := "storing the snapshot of " + k.String()
	var err error
	for attempt := 1; ; attempt++ {
		err = j.saveSnapshotTx(ctx, k, s)
		if err == nil || attempt == 5 || ctx.Err() != nil || !localstate.IsRetryable(err) {
			return j.fail(op, err)
		}
		time.Sleep(time.Duration(attempt*attempt) * 10 * time.Millisecond)
	}
}

func (j *Journal) saveSnapshotTx(ctx context.Context, k reconcile.SnapshotKey, s reconcile.SnapshotSave) error {
	tx, err := j.db.Begin(ctx)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	if err := j.saveSnapshot(ctx, tx, k, s); err != nil {
		return err
	}
	return tx.Commit()
}

func (j *Journal) saveSnapshot(ctx context.Context, tx Querier, k reconcile.SnapshotKey, s reconcile.SnapshotSave) error {
	id, found, err := j.snapID(ctx, tx, k)
	if err != nil {
		return err
	}
	now := fmtTS(time.Now())
	if !found {
		// The id comes from the key, not from MAX(snap_id)+1: tenants that
		// store their first snapshots at once (--tenant-concurrency) in a
		// server journal would otherwise take the same id.
		id = snapIDOf(k)
		if _, err := tx.ExecContext(ctx, j.d.bind(`INSERT INTO reconctl_snapshots (snap_id, provider, tenant, resource, fingerprint, cursor_at, full_at, saved_at, row_count)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`), id, k.Provider, k.Tenant, k.Resource, s.Meta.Fingerprint, fmtTS(s.Meta.Cursor), fmtTS(s.Meta.FullAt), now, s.Meta.Rows); err != nil {
			return err
		}
	} else if _, err := tx.ExecContext(ctx, j.d.bind(`UPDATE reconctl_snapshots SET fingerprint = ?, cursor_at = ?, full_at = ?, saved_at = ?, row_count = ? WHERE snap_id = ?`),
		s.Meta.Fingerprint, fmtTS(s.Meta.Cursor), fmtTS(s.Meta.FullAt), now, s.Meta.Rows, id); err != nil {
		return err
	}
	if s.Full {
		if _, err := tx.ExecContext(ctx, j.d.bind(`DELETE FROM reconctl_snapshot_rows WHERE snap_id = ?`), id); err != nil {
			return err
		}
	}
	if len(s.Remove) > 0 {
		exec, done, err := j.prepare(ctx, tx, j.d.bind(`DELETE FROM reconctl_snapshot_rows WHERE snap_id = ? AND object_id = ?`))
		if err != nil {
			return err
		}
		for _, oid := range s.Remove {
			if err := exec(ctx, id, oid); err != nil {
				done()
				return err
			}
		}
		done()
	}
	if len(s.Rows) > 0 {
		cols := []string{"snap_id", "object_id", "vals", "remote_updated", "event_at", "deleted"}
		q := j.d.upsert("reconctl_snapshot_rows", cols, cols[:2], cols[2:], "")
		if s.Full {
			// The rows were just deleted: plain inserts.
			q = "INSERT INTO reconctl_snapshot_rows (" + j.d.cols(cols) + ") VALUES (" + placeholders(len(cols)) + ")"
		}
		vals := make([][]any, len(s.Rows))
		for i, r := range s.Rows {
			del := 0
			if r.Deleted {
				del = 1
			}
			v := r.Values
			if v == nil {
				v = []byte{}
			}
			vals[i] = []any{id, r.ID, v, r.UpdatedAt, r.EventAt, del}
		}
		if err := j.execBatches(ctx, tx, q, len(cols), vals); err != nil {
			return err
		}
	}
	if _, err := tx.ExecContext(ctx, j.d.bind(`DELETE FROM reconctl_snapshot_events WHERE snap_id = ?`), id); err != nil {
		return err
	}
	if len(s.Events) > 0 {
		vals := make([][]any, len(s.Events))
		for i, e := range s.Events {
			vals[i] = []any{id, e.ID, e.Created}
		}
		q := "INSERT INTO reconctl_snapshot_events (snap_id, event_id, created) VALUES (" + placeholders(3) + ")"
		if err := j.execBatches(ctx, tx, q, 3, vals); err != nil {
			return err
		}
	}
	return nil
}

// SnapshotBytes is the size of k's stored rows: ids and values (what the
// snapshot costs in the journal, before the database's own overhead).
func (j *Journal) SnapshotBytes(ctx context.Context, k reconcile.SnapshotKey) (int64, error) {
	id, found, err := j.snapID(ctx, nil, k)
	if err != nil || !found {
		return 0, j.fail("reading the snapshot of "+k.String(), err)
	}
	var n int64
	err = j.db.QueryRowContext(ctx, j.d.bind(`SELECT COALESCE(SUM(LENGTH(object_id) + LENGTH(vals) + 17), 0) FROM reconctl_snapshot_rows WHERE snap_id = ?`), id).Scan(&n)
	return n, j.fail("reading the snapshot of "+k.String(), err)
}
