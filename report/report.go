// Package report renders reconctl's reports (table, json, ndjson, csv,
// markdown). Renderers only format; they never decide anything.
package report

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"sort"
	"strconv"
	"strings"

	"github.com/olekukonko/tablewriter"

	"github.com/olekukonko/tablewriter/renderer"
	"github.com/olekukonko/tablewriter/tw"
	"github.com/reconctl/reconctl/providers"

	"github.com/reconctl/reconctl/reconcile"
)

// Formats are the accepted --output values.
var Formats = []string{"table", "json", "ndjson", "csv", "markdown"}

// CheckFormat validates an --output value.
func CheckFormat(f string) error {
	for _, ok := range Formats {
		if f == ok {
			return nil
		}
	}
	return fmt.Errorf("unknown output format %q: use one of %s", f, strings.Join(Formats, ", "))
}

// Options tune rendering.
type Options struct {
	Color bool // colour drift kinds (table output on a terminal only)
}

// Diff is a diff or resync report as a Doc.
func Diff(r *reconcile.Report) Doc { return diffDoc{r} }

type diffDoc struct{ r *reconcile.Report }

func (d diffDoc) JSONValue() any { return d.r }

func (d diffDoc) NDJSONLines() []any {
	r := d.r
	var lines []any
	for _, d := range r.Drift {
		lines = append(lines, d)
	}
	// A diff --since tail says it compared a window only: its counts are
	// the window's, not the resource's.
	tail := struct {
		Summary       map[string]*reconcile.ResourceSummary `json:"summary"`
		Since         string                                `json:"since,omitempty"`
		SinceCoverage map[string]providers.Coverage         `json:"since_coverage,omitempty"`
		Brake         *reconcile.BrakeRefusal               `json:"brake,omitempty"`
		ExitCode      int                                   `json:"exit_code"`
	}{r.Summary, r.Since, r.SinceCoverage, r.Brake, r.ExitCode}
	return append(lines, tail)
}

func (d diffDoc) Text(t *Text) error {
	if t.Markdown {
		renderMarkdown(t, d.r)
		return nil
	}
	return renderTable(t, d.r)
}

func writeJSON(w io.Writer, v any) error {
	if b, ok := w.(*bytes.Buffer); ok {
		// Already in memory: encode into it, without a second copy of a
		// large report (issue #16 item 5), and leave it as it was on an error.
		n := b.Len()
		enc := json.NewEncoder(b)
		enc.SetEscapeHTML(false)
		enc.SetIndent("", "  ")
		if err := enc.Encode(v); err != nil {
			b.Truncate(n)
			return err
		}
		return nil
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	if err := enc.Encode(v); err != nil {
		return err
	}
	_, err := w.Write(buf.Bytes())
	return err
}

// WriteJSON writes v as indented JSON (the json format of other reports).
func WriteJSON(w io.Writer, v any) error { return writeJSON(w, v) }

// resourceOrder lists summary keys in the report's resource order.
func resourceOrder(r *reconcile.Report) []string {
	seen := map[string]bool{}
	var out []string
	for _, n := range r.Resources {
		if _, ok := r.Summary[n]; ok && !seen[n] {
			out = append(out, n)
			seen[n] = true
		}
	}
	var rest []string
	for n := range r.Summary {
		if !seen[n] {
			rest = append(rest, n)
		}
	}
	sort.Strings(rest)
	return append(out, rest...)
}

// Value renders a field value for text output: strings bare, null as
// "null", everything else as JSON.
func Value(v any) string {
	switch x := v.(type) {
	case nil:
		return "null"
	case string:
		return x
	case json.Number:
		return string(x)
	case int64:
		return strconv.FormatInt(x, 10)
	}
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Sprint(v)
	}
	return string(b)
}

func shorten(s string, n int) string {
	s = strings.ReplaceAll(s, "\n", `\n`)
	r := []rune(s)
	if len(r) <= n {
		return s
	}
	return string(r[:n-1]) + "…"
}

