package report

import (
	"bytes"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"strconv"

	"github.com/reconctl/reconctl/reconcile"
)

// UserReport is check-user's report (contract: check-user JSON).
type UserReport struct {
	Command    string                                `json:"command"`
	RunID      string                                `json:"run_id"`
	Provider   string                                `json:"provider"`
	State      string                                `json:"state"`
	StartedAt  string                                `json:"started_at"`
	FinishedAt string                                `json:"finished_at"`
	Resource   string                                `json:"resource"`
	ID         string                                `json:"id"`
	Query      string                                `json:"query"`
	Verdict    string                                `json:"verdict"`
	Fields     []UserField                           `json:"fields"`
	Related    []string                              `json:"related_resources,omitempty"`
	Summary    map[string]*reconcile.ResourceSummary `json:"summary,omitempty"`
	Drift      []reconcile.Drift                     `json:"drift"`
	Matches    []UserMatch                           `json:"matches,omitempty"`
	Brake      *reconcile.BrakeRefusal               `json:"brake,omitempty"`
	Fix        bool                                  `json:"fix"`
	Applied    bool                                  `json:"applied"`
	Message    string                                `json:"message,omitempty"`
	ExitCode   int                                   `json:"exit_code"`
	// Fixable: the comparison planned writes, so --fix would change
	// something (the verdict suggests --fix only then).
	Fixable bool `json:"-"`
}

// UserField is one mapped field of the user's record, matched or not.
type UserField struct {
	Name   string `json:"name"`
	Path   string `json:"path"`
	Local  any    `json:"local"`
	Remote any    `json:"remote"`
	Match  bool   `json:"match"`
}

// UserMatch is one candidate when an email matches several records.
type UserMatch struct {
	ID      string `json:"id"`
	Email   string `json:"email"`
	Created string `json:"created,omitempty"`
	Where   string `json:"where"` // local, remote, both
}

// RenderUser writes a check-user report.
func RenderUser(w io.Writer, format string, u *UserReport) error {
	switch format {
	case "json":
		return writeJSON(w, u)
	case "ndjson":
		var buf bytes.Buffer
		enc := json.NewEncoder(&buf)
		enc.SetEscapeHTML(false)
		for _, f := range u.Fields {
			if err := enc.Encode(map[string]any{"resource": u.Resource, "id": u.ID, "field": f}); err != nil {
				return err
			}
		}
		for _, d := range u.Drift {
			if d.Resource != u.Resource {
				if err := enc.Encode(d); err != nil {
					return err
				}
			}
		}
		if err := enc.Encode(map[string]any{"verdict": u.Verdict, "applied": u.Applied, "exit_code": u.ExitCode}); err != nil {
			return err
		}
		_, err := w.Write(buf.Bytes())
		return err
	case "csv":
		var buf bytes.Buffer
		cw := csv.NewWriter(&buf)
		_ = cw.Write([]string{"resource", "id", "field", "path", "local", "remote", "match", "verdict"})
		for _, f := range u.Fields {
			_ = cw.Write([]string{u.Resource, u.ID, f.Name, f.Path, Value(f.Local), Value(f.Remote), strconv.FormatBool(f.Match), u.Verdict})
		}
		for _, d := range u.Drift {
			if d.Resource == u.Resource {
				continue
			}
			for _, f := range d.Fields {
				_ = cw.Write([]string{d.Resource, d.ID, f.Name, f.Path, Value(f.Local), Value(f.Remote), "false", d.Kind})
			}
			if len(d.Fields) == 0 {
				_ = cw.Write([]string{d.Resource, d.ID, "", "", "", "", "false", d.Kind})
			}
		}
		cw.Flush()
		_, err := w.Write(buf.Bytes())
		return err
	case "markdown":
		var buf bytes.Buffer
		fmt.Fprintf(&buf, "## reconctl check-user `%s`: %s\n\n", mdEscape(u.Query), u.Verdict)
		fmt.Fprintf(&buf, "%s `%s` at %s, run `%s`.\n\n", u.Resource, mdEscape(u.ID), u.Provider, u.RunID)
		if len(u.Fields) > 0 {
			mdTable(&buf, []string{"field", "local", "remote", "match"}, userFieldRows(u))
		}
		if rows := relatedRows(u); len(rows) > 0 {
			buf.WriteString("\n### Related records\n\n")
			mdTable(&buf, []string{"resource", "id", "kind", "field", "local", "remote", "action"}, rows)
		}
		buf.WriteString("\n" + userVerdict(u) + "\n")
		return WriteText(w, buf.Bytes())
	}
	return renderUserTable(w, u)
}

