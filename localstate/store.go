// Package localstate reads and writes the application's own state: its
// SQLite database or a JSON snapshot. The engine sees only the Store
// interface; the store registry (registry.go) chooses a backend by a
// location's scheme or extension; Features says what a store can do, and Tx
// (tx.go) is the transaction seam the engine, the journal and replay share.
package localstate

import (
	"context"
	"errors"
)

// Compare modes for a mapped field (see reconcile for their meaning).
const (
	CompareExact    = "exact"
	CompareCasefold = "casefold"
	CompareNumber   = "number"
	CompareBool     = "bool"
	CompareTime     = "time"
	CompareJSON     = "json"
)

// Field maps one local column to a provider field path.
type Field struct {
	Column  string // local column (SQLite) or key (JSON)
	Path    string // provider field path, dots into the object: items.data.0.price.id
	Compare string // one of the Compare* modes; "" = exact
}

// Table is how one provider resource is stored locally.
type Table struct {
	Resource   string  // provider resource name ("customers")
	Name       string  // SQLite table / JSON top-level key; defaults to Resource
	Key        string  // column holding the provider id; defaults to "id"
	UpdatedAt  string  // optional local timestamp column
	SoftDelete string  // optional: deletions set this column; rows with it set count as absent
	Fields     []Field // empty: compare the columns both sides share (see Store.Columns)
	// Scope, when set, restricts every read and write to one tenant's rows
	// (scope.go); nil: the whole table.
	Scope *Scope
}

// Row is one local record: its key and the values of the columns asked for,
// in the order asked for. A store may reuse Values between callbacks: copy
// what you keep.
type Row struct {
	Key    string
	Values []any
	// Version identifies the stored version of the row the scan read,
	// where the store can say (a writable Postgres state: its ctid and
	// xmin); zero otherwise. A write conditional on it (Expect.Version)
	// is checked against it in the write itself.
	Version RowVersion
}

// RowVersion is one stored version of a row: a row written since (by
// anyone) has another, so a row still at the version a scan read holds
// exactly the values it read. Zero: unknown.
type RowVersion struct {
	Loc  uint64 // Postgres: the ctid, block<<16 | offset
	Xact uint32 // Postgres: xmin, the transaction that wrote it (never 0)
}

// IsZero reports whether v is unknown.
func (v RowVersion) IsZero() bool { return v.Xact == 0 }

// Op is what a Change does to a local record.
type Op string

const (
	OpCreate Op = "create"
	OpUpdate Op = "update"
	OpDelete Op = "delete"
)

// Change is one write. For OpCreate, Values holds every mapped column (the key
// column is set from Key); for OpUpdate only the columns to change; for
// OpDelete none (a soft delete sets Table.SoftDelete to the current time).
// Values are provider values (string, json.Number, float64, int64, bool, nil,
// map[string]any, []any); the store converts them to its column types.
type Change struct {
	Table  *Table
	Op     Op
	Key    string
	Values map[string]any
	// Expect, when set, makes the write conditional on the local row as
	// the caller read it (see Expect); nil: unconditional.
	Expect *Expect
}

// Store is the local side of a reconciliation.
type Store interface {
	// Kind is the store's backend name in the registry: "sqlite", "json".
	Kind() string
	// Path is the state's location as given (a file path; a DSN for a
	// server store: show it through RedactLocation).
	Path() string
	// Columns validates that t exists with its key, updated_at, soft_delete
	// and mapped columns, and returns every local column of t except the key
	// (for a JSON snapshot: the union of the keys its records carry). A
	// missing table or column is an error naming it.
	Columns(ctx context.Context, t *Table) ([]string, error)
	// Scan streams every live (not soft-deleted) row of t with the values of cols.
	Scan(ctx context.Context, t *Table, cols []string, fn func(Row) error) error
	// Get reads one live row by key; ok is false when there is none.
	Get(ctx context.Context, t *Table, cols []string, key string) (row Row, ok bool, err error)
	// Apply writes all changes or none (one transaction, or one atomic file replace).
	Apply(ctx context.Context, changes []Change) error
	// Features says what else the store can do (see Features). It is the
	// same for the store's whole life.
	Features() Features
	Close() error
}

