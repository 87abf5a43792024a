package workos

import (
	"context"
	"net/http"
	"testing"
	"time"

	"github.com/reconctl/reconctl/providers"
	"github.com/reconctl/reconctl/providers/providertest"
)

// TestPrismContract runs the real client against Prism serving WorkOS's own
// OpenAPI spec (spec/open-api-spec.yaml v0.61.0 from
// github.com/workos/openapi-spec, see ../shared/contracts/README.md;
// .ci/prism.sh serves a copy whose list_metadata.after examples are null, so
// a stateless mock's list ends): lists, gets and events, every request one
// the spec allows, every response decoded. Pagination, deletions and
// faults are tested against workosfake (Prism is stateless).
func TestPrismContract(t *testing.T) {
	addr, specPath := providertest.PrismAddr(t, "RECONCTL_PRISM_WORKOS")
	spec, err := providertest.LoadSpec(specPath)
	if err != nil {
		t.Fatal(err)
	}
	rec := &providertest.Recorder{}
	p, err := New(providers.Options{APIBase: "http://" + addr, APIKeyEnv: testKeyEnv, RPS: -1,
		HTTPClient: &http.Client{Transport: rec},
		Config:     Config{DirectoryID: "directory_01ECAZ4NV9QMV47GW873HDCX74"}}, providertest.FastRetries)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	for _, res := range []string{Users, Organizations, DirectoryUsers} {
		var recs []providers.Record
		if err := p.List(ctx, res, func(r providers.Record) error { recs = append(recs, r); return nil }); err != nil {
			t.Errorf("List(%s): %v", res, err)
			continue
		}
		if len(recs) == 0 {
			t.Errorf("List(%s) decoded no record", res)
		}
		for _, r := range recs {
			if r.ID == "" || r.Data["object"] == nil {
				t.Errorf("%s record %+v", res, r)
			}
		}
		if len(recs) > 0 {
			got, st, err := p.Get(ctx, res, recs[0].ID)
			if err != nil || st != providers.StatusPresent || got.ID == "" {
				t.Errorf("Get(%s, %s) = %v %v", res, recs[0].ID, st, err)
			}
		}
	}
	if _, err := p.FindByEmail(ctx, Users, "marcelina.davis@example.com"); err != nil {
		t.Errorf("FindByEmail: %v", err)
	}
	// Events for every resource's types, over a window and without one.
	for _, q := range []providers.EventQuery{
		{Types: EventTypesFor(Users, Organizations, DirectoryUsers)},
		{Since: time.Now().Add(-29 * 24 * time.Hour), Until: time.Now(), Types: []string{"user.created", "user.updated"}},
	} {
		n := 0
		if err := p.Events(ctx, q, func(e providers.Event) error {
			if e.ID == "" || e.Type == "" || e.Created.IsZero() {
				t.Errorf("event %+v", e)
			}
			n++
			return nil
		}); err != nil {
			t.Errorf("Events(%v): %v", q.Types, err)
		}
		if q.Since.IsZero() && n == 0 {
			t.Error("Events decoded no event")
		}
	}
	calls := rec.Calls()
	t.Logf("%d requests", len(calls))
	if n := providertest.CheckCalls(t, spec, calls); n < 9 {
		t.Errorf("only %d requests reached Prism", n)
	}
	events := false
	for _, c := range calls {
		if c.URL.Path == "/events" {
			events = true
			if c.URL.Query().Get("events") == "" {
				t.Errorf("events request without a type filter: %s", c.URL.RequestURI())
			}
		}
	}
	if !events {
		t.Error("no /events request")
	}
}
