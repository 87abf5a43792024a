package commands

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"

	"github.com/urfave/cli/v2"

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

Without an argument, lists runs newest first. A run still marked running whose
process is gone (killed, crashed) shows as incomplete. With a run id, prints
that run's report again, identical to the original, in any -o format.

EXAMPLES:
   reconctl history --state app.db
   reconctl history --limit 50 --command resync -o json
   reconctl history r_20261127T101500Z_3f9a -o markdown

EXIT STATUS:
   0  listed; or, with a run id, the run's report was printed
   1  error: no journal, unknown run id`,
		Flags: withGlobal(
			&cli.IntFlag{Name: "limit", Value: 20, Usage: "list at most `N` runs (0: all)", EnvVars: envs("LIMIT")},
			&cli.StringFlag{Name: "command", Usage: "list only runs of `COMMAND` (diff, resync, replay, check-user)", EnvVars: envs("COMMAND")},
			&cli.StringFlag{Name: "tenant", Usage: "list only runs that ran for tenant `ID` (tenants: in reconctl.yaml)", EnvVars: envs("TENANT")},
		),
		Action: func(c *cli.Context) error {
			s, err := loadSettings(c, io)
			if err != nil {
				return err
			}
			if c.NArg() > 1 {
				return errors.New("history takes at most one run id")
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

func renderRuns(s *Settings, runs []journal.RunInfo) error {
	return report.Render(s.IO.Out, s.Output, report.Runs(runs), report.Options{})
}
