package report

import (
	"fmt"
	"strconv"

	"github.com/reconctl/reconctl/reconcile"
)

// UserReport is check-user's report (contract: check-user JSON); the
// engine builds it (reconcile.Engine.CheckUser).
type UserReport = reconcile.UserReport

// UserField is one mapped field of the user's record, matched or not.
type UserField = reconcile.UserField

// UserMatch is one candidate when an email matches several records.
type UserMatch = reconcile.UserMatch

// User is a check-user report as a Doc.
func User(u *UserReport) Doc { return userDoc{u} }

type userDoc struct{ u *UserReport }

func (d userDoc) JSONValue() any { return d.u }

func (d userDoc) NDJSONLines() []any {
	u := d.u
	var lines []any
	for _, f := range u.Fields {
		lines = append(lines, map[string]any{"resource": u.Resource, "id": u.ID, "field": f})
	}
	for _, d := range u.Drift {
		if d.Resource != u.Resource {
			lines = append(lines, d)
		}
	}
	return append(lines, map[string]any{"verdict": u.Verdict, "applied": u.Applied, "exit_code": u.ExitCode})
}

func (d userDoc) CSV() ([]string, [][]string) {
	u := d.u
	var rows [][]string
	for _, f := range u.Fields {
		rows = append(rows, []string{u.Resource, u.ID, f.Name, f.Path, Value(f.Local), Value(f.Remote), strconv.FormatBool(f.Match), u.Verdict})
	}
	for _, d := range u.Drift {
		if d.Resource == u.Resource {
			continue
		}
		for _, f := range d.Fields {
			rows = append(rows, []string{d.Resource, d.ID, f.Name, f.Path, Value(f.Local), Value(f.Remote), "false", d.Kind})
		}
		if len(d.Fields) == 0 {
			rows = append(rows, []string{d.Resource, d.ID, "", "", "", "", "false", d.Kind})
		}
	}
	return []string{"resource", "id", "field", "path", "local", "remote", "match", "verdict"}, rows
}

func (d userDoc) Text(t *Text) error {
	u := d.u
	if !t.Markdown {
		return renderUserTable(t, u)
	}
	t.Printf("## reconctl check-user `%s`: %s\n\n", mdEscape(u.Query), u.Verdict)
	t.Printf("%s `%s` at %s, run `%s`.\n\n", u.Resource, mdEscape(u.ID), u.Provider, u.RunID)
	if len(u.Fields) > 0 {
		_ = t.Table([]string{"field", "local", "remote", "match"}, userFieldRows(u))
	}
	if rows := relatedRows(u); len(rows) > 0 {
		t.WriteString("\n### Related records\n\n")
		_ = t.Table([]string{"resource", "id", "kind", "field", "local", "remote", "action"}, rows)
	}
	t.WriteString("\n" + userVerdict(u) + "\n")
	return nil
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
	case driftConflicts(u.Drift) > 0:
		s += fmt.Sprintf("; %s not written because the app changed the local row meanwhile: run again", plural(driftConflicts(u.Drift), "conflict was", "conflicts were"))
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

func renderUserTable(t *Text, u *UserReport) error {
	if len(u.Matches) > 0 {
		t.Printf("%q matches %d records; run check-user with one of these ids:\n", u.Query, len(u.Matches))
		var rows [][]string
		for _, m := range u.Matches {
			rows = append(rows, []string{m.ID, m.Email, m.Created, m.Where})
		}
		if err := t.Table([]string{"id", "email", "created", "where"}, rows); err != nil {
			return err
		}
		t.Printf("Exit %d.\n", u.ExitCode)
		return nil
	}
	t.Printf("check-user %s: %s %s at %s\n", u.Query, u.Resource, u.ID, u.Provider)
	if len(u.Fields) > 0 {
		rows := userFieldRows(u)
		for _, row := range rows {
			row[1], row[2] = shorten(row[1], 40), shorten(row[2], 40)
		}
		if err := t.Table([]string{"field", "local", "remote", "match"}, rows); err != nil {
			return err
		}
	}
	if rows := relatedRows(u); len(rows) > 0 {
		t.WriteString("\nrelated records:\n")
		if err := t.Table([]string{"resource", "id", "kind", "field", "local", "remote", "action"}, rows); err != nil {
			return err
		}
	} else if len(u.Related) > 0 {
		t.Printf("\nrelated %v: in sync\n", u.Related)
	}
	t.WriteString("\n" + userVerdict(u) + "\n")
	return nil
}
