package report

import (
	"strconv"
	"time"

	"github.com/reconctl/reconctl/journal"
)

// HealthReport is `reconctl health`'s report (contract: Additions → Tenants).
type HealthReport struct {
	Command   string              `json:"command"`
	AlertOver *float64            `json:"alert_over"`
	Tenants   []journal.HealthRow `json:"tenants"`
	ExitCode  int                 `json:"exit_code"`
}

// Health is the report of `reconctl health`.
func Health(h *HealthReport) Doc { return healthDoc{h} }

type healthDoc struct{ h *HealthReport }

func (d healthDoc) JSONValue() any { return d.h }

func (d healthDoc) NDJSONLines() []any {
	lines := make([]any, 0, len(d.h.Tenants)+1)
	for _, t := range d.h.Tenants {
		lines = append(lines, t)
	}
	return append(lines, struct {
		ExitCode int `json:"exit_code"`
	}{d.h.ExitCode})
}

var healthHeader = []string{"tenant", "resource", "last run", "last success", "failures", "gap rate", "previous", "alert", "note"}

func (d healthDoc) rows() [][]string {
	ts := func(t *time.Time) string {
		if t == nil {
			return "never"
		}
		return t.UTC().Format(time.RFC3339)
	}
	var rows [][]string
	for _, t := range d.h.Tenants {
		prev := ""
		if t.PreviousGapRate != nil {
			prev = pct(*t.PreviousGapRate)
		}
		alert := ""
		if t.Alert {
			alert = "ALERT"
		}
		rows = append(rows, []string{t.Tenant, t.Resource, ts(t.LastRun), ts(t.LastSuccess), strconv.Itoa(t.FailuresInARow), pct(t.GapRate), prev, alert, t.Note})
	}
	return rows
}

func pct(f float64) string { return strconv.FormatFloat(f*100, 'f', 2, 64) + "%" }

func (d healthDoc) CSV() ([]string, [][]string) { return healthHeader, d.rows() }

func (d healthDoc) Text(t *Text) error {
	alerts := 0
	for _, r := range d.h.Tenants {
		if r.Alert {
			alerts++
		}
	}
	t.Printf("health: %d rows (tenant × resource), %d above the alert threshold\n", len(d.h.Tenants), alerts)
	if len(d.h.Tenants) > 0 {
		if err := t.Table(healthHeader, d.rows()); err != nil {
			return err
		}
	}
	return nil
}