// Features are a store's capabilities as data: each is a function, nil when
// the store lacks it, so callers test a field instead of asserting an
// interface, and a new store says what it can do in one place.
type Features struct {
	// Count returns how many live rows t has, cheaply (the engine sizes its
	// index with it). nil: unknown.
	Count func(ctx context.Context, t *Table) (int, error)
	// KeyIndexed says whether Get by key is an index lookup rather than a
	// scan of the table. nil: never.
	KeyIndexed func(ctx context.Context, t *Table) bool
	// KeyHealth counts what a Scan cannot show of t's keys (rows without a
	// key, keys equal under the key column's collation). nil: nothing to add.
	KeyHealth func(ctx context.Context, t *Table) (KeyHealth, error)
	// Begin starts a transaction in the store's database: the engine's
	// writes, the journal's rows (when the journal lives in the same
	// database) and replay's per-event savepoints commit together through
	// it. nil: the store has no transactions; Apply is its only write and is
	// atomic on its own (a JSON snapshot's file replace).
	Begin func(ctx context.Context) (Tx, error)
	// Exists answers, for each of keys, what Get's ok would (a live row of
	// t with that key, in t's scope), in a few queries instead of one per
	// key (replay asks once per chunk of events). nil: ask Get.
	Exists func(ctx context.Context, t *Table, keys []string) (map[string]bool, error)
	// GetMany reads the live rows of keys in batches (a SQL store: one
	// SELECT … WHERE key IN (…) per chunk of keys, the values bound) and
	// calls fn, in the order of keys, with each key that names a row and
	// that row, as Get would answer for that key: a key the batch finds no
	// row of exactly as written (a COLLATE NOCASE column, an integer key
	// written "010", or no row at all) is read with Get. A key asked twice
	// is answered once. nil: read each key with Get (GetEach does either).
	GetMany func(ctx context.Context, t *Table, cols []string, keys []string, fn func(key string, row Row) error) error
}

// GetEach reads the live rows of keys through s's GetMany when it has one,
// else with one Get per key, and calls fn with each key that names a row
// (in the order of keys, a repeated key once). The row's Values are fn's
// until it returns.
func GetEach(ctx context.Context, s Store, t *Table, cols []string, keys []string, fn func(key string, row Row) error) error {
	if gm := s.Features().GetMany; gm != nil {
		return gm(ctx, t, cols, keys, fn)
	}
	seen := make(map[string]bool, len(keys))
	for _, k := range keys {
		if seen[k] {
			continue
		}
		seen[k] = true
		row, ok, err := s.Get(ctx, t, cols, k)
		if err != nil {
			return err
		}
		if ok {
			if err := fn(k, row); err != nil {
				return err
			}
		}
	}
	return nil
}

// KeyIndexer is implemented by stores that can say whether Get by key is
// cheap (an index lookup) rather than a scan of the table. Both stores have
// it; new code reads Features().KeyIndexed instead of asserting it.
type KeyIndexer interface {
	KeyIndexed(ctx context.Context, t *Table) bool
}

// ErrNotFound-style errors are plain; these sentinels let callers classify failures.
var (
	// ErrStateMissing: the state file does not exist (never created silently).
	ErrStateMissing = errors.New("state file does not exist")
	// ErrReadOnly: Apply on a store opened read-only.
	ErrReadOnly = errors.New("state opened read-only")
)

// SchemaError is a table or column that a mapping names and the state lacks.
// Table or Column says which; the message says what exists.
type SchemaError struct {
	Table, Column string
	Err           error
}

func (e *SchemaError) Error() string { return e.Err.Error() }
func (e *SchemaError) Unwrap() error { return e.Err }
