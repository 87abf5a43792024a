// Package localstate reads and writes the application's own state: its
// SQLite database or a JSON snapshot. The engine sees only the Store interface.
package localstate

import (
	"context"
	"database/sql"
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
}

// Row is one local record: its key and the values of the columns asked for,
// in the order asked for. A store may reuse Values between callbacks: copy
// what you keep.
type Row struct {
	Key    string
	Values []any
}

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
}

// Store is the local side of a reconciliation.
type Store interface {
	// Kind is "sqlite" or "json".
	Kind() string
	// Path is the state file's path as given.
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
	Close() error
}

// TxStore is implemented by stores backed by a SQL database (SQLite). The
// journal uses it to commit its own rows in the same transaction as the
// changes, so a run's record and its writes land together or not at all.
type TxStore interface {
	Store
	// DB is the store's database handle (read-only when the store is).
	DB() *sql.DB
	// ApplyTx writes changes inside tx, which the caller commits or rolls
	// back. After an error part of the changes may be in tx: roll it back.
	// It keeps nothing of changes (nor their Values maps) once it returns:
	// callers reuse them.
	ApplyTx(ctx context.Context, tx *sql.Tx, changes []Change) error
}

// KeyIndexer is implemented by stores that can say whether Get by key is
// cheap (an index lookup) rather than a scan of the table. Both stores have it.
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
