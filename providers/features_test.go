package providers_test

import (
	"context"
	"testing"
	"time"

	"github.com/reconctl/reconctl/providers"
)

type bare struct{}

func (bare) Name() string               { return "bare" }
func (bare) DefaultResources() []string { return nil }
func (bare) List(context.Context, string, func(providers.Record) error) error {
	return nil
}
func (bare) Get(context.Context, string, string) (providers.Record, providers.RemoteStatus, error) {
	return providers.Record{}, providers.StatusDeleted, nil
}

type eventful struct{ bare }

func (eventful) Events(context.Context, providers.EventQuery, func(providers.Event) error) error {
	return nil
}
func (eventful) EventRetention() time.Duration { return time.Hour }
func (eventful) FindByEmail(context.Context, string, string) ([]providers.Record, error) {
	return nil, nil
}
func (eventful) SearchByEmail(context.Context, string, string) ([]providers.Record, error) {
	return nil, nil
}
func (eventful) EmailLookupNote() string { return "exact" }
func (eventful) DeletionEvents(string) (gone, created []string) {
	return []string{"thing.deleted"}, []string{"thing.created"}
}

// masked wraps a provider and keeps only its email lookup.
type masked struct{ providers.Provider }

func (m masked) Features() providers.Features {
	inner := providers.FeaturesOf(m.Provider)
	return inner.Mask(providers.Features{EmailLookup: inner.EmailLookup})
}

func TestFeaturesFillMask(t *testing.T) {
	if f := providers.FeaturesOf(bare{}); f != (providers.Features{}) {
		t.Errorf("bare provider: %+v", f)
	}
	f := providers.FeaturesOf(eventful{})
	if f.Events == nil || f.EmailLookup == nil || f.EmailSearch == nil || f.EmailNote == nil || f.Related != nil || f.WebhookSigner != nil || f.EventTypes != nil || f.Deletions == nil {
		t.Errorf("Fill: %+v", f)
	}
	m := providers.FeaturesOf(masked{eventful{}})
	if m.Events != nil || m.EmailLookup == nil || m.EmailSearch != nil || m.EmailNote != nil || m.Deletions != nil {
		t.Errorf("Mask kept %+v", m)
	}
	if providers.FeaturesOf(nil) != (providers.Features{}) {
		t.Error("nil provider has features")
	}
}
