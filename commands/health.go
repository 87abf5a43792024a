package commands

import (
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"

	"github.com/urfave/cli/v2"

	"github.com/reconctl/reconctl/journal"
	"github.com/reconctl/reconctl/localstate"
	"github.com/reconctl/reconctl/reconcile"
	"github.com/reconctl/reconctl/report"
)

func healthCommand(io IO) *cli.Command {
	return &cli.Command{
		Name:      "health",
		Usage:     "per tenant and resource: last run, last success, failures in a row, gap rate (read-only)",
		ArgsUsage: " ",
		Description: `Reads the journal's record of multi-tenant diff and resync runs (tenants: in
reconctl.yaml) and shows, per tenant and resource: the last run, the last
successful run (exit 0 or 2; every diff and resync is a full pass, so it is
also the last full pass), how many of its latest runs failed in a row, and
the gap rate of its last successful run (drift items ÷ records, the larger
side) beside the previous one. A note interprets a spike: half or more of
the records drifting looks like broken polling or a broken mapping, a burst
of missing_remote like a mass deletion, of missing_local like missed creates.

--alert-over SHARE (1% or 0.01) marks the rows whose gap rate is above it,
names their tenants on stderr and exits 2, so cron can page on it.

EXAMPLES:
   reconctl health -c reconctl.yaml
   reconctl health --alert-over 1% -o json

EXIT STATUS:
   0  read; no gap rate above --alert-over
   1  error: no journal
   2  a tenant's gap rate is above --alert-over`,
		Flags: withGlobal(
			&cli.StringFlag{Name: "alert-over", Usage: "exit 2 when a tenant's gap rate is above `SHARE` (1% or 0.01)", EnvVars: envs("ALERT_OVER")},
			metricsFileFlag(),
		),
		Action: func(c *cli.Context) error {
			s, err := loadSettings(c, io)
			if err != nil {
				return err
			}
			if c.NArg() > 0 {
				return errors.New("health takes no arguments")
			}
			over, err := parseShare(c.String("alert-over"))
			if err != nil {
				return err
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
			j, err := journal.Open(c.Context, path, journal.Options{Server: s.journalServerOptions(path)})
			if err != nil {
				return s.journalErr(place, err)
			}
			defer j.Close()
			rows, err := j.Health(c.Context, over)
			if err != nil {
				return err
			}
			h := &report.HealthReport{Command: "health", Tenants: rows}
			if h.Tenants == nil {
				h.Tenants = []journal.HealthRow{}
			}
			if over > 0 {
				h.AlertOver = &over
			}
			var alerted []string
			for _, r := range rows {
				if r.Alert {
					alerted = append(alerted, r.Tenant+"/"+r.Resource+" "+strconv.FormatFloat(r.GapRate*100, 'f', 2, 64)+"%")
				}
			}
			if len(alerted) > 0 {
				h.ExitCode = reconcile.ExitDrift
				s.Logger.Warn("gap rate above --alert-over", "over", c.String("alert-over"), "tenants", strings.Join(alerted, ", "))
			}
			if err := report.Render(s.IO.Out, s.Output, report.Health(h), report.Options{}); err != nil {
				return fmt.Errorf("printing the report: %w", err)
			}
			s.writeMetrics(c, healthMetrics(h))
			return exitWith(h.ExitCode)
		},
	}
}

// parseShare parses --alert-over: "1%", "0.5%" or "0.01" ("" = none).
func parseShare(v string) (float64, error) {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0, nil
	}
	p, isPct := strings.CutSuffix(v, "%")
	f, err := strconv.ParseFloat(strings.TrimSpace(p), 64)
	if isPct {
		f /= 100
	}
	if err != nil || f <= 0 || f > 1 {
		return 0, fmt.Errorf("--alert-over %q: want a share above 0 and at most 100%% (1%% or 0.01)", v)
	}
	return f, nil
}
