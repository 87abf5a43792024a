package rest

import (
	"context"
	"encoding/json"
	"fmt"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/reconctl/reconctl/providers"
)

// events implements providers.EventSource for a configured events: section.
// The window goes to since_param/until_param when configured and is always
// enforced client-side too ([Since, Until)); q.Types go to types_param when
// configured and are always filtered client-side. Events are collected,
// sorted stably by time (same-time events in the API's order) and
// delivered oldest first. Types not mapped in
// rest.events.types are delivered with no resource (replay ignores them).
func (p *Provider) events(ctx context.Context, q providers.EventQuery, fn func(providers.Event) error) error {
	if p.cfg.Events == nil {
		return p.changes(ctx, q, fn)
	}
	ec := p.cfg.Events
	query := url.Values{}
	for k, v := range ec.Query {
		query.Set(k, v)
	}
	if ec.SinceParam != "" && !q.Since.IsZero() {
		query.Set(ec.SinceParam, formatWindow(q.Since, ec.SinceFormat, false))
	}
	if ec.UntilParam != "" && !q.Until.IsZero() {
		query.Set(ec.UntilParam, formatWindow(q.Until, ec.SinceFormat, true))
	}
	var types []string
	for _, t := range q.Types {
		if t = strings.TrimSpace(t); t != "" && !slices.Contains(types, t) {
			types = append(types, t)
		}
	}
	if ec.TypesParam != "" && len(types) > 0 {
		if ec.TypesStyle == "comma" {
			query.Set(ec.TypesParam, strings.Join(types, ","))
		} else {
			query[ec.TypesParam] = types
		}
	}
	var buf []providers.Event
	seen := map[string]bool{}
	err := p.walk(ctx, "rest events", ec.Path, query, ec.ItemsPath, ec.Pagination, func(raw json.RawMessage) error {
		ev, err := p.toEvent(raw)
		if err != nil {
			return &itemError{err}
		}
		if !q.Since.IsZero() && ev.Created.Before(q.Since) || !q.Until.IsZero() && !ev.Created.Before(q.Until) {
			return nil
		}
		if len(types) > 0 && !slices.Contains(types, ev.Type) || seen[ev.ID] {
			return nil
		}
		seen[ev.ID] = true
		buf = append(buf, ev)
		return nil
	})
	if err != nil {
		return err
	}
	// Ids are opaque (issue #12 item 3): never compare them. Keep the API's
	// own order within a timestamp; a listing that runs newest first is
	// reversed (stably) before the stable sort by time.
	if newestFirst(buf) {
		slices.Reverse(buf)
	}
	return providers.SendInListOrder(ctx, buf, "rest events", fn)
}

// newestFirst reports whether events as listed run from newest to oldest:
// never forward in time, and back at least once.
func newestFirst(evs []providers.Event) bool {
	back := false
	for i := 1; i < len(evs); i++ {
		switch evs[i].Created.Compare(evs[i-1].Created) {
		case 1:
			return false
		case -1:
			back = true
		}
	}
	return back
}

// formatWindow writes a window bound for since_param/until_param. Unix
// seconds round the start down and the end up, so the server's window
// covers [Since, Until) (the exact window is enforced client-side).
func formatWindow(t time.Time, format string, end bool) string {
	t = t.UTC()
	switch format {
	case "unix":
		s := t.Unix()
		if end && !t.Equal(time.Unix(s, 0)) {
			s++
		}
		return strconv.FormatInt(s, 10)
	case "unix_ms":
		ms := t.UnixMilli()
		if end && !t.Equal(time.UnixMilli(ms)) {
			ms++
		}
		return strconv.FormatInt(ms, 10)
	}
	return t.Format(time.RFC3339Nano)
}

func (p *Provider) toEvent(raw json.RawMessage) (providers.Event, error) {
	ec := p.cfg.Events
	m, err := decodeObject(raw)
	if err != nil {
		return providers.Event{}, err
	}
	idv, _ := lookup(m, ec.IDPath)
	id := scalarString(idv)
	if id == "" {
		return providers.Event{}, fmt.Errorf("an event has no id at rest.events.id_path %q", ec.IDPath)
	}
	tv, _ := lookup(m, ec.TypePath)
	typ, _ := tv.(string)
	if typ == "" {
		return providers.Event{}, fmt.Errorf("event %s has no type at rest.events.type_path %q", id, ec.TypePath)
	}
	cv, ok := lookup(m, ec.TimePath)
	if !ok || cv == nil {
		return providers.Event{}, fmt.Errorf("event %s has no time at rest.events.time_path %q", id, ec.TimePath)
	}
	created, err := parseTime(cv, ec.TimeFormat)
	if err != nil {
		return providers.Event{}, fmt.Errorf("event %s: rest.events.time_path %q: %w", id, ec.TimePath, err)
	}
	ev := providers.Event{ID: id, Type: typ, Created: created, Raw: raw}
	if ov, ok := lookup(m, ec.ObjectPath); ok {
		ev.Object, _ = ov.(map[string]any)
	}
	if iv, ok := lookup(m, ec.ObjectIDPath); ok {
		ev.ObjectID = scalarString(iv)
	}
	if et, ok := ec.Types[typ]; ok {
		ev.Resource, ev.Deleted = et.Resource, et.Delete
	}
	return ev, nil
}

