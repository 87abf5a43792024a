package commands

import (
	"slices"

	"github.com/urfave/cli/v2"

	"github.com/reconctl/reconctl/reconcile"
)

func resyncCommand(io IO) *cli.Command {
	return &cli.Command{
		Name:      "resync",
		Usage:     "state-API repair: create what is missing, update what is stale, delete what the provider deleted",
		ArgsUsage: " ",
		Description: `Reads the provider's current state and writes it into the local state:
creates missing records; updates records whose local updated_at (the mapped
column) is older than the provider's, or, where the provider or the mapping has
no timestamp, whose mapped values differ; deletes only records the provider
confirms deleted (--no-delete skips deletions). A record whose local updated_at
is as new as the provider's is left alone and reported.

--force writes every mapped column of every provider record regardless of
timestamps (after a mapping change, or when field changes did not advance
updated_at); the safety brake then counts only records whose values change.
The guards of diff --apply apply: deleting 90% or more of a resource's live
records, or after an empty listing, needs --allow-empty-remote; a non-unique
local key, ids listed twice, or an absent mapped path (--allow-absent-path)
refuse the write.
--dry-run prints the plan and writes nothing. The whole plan is written in one
transaction: a run that is killed or interrupted leaves the state as before.

With tenants: in reconctl.yaml each tenant is resynced over the rows its column
scopes, in its own transaction, with its own brake (see diff --help).

--incremental compares with the provider snapshot in the journal rolled forward
from the events since the last run instead of listing the provider (every
suspect read live; see diff --help); --full lists in full and renews it.

EXAMPLES:
   reconctl resync --dry-run
   reconctl resync --incremental --max-changes 2%
   reconctl resync -r customers --no-delete
   reconctl resync --force --max-changes unlimited
   reconctl resync --wait 5m     # in cron: wait for another writer instead of failing

EXIT STATUS:
   0  in sync, or everything planned was written
   1  error; nothing written
   2  drift remains (dry run, or not fixable: exists, inaccessible, unconfirmed, local newer)
   3  the safety brake refused to write; the plan is printed, nothing written`,
		Flags: withGlobal(withTenants(
			&cli.BoolFlag{Name: "force", Usage: "rewrite every mapped column of every provider record, regardless of updated_at", EnvVars: envs("FORCE")},
			&cli.BoolFlag{Name: "dry-run", Aliases: []string{"n"}, Usage: "print the plan; write nothing", EnvVars: envs("DRY_RUN")},
			&cli.BoolFlag{Name: "no-delete", Usage: "never delete local records, even those the provider confirms deleted", EnvVars: envs("NO_DELETE")},
			maxChangesFlag(),
			allowEmptyRemoteFlag(),
			allowAbsentPathFlag(),
			reconfirmAfterFlag(),
			incrementalFlags()[0],
			incrementalFlags()[1],
			waitFlag(),
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
			job := reconcileJob{command: "resync", mode: reconcile.ModeResync, write: !c.Bool("dry-run"), brake: brake, noDelete: c.Bool("no-delete"),
				allowEmptyRemote: c.Bool("allow-empty-remote"), allowAbsent: append(slices.Clone(s.Config.AllowAbsentPaths), c.StringSlice("allow-absent-path")...),
				reconfirmAfter: c.Duration("reconfirm-after"), incr: incrementalJobFrom(c)}
			if job.incr != nil {
				s.calls = job.incr.calls
			}
			if c.Bool("force") {
				job.mode = reconcile.ModeResyncForce
			}
			return s.runReport(c, "resync", job.write, func(rep *reconcile.Report, r *run) error {
				return runReconcile(c.Context, s, job, rep, r)
			})
		},
	}
}