// driftRows flattens drift into one row per field (resource, id, kind, field, local, remote, action, applied).
func driftRows(r *reconcile.Report, short int) [][]string {
	var rows [][]string
	cut := func(s string) string {
		if short > 0 {
			return shorten(s, short)
		}
		return s
	}
	for _, d := range r.Drift {
		action := d.Action
		if d.Applied {
			action += " (applied)"
		} else if d.Conflict {
			action += " (conflict)"
		} else if d.Note != "" && d.Action == reconcile.ActionNone {
			action += " (local newer)"
		}
		switch {
		case d.Kind == reconcile.KindMissingRemote:
			remote := "(" + d.RemoteStatus + ")"
			if d.Error != "" {
				remote += " " + d.Error
			}
			rows = append(rows, []string{d.Resource, d.ID, d.Kind, "", "(present)", cut(remote), action})
		case len(d.Fields) == 0:
			rows = append(rows, []string{d.Resource, d.ID, d.Kind, "", "(absent)", "(" + d.RemoteStatus + ")", action})
		default:
			for _, f := range d.Fields {
				rows = append(rows, []string{d.Resource, d.ID, d.Kind, f.Name, cut(Value(f.Local)), cut(Value(f.Remote)), action})
			}
		}
	}
	return rows
}

var summaryHeader = []string{"resource", "remote", "local", "in sync", "missing local", "missing remote", "changed", "applied", "unresolved"}

// ignoredColumn returns the per-resource ignored counts when any drift was
// ignored (the column is shown only then).
func ignoredColumn(r *reconcile.Report) []string {
	var out []string
	any := false
	for _, n := range resourceOrder(r) {
		out = append(out, strconv.Itoa(r.Summary[n].Ignored))
		any = any || r.Summary[n].Ignored > 0
	}
	if !any {
		return nil
	}
	return out
}

func summaryRows(r *reconcile.Report) [][]string {
	var rows [][]string
	for _, n := range resourceOrder(r) {
		s := r.Summary[n]
		row := []string{n}
		for _, v := range []int{s.Remote, s.Local, s.InSync, s.MissingLocal, s.MissingRemote, s.Changed, s.Applied, s.Unresolved} {
			row = append(row, strconv.Itoa(v))
		}
		rows = append(rows, row)
	}
	return rows
}

const (
	colorReset  = "\x1b[0m"
	colorRed    = "\x1b[31m"
	colorGreen  = "\x1b[32m"
	colorYellow = "\x1b[33m"
)

// MaxTableRows caps the drift rows of table and markdown output: a terminal or
// a ticket cannot hold 60,000 rows. The cut is always stated; json, ndjson
// and csv carry every row.
const MaxTableRows = 500

func capRows(rows [][]string) ([][]string, int) {
	if len(rows) <= MaxTableRows {
		return rows, 0
	}
	return rows[:MaxTableRows], len(rows) - MaxTableRows
}

func colorKind(kind string) string {
	switch kind {
	case reconcile.KindMissingLocal:
		return colorGreen + kind + colorReset
	case reconcile.KindMissingRemote:
		return colorRed + kind + colorReset
	case reconcile.KindChanged:
		return colorYellow + kind + colorReset
	}
	return kind
}

// NewTable returns a plain ASCII table writer (pastes cleanly anywhere).
func NewTable(w io.Writer, header []string) *tablewriter.Table {
	t := tablewriter.NewTable(w,
		tablewriter.WithRenderer(renderer.NewBlueprint(tw.Rendition{Symbols: tw.NewSymbols(tw.StyleASCII)})),
		tablewriter.WithHeaderAutoFormat(tw.Off),
		tablewriter.WithRowAutoWrap(tw.WrapNone),
		tablewriter.WithHeaderAutoWrap(tw.WrapNone),
		tablewriter.WithHeaderAlignment(tw.AlignLeft),
		tablewriter.WithRowAlignment(tw.AlignLeft),
		tablewriter.WithTrimSpace(tw.Off),
	)
	h := make([]any, len(header))
	for i, s := range header {
		h[i] = s
	}
	t.Header(h...)
	return t
}

func renderTable(t *Text, r *reconcile.Report) error {
	mode := ""
	switch {
	case r.DryRun && r.Command == "diff":
		mode = " (read-only)"
	case r.DryRun:
		mode = " (dry run)"
	}
	t.Printf("%s: %s against %s%s\n", EscapeText(r.Command), EscapeText(r.Provider), EscapeText(r.State), mode)
	if err := tenantLines(t, r); err != nil {
		return err
	}
	if line := SinceLine(r); line != "" {
		t.WriteString(EscapeText(line) + "\n")
	}
	header, srows := summaryColumns(r, true)
	if err := t.Table(header, srows); err != nil {
		return err
	}
	if rows, more := capRows(driftRows(r, 40)); len(rows) > 0 {
		t.WriteString("\n")
		if err := t.DriftTable([]string{"resource", "id", "kind", "field", "local", "remote", "action"}, rows, 2); err != nil {
			return err
		}
		if more > 0 {
			t.Printf("... and %d more rows: use -o json, ndjson or csv for the full list\n", more)
		}
	}
	conflictLines(t, r)
	// Render escapes the rest (provider, state, verdict) and keeps only our
	// own colours.
	t.WriteString("\n" + EscapeText(Verdict(r)) + "\n")
	return nil
}

