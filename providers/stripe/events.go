package stripe

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	stripeapi "github.com/stripe/stripe-go/v84"

	"github.com/reconctl/reconctl/providers"
	"github.com/reconctl/reconctl/providers/pick"
)

// maxTypesPerRequest is Stripe's limit on types[] in one /v1/events call.
const maxTypesPerRequest = 20

// typeGroup is one request filter: names for types[], or one wildcard
// pattern for type (types[] takes exact names only).
type typeGroup struct {
	types []string
	typ   string
}

func (g typeGroup) describe() string {
	if g.typ != "" {
		return "type=" + g.typ
	}
	if len(g.types) > 0 {
		return "types=" + strings.Join(g.types, ",")
	}
	return "all types"
}

func typeGroups(types []string) []typeGroup {
	seen := map[string]bool{}
	var exact []string
	var groups []typeGroup
	for _, t := range types {
		t = strings.TrimSpace(t)
		if t == "" || seen[t] {
			continue
		}
		seen[t] = true
		if strings.Contains(t, "*") {
			groups = append(groups, typeGroup{typ: t})
		} else {
			exact = append(exact, t)
		}
	}
	for c := range slices.Chunk(exact, maxTypesPerRequest) {
		groups = append(groups, typeGroup{types: c})
	}
	if len(groups) == 0 {
		groups = []typeGroup{{}}
	}
	return groups
}

// Events implements providers.EventSource. Stripe lists events newest first;
// we deliver oldest first, so a window's events are collected, each type
// group's list reversed, and stably sorted by created (whole seconds) before
// delivery. Stripe's ids are opaque and not ordered, so events of one second
// keep the API's own order (reversed), never an order by id: Stripe
// documents its lists as "sorted, with the most recent ... appearing first"
// (API reference, Pagination / List all events) and that is the only order
// within a second we have. Events of one second from different type groups
// (types= vs a type=… wildcard) cannot be interleaved exactly; each group's
// keep their order. Windows split only at whole seconds, so no second is
// ever cut in two. Memory stays bounded: when a window
// holds more than maxEventBuffer events, the collected ones are dropped and
// the window is split at the creation time reached, older part first (the
// dropped part is fetched again: at most about twice the requests for a huge
// window, never unbounded memory).
func (p *Provider) Events(ctx context.Context, q providers.EventQuery, fn func(providers.Event) error) error {
	var a, b int64
	if !q.Since.IsZero() {
		a = ceilUnix(q.Since)
	}
	if !q.Until.IsZero() {
		b = ceilUnix(q.Until)
		if b <= a && a != 0 {
			return nil
		}
	}
	pageNo := 0
	return p.eventsRange(ctx, a, b, typeGroups(q.Types), &pageNo, eventKeep(q.Paths), fn)
}

// eventKeep is what an event keeps when the caller reads only paths of its
// objects (EventQuery.Paths): what toEvent reads of the event itself, and
// of data.object its id and every resource's paths (the type, and so the
// resource, is known only once decoded). Nil: the whole event.
func eventKeep(paths map[string][][]string) *pick.Paths {
	if paths == nil {
		return nil
	}
	keep := [][]string{{"data", "object", "id"}}
	for _, ps := range paths {
		for _, path := range ps {
			keep = append(keep, append([]string{"data", "object"}, path...))
		}
	}
	return pick.Compile(keep, "id", "type", "created", "api_version")
}

// ceilUnix is the first whole second at or after t (events have whole-second
// created times, so created >= t ⇔ created >= ceil(t)).
func ceilUnix(t time.Time) int64 {
	s := t.Unix()
	if t.Nanosecond() > 0 {
		s++
	}
	return s
}