// changes serves replay for an API without an events feed, from the
// resources that have updated_after_param: each record updated in [Since,
// Until) (by updated_at_path; the filter goes to the API, the window is
// enforced client-side too) becomes a "<resource>.updated" event carrying
// the record's current state, timed at its updated_at, with an id of
// resource, record id and that time (so a re-run finds it a duplicate).
// Deletions are not visible this way: `reconctl diff` finds them.
func (p *Provider) changes(ctx context.Context, q providers.EventQuery, fn func(providers.Event) error) error {
	var buf []providers.Event
	for _, name := range p.names {
		r := p.cfg.Resources[name]
		typ := name + ".updated"
		if r.UpdatedAfterParam == "" || len(q.Types) > 0 && !slices.Contains(q.Types, typ) {
			continue
		}
		extra := url.Values{}
		if !q.Since.IsZero() {
			extra.Set(r.UpdatedAfterParam, formatWindow(q.Since, r.UpdatedAfterFormat, false))
		}
		err := p.listRecords(ctx, r, extra, func(rec providers.Record) error {
			t := rec.UpdatedAt
			if t.IsZero() || !q.Since.IsZero() && t.Before(q.Since) || !q.Until.IsZero() && !t.Before(q.Until) {
				return nil
			}
			raw, err := json.Marshal(rec.Data)
			if err != nil {
				return err
			}
			buf = append(buf, providers.Event{ID: name + ":" + rec.ID + "@" + t.UTC().Format(time.RFC3339Nano), Type: typ,
				Created: t, Resource: name, ObjectID: rec.ID, Object: rec.Data, Raw: raw})
			return nil
		})
		if err != nil {
			return err
		}
	}
	return providers.SendInOrder(ctx, buf, "rest changes", fn)
}

// ChangesSince implements providers.ChangeLister: with an events: section,
// the events since since (deletions covered when some type of the resource
// is a delete: type); without one, the records the resource's
// updated_after_param filter returns, each updated at or after since by its
// updated_at_path (deletions not covered: a deleted record no longer lists).
func (p *Provider) ChangesSince(ctx context.Context, resource string, since time.Time, fn func(providers.Change) error) (providers.Coverage, error) {
	r, ok := p.cfg.Resources[resource]
	if !ok {
		return providers.Coverage{}, &providers.UnknownResourceError{Provider: "rest", Resource: resource, Known: p.names}
	}
	if ec := p.cfg.Events; ec != nil {
		var gone []string
		for typ, et := range ec.Types {
			if et.Resource == resource && et.Delete {
				gone = append(gone, typ)
			}
		}
		slices.Sort(gone)
		return providers.EventChanges(ctx, providers.Features{Events: restEvents{p}}, resource, since, time.Now(), fn, gone...)
	}
	cov := providers.Coverage{Source: providers.SourceUpdatedAfter}
	if r.UpdatedAfterParam == "" {
		return cov, fmt.Errorf("rest resource %s %w (configure rest.events or the resource's updated_after_param)", resource, providers.ErrNoChangesFeed)
	}
	extra := url.Values{}
	extra.Set(r.UpdatedAfterParam, formatWindow(since, r.UpdatedAfterFormat, false))
	seen := map[string]bool{}
	err := p.listRecords(ctx, r, extra, func(rec providers.Record) error {
		// The filter goes to the API; the window is enforced here too.
		if rec.UpdatedAt.IsZero() || rec.UpdatedAt.Before(since) || seen[rec.ID] {
			return nil
		}
		seen[rec.ID] = true
		// listRecords may reuse Data's map: the Change keeps its own copy.
		data := make(map[string]any, len(rec.Data))
		for k, v := range rec.Data {
			data[k] = v
		}
		rec.Data = data
		return fn(providers.Change{Resource: resource, ID: rec.ID, At: rec.UpdatedAt, Record: &rec})
	})
	return cov, err
}
