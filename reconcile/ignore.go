package reconcile

import (
	"bufio"
	"fmt"
	"io"
	"path"
	"strings"
)

// IgnoreRule is one baseline pattern: resource/id or resource/id/field, each
// part a glob (path.Match syntax): customers/cus_123, customers/*/phone.
type IgnoreRule struct {
	Resource, ID, Field string // Field "" matches the whole record
	Source              string // where it came from (file:line), for errors
}

// ParseIgnoreRule parses one pattern. A backslash escapes the next
// character: \* and \? match themselves, \/ is a slash inside a part.
func ParseIgnoreRule(s, source string) (IgnoreRule, error) {
	parts := splitParts(trimUnescaped(s))
	if len(parts) < 2 || len(parts) > 3 {
		return IgnoreRule{}, fmt.Errorf("%s: ignore pattern %q: want resource/id or resource/id/field (globs allowed: customers/*/phone)", source, s)
	}
	r := IgnoreRule{Resource: parts[0], ID: parts[1], Source: source}
	if len(parts) == 3 {
		r.Field = parts[2]
	}
	for _, p := range parts {
		if p == "" {
			return IgnoreRule{}, fmt.Errorf("%s: ignore pattern %q has an empty part", source, s)
		}
		if _, err := path.Match(p, ""); err != nil {
			return IgnoreRule{}, fmt.Errorf("%s: ignore pattern %q: %v", source, s, err)
		}
	}
	return r, nil
}

// splitParts splits a pattern at every slash that is not escaped. The parts
// keep their escapes (path.Match reads them); \/ becomes \/ for Match too,
// which matches a literal slash.
func splitParts(s string) []string {
	var parts []string
	start := 0
	for i := 0; i < len(s); i++ {
		switch s[i] {
		case '\\':
			i++ // the escaped character, whatever it is
		case '/':
			parts = append(parts, s[start:i])
			start = i + 1
		}
	}
	return append(parts, s[start:])
}

// EscapePart quotes a resource, id or field name for an ignore pattern so
// that it matches only itself: glob characters, slashes, # and spaces get a
// backslash.
func EscapePart(s string) string {
	var b strings.Builder
	for _, r := range s {
		switch r {
		case '\\', '*', '?', '[', ']', '/', '#', ' ', '\t':
			b.WriteByte('\\')
		}
		b.WriteRune(r)
	}
	return b.String()
}

// writable reports whether a name can be written on one pattern line.
func writable(s string) bool {
	return !strings.ContainsFunc(s, func(r rune) bool { return r < 0x20 && r != '\t' || r == 0x7f })
}

// commentAt returns where a trailing " #" comment starts (an escaped
// "\ #" or "\#" is no comment), or -1.
func commentAt(line string) int {
	for i := 0; i < len(line); i++ {
		switch line[i] {
		case '\\':
			i++
		case ' ', '\t':
			if i+1 < len(line) && line[i+1] == '#' {
				return i
			}
		}
	}
	return -1
}

// ReadIgnoreFile parses a .reconctlignore: one pattern a line, # comments.
func ReadIgnoreFile(r io.Reader, name string) ([]IgnoreRule, error) {
	var out []IgnoreRule
	sc := bufio.NewScanner(r)
	for n := 1; sc.Scan(); n++ {
		line := trimUnescaped(sc.Text())
		if i := commentAt(line); i >= 0 {
			line = trimUnescaped(line[:i])
		}
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		rule, err := ParseIgnoreRule(line, fmt.Sprintf("%s:%d", name, n))
		if err != nil {
			return nil, err
		}
		out = append(out, rule)
	}
	return out, sc.Err()
}

// trimUnescaped trims spaces, except an escaped one at the end ("a\ ").
func trimUnescaped(s string) string {
	s = strings.TrimLeft(s, " \t\r")
	for len(s) > 0 && strings.ContainsRune(" \t\r", rune(s[len(s)-1])) {
		// count the backslashes before the space: an odd number escapes it
		n := 0
		for j := len(s) - 2; j >= 0 && s[j] == '\\'; j-- {
			n++
		}
		if n%2 == 1 {
			break
		}
		s = s[:len(s)-1]
	}
	return s
}

func match(pattern, s string) bool {
	ok, _ := path.Match(pattern, s)
	return ok
}