// Verdict is the closing line of text reports.
func Verdict(r *reconcile.Report) string {
	drift, applied := len(r.Drift), 0
	for _, d := range r.Drift {
		if d.Applied {
			applied++
		}
	}
	switch {
	case r.Brake != nil && r.Brake.Reason != "":
		return fmt.Sprintf("REFUSED by the %s. Exit %d.", r.Brake.Error(), r.ExitCode)
	case r.Brake != nil:
		// The setting is shown beside the limit only when it is not the
		// limit itself (a share: "10%"); "(limit 2, 2)" said it twice.
		limit := strconv.Itoa(r.Brake.Limit)
		if r.Brake.Setting != "" && r.Brake.Setting != limit {
			limit += ", " + r.Brake.Setting
		}
		return fmt.Sprintf("REFUSED by the safety brake: %d planned changes to %s exceed --max-changes (limit %s). Nothing was written. Exit %d.",
			r.Brake.Planned, r.Brake.Resource, limit, r.ExitCode)
	case drift == 0:
		return fmt.Sprintf("In sync. Exit %d.", r.ExitCode)
	case conflicts(r) > 0:
		return fmt.Sprintf("%s, %d fixed, %d remain; %s not written because the app changed the local row meanwhile: run again. Exit %d.",
			driftItems(drift), applied, drift-applied, plural(conflicts(r), "conflict was", "conflicts were"), r.ExitCode)
	case applied == drift:
		return fmt.Sprintf("%s, all fixed. Exit %d.", driftItems(drift), r.ExitCode)
	case applied > 0:
		return fmt.Sprintf("%s, %d fixed, %d remain. Exit %d.", driftItems(drift), applied, drift-applied, r.ExitCode)
	case r.Command == "diff" && r.DryRun:
		fixable := 0
		for _, d := range r.Drift {
			if d.Action != reconcile.ActionNone {
				fixable++
			}
		}
		if blocked := writeBlocked(r); blocked != "" {
			return fmt.Sprintf("%s, but --apply would refuse to write %s: fix the duplicate keys first (see the warnings above), then run again with --apply. Exit %d.", driftItems(drift), blocked, r.ExitCode)
		}
		if fixable == 0 {
			return fmt.Sprintf("%s, none that --apply can fix (the provider still has them, or they are inaccessible or unconfirmed, or the local copy is newer): investigate them, or accept them with --write-ignore .reconctlignore. Exit %d.", driftItems(drift), r.ExitCode)
		}
		if fixable < drift {
			return fmt.Sprintf("%s. Run again with --apply to fix %d of them; the other %d need investigating (action none). Exit %d.", driftItems(drift), fixable, drift-fixable, r.ExitCode)
		}
		them := "them"
		if drift == 1 {
			them = "it"
		}
		return fmt.Sprintf("%s. Run again with --apply to fix %s. Exit %d.", driftItems(drift), them, r.ExitCode)
	}
	return fmt.Sprintf("%s, none fixed. Exit %d.", driftItems(drift), r.ExitCode)
}

// driftItems is "1 drift item" or "N drift items".
func driftItems(n int) string {
	if n == 1 {
		return "1 drift item"
	}
	return strconv.Itoa(n) + " drift items"
}

// writeBlocked names the resources with fixable drift whose writes the
// engine's guard refuses (a local key that is not unique, ids listed twice),
// or is "" when --apply could write them all.
func writeBlocked(r *reconcile.Report) string {
	var names []string
	for _, d := range r.Drift {
		if d.Action == reconcile.ActionNone || slices.Contains(names, d.Resource) {
			continue
		}
		if sum := r.Summary[d.Resource]; sum != nil && (sum.DuplicateLocal > 0 || sum.DuplicateRemote > 0) {
			names = append(names, d.Resource)
		}
	}
	sort.Strings(names)
	return strings.Join(names, ", ")
}

