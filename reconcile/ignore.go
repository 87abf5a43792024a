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

// ParseIgnoreRule parses one pattern.
func ParseIgnoreRule(s, source string) (IgnoreRule, error) {
	parts := strings.Split(strings.TrimSpace(s), "/")
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

// ReadIgnoreFile parses a .reconctlignore: one pattern a line, # comments.
func ReadIgnoreFile(r io.Reader, name string) ([]IgnoreRule, error) {
	var out []IgnoreRule
	sc := bufio.NewScanner(r)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if i := strings.Index(line, " #"); i >= 0 {
			line = strings.TrimSpace(line[:i])
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
	b.WriteString("# reconctl ignore baseline: accepted drift, one pattern a line\n# resource/id ignores a record, resource/id/field one field; * and ? are globs.\n")
	for _, d := range drift {
		if d.Kind == KindChanged && len(d.Fields) > 0 {
			for _, f := range d.Fields {
				fmt.Fprintf(&b, "%s/%s/%s\n", d.Resource, d.ID, f.Name)
			}
			continue
		}
		fmt.Fprintf(&b, "%s/%s\n", d.Resource, d.ID)
	}
	return b.String()
}
