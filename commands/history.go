package commands

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"strconv"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/reconctl/reconctl/config"
	"github.com/reconctl/reconctl/journal"
	"github.com/reconctl/reconctl/localstate"
	"github.com/reconctl/reconctl/reconcile"
	"github.com/reconctl/reconctl/replay"
	"github.com/reconctl/reconctl/report"
)

func historyCommand(io IO) *cli.Command {
	return &cli.Command{
		Name:      "history",
		Usage:     "list recorded runs, or print one run's report again",
		ArgsUsage: "[run-id]",
		Description: `Every run of every command is recorded in the journal (reconctl_* tables in
the SQLite or server state, <snapshot>.reconctl.db beside a JSON state, or --journal):
when, command, arguments (secrets removed), provider, resources, counts, every
drift item with its action and whether it was applied, and the exit code.

--prune DURATION (90d, 2w, 720h) deletes the runs that started longer ago,
with their drift items and reports, and prints what it deleted. It never
deletes a run still marked running, the replay checkpoints, the records'
versions, or the replay event records of events the provider still keeps
(Stripe and WorkOS keep events 30 days), so replay's "never twice" holds.
journal_retention: 90d in reconctl.yaml does the same after every writing run.

Without an argument, lists runs newest first. A run still marked running whose
process is gone (killed, crashed) shows as incomplete. With a run id, prints
that run's report again, identical to the original, in any -o format.

EXAMPLES:
   reconctl history --state app.db
   reconctl history --limit 50 --command resync -o json
   reconctl history r_20261127T101500Z_3f9a -o markdown
   reconctl history --prune 90d

EXIT STATUS:
   0  listed; or, with a run id, the run's report was printed; or pruned
   1  error: no journal, unknown run id`,
		Flags: withGlobal(
			&cli.IntFlag{Name: "limit", Value: 20, Usage: "list at most `N` runs (0: all)", EnvVars: envs("LIMIT")},
			&cli.StringFlag{Name: "command", Usage: "list only runs of `COMMAND` (diff, resync, replay, check-user)", EnvVars: envs("COMMAND")},
			&cli.StringFlag{Name: "tenant", Usage: "list only runs that ran for tenant `ID` (tenants: in reconctl.yaml)", EnvVars: envs("TENANT")},
			&cli.StringFlag{Name: "prune", Usage: "delete the runs older than `DURATION` (90d, 2w, 720h) and print what was deleted"},
		),
		Action: func(c *cli.Context) error {
			s, err := loadSettings(c, io)
			if err != nil {
				return err
			}
			if c.NArg() > 1 {
				return errors.New("history takes at most one run id")
			}
			var keep time.Duration
			if c.IsSet("prune") {
				if c.NArg() > 0 {
					return errors.New("history --prune takes no run id")
				}
				if keep, err = config.ParseRetention(c.String("prune")); err != nil {
					return fmt.Errorf("--prune: %v", err)
				}
			}
			place, err := s.journalPlace()
			if err != nil {
				return err
			}
			path := place.Location
			if place.Create && localstate.IsFile(path) {
				if _, err := os.Stat(path); errors.Is(err, os.ErrNotExist) {
					return fmt.Errorf("no journal at %s: no run has been recorded for this state yet", path)
				}
			}
			opts := journal.Options{Server: s.journalServerOptions(path)}
			j, err := journal.Open(c.Context, path, opts)
			if err != nil {
				return s.journalErr(place, err)
			}
			defer j.Close()
			if keep > 0 {
				p, err := s.prune(c.Context, j, keep)
				if err != nil {
					return err
				}
				return report.Render(s.IO.Out, s.Output, prunedDoc{p, c.String("prune")}, report.Options{})
			}
			if c.NArg() == 1 {
				return reprint(s, j, c.Args().First(), c)
			}
			limit := c.Int("limit")
			if limit <= 0 {
				limit = -1
			}
			runs, err := j.ListRuns(c.Context, journal.Filter{Limit: limit, Command: c.String("command"), Tenant: c.String("tenant")})
			if err != nil {
				return err
			}
			return renderRuns(s, runs)
		},
	}
}

func reprint(s *Settings, j *journal.Journal, id string, c *cli.Context) error {
	info, raw, err := j.GetRun(c.Context, id)
	if err != nil {
		return err
	}
	if len(raw) == 0 {
		msg := fmt.Sprintf("run %s (%s) has no report", id, info.Command)
		if info.Error != "" {
			msg += ": it failed: " + info.Error
		} else if info.Status == journal.StatusIncomplete || info.Status == journal.StatusRunning {
			msg += ": it is " + info.Status
		}
		return errors.New(msg)
	}
	if s.Output == "json" {
		_, err := s.IO.Out.Write(raw) // byte for byte what the run printed
		return err
	}
	switch info.Command {
	case "check-user":
		var u report.UserReport
		if err := json.Unmarshal(raw, &u); err != nil {
			return fmt.Errorf("run %s: stored report is unreadable: %w", id, err)
		}
		return report.Render(s.IO.Out, s.Output, report.User(&u), report.Options{})
	case "replay":
		var r replay.Report
		if err := json.Unmarshal(raw, &r); err != nil {
			return fmt.Errorf("run %s: stored report is unreadable: %w", id, err)
		}
		return report.Render(s.IO.Out, s.Output, &r, report.Options{})
	}
	var rep reconcile.Report
	d := json.NewDecoder(bytes.NewReader(raw))
	d.UseNumber() // values keep their JSON types, exactly as first printed
	if err := d.Decode(&rep); err != nil {
		return fmt.Errorf("run %s: stored report is unreadable: %w", id, err)
	}
	return s.printReport(&rep)
}

// prunedDoc is history --prune's report: one line of text, or
// {"command":"history","pruned":{…},"exit_code":0}.
type prunedDoc struct {
	p    journal.Pruned
	keep string
}

func (d prunedDoc) JSONValue() any {
	return map[string]any{"command": "history", "pruned": d.p, "exit_code": 0}
}

func (d prunedDoc) NDJSONLines() []any { return []any{d.JSONValue()} }

func (d prunedDoc) CSV() ([]string, [][]string) {
	return []string{"before", "runs", "drift_items", "events"},
		[][]string{{d.p.Before.Format(time.RFC3339), strconv.Itoa(d.p.Runs), strconv.Itoa(d.p.DriftItems), strconv.Itoa(d.p.Events)}}
}

func (d prunedDoc) Text(t *report.Text) error {
	t.WriteString(prunedText(d.p, d.keep) + ".\n")
	return nil
}

func renderRuns(s *Settings, runs []journal.RunInfo) error {
	return report.Render(s.IO.Out, s.Output, report.Runs(runs), report.Options{})
}