func (d diffDoc) CSV() ([]string, [][]string) {
	var rows [][]string
	for _, d := range d.r.Drift {
		applied := strconv.FormatBool(d.Applied)
		if d.Conflict {
			applied = "conflict"
		}
		if len(d.Fields) == 0 {
			rows = append(rows, []string{d.Resource, d.ID, d.Kind, d.RemoteStatus, "", "", "", "", d.Action, applied})
			continue
		}
		for _, f := range d.Fields {
			rows = append(rows, []string{d.Resource, d.ID, d.Kind, d.RemoteStatus, f.Name, f.Path, Value(f.Local), Value(f.Remote), d.Action, applied})
		}
	}
	return []string{"resource", "id", "kind", "remote_status", "field", "path", "local", "remote", "action", "applied"}, rows
}

func mdEscape(s string) string {
	s = strings.ReplaceAll(s, `\`, `\\`)
	s = strings.ReplaceAll(s, "|", `\|`)
	s = strings.ReplaceAll(s, "\n", " ")
	s = strings.ReplaceAll(s, "`", "\\`")
	// After the backslashes are doubled: \x1b stays one visible escape
	// (markdown keeps a backslash before a letter).
	return EscapeText(s)
}

func mdTable(buf *bytes.Buffer, header []string, rows [][]string) {
	buf.WriteString("| " + strings.Join(header, " | ") + " |\n")
	seps := make([]string, len(header))
	for i := range seps {
		seps[i] = "---"
	}
	buf.WriteString("|" + strings.Join(seps, "|") + "|\n")
	for _, row := range rows {
		cells := make([]string, len(row))
		for i, c := range row {
			cells[i] = mdEscape(c)
		}
		buf.WriteString("| " + strings.Join(cells, " | ") + " |\n")
	}
}

func renderMarkdown(t *Text, r *reconcile.Report) {
	t.Printf("## reconctl %s: %s against `%s`\n\n", r.Command, r.Provider, mdEscape(r.State))
	t.Printf("Run `%s`, %s to %s.\n\n", r.RunID, r.StartedAt.UTC().Format("2006-01-02 15:04:05Z"), r.FinishedAt.UTC().Format("15:04:05Z"))
	if line := SinceLine(r); line != "" {
		t.WriteString(mdEscape(line) + "\n\n")
	}
	t.WriteString("### Summary\n\n")
	header, srows := summaryColumns(r, false)
	mdTable(&t.buf, header, srows)
	if rows, more := capRows(driftRows(r, 0)); len(rows) > 0 {
		t.WriteString("\n### Drift\n\n")
		mdTable(&t.buf, []string{"resource", "id", "kind", "field", "local", "remote", "action"}, rows)
		if more > 0 {
			t.Printf("\n... and %d more rows: use -o json, ndjson or csv for the full list.\n", more)
		}
	}
	t.WriteString("\n" + Verdict(r) + "\n")
}

// escapeRow escapes every cell of a table row (markdown cells are escaped
// by mdEscape), before the table measures them, so columns line up.
func escapeRow(row []string) []string {
	for i := range row {
		row[i] = EscapeText(row[i])
	}
	return row
}

// Shorten cuts s to n runes with an ellipsis (table output only).
func Shorten(s string, n int) string { return shorten(s, n) }

// SinceLine says, for a diff --since report, which window was compared,
// where each resource's changes came from, and which resources' deletions
// the window could not see; "" for a full diff.
func SinceLine(r *reconcile.Report) string {
	if r.Since == "" {
		return ""
	}
	var from, blind []string
	for _, name := range resourceOrder(r) {
		c, ok := r.SinceCoverage[name]
		if !ok {
			continue
		}
		src := c.Source
		switch src {
		case providers.SourceUpdatedAfter:
			src = "updated_after filter"
		case providers.SourceUpdatedAtOrder:
			src = "updated_at order"
		}
		from = append(from, name+": "+src)
		if !c.Deletions {
			blind = append(blind, name)
		}
	}
	line := "Only the records changed since " + r.Since + " were compared"
	if len(from) > 0 {
		line += " (" + strings.Join(from, "; ") + ")"
	}
	line += "."
	if len(blind) > 0 {
		line += " Deletions are not covered for " + strings.Join(blind, ", ") + ": the provider's feed cannot show them; a full diff finds them."
	}
	return line
}
