package reconcile

import (
	"time"

	"github.com/reconctl/reconctl/providers"
)

// Drift kinds (contract).
const (
	KindMissingLocal  = "missing_local"
	KindMissingRemote = "missing_remote"
	KindChanged       = "changed"
)

// Remote statuses in a drift item (contract). "present" for missing_local and
// changed; for missing_remote the outcome of the single-object check.
const (
	RemotePresent      = "present"
	RemoteDeleted      = "deleted"
	RemoteExists       = "exists"
	RemoteInaccessible = "inaccessible"
	RemoteUnconfirmed  = "unconfirmed"
)

// Actions (contract).
const (
	ActionCreate = "create"
	ActionUpdate = "update"
	ActionDelete = "delete"
	ActionNone   = "none"
)

// Exit codes (contract).
const (
	ExitOK    = 0
	ExitError = 1
	ExitDrift = 2
	ExitBrake = 3
)

// Report is the result of diff, resync and check-user --fix, rendered as the
// contract's JSON. Field names are binding.
type Report struct {
	Command    string                      `json:"command"`
	RunID      string                      `json:"run_id"`
	Provider   string                      `json:"provider"`
	State      string                      `json:"state"`
	StartedAt  time.Time                   `json:"started_at"`
	FinishedAt time.Time                   `json:"finished_at"`
	DryRun     bool                        `json:"dry_run"`
	Resources  []string                    `json:"resources"`
	Summary    map[string]*ResourceSummary `json:"summary"`
	Drift      []Drift                     `json:"drift"`
	// Since is diff --since's window start (RFC 3339): only the records the
	// provider changed since then were compared. "" for a full diff.
	Since string `json:"since,omitempty"`
	// SinceCoverage says, per resource, where diff --since read what changed
	// and whether deletions in the window were in it.
	SinceCoverage map[string]providers.Coverage `json:"since_coverage,omitempty"`
	Brake         *BrakeRefusal                 `json:"brake,omitempty"`
	// Tenants holds each tenant's part of a multi-tenant run (tenants: in
	// reconctl.yaml); Summary and Drift are then the totals over them.
	Tenants []TenantResult `json:"tenants,omitempty"`
	// IncrementalRun, set by diff/resync --incremental, adds the
	// incremental, fallback, cursor and provider_calls fields.
	*IncrementalRun
	ExitCode int `json:"exit_code"`
}

// IncrementalRun is how a diff/resync --incremental went (contract:
// Incremental diffs).
type IncrementalRun struct {
	// Incremental: every resource was compared with its snapshot rolled
	// forward from the events, not listed in full.
	Incremental bool `json:"incremental"`
	// Fallback says why a full listing was done (null when none was).
	Fallback *string `json:"fallback"`
	// Cursor is the events cursor the run read from, or, when it listed in
	// full, the cursor it stored (the oldest over the resources).
	Cursor string `json:"cursor"`
	// ProviderCalls counts the HTTP requests the run sent to the provider.
	ProviderCalls int64 `json:"provider_calls"`
}

// ResourceSummary counts one resource's records and drift.
type ResourceSummary struct {
	Remote        int `json:"remote"`
	Local         int `json:"local"`
	InSync        int `json:"in_sync"`
	MissingLocal  int `json:"missing_local"`
	MissingRemote int `json:"missing_remote"`
	Changed       int `json:"changed"`
	Applied       int `json:"applied"`
	Unresolved    int `json:"unresolved"`
	// Conflicts counts the writes not applied because the local row changed
	// since it was read (contract: Guards).
	Conflicts int `json:"conflicts"`
	// Reconfirmed counts the records re-read from the provider just before
	// writing, because their listed copy was older than --reconfirm-after.
	Reconfirmed int `json:"reconfirmed"`
	Ignored     int `json:"ignored,omitempty"`
	// Guards (issue #11): local rows sharing a key with another row (under
	// the key column's collation), local rows without a key, ids the
	// provider listed more than once, and mapped paths no listed record has.
	DuplicateLocal  int      `json:"duplicate_local,omitempty"`
	NullKeyLocal    int      `json:"null_key_local,omitempty"`
	DuplicateRemote int      `json:"duplicate_remote,omitempty"`
	AbsentPaths     []string `json:"absent_paths,omitempty"`
}

// Drift is one record that differs between the two sides.
type Drift struct {
	Resource     string      `json:"resource"`
	ID           string      `json:"id"`
	Kind         string      `json:"kind"`
	RemoteStatus string      `json:"remote_status"`
	Fields       []FieldDiff `json:"fields,omitempty"`
	Action       string      `json:"action"`
	Applied      bool        `json:"applied"`
	// Note says why an item has action none when that is not obvious
	// (resync: the local record is as new as the provider's).
	Note  string `json:"note,omitempty"`
	Error string `json:"error,omitempty"`
	// Conflict: the write was not applied because the local row changed
	// since it was read (Reason says how); the next run looks again.
	Conflict bool   `json:"conflict,omitempty"`
	Reason   string `json:"reason,omitempty"`
	// Tenant is the tenant the item belongs to in a multi-tenant run.
	Tenant string `json:"tenant,omitempty"`
}

// FieldDiff is one differing field: Name is the LOCAL column, Path the provider field path.
type FieldDiff struct {
	Name   string `json:"name"`
	Path   string `json:"path"`
	Local  any    `json:"local"`
	Remote any    `json:"remote"`
}

// BrakeRefusal says why the safety brake refused to write.
type BrakeRefusal struct {
	Resource string `json:"resource"`
	Planned  int    `json:"planned"`
	Limit    int    `json:"limit"`
	Setting  string `json:"max_changes"`
	// Reason is set when the refusal is not the --max-changes limit but the
	// mass-delete guard: "empty_listing" or "deletes_all" (--allow-empty-remote overrides).
	Reason string `json:"reason,omitempty"`
	Live   int    `json:"live,omitempty"` // the live local records the deletes are compared with
}
