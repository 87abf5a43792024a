package stripe

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	stripeapi "github.com/stripe/stripe-go/v84"

	"github.com/reconctl/reconctl/config"
	"github.com/reconctl/reconctl/providers"
)

// TestReadmeSampleConfigResolves reads the README's Stripe sample config and
// checks that every mapped path exists on objects served by the fake (which
// renders them in the pinned API version): a path the pinned version moved
// (current_period_end went from the subscription to its items) would be
// written as NULL by every sync.
func TestReadmeSampleConfigResolves(t *testing.T) {
	b, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	_, configs, _ := strings.Cut(string(b), "## Provider configs")
	_, after, ok := strings.Cut(configs, "```yaml\nprovider: stripe")
	if !ok {
		t.Fatal("README has no Stripe sample config")
	}
	block, _, _ := strings.Cut(after, "```")
	cfgPath := filepath.Join(t.TempDir(), "reconctl.yaml")
	if err := os.WriteFile(cfgPath, []byte("provider: stripe"+block), 0o644); err != nil {
		t.Fatal(err)
	}
	cfg, err := config.Load(cfgPath)
	if err != nil {
		t.Fatal(err)
	}
	if len(cfg.Resources) != 2 {
		t.Fatalf("README's Stripe sample maps %d resources, want customers and subscriptions", len(cfg.Resources))
	}

	f, srv := newFake(t)
	c := f.CreateCustomer(map[string]any{"email": "ann@example.com", "name": "Ann",
		"metadata": map[string]any{"plan": "pro", "vip": "true"}})
	if _, err := f.CreateSubscription(map[string]any{"customer": c["id"], "price": "price_pro"}); err != nil {
		t.Fatal(err)
	}
	p := newProvider(t, srv.URL, providers.Options{})
	for _, res := range cfg.Resources {
		var rec providers.Record
		mustList(t, p, res.Name, func(r providers.Record) { rec = r })
		for _, fl := range res.Fields {
			if v, ok := lookup(rec.Data, fl.Path); !ok || v == nil {
				t.Errorf("README's %s field %s: path %q is absent from a %s object in API version %s", res.Name, fl.Column, fl.Path, res.Name, stripeapi.APIVersion)
			}
		}
	}
}

func lookup(obj any, path string) (any, bool) {
	for _, part := range strings.Split(path, ".") {
		switch o := obj.(type) {
		case map[string]any:
			v, ok := o[part]
			if !ok {
				return nil, false
			}
			obj = v
		case []any:
			i, err := strconv.Atoi(part)
			if err != nil || i < 0 || i >= len(o) {
				return nil, false
			}
			obj = o[i]
		default:
			return nil, false
		}
	}
	return obj, true
}
