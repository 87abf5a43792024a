package report

import (
	"bytes"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/reconctl/reconctl/journal"
)

// RenderRuns writes history's list of runs.
func RenderRuns(out io.Writer, format string, runs []journal.RunInfo) error {
	if runs == nil {
		runs = []journal.RunInfo{}
	}
	switch format {
	case "json":
		return WriteJSON(out, runs)
	case "ndjson":
		enc := json.NewEncoder(out)
		for _, r := range runs {
			if err := enc.Encode(r); err != nil {
				return err
			}
		}
		return nil
	}
	header := []string{"run id", "started", "command", "provider", "resources", "drift", "applied", "exit", "status"}
	var rows [][]string
	for _, r := range runs {
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
	switch format {
	case "csv":
		var buf bytes.Buffer
		w := csv.NewWriter(&buf)
		_ = w.Write(header)
		_ = w.WriteAll(rows) // flushes; errors only from buf, which has none
		_, err := out.Write(buf.Bytes())
		return err
	case "markdown":
		var buf bytes.Buffer
		buf.WriteString("## reconctl history\n\n")
		MarkdownTable(&buf, header, rows)
		return WriteText(out, buf.Bytes())
	}
	if len(rows) == 0 {
		_, err := fmt.Fprintln(out, "No runs recorded.")
		return err
	}
	var buf bytes.Buffer
	t := NewTable(&buf, header)
	for _, row := range rows {
		for i := range row {
			row[i] = EscapeText(row[i])
		}
		row[8] = Shorten(row[8], 60)
		if err := t.Append(row); err != nil {
			return err
		}
	}
	if err := t.Render(); err != nil {
		return err
	}
	return WriteText(out, buf.Bytes())
}
