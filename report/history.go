package report

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/reconctl/reconctl/journal"
)

// Runs is history's list of runs as a Doc.
func Runs(runs []journal.RunInfo) Doc {
	if runs == nil {
		runs = []journal.RunInfo{}
	}
	return runsDoc(runs)
}

type runsDoc []journal.RunInfo

func (d runsDoc) JSONValue() any { return []journal.RunInfo(d) }

// ndjsonEscapesHTML: history's ndjson has always escaped <, > and &.
func (runsDoc) ndjsonEscapesHTML() {}

func (d runsDoc) NDJSONLines() []any {
	lines := make([]any, 0, len(d))
	for _, r := range d {
		lines = append(lines, r)
	}
	return lines
}

var runsHeader = []string{"run id", "started", "command", "provider", "resources", "drift", "applied", "exit", "status"}

func (d runsDoc) CSV() ([]string, [][]string) {
	var rows [][]string
	for _, r := range d {
		exit := ""
		if r.ExitCode != nil {
			exit = strconv.Itoa(*r.ExitCode)
		}
		drift := ""
		if r.Counts != nil {
			if r.Command == "replay" {
				drift = fmt.Sprintf("%d events", r.Counts["fetched"])
			} else {
				drift = fmt.Sprintf("+%d -%d ~%d", r.Counts["missing_local"], r.Counts["missing_remote"], r.Counts["changed"])
			}
		}
		status := r.Status
		if r.Error != "" {
			status += ": " + r.Error
		}
		rows = append(rows, []string{r.RunID, r.StartedAt.UTC().Format(time.RFC3339), r.Command, r.Provider, strings.Join(r.Resources, ","),
			drift, strconv.Itoa(r.Counts["applied"]), exit, status})
	}
	return runsHeader, rows
}

func (d runsDoc) Text(t *Text) error {
	_, rows := d.CSV()
	if t.Markdown {
		t.WriteString("## reconctl history\n\n")
		return t.Table(runsHeader, rows)
	}
	if len(rows) == 0 {
		t.WriteString("No runs recorded.\n")
		return nil
	}
	for _, row := range rows {
		row[8] = Shorten(EscapeText(row[8]), 60) // cut what is shown
	}
	return t.Table(runsHeader, rows)
}
