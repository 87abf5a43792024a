package providers_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/reconctl/reconctl/providers"
)

// feedful has its own changes feed as well as events: ChangesSince reads the feed.
type feedful struct{ eventful }

func (feedful) ChangesSince(_ context.Context, resource string, _ time.Time, fn func(providers.Change) error) (providers.Coverage, error) {
	return providers.Coverage{Source: providers.SourceUpdatedAtOrder}, fn(providers.Change{Resource: resource, ID: "own"})
}

// timeline serves events of two resources, with a deletion type.
type timeline struct {
	eventful
	evs []providers.Event
}

func (p timeline) Events(_ context.Context, q providers.EventQuery, fn func(providers.Event) error) error {
	for _, ev := range p.evs {
		if !ev.Created.Before(q.Since) {
			if err := fn(ev); err != nil {
				return err
			}
		}
	}
	return nil
}

func TestChangesSinceDispatch(t *testing.T) {
	ctx := context.Background()
	if _, err := providers.ChangesSince(ctx, bare{}, "things", time.Now(), func(providers.Change) error { return nil }); !errors.Is(err, providers.ErrNoChangesFeed) {
		t.Errorf("no events, no feed: %v", err)
	}
	if f := providers.FeaturesOf(feedful{}); f.Changes == nil || providers.FeaturesOf(masked{feedful{}}).Changes != nil {
		t.Error("Fill/Mask do not carry Changes")
	}
	var got []string
	cov, err := providers.ChangesSince(ctx, feedful{}, "things", time.Now(), func(c providers.Change) error { got = append(got, c.ID); return nil })
	if err != nil || cov.Source != providers.SourceUpdatedAtOrder || len(got) != 1 || got[0] != "own" {
		t.Errorf("own feed: %v %+v %v", err, cov, got)
	}

	now := time.Now()
	p := timeline{evs: []providers.Event{
		{ID: "e0", Type: "thing.updated", Created: now.Add(-2 * time.Hour), Resource: "things", ObjectID: "old"},
		{ID: "e1", Type: "thing.updated", Created: now.Add(-30 * time.Minute), Resource: "things", ObjectID: "a", Object: map[string]any{"id": "a"}, ForeignVersion: "2020-01-01"},
		{ID: "e2", Type: "other.updated", Created: now.Add(-20 * time.Minute), Resource: "others", ObjectID: "o"},
		{ID: "e3", Type: "thing.deleted", Created: now.Add(-10 * time.Minute), Resource: "things", ObjectID: "b", Object: map[string]any{"id": "b"}},
	}}
	var changes []providers.Change
	cov, err = providers.ChangesSince(ctx, p, "things", now.Add(-50*time.Minute), func(c providers.Change) error { changes = append(changes, c); return nil })
	if err != nil {
		t.Fatal(err)
	}
	if cov != (providers.Coverage{Source: providers.SourceEvents, Deletions: true}) {
		t.Errorf("coverage %+v", cov)
	}
	if len(changes) != 2 {
		t.Fatalf("changes %+v", changes)
	}
	if c := changes[0]; c.ID != "a" || c.Deleted || c.Record == nil || c.EventID != "e1" || c.ForeignVersion != "2020-01-01" {
		t.Errorf("update %+v", c)
	}
	if c := changes[1]; c.ID != "b" || !c.Deleted || c.Record != nil {
		t.Errorf("deletion (a gone type, Event.Deleted unset) %+v", c)
	}
	// eventful keeps events for an hour: a two-hour window is refused.
	if _, err := providers.ChangesSince(ctx, p, "things", now.Add(-2*time.Hour), func(providers.Change) error { return nil }); err == nil {
		t.Error("a window older than the retention: no error")
	}
}
