package providers

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"
)

// Change is one record a provider changed in a window (ChangesSince).
type Change struct {
	Resource, ID string
	// Deleted: the change removed the object (a deletion event).
	Deleted bool
	// At is when the change happened: the event's time, or the record's
	// updated_at.
	At time.Time
	// Record holds the values as of the change when the feed knows them
	// (the event's object, or the listed record); nil: Get it. An event's
	// object may be older than the provider's current state (a later event
	// may not be listed yet) and, with ForeignVersion, in another API
	// version: a caller wanting current values Gets the record.
	Record *Record
	// EventID is the event's id ("" for a listing's change).
	EventID string
	// ForeignVersion is the event's Event.ForeignVersion.
	ForeignVersion string
}

// Sources of a changes feed (Coverage.Source).
const (
	// SourceEvents: the provider's events API (Stripe, WorkOS, REST events:).
	SourceEvents = "events"
	// SourceUpdatedAfter: a list filter returning records updated at or
	// after a time (REST updated_after_param).
	SourceUpdatedAfter = "updated_after"
	// SourceUpdatedAtOrder: a listing ordered newest updated_at first, read
	// until the records are older than the window (Clerk).
	SourceUpdatedAtOrder = "updated_at_order"
)

// Coverage says what a changes feed could see of a resource.
type Coverage struct {
	// Source is where the changes came from (SourceEvents, …).
	Source string `json:"source"`
	// Deletions: deletions in the window are in the feed (events with a
	// deletion type). false: a deleted record simply no longer lists, so
	// only a full diff finds it.
	Deletions bool `json:"deletions"`
}

// ChangeLister is implemented by providers with their own "changed since"
// feed (Features.Changes): Clerk's updated_at order, REST's
// updated_after_param or events: section. See ChangesSince.
type ChangeLister interface {
	ChangesSince(ctx context.Context, resource string, since time.Time, fn func(Change) error) (Coverage, error)
}

// ErrNoChangesFeed is returned by ChangesSince for a provider (or resource)
// that cannot say what changed in a window.
var ErrNoChangesFeed = errors.New("cannot list what changed since a time (no events API, updated_after filter or updated_at order): run a full diff")

// ChangesSince streams to fn what the provider p changed in resource since
// since (inclusive), oldest first where the feed allows (events; a listing
// by updated_at comes newest first), possibly more than once per id (one
// Change per event): the caller keeps the latest per id. It reads the
// provider's own feed (Features.Changes) where it has one, else its events
// API (Features.Events, the types Features.EventTypes names for resource;
// deletions are Event.Deleted or Features.Deletions' gone types). The
// Coverage says where the changes came from and whether deletions are in
// them. A window older than the provider keeps events is an error, as is a
// provider with no feed (ErrNoChangesFeed).
func ChangesSince(ctx context.Context, p Provider, resource string, since time.Time, fn func(Change) error) (Coverage, error) {
	f := FeaturesOf(p)
	if f.Changes != nil {
		return f.Changes.ChangesSince(ctx, resource, since, fn)
	}
	if f.Events != nil {
		return EventChanges(ctx, f, resource, since, time.Now(), fn)
	}
	return Coverage{}, fmt.Errorf("%s %w", p.Name(), ErrNoChangesFeed)
}

// EventChanges is ChangesSince from the events API in f (f.Events must be
// set): the events since since of the types f.EventTypes names for resource
// (every type when f has no EventTypes), each event of resource one Change.
// Deletions are covered when f.Deletions names gone types for resource or
// goneTypes does (REST's delete: types). now is the clock the retention
// window is checked against.
func EventChanges(ctx context.Context, f Features, resource string, since, now time.Time, fn func(Change) error, goneTypes ...string) (Coverage, error) {
	if r := f.Events.EventRetention(); r > 0 && since.Before(now.Add(-r)) {
		return Coverage{}, fmt.Errorf("%s is older than the %s the provider keeps events: run a full diff (or a shorter --since)",
			since.UTC().Format(time.RFC3339), FormatRetention(r))
	}
	var types []string
	if f.EventTypes != nil {
		types = f.EventTypes.EventTypesFor([]string{resource})
		if len(types) == 0 {
			return Coverage{}, fmt.Errorf("no event type of the provider concerns %s, so its events cannot say what changed: run a full diff", resource)
		}
	}
	gone := slices.Clone(goneTypes)
	if f.Deletions != nil {
		g, _ := f.Deletions.DeletionEvents(resource)
		gone = append(gone, g...)
	}
	cov := Coverage{Source: SourceEvents, Deletions: len(gone) > 0}
	err := f.Events.Events(ctx, EventQuery{Since: since, Types: types}, func(ev Event) error {
		if ev.Resource != resource || ev.ObjectID == "" {
			return nil
		}
		c := Change{Resource: resource, ID: ev.ObjectID, At: ev.Created, EventID: ev.ID, ForeignVersion: ev.ForeignVersion,
			Deleted: ev.Deleted || slices.Contains(gone, ev.Type)}
		if ev.Object != nil && !c.Deleted {
			c.Record = &Record{ID: ev.ObjectID, Data: ev.Object}
		}
		return fn(c)
	})
	return cov, err
}

// FormatRetention writes a retention as days when it is whole days ("30
// days"), else as a Go duration.
func FormatRetention(d time.Duration) string {
	if d >= 24*time.Hour && d%(24*time.Hour) == 0 {
		return fmt.Sprintf("%d days", d/(24*time.Hour))
	}
	return d.String()
}
