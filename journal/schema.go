package journal

import (
	"context"
	"errors"
	"fmt"
	"strconv"

	"github.com/reconctl/reconctl/localstate"
)

// A migration moves the schema from version i to i+1, where i is its index in
// migrations. Each runs in its own transaction together with the version
// bump, so a crash leaves the journal at the old or the new version. Never
// edit a shipped migration: append a new one.
type migration func(ctx context.Context, tx Querier) error

var migrations = []migration{
	migrateV1, // runs and drift items
	migrateV2, // replay: events, versions, checkpoints; drift errors; process start times
}

const metaVersionKey = "schema_version"

func migrateV1(ctx context.Context, tx Querier) error {
	return execAll(ctx, tx,
		`CREATE TABLE reconctl_meta (
			key   TEXT PRIMARY KEY,
			value TEXT NOT NULL
		)`,
		// status: running, ok, drift, failed, refused, interrupted (checked
		// in Go, so a new status needs no table rebuild).
		`CREATE TABLE reconctl_runs (
			run_id         TEXT PRIMARY KEY,
			command        TEXT NOT NULL,
			args_json      TEXT NOT NULL DEFAULT '[]',
			provider       TEXT NOT NULL DEFAULT '',
			state          TEXT NOT NULL DEFAULT '',
			resources_json TEXT NOT NULL DEFAULT '[]',
			started_at     TEXT NOT NULL,
			finished_at    TEXT,
			status         TEXT NOT NULL,
			exit_code      INTEGER,
			error          TEXT NOT NULL DEFAULT '',
			counts_json    TEXT,
			report_json    TEXT,
			pid            INTEGER NOT NULL DEFAULT 0,
			host           TEXT NOT NULL DEFAULT ''
		)`,
		`CREATE INDEX reconctl_runs_started ON reconctl_runs (started_at)`,
		`CREATE TABLE reconctl_drift (
			run_id        TEXT NOT NULL,
			seq           INTEGER NOT NULL,
			resource      TEXT NOT NULL,
			object_id     TEXT NOT NULL,
			kind          TEXT NOT NULL,
			remote_status TEXT NOT NULL DEFAULT '',
			action        TEXT NOT NULL DEFAULT '',
			applied       INTEGER NOT NULL DEFAULT 0,
			fields_json   TEXT,
			PRIMARY KEY (run_id, seq)
		) WITHOUT ROWID`,
	)
}

func migrateV2(ctx context.Context, tx Querier) error {
	return execAll(ctx, tx,
		// Why a drift item's action failed.
		`ALTER TABLE reconctl_drift ADD COLUMN error TEXT NOT NULL DEFAULT ''`,
		// The process start time (clock ticks since boot, Linux) next to the
		// pid, so a reused pid does not make a dead run look alive.
		`ALTER TABLE reconctl_runs ADD COLUMN proc_start INTEGER`,
		// Every event replay processed. target is "" for replays into the
		// state and the endpoint URL for deliveries.
		`CREATE TABLE reconctl_events (
			provider     TEXT NOT NULL,
			target       TEXT NOT NULL DEFAULT '',
			event_id     TEXT NOT NULL,
			run_id       TEXT NOT NULL,
			event_type   TEXT NOT NULL DEFAULT '',
			created_at   TEXT,
			outcome      TEXT NOT NULL,
			processed_at TEXT NOT NULL,
			PRIMARY KEY (provider, target, event_id)
		)`,
		`CREATE INDEX reconctl_events_run ON reconctl_events (run_id)`,
		// The newest event or state time applied to each record.
		`CREATE TABLE reconctl_versions (
			provider   TEXT NOT NULL,
			resource   TEXT NOT NULL,
			object_id  TEXT NOT NULL,
			version_at TEXT NOT NULL,
			event_id   TEXT NOT NULL DEFAULT '',
			source     TEXT NOT NULL DEFAULT '',
			PRIMARY KEY (provider, resource, object_id)
		)`,
		// Where the last successful replay stopped (--since last).
		`CREATE TABLE reconctl_checkpoints (
			provider      TEXT PRIMARY KEY,
			event_id      TEXT NOT NULL,
			event_created TEXT NOT NULL,
			run_id        TEXT NOT NULL,
			updated_at    TEXT NOT NULL
		)`,
	)
}

func execAll(ctx context.Context, tx Querier, stmts ...string) error {
	for _, s := range stmts {
		if _, err := tx.ExecContext(ctx, s); err != nil {
			return err
		}
	}
	return nil
}

// schemaVersion reads the version: 0 for a file without reconctl tables.
func schemaVersion(ctx context.Context, q Querier) (int, error) {
	var n int
	if err := q.QueryRowContext(ctx,
		`SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = 'reconctl_meta'`).Scan(&n); err != nil {
		return 0, err
	}
	if n == 0 {
		return 0, nil
	}
	var v string
	err := q.QueryRowContext(ctx, `SELECT value FROM reconctl_meta WHERE key = ?`, metaVersionKey).Scan(&v)
	if errors.Is(err, localstate.ErrNoRows) {
		return 0, errNoVersion
	}
	if err != nil {
		return 0, err
	}
	ver, err := strconv.Atoi(v)
	if err != nil || ver < 1 {
		return 0, fmt.Errorf("%w: %q", errNoVersion, v)
	}
	return ver, nil
}

var errNoVersion = errors.New("reconctl_meta holds no valid schema_version")

// migrate brings the schema up to len(ms), one transaction per step. The
// version is re-read inside each transaction (which holds the write lock,
// see _txlock in Open), so two processes opening an old journal at once
// each apply a step at most once.
func (j *Journal) migrate(ctx context.Context, ms []migration) error {
	want := len(ms)
	for {
		ver, err := schemaVersion(ctx, j.db)
		if err != nil {
			return j.schemaErr(err)
		}
		if ver > want {
			return j.newerErr(ver, want)
		}
		if ver == want {
			return nil
		}
		if err := j.step(ctx, ms, want); err != nil {
			return err
		}
	}
}

func (j *Journal) step(ctx context.Context, ms []migration, want int) error {
	tx, err := j.db.Begin(ctx)
	if err != nil {
		return j.fail("upgrading the schema", err)
	}
	defer tx.Rollback()
	ver, err := schemaVersion(ctx, tx)
	if err != nil {
		return j.schemaErr(err)
	}
	if ver > want {
		return j.newerErr(ver, want)
	}
	if ver == want {
		return nil
	}
	if err := ms[ver](ctx, tx); err != nil {
		return j.fail(fmt.Sprintf("upgrading the schema from v%d to v%d", ver, ver+1), err)
	}
	if _, err := tx.ExecContext(ctx,
		`INSERT INTO reconctl_meta (key, value) VALUES (?, ?)
		 ON CONFLICT (key) DO UPDATE SET value = excluded.value`,
		metaVersionKey, strconv.Itoa(ver+1)); err != nil {
		return j.fail("upgrading the schema", err)
	}
	if err := tx.Commit(); err != nil {
		return j.fail(fmt.Sprintf("upgrading the schema from v%d to v%d", ver, ver+1), err)
	}
	return nil
}

func (j *Journal) newerErr(ver, want int) error {
	return fmt.Errorf("journal %s: journal schema v%d is newer than this reconctl (v%d): upgrade reconctl", j.path, ver, want)
}

func (j *Journal) schemaErr(err error) error {
	if errors.Is(err, errNoVersion) {
		return fmt.Errorf("journal %s: %v: the reconctl_* tables were not made by reconctl or were damaged; move the file aside (or drop those tables) and run again", j.path, err)
	}
	return j.fail("reading the schema version", err)
}
