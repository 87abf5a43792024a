package providertest

import (
	"context"
	"testing"
	"time"

	"github.com/reconctl/reconctl/providers"
)

// Changes collects what providers.ChangesSince streams for resource since
// since: the latest change per id, every change in delivery order, and the
// coverage. A failure fails t.
func Changes(t testing.TB, p providers.Provider, resource string, since time.Time) (map[string]providers.Change, []providers.Change, providers.Coverage) {
	t.Helper()
	latest := map[string]providers.Change{}
	var all []providers.Change
	cov, err := providers.ChangesSince(context.Background(), p, resource, since, func(c providers.Change) error {
		if c.Resource != resource {
			t.Errorf("change of %q, asked for %q: %+v", c.Resource, resource, c)
		}
		if c.At.Before(since) {
			t.Errorf("change %s at %v, before the window %v", c.ID, c.At, since)
		}
		all = append(all, c)
		latest[c.ID] = c
		return nil
	})
	if err != nil {
		t.Fatalf("ChangesSince(%s, %s): %v", resource, since, err)
	}
	return latest, all, cov
}