// eventsRange delivers events created in [a, b) (0 = open end).
func (p *Provider) eventsRange(ctx context.Context, a, b int64, groups []typeGroup, pageNo *int, keep *pick.Paths, fn func(providers.Event) error) error {
	// The window is held as each event's id, time and raw bytes; it is
	// decoded only when handed over, so a buffered window costs its JSON,
	// not its decoded maps, and a window dropped to be split was never
	// decoded (issue #16 item 5).
	var buf []pendingEvent
	seen := map[string]bool{}
	inRange := func(c int64) bool { return (a == 0 || c >= a) && (b == 0 || c < b) }
	for _, g := range groups {
		cursor := ""
		groupStart := len(buf)
		for {
			*pageNo++
			page, err := p.fetchEvents(ctx, a, b, g, cursor)
			if err != nil {
				if ctx.Err() != nil {
					return fmt.Errorf("listing stripe events: %w", context.Cause(ctx))
				}
				var ae *providers.AuthError
				if errors.As(err, &ae) {
					return err
				}
				return fmt.Errorf("listing stripe events failed at page %d (%s): %w", *pageNo, describeWindow(a, b, g, cursor), err)
			}
			var lastCreated int64 = -1
			for _, raw := range page.Data {
				pe, err := toEventHead(raw)
				if err != nil {
					return fmt.Errorf("listing stripe events: %w", err)
				}
				if !inRange(pe.created.Unix()) || seen[pe.id] {
					continue // a server ignoring the filter, or overlapping wildcards
				}
				seen[pe.id] = true
				lastCreated = pe.created.Unix()
				buf = append(buf, pe)
			}
			if !page.HasMore {
				break
			}
			if len(page.Data) == 0 {
				return fmt.Errorf("listing stripe events failed at page %d (%s): the API answered has_more: true with no data; stopping rather than replaying a partial window", *pageNo, describeWindow(a, b, g, cursor))
			}
			var head struct {
				ID string `json:"id"`
			}
			_ = json.Unmarshal(page.Data[len(page.Data)-1], &head)
			last := head.ID
			if last == "" || last == cursor {
				return fmt.Errorf("listing stripe events: the API returned has_more without a usable cursor at page %d", *pageNo)
			}
			cursor = last
			if len(buf) > p.maxEventBuffer && lastCreated >= 0 && (b == 0 || lastCreated+1 < b) {
				buf, seen = nil, nil
				if err := p.eventsRange(ctx, a, lastCreated+1, groups, pageNo, keep, fn); err != nil {
					return err
				}
				return p.eventsRange(ctx, lastCreated+1, b, groups, pageNo, keep, fn)
			}
		}
		slices.Reverse(buf[groupStart:]) // newest first → oldest first
	}
	// Oldest first; events of one second keep the list order (as
	// providers.SendInListOrder does).
	slices.SortStableFunc(buf, func(x, y pendingEvent) int { return x.created.Compare(y.created) })
	for i := range buf {
		if err := ctx.Err(); err != nil {
			return fmt.Errorf("listing stripe events: %w", context.Cause(ctx))
		}
		ev, err := buf[i].decode(keep)
		if err != nil {
			return fmt.Errorf("listing stripe events: %w", err)
		}
		buf[i] = pendingEvent{} // handed over: the window no longer holds it
		if err := fn(ev); err != nil {
			return err
		}
	}
	return nil
}

func describeWindow(a, b int64, g typeGroup, cursor string) string {
	var parts []string
	if a != 0 {
		parts = append(parts, fmt.Sprintf("created[gte]=%d", a))
	}
	if b != 0 {
		parts = append(parts, fmt.Sprintf("created[lt]=%d", b))
	}
	parts = append(parts, g.describe())
	if cursor != "" {
		parts = append(parts, "starting_after="+cursor)
	}
	return strings.Join(parts, " ")
}

func (p *Provider) fetchEvents(ctx context.Context, a, b int64, g typeGroup, cursor string) (*rawPage, error) {
	params := &stripeapi.EventListParams{ListParams: stripeapi.ListParams{Context: ctx, Limit: stripeapi.Int64(pageSize)}}
	if cursor != "" {
		params.StartingAfter = stripeapi.String(cursor)
	}
	if a != 0 || b != 0 {
		params.CreatedRange = &stripeapi.RangeQueryParams{GreaterThanOrEqual: a, LesserThan: b}
	}
	if g.typ != "" {
		params.Type = stripeapi.String(g.typ)
	}
	if len(g.types) > 0 {
		params.Types = stripeapi.StringSlice(g.types)
	}
	page := &rawPage{}
	if err := p.callList("/v1/events", params, page); err != nil {
		return nil, p.wrapErr(ctx, err)
	}
	return page, nil
}

// pendingEvent is a listed event before it is decoded: what ordering and
// filtering need, and its bytes.
type pendingEvent struct {
	id      string
	created time.Time
	raw     json.RawMessage
}

