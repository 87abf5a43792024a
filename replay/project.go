package replay

import (
	"strings"

	"github.com/reconctl/reconctl/localstate"
	"github.com/reconctl/reconctl/providers"
	"github.com/reconctl/reconctl/reconcile"
)

// A window of events is held from its fetch to its apply (the brake and the
// guards need all of it before anything is written), so what each event
// keeps of its object decides replay's memory: a Stripe customer decodes to
// a few kilobytes of maps, of which a mapping reads a handful of values
// (issue #16 item 5). As each event arrives, the values at its resource's
// mapped paths are kept (a payload) and the object dropped; lookup answers
// from them exactly what reconcile.Lookup answers from the whole object (the
// same value, present or absent), so classifying, the absent-path guard and
// the writes are unchanged. An ignored event keeps nothing; a resource with
// automatic mapping (any top-level field may be read) keeps its objects.

// projector makes the payloads of one run's events.
type projector struct {
	table      func(resource string) *localstate.Table
	configured map[string]bool
	index      map[string]map[string]int // resource → mapped path → position; nil: automatic mapping
	paths      map[string][][]string     // resource → its mapped paths, split
}

func newProjector(table func(string) *localstate.Table, resources []string) *projector {
	p := &projector{table: table, configured: map[string]bool{}, index: map[string]map[string]int{}, paths: map[string][][]string{}}
	for _, r := range resources {
		p.configured[r] = true
	}
	return p
}

// payload is what an event keeps of its object: the value at each mapped
// path, in the resource's order, or absent. A nil *payload means: read the
// event's Object.
type payload struct {
	vals  []any
	index map[string]int // mapped path → position in vals
}

// absentValue marks a mapped path the object does not have.
type absentValue struct{}

var absent any = absentValue{}

// lookup is the value at path in e's object: from its payload when it has
// one, else from e.Object.
func lookup(e *providers.Event, pl *payload, path string) (any, bool) {
	if pl == nil {
		return reconcile.Lookup(e.Object, strings.Split(path, "."))
	}
	i, ok := pl.index[path]
	if !ok || pl.vals[i] == absent {
		return nil, false
	}
	return pl.vals[i], true
}

// keepsObject says whether an event of resource must keep its whole object
// (automatic mapping) rather than a payload.
func (p *projector) keepsObject(resource string) bool {
	return p.configured[resource] && p.indexOf(resource) == nil
}

func (p *projector) indexOf(resource string) map[string]int {
	if idx, ok := p.index[resource]; ok {
		return idx
	}
	var idx map[string]int
	if t := p.table(resource); t != nil && len(t.Fields) > 0 {
		idx = map[string]int{}
		for _, f := range t.Fields {
			if _, dup := idx[f.Path]; !dup {
				idx[f.Path] = len(p.paths[resource])
				p.paths[resource] = append(p.paths[resource], strings.Split(f.Path, "."))
			}
		}
	}
	p.index[resource] = idx
	return idx
}

// compact is obj's payload for an event of resource: nil when the resource
// is not configured (the event is ignored, its object never read) or maps
// automatically (keepsObject).
func (p *projector) compact(resource string, obj map[string]any) *payload {
	if !p.configured[resource] {
		return nil
	}
	idx := p.indexOf(resource)
	if idx == nil {
		return nil
	}
	segs := p.paths[resource]
	pl := &payload{vals: make([]any, len(segs)), index: idx}
	for i, s := range segs {
		v, ok := reconcile.Lookup(obj, s)
		if !ok {
			v = absent
		}
		pl.vals[i] = v
	}
	return pl
}

// allPaths is every configured resource's mapped paths, for the event
// source to decode only those of each event's object (EventQuery.Paths);
// nil when a resource maps automatically (its objects are kept whole).
func (p *projector) allPaths() map[string][][]string {
	out := map[string][][]string{}
	for r := range p.configured {
		if p.indexOf(r) == nil {
			return nil
		}
		out[r] = p.paths[r]
	}
	return out
}