func userFieldRows(u *UserReport) [][]string {
	var rows [][]string
	for _, f := range u.Fields {
		m := "yes"
		if !f.Match {
			m = "NO"
		}
		rows = append(rows, []string{f.Name, Value(f.Local), Value(f.Remote), m})
	}
	return rows
}

func relatedRows(u *UserReport) [][]string {
	rel := &reconcile.Report{}
	for _, d := range u.Drift {
		if d.Resource != u.Resource {
			rel.Drift = append(rel.Drift, d)
		}
	}
	return driftRows(rel, 40)
}

func userVerdict(u *UserReport) string {
	s := "Verdict: " + u.Verdict
	if u.Message != "" {
		s += " (" + u.Message + ")"
	}
	switch {
	case u.Brake != nil && u.Brake.Reason != "":
		s += "; refused by the " + u.Brake.Error()
	case u.Brake != nil:
		s += fmt.Sprintf("; the safety brake refused %d changes to %s (limit %d); nothing written", u.Brake.Planned, u.Brake.Resource, u.Brake.Limit)
	case u.Applied:
		s += "; fixed"
	case u.Verdict == "in_sync" || u.Verdict == "not_found" || len(u.Matches) > 0:
	case u.Fixable && !u.Fix:
		s += "; run again with --fix to correct it"
	case !u.Fixable && u.Verdict == "inaccessible":
		s += "; --fix would change nothing: the provider refuses this API key access to the record (403), so it is neither deleted nor comparable. Check the key's permissions (a restricted key needs read access to this resource) or use a key that can read it"
	case !u.Fixable:
		s += "; --fix would change nothing (no write can resolve this drift): investigate it at the provider and in the app"
	}
	return s + fmt.Sprintf(". Exit %d.", u.ExitCode)
}

func renderUserTable(w io.Writer, u *UserReport) error {
	var buf bytes.Buffer
	if len(u.Matches) > 0 {
		fmt.Fprintf(&buf, "%q matches %d records; run check-user with one of these ids:\n", u.Query, len(u.Matches))
		t := NewTable(&buf, []string{"id", "email", "created", "where"})
		for _, m := range u.Matches {
			_ = t.Append([]string{EscapeText(m.ID), EscapeText(m.Email), EscapeText(m.Created), m.Where})
		}
		if err := t.Render(); err != nil {
			return err
		}
		fmt.Fprintf(&buf, "Exit %d.\n", u.ExitCode)
		return WriteText(w, buf.Bytes())
	}
	fmt.Fprintf(&buf, "check-user %s: %s %s at %s\n", u.Query, u.Resource, u.ID, u.Provider)
	if len(u.Fields) > 0 {
		t := NewTable(&buf, []string{"field", "local", "remote", "match"})
		for _, row := range userFieldRows(u) {
			row[1], row[2] = shorten(row[1], 40), shorten(row[2], 40)
			_ = t.Append(escapeRow(row))
		}
		if err := t.Render(); err != nil {
			return err
		}
	}
	if rows := relatedRows(u); len(rows) > 0 {
		buf.WriteString("\nrelated records:\n")
		t := NewTable(&buf, []string{"resource", "id", "kind", "field", "local", "remote", "action"})
		for _, row := range rows {
			_ = t.Append(escapeRow(row))
		}
		if err := t.Render(); err != nil {
			return err
		}
	} else if len(u.Related) > 0 {
		fmt.Fprintf(&buf, "\nrelated %v: in sync\n", u.Related)
	}
	buf.WriteString("\n" + userVerdict(u) + "\n")
	return WriteText(w, buf.Bytes())
}