// toEventHead reads an event's id and created time only (the rest of it is
// skipped, not decoded); decode finishes it with toEvent.
func toEventHead(raw json.RawMessage) (pendingEvent, error) {
	var h struct {
		ID      any             `json:"id"`
		Created json.RawMessage `json:"created"`
	}
	if err := json.Unmarshal(raw, &h); err != nil {
		return pendingEvent{}, fmt.Errorf("decoding stripe object: %w", err)
	}
	id, _ := h.ID.(string)
	if id == "" {
		return pendingEvent{}, errors.New("stripe event without id or type")
	}
	var c int64
	if len(h.Created) > 0 && h.Created[0] != '"' {
		c, _ = json.Number(h.Created).Int64() // as created() reads a json.Number
	}
	return pendingEvent{id: id, created: time.Unix(c, 0).UTC(), raw: raw}, nil
}

// decode is the event, its object keeping only keep's paths (nil: all).
func (pe pendingEvent) decode(keep *pick.Paths) (providers.Event, error) {
	if keep != nil {
		if m, _, err := keep.Object(pe.raw); err == nil {
			return eventOf(m, pe.raw)
		}
		// Input pick refuses: decoded whole, so the error reads as before.
	}
	return toEvent(pe.raw)
}

// toEvent maps a raw Stripe event. Raw keeps the bytes as received.
func toEvent(raw json.RawMessage) (providers.Event, error) {
	m, err := decodeObject(raw)
	if err != nil {
		return providers.Event{}, err
	}
	return eventOf(m, raw)
}

// eventOf maps a decoded Stripe event (m; raw its bytes).
func eventOf(m map[string]any, raw json.RawMessage) (providers.Event, error) {
	id, _ := m["id"].(string)
	typ, _ := m["type"].(string)
	if id == "" || typ == "" {
		return providers.Event{}, errors.New("stripe event without id or type")
	}
	ev := providers.Event{ID: id, Type: typ, Created: time.Unix(created(m), 0).UTC(), Raw: raw}
	if data, ok := m["data"].(map[string]any); ok {
		if obj, ok := data["object"].(map[string]any); ok {
			ev.Object = obj
			ev.ObjectID, _ = obj["id"].(string)
		}
	}
	ev.Resource, ev.Deleted = eventResource(typ)
	// Stripe renders data.object in the event's own api_version (the
	// account's default when the event happened), not in the version the
	// client pins (Stripe API reference, The Event object: api_version,
	// "The Stripe API version used to render data").
	if v, _ := m["api_version"].(string); v != "" && v != stripeapi.APIVersion {
		ev.ForeignVersion = v
	}
	return ev, nil
}

// eventResource maps an event type to the reconctl resource of its object.
// customer.subscription.deleted is not a deletion: the subscription still
// exists, canceled (GET returns it).
func eventResource(typ string) (resource string, deleted bool) {
	switch typ {
	case "customer.created", "customer.updated":
		return Customers, false
	case "customer.deleted":
		return Customers, true
	}
	if strings.HasPrefix(typ, "customer.subscription.") {
		return Subscriptions, false
	}
	return "", false
}

// EventTypesFor implements providers.EventTyper: the customer lifecycle for
// customers (not customer.source.* and the like), every subscription event
// for subscriptions.
func (p *Provider) EventTypesFor(resources []string) []string {
	var out []string
	if slices.Contains(resources, Customers) {
		out = append(out, "customer.created", "customer.updated", "customer.deleted")
	}
	if slices.Contains(resources, Subscriptions) {
		out = append(out, "customer.subscription.*")
	}
	return out
}

// DeletionEvents implements providers.DeletionEventer. Only customer.deleted
// means the object is gone (GET then answers deleted: true).
// customer.subscription.deleted is NOT a deletion: it means the subscription
// was canceled, and it still exists (GET returns it with status canceled),
// so subscriptions are always confirmed by GET. Stripe never reuses ids; the
// creation type is given anyway, so a re-created id would outweigh an older
// deletion.
func (p *Provider) DeletionEvents(resource string) (gone, created []string) {
	if resource == Customers {
		return []string{"customer.deleted"}, []string{"customer.created"}
	}
	return nil, nil
}
