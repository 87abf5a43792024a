package clerk

import (
	"context"
	"net/http"
	"strings"
	"testing"

	"github.com/reconctl/reconctl/providers"
	"github.com/reconctl/reconctl/providers/providertest"
)

// TestPrismContract runs the real client against Prism serving Clerk's own
// Backend API spec (bapi/2021-02-05.yml from github.com/clerk/openapi-specs,
// see ../shared/contracts/README.md; .ci/prism.sh serves a copy with the
// /v1 prefix in dynamic mode): every request must be one the spec allows,
// and our decoding must read what the schemas generate. Pagination,
// deletions and faults are tested against clerkfake (Prism is stateless).
func TestPrismContract(t *testing.T) {
	addr, specPath := providertest.PrismAddr(t, "RECONCTL_PRISM_CLERK")
	spec, err := providertest.LoadSpec(specPath)
	if err != nil {
		t.Fatal(err)
	}
	rec := &providertest.Recorder{}
	p, err := New(providers.Options{APIBase: "http://" + addr, APIKeyEnv: testKeyEnv, RPS: -1,
		HTTPClient: &http.Client{Transport: rec}}, providertest.FastRetries)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	// Dynamic mode may answer an empty page; list a few times so that some
	// users are decoded, following the cursor when a page comes back full.
	p.pageSize = 3
	listed := 0
	for range 5 {
		err := p.List(ctx, Users, func(r providers.Record) error {
			if r.ID == "" {
				t.Errorf("user without id: %v", r.Data)
			}
			if _, ok := r.Data["email"]; !ok {
				t.Errorf("user %s: no flat email field", r.ID)
			}
			listed++
			return nil
		})
		if err != nil && !isRepeatGuard(err) {
			t.Fatalf("List: %v", err)
		}
	}
	if listed == 0 {
		t.Error("five listings decoded no user")
	}
	rec2, st, err := p.Get(ctx, Users, "user_2abc")
	if err != nil || st != providers.StatusPresent || rec2.ID == "" {
		t.Errorf("Get = %+v %v %v", rec2, st, err)
	}
	if _, err := p.FindByEmail(ctx, Users, "a@example.com"); err != nil {
		t.Errorf("FindByEmail: %v", err)
	}
	calls := rec.Calls()
	t.Logf("%d requests, %d users listed", len(calls), listed)
	if n := providertest.CheckCalls(t, spec, calls); n < 7 {
		t.Errorf("only %d requests reached Prism", n)
	}
	cursor := false
	for _, c := range calls {
		cursor = cursor || c.URL.Query().Has("starting_after")
	}
	if !cursor && listed >= 3 {
		t.Error("no cursor page was requested although a full page came back")
	}
}

// isRepeatGuard: generated pages of random users never repeat, but a full
// page of ids already seen (the stale-page guard) is not a contract error.
func isRepeatGuard(err error) bool {
	return err != nil && strings.Contains(err.Error(), "seems to ignore starting_after")
}