// ignores reports whether the rules ignore field (or, with field "", the
// whole record) of resource/id.
func ignores(rules []IgnoreRule, resource, id, field string) bool {
	for _, r := range rules {
		if !match(r.Resource, resource) || !match(r.ID, id) {
			continue
		}
		if r.Field == "" || (field != "" && match(r.Field, field)) {
			return true
		}
	}
	return false
}

// Ignore removes accepted drift: ignored records and fields are dropped from
// the report and the plan (an ignored difference is never "fixed") and
// counted in the summary as ignored.
func (res *Result) Ignore(rules []IgnoreRule) {
	if len(rules) == 0 || len(res.Drift) == 0 {
		return
	}
	keep := make([]bool, len(res.Drift))
	for i := range res.Drift {
		d := &res.Drift[i]
		rr := res.resource(d.Resource)
		if ignores(rules, d.Resource, d.ID, "") {
			rr.Summary.Ignored++
			continue
		}
		if d.Kind == KindChanged {
			var fields []FieldDiff
			for _, f := range d.Fields {
				if !ignores(rules, d.Resource, d.ID, f.Name) {
					fields = append(fields, f)
				}
			}
			if len(fields) == 0 {
				rr.Summary.Ignored++
				continue
			}
			d.Fields = fields
		}
		keep[i] = true
	}
	// Re-index: drop plan entries of ignored items and ignored columns of the rest.
	newIdx := make([]int, len(res.Drift))
	var drift []Drift
	for i, d := range res.Drift {
		newIdx[i] = -1
		if keep[i] {
			newIdx[i] = len(drift)
			drift = append(drift, d)
		}
	}
	for _, rr := range res.Resources {
		name, upd := rr.Resource.Table.Resource, rr.Resource.Table.UpdatedAt
		rr.force = rr.force.filter(func(key, col string) bool {
			return !ignores(rules, name, key, col) || col == upd
		})
		var plan []pending
		for _, p := range rr.plan {
			if p.drift >= 0 {
				if newIdx[p.drift] < 0 {
					continue
				}
				p.drift = newIdx[p.drift]
			}
			if p.op == "update" {
				res := rr.Resource.Table.Resource
				var cols []string
				var vals []any
				for i, c := range p.cols {
					if !ignores(rules, res, p.key, c) || c == rr.Resource.Table.UpdatedAt {
						cols = append(cols, c)
						vals = append(vals, p.vals[i])
					}
				}
				p.cols, p.vals = cols, vals
				if len(cols) == 0 {
					continue
				}
			}
			plan = append(plan, p)
		}
		rr.plan = plan
	}
	res.Drift = drift
	for _, rr := range res.Resources {
		rr.Summary.MissingLocal, rr.Summary.MissingRemote, rr.Summary.Changed, rr.Summary.Unresolved = 0, 0, 0, 0
	}
	for _, d := range res.Drift {
		rr := res.resource(d.Resource)
		switch d.Kind {
		case KindMissingLocal:
			rr.Summary.MissingLocal++
		case KindMissingRemote:
			rr.Summary.MissingRemote++
		case KindChanged:
			rr.Summary.Changed++
		}
		if !d.Applied {
			rr.Summary.Unresolved++
		}
	}
}

// Baseline renders drift as ignore patterns (diff --write-ignore).
func Baseline(drift []Drift) string {
	var b strings.Builder
	b.WriteString("# reconctl ignore baseline: accepted drift, one pattern a line\n# resource/id ignores a record, resource/id/field one field; * and ? are globs, \\ escapes.\n")
	for _, d := range drift {
		if !writable(d.Resource) || !writable(d.ID) {
			// A line break in an id would split the pattern into two, the
			// second of which could hide other records: leave it out.
			fmt.Fprintf(&b, "# not written: a %s record whose id holds a line break or control character\n", strings.Map(printable, d.Resource))
			continue
		}
		res, id := EscapePart(d.Resource), EscapePart(d.ID)
		if d.Kind == KindChanged && len(d.Fields) > 0 {
			for _, f := range d.Fields {
				if !writable(f.Name) {
					fmt.Fprintf(&b, "# not written: a field of %s/%s whose name holds a control character\n", res, id)
					continue
				}
				fmt.Fprintf(&b, "%s/%s/%s\n", res, id, EscapePart(f.Name))
			}
			continue
		}
		fmt.Fprintf(&b, "%s/%s\n", res, id)
	}
	return b.String()
}

func printable(r rune) rune {
	if r < 0x20 || r == 0x7f {
		return '?'
	}
	return r
}
