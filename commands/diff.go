package commands

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/reconctl/reconctl/reconcile"
	"github.com/reconctl/reconctl/replay"
)

func diffCommand(io IO) *cli.Command {
	return &cli.Command{
		Name:      "diff",
		Usage:     "compare every record on both sides, field by field (read-only; --apply fixes)",
		ArgsUsage: " ",
		Description: `Lists every record of each resource at the provider and in the local state and
reports, field by field: records the app missed (missing_local), records the
provider no longer lists (missing_remote, each confirmed with a single-object
read, or in bulk from the provider's deletion events where it has them:
deleted, exists but out of scope, inaccessible, or unconfirmed), and
records whose mapped fields differ (changed). Read-only unless --apply.

With --apply the plan is written in one transaction (SQLite) or one atomic
file replace (JSON): creates, updates of the differing mapped columns only,
and deletions of records the provider confirmed deleted (soft deletes when
soft_delete is mapped). The safety brake refuses plans larger than
--max-changes, and, whatever --max-changes says, a plan that deletes 90% or
more of a resource's live local records or follows an empty listing (exit 3;
--allow-empty-remote if it is right). A write is refused (exit 1) when the
local key is not unique (or collides under COLLATE NOCASE), when the provider
listed an id twice, or when a mapped path no listed record has would null a
column (--allow-absent-path PATH confirms it).

Against a live app: each record to create or update whose listed copy is
older than --reconfirm-after (default 5s) is read again just before writing
and re-planned from the fresh copy; every write is conditional on the local
row still holding what the comparison read, and one whose row the app changed
meanwhile is a conflict: not applied, reported with its reason, exit 2.

With --since WHEN (24h, 7d, RFC 3339): the daily catch-up. No full listing:
only the records the provider changed since WHEN are compared, each one's
current state (read with a Get, or as listed by an updated_at-ordered feed)
against its local row, field by field, under the same compare modes, ignore
rules, guards and brake (--apply writes the fixes the same way). The changes
come from the provider's events (Stripe, WorkOS, REST with events:), its
updated_after filter (REST with updated_after_param) or its updated_at order
(Clerk). Deletions in the window are seen only where the events show them
(a deleted record the app still has: missing_remote, confirmed by a Get);
the report says where they are not covered (Clerk, REST updated_after): a
full diff finds those. The JSON report adds "since" and "since_coverage".

With tenants: in reconctl.yaml (Stripe Connect accounts, the distinct values
of a column, or a list with per-tenant credentials) the diff runs once per
tenant over the rows its column scopes: --tenant ID, --shard I/N (or --shards N
with JOB_COMPLETION_INDEX), --due, --tenant-concurrency N, all under one --rps
budget; the report adds a section per tenant and exits with the worst code.

With --incremental the provider is not listed: the snapshot of its records kept
in the journal (the values at the mapped paths) is rolled forward from the
events since the last run (less a 5-minute overlap, de-duplicated by event id)
and compared with a full scan of the local state, the same comparison; every
suspect (missing_local, changed, missing_remote) is read live before it is
reported or applied. The first run, or one whose snapshot cannot be trusted
(no snapshot, the mapping changed, a cursor older than the provider's event
retention less a day, an event in another API version whose object cannot be
re-fetched, full_every: reached (default 7d), --full, a provider with neither
an events API nor a changes feed), lists in full and stores a fresh snapshot;
without events, Clerk's users by updated_at and a REST updated_after filter
roll it forward, and deletions are found by the full_every listing. The JSON
report says "incremental", "fallback" (why), "cursor" and "provider_calls".

EXAMPLES:
   reconctl diff --provider stripe --state app.db
   reconctl diff --incremental -o json            # every 5 minutes in cron
   reconctl diff --incremental --full             # weekly: renew the snapshot
   reconctl diff -c reconctl.yaml -r customers -o json | jq '.drift[]'
   reconctl diff -c testdata/demo/reconctl.yaml   # the bundled demo data, offline
   reconctl diff --apply --max-changes 50
   reconctl diff --since 24h -o json   # only what the provider changed in the last day

EXIT STATUS:
   0  in sync (or, with --apply, every drift item was fixed)
   1  error: bad input, config, credentials, provider or state failure; nothing written
   2  drift remains (found and not fixed, or not fixable: exists, inaccessible, unconfirmed; or a conflict)
   3  the safety brake refused to write; the plan is printed, nothing written`,
		Flags: withGlobal(withTenants(
			&cli.BoolFlag{Name: "apply", Usage: "write the fixes (default: report only)", EnvVars: envs("APPLY")},
			maxChangesFlag(),
			allowEmptyRemoteFlag(),
			allowAbsentPathFlag(),
			reconfirmAfterFlag(),
			incrementalFlags()[0],
			incrementalFlags()[1],
			waitFlag(),
			&cli.StringFlag{Name: "write-ignore", Usage: "write the drift found as an ignore baseline to `FILE` (patterns for .reconctlignore)", EnvVars: envs("WRITE_IGNORE")},
			// No environment variable: replay's RECONCTL_SINCE must never
			// turn a full diff into a window's.
			&cli.StringFlag{Name: "since", Usage: "compare only the records the provider changed since `WHEN` (24h, 7d, RFC 3339, a date, unix seconds): from its events, updated_after filter or updated_at order; deletions only where its events show them"},
		)...),
		Action: func(c *cli.Context) error {
			s, err := loadSettings(c, io)
			if err != nil {
				return err
			}
			brake, err := s.maxChanges(c)
			if err != nil {
				return err
			}
			since, err := parseDiffSince(c)
			if err != nil {
				return err
			}
			if !since.IsZero() && (c.Bool("incremental") || c.Bool("full")) {
				return errors.New("--since compares only a window's changes and keeps no snapshot; --incremental and --full compare every record: give one of them")
			}
			if !since.IsZero() && c.String("write-ignore") != "" {
				return errors.New("--write-ignore with --since would write a baseline of one window's drift only: run a full diff to write the baseline")
			}
			job := reconcileJob{since: since, command: "diff", mode: reconcile.ModeDiff, write: c.Bool("apply"), brake: brake, writeIgnore: c.String("write-ignore"),
				allowEmptyRemote: c.Bool("allow-empty-remote"), allowAbsent: append(slices.Clone(s.Config.AllowAbsentPaths), c.StringSlice("allow-absent-path")...),
				reconfirmAfter: c.Duration("reconfirm-after"), incr: incrementalJobFrom(c)}
			if job.incr != nil {
				s.calls = job.incr.calls
			}
			return s.runReport(c, "diff", job.write, func(rep *reconcile.Report, r *run) error {
				if !since.IsZero() {
					rep.Since = since.UTC().Format(time.RFC3339)
				}
				return runReconcile(c.Context, s, job, rep, r)
			})
		},
	}
}

// parseDiffSince reads --since as replay's --since reads its WHEN (except
// "last", which is replay's checkpoint): zero when not given.
func parseDiffSince(c *cli.Context) (time.Time, error) {
	v := strings.TrimSpace(c.String("since"))
	if !c.IsSet("since") && v == "" {
		return time.Time{}, nil
	}
	if v == "last" {
		return time.Time{}, errors.New("--since last is replay's (from its checkpoint); diff --since takes a time: RFC 3339 (2026-11-20T10:00:00Z), a date (2026-11-20), a duration back from now (24h, 90m, 7d) or unix seconds")
	}
	now := time.Now()
	t, err := replay.ParseWhen(v, now)
	if err != nil {
		return time.Time{}, fmt.Errorf("--since: %s", strings.TrimSuffix(err.Error(), ", or last"))
	}
	if t.After(now) {
		return time.Time{}, fmt.Errorf("--since %s is in the future", v)
	}
	// Whole seconds, rounded down: the window only widens.
	return t.Truncate(time.Second), nil
}
