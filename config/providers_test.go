package config

import (
	"context"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"

	"github.com/reconctl/reconctl/providers"
	// The providers' sections (stripe:, rest:, ...) are known from the registry.
	_ "github.com/reconctl/reconctl/providers/all"
)

type hubspot struct{ portal string }

func (hubspot) Name() string               { return "hubspot" }
func (hubspot) DefaultResources() []string { return []string{"contacts"} }
func (hubspot) List(context.Context, string, func(providers.Record) error) error {
	return nil
}
func (hubspot) Get(context.Context, string, string) (providers.Record, providers.RemoteStatus, error) {
	return providers.Record{}, providers.StatusDeleted, nil
}

// A provider registered with a decoder gets its own section in
// reconctl.yaml with no change here: config keeps the raw node, the
// provider decodes it (with its lines), and messages list it.
func TestRegisteredProviderSection(t *testing.T) {
	type hubConfig struct{ Portal string }
	t.Cleanup(func() { providers.Unregister("hubspot") })
	providers.Register(providers.Registration{
		Name: "hubspot", Rank: 45,
		New: func(o providers.Options) (providers.Provider, error) {
			return hubspot{portal: o.Config.(hubConfig).Portal}, nil
		},
		DecodeConfig: func(n *yaml.Node, file string) (any, error) {
			var c struct {
				Portal string `yaml:"portal"`
			}
			if err := n.Decode(&c); err != nil {
				return nil, err
			}
			if c.Portal == "" {
				return nil, &Error{File: file, Line: n.Line, Key: "hubspot.portal", Msg: "missing"}
			}
			return hubConfig{Portal: c.Portal}, nil
		},
	})
	c, err := Parse("r.yaml", []byte("provider: hubspot\nhubspot:\n  portal: p1\n"))
	if err != nil {
		t.Fatal(err)
	}
	pc, err := providers.DecodeSection(c.Provider, c.Section(c.Provider), c.File)
	if err != nil {
		t.Fatal(err)
	}
	p, err := providers.Open(providers.Options{Spec: c.Provider, Config: pc})
	if err != nil || p.(hubspot).portal != "p1" {
		t.Fatalf("open: %v %v", p, err)
	}
	c, _ = Parse("r.yaml", []byte("provider: hubspot\nhubspot:\n  other: 1\n"))
	if _, err := providers.DecodeSection(c.Provider, c.Section(c.Provider), c.File); err == nil || err.Error() != "r.yaml:3: hubspot.portal: missing" {
		t.Errorf("decoder error: %v", err)
	}
	_, err = Parse("r.yaml", []byte("hubspt: {}\n"))
	if err == nil || !strings.HasSuffix(err.Error(), "resources, stripe, workos, clerk, rest, hubspot)") {
		t.Errorf("unknown key: %v", err)
	}
	if got := providers.Usages(); got != "stripe, workos, clerk, rest, hubspot, file:PATH" {
		t.Errorf("Usages = %q", got)
	}
}
