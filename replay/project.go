package replay

import (
	"strconv"
	"strings"

	"github.com/reconctl/reconctl/localstate"
	"github.com/reconctl/reconctl/reconcile"
)

// A window of events is held from its fetch to its apply (the brake and the
// guards need all of it before anything is written), so what each event
// keeps of its payload decides replay's memory: a Stripe customer decodes to
// a few kilobytes of maps, of which a mapping reads a handful of values
// (issue #16 item 5). Each payload is cut down, as it arrives, to the mapped
// paths: what reconcile.Lookup finds in the cut copy is exactly what it finds
// in the whole object (the same value, present or absent), so classifying,
// the absent-path guard and the writes are unchanged.

// projector cuts payloads down to each resource's mapped paths.
type projector struct {
	table      func(resource string) *localstate.Table
	configured map[string]bool
	paths      map[string][][]string // resource → mapped paths; nil entry: keep all
}

func newProjector(table func(string) *localstate.Table, resources []string) *projector {
	p := &projector{table: table, configured: map[string]bool{}, paths: map[string][][]string{}}
	for _, r := range resources {
		p.configured[r] = true
	}
	return p
}

// pathsFor is resource's mapped paths, nil when the mapping is automatic
// (the columns both sides share: any top-level field may be read) or the
// resource is not configured.
func (p *projector) pathsFor(resource string) [][]string {
	if ps, ok := p.paths[resource]; ok {
		return ps
	}
	var ps [][]string
	if t := p.tableOf(resource); t != nil && len(t.Fields) > 0 {
		for _, f := range t.Fields {
			ps = append(ps, strings.Split(f.Path, "."))
		}
		// A path under another mapped path is already kept whole.
		out := ps[:0:0]
		for i, a := range ps {
			covered := false
			for j, b := range ps {
				if i != j && len(b) < len(a) && prefix(b, a) || i > j && equal(a, b) {
					covered = true
					break
				}
			}
			if !covered {
				out = append(out, a)
			}
		}
		ps = out
	}
	p.paths[resource] = ps
	return ps
}

func (p *projector) tableOf(resource string) *localstate.Table {
	if p.table == nil || resource == "" {
		return nil
	}
	return p.table(resource)
}

// project is obj with only the values at the resource's mapped paths (obj
// itself when every field may be read).
func (p *projector) project(resource string, obj map[string]any) map[string]any {
	if !p.configured[resource] {
		return nil // an ignored event: its payload is never read
	}
	ps := p.pathsFor(resource)
	if ps == nil || obj == nil {
		return obj
	}
	out := map[string]any{}
	for _, segs := range ps {
		if v, ok := reconcile.Lookup(obj, segs); ok {
			put(out, obj, segs, v)
		}
	}
	return out
}

// put sets v at segs in dst, building the maps and lists on the way with the
// shapes they have in src (a list keeps its length, so an index still
// resolves; its other elements are nil and never read).
func put(dst map[string]any, src map[string]any, segs []string, v any) {
	var cur any = dst
	var from any = src
	for i, s := range segs {
		last := i == len(segs)-1
		switch d := cur.(type) {
		case map[string]any:
			f := from.(map[string]any)[s]
			if last {
				d[s] = v
				return
			}
			next, ok := d[s]
			if !ok {
				next = emptyLike(f)
				d[s] = next
			}
			cur, from = next, f
		case []any:
			idx := index(s)
			f := from.([]any)[idx]
			if last {
				d[idx] = v
				return
			}
			if d[idx] == nil {
				d[idx] = emptyLike(f)
			}
			cur, from = d[idx], f
		}
	}
}

func emptyLike(v any) any {
	if l, ok := v.([]any); ok {
		return make([]any, len(l))
	}
	return map[string]any{}
}

// index is s as a list index (put is called only for paths Lookup resolved).
func index(s string) int {
	n, _ := strconv.Atoi(s) // as reconcile.Lookup reads it
	return n
}

func prefix(p, of []string) bool {
	for i := range p {
		if p[i] != of[i] {
			return false
		}
	}
	return true
}

func equal(a, b []string) bool { return len(a) == len(b) && prefix(a, b) }
