// The tenants: section (issue #17): where the list of tenants comes from and
// the local column that scopes every resource's rows to one of them.

package config

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/reconctl/reconctl/providers"
)

// Where a tenant list comes from (tenants.from).
const (
	TenantsFromStripeAccounts = "stripe_accounts" // Stripe Connect: GET /v1/accounts
	TenantsFromState          = "state"           // the distinct values of the scope column
	TenantsFromList           = "list"            // tenants.list and/or tenants.file
)

// TenantSources lists the valid tenants.from values.
var TenantSources = []string{TenantsFromStripeAccounts, TenantsFromState, TenantsFromList}

// Tenants is the tenants: section. nil on Config means a single, unscoped
// run (behaviour as before tenants existed).
type Tenants struct {
	From   string // one of TenantSources
	Column string // local column scoping each resource's rows
	// Table, for from: state, names the table whose distinct Column values
	// are the tenants ("" = every resource's table).
	Table string
	// List holds the tenants given in tenants.list and then those of
	// tenants.file, in order (from: list).
	List []*Tenant
	// File is tenants.file as written, resolved against the config file's
	// directory by Load; its tenants are appended to List by Load.
	File string
	// Cadence is how often each tenant is due (--due): tenants.cadence,
	// DefaultCadence when not set; a listed tenant's own cadence: wins.
	Cadence time.Duration
	// CadenceRules, when tenants.cadence is a list, pick a tenant's cadence
	// by its size: the first rule whose RecordsOver its record count
	// exceeds (a rule without records_over matches every tenant).
	CadenceRules []CadenceRule
	Line         int // line of tenants:
}

// CadenceRule is one entry of a tenants.cadence list.
type CadenceRule struct {
	RecordsOver int // 0: any size
	Every       time.Duration
}

// DefaultCadence is tenants.cadence when it is not set.
const DefaultCadence = 24 * time.Hour

// CadenceOf is how often tenant id, of records records (its last run's
// largest resource), is due.
func (ts *Tenants) CadenceOf(id string, records int) time.Duration {
	if t := ts.Tenant(id); t != nil && t.Cadence > 0 {
		return t.Cadence
	}
	for _, r := range ts.CadenceRules {
		if records > r.RecordsOver || r.RecordsOver == 0 {
			return r.Every
		}
	}
	if ts.Cadence > 0 {
		return ts.Cadence
	}
	return DefaultCadence
}

// Tenant is one entry of tenants.list (or of a tenants file).
type Tenant struct {
	ID        string
	APIKeyEnv string // the tenant's own API key variable ("" = the global one)
	APIBase   string // the tenant's own API base ("" = the global one)
	// Sections are provider sections (workos:, rest:, ...) that replace the
	// top-level ones for this tenant, as raw YAML nodes like Config.Sections.
	Sections map[string]*yaml.Node
	Cadence  time.Duration // its own cadence (0: the section's)
	File     string        // file it was read from
	Line     int
}

// Section returns the tenant's own section of the provider named by spec,
// or nil.
func (t *Tenant) Section(spec string) *yaml.Node {
	name, _ := providers.SplitSpec(spec)
	return t.Sections[name]
}

// Tenant returns the listed tenant with id, or nil.
func (ts *Tenants) Tenant(id string) *Tenant {
	if ts == nil {
		return nil
	}
	for _, t := range ts.List {
		if t.ID == id {
			return t
		}
	}
	return nil
}

var tenantKeys = []string{"from", "column", "table", "list", "file", "cadence"}

func (p *parser) tenants(n *yaml.Node) (*Tenants, error) {
	ts := &Tenants{Line: n.Line}
	err := p.mapping(n, "tenants.", func(key string, k, v *yaml.Node) error {
		var err error
		switch key {
		case "from":
			ts.From, err = p.str(v, "tenants.from")
			if err == nil && !slices.Contains(TenantSources, ts.From) {
				err = p.errf(v, "tenants.from", "unknown tenant source %q (want one of %s)", ts.From, strings.Join(TenantSources, ", "))
			}
		case "column":
			ts.Column, err = p.ident(v, "tenants.column")
		case "table":
			ts.Table, err = p.ident(v, "tenants.table")
		case "file":
			ts.File, err = p.str(v, "tenants.file")
			if err == nil && ts.File == "" {
				err = p.errf(v, "tenants.file", "empty file name")
			}
		case "cadence":
			if v.Kind == yaml.SequenceNode {
				ts.CadenceRules, err = p.cadenceRules(v)
			} else {
				ts.Cadence, err = p.duration(v, "tenants.cadence")
			}
		case "list":
			var list []*Tenant
			list, err = p.tenantList(v, "tenants.list")
			ts.List = append(ts.List, list...)
		default:
			err = p.errf(k, "tenants."+key, "unknown key (known: %s)", strings.Join(tenantKeys, ", "))
		}
		return err
	})
	if err != nil {
		return nil, err
	}
	switch {
	case ts.From == "":
		return nil, p.errf(n, "tenants.from", "missing: say where the tenants come from (%s)", strings.Join(TenantSources, ", "))
	case ts.Column == "":
		return nil, p.errf(n, "tenants.column", "missing: name the local column that holds each row's tenant")
	case ts.From != TenantsFromList && (len(ts.List) > 0 || ts.File != ""):
		return nil, p.errf(n, "tenants.list", "list: and file: need from: list (from is %s)", ts.From)
	case ts.From == TenantsFromList && len(ts.List) == 0 && ts.File == "":
		return nil, p.errf(n, "tenants.list", "from: list needs list: or file:")
	case ts.From != TenantsFromState && ts.Table != "":
		return nil, p.errf(n, "tenants.table", "table: needs from: state (from is %s)", ts.From)
	}
	if err := p.checkTenantIDs(ts.List); err != nil {
		return nil, err
	}
	return ts, nil
}

var tenantEntryKeys = []string{"id", "api_key_env", "api_base", "cadence"}

// tenantList reads a list of tenant entries: each an id alone ("acme") or
// a mapping {id:, api_key_env:, api_base:, <provider section>:}.
func (p *parser) tenantList(n *yaml.Node, key string) ([]*Tenant, error) {
	if n.Kind != yaml.SequenceNode {
		return nil, p.errf(n, key, "want a list of tenants, got %s", kindName(n))
	}
	var out []*Tenant
	for i, e := range n.Content {
		ekey := fmt.Sprintf("%s[%d]", key, i)
		t := &Tenant{File: p.file, Line: e.Line}
		switch e.Kind {
		case yaml.ScalarNode:
			id, err := p.str(e, ekey)
			if err != nil {
				return nil, err
			}
			t.ID = id
		case yaml.MappingNode:
			err := p.mapping(e, ekey+".", func(k string, kn, v *yaml.Node) error {
				var err error
				switch k {
				case "id":
					t.ID, err = p.str(v, ekey+".id")
				case "api_key_env":
					t.APIKeyEnv, err = p.str(v, ekey+".api_key_env")
				case "api_base":
					t.APIBase, err = p.str(v, ekey+".api_base")
				case "cadence":
					t.Cadence, err = p.duration(v, ekey+".cadence")
				default:
					if !slices.Contains(providers.Sections(), k) {
						known := append(slices.Clone(tenantEntryKeys), providers.Sections()...)
						return p.errf(kn, ekey+"."+k, "unknown key (known: %s)", strings.Join(known, ", "))
					}
					var m any
					if err = v.Decode(&m); err != nil {
						return p.errf(v, ekey+"."+k, "%v", err)
					}
					if t.Sections == nil {
						t.Sections = map[string]*yaml.Node{}
					}
					t.Sections[k] = v
				}
				return err
			})
			if err != nil {
				return nil, err
			}
		default:
			return nil, p.errf(e, ekey, "want a tenant id or a mapping with id:, got %s", kindName(e))
		}
		if err := validTenantID(t.ID); err != nil {
			return nil, p.errf(e, ekey+".id", "%v", err)
		}
		out = append(out, t)
	}
	return out, nil
}

// validTenantID rejects ids that cannot be a tenant: empty, surrounding
// space, control characters.
func validTenantID(id string) error {
	if id == "" {
		return errors.New("missing tenant id")
	}
	if strings.TrimSpace(id) != id {
		return fmt.Errorf("tenant id %q has surrounding space", id)
	}
	for _, r := range id {
		if r < 0x20 || r == 0x7f {
			return fmt.Errorf("tenant id %q has a control character", id)
		}
	}
	return nil
}

func (p *parser) checkTenantIDs(list []*Tenant) error {
	seen := map[string]*Tenant{}
	for _, t := range list {
		if prev, ok := seen[t.ID]; ok {
			return &Error{File: t.File, Line: t.Line, Key: "tenants.list", Msg: fmt.Sprintf("tenant %q is listed twice (first at %s:%d)", t.ID, prev.File, prev.Line)}
		}
		seen[t.ID] = t
	}
	return nil
}

// loadTenantFile appends the tenants of ts.File (a YAML list of the same
// entries as tenants.list, or a mapping with that list under tenants:) to
// ts.List. Errors name the tenants file and its line.
func (ts *Tenants) loadFile(dir string) error {
	if ts == nil || ts.File == "" {
		return nil
	}
	if !filepath.IsAbs(ts.File) {
		ts.File = filepath.Join(dir, ts.File)
	}
	data, err := os.ReadFile(ts.File)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return fmt.Errorf("tenants file %s does not exist: check tenants.file", ts.File)
		}
		return fmt.Errorf("reading tenants file: %w", err)
	}
	p := &parser{file: ts.File}
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		return p.yamlErr(err)
	}
	if doc.Kind == 0 || len(doc.Content) == 0 {
		return &Error{File: ts.File, Msg: "the tenants file is empty"}
	}
	root := doc.Content[0]
	if root.Kind == yaml.MappingNode {
		var list *yaml.Node
		err := p.mapping(root, "", func(key string, k, v *yaml.Node) error {
			if key != "tenants" {
				return p.errf(k, key, "unknown key (a tenants file is a list of tenants, or tenants: with that list)")
			}
			list = v
			return nil
		})
		if err != nil {
			return err
		}
		if list == nil {
			return &Error{File: ts.File, Line: root.Line, Msg: "no tenants: list"}
		}
		root = list
	}
	more, err := p.tenantList(root, "tenants")
	if err != nil {
		return err
	}
	ts.List = append(ts.List, more...)
	return p.checkTenantIDs(ts.List)
}

// duration reads a positive duration: Go's (90m, 24h) or whole days (7d).
func (p *parser) duration(n *yaml.Node, key string) (time.Duration, error) {
	s, err := p.str(n, key)
	if err != nil {
		return 0, err
	}
	d, err := ParseDuration(s)
	if err != nil {
		return 0, p.errf(n, key, "%v", err)
	}
	return d, nil
}

// ParseDuration parses a positive duration: 90m, 24h, 7d.
func ParseDuration(s string) (time.Duration, error) {
	s = strings.TrimSpace(s)
	var d time.Duration
	var err error
	if days, ok := strings.CutSuffix(s, "d"); ok {
		var n int
		n, err = strconv.Atoi(days)
		d = time.Duration(n) * 24 * time.Hour
	} else {
		d, err = time.ParseDuration(s)
	}
	if err != nil || d <= 0 {
		return 0, fmt.Errorf("%q is not a positive duration (e.g. 90m, 24h, 7d)", s)
	}
	return d, nil
}

// cadenceRules reads a tenants.cadence list: [{records_over: N, every: D}, ...].
func (p *parser) cadenceRules(n *yaml.Node) ([]CadenceRule, error) {
	var out []CadenceRule
	for i, e := range n.Content {
		key := fmt.Sprintf("tenants.cadence[%d]", i)
		var r CadenceRule
		err := p.mapping(e, key+".", func(k string, kn, v *yaml.Node) error {
			var err error
			switch k {
			case "records_over":
				r.RecordsOver, err = p.int(v, key+".records_over")
			case "every":
				r.Every, err = p.duration(v, key+".every")
			default:
				err = p.errf(kn, key+"."+k, "unknown key (known: records_over, every)")
			}
			return err
		})
		if err != nil {
			return nil, err
		}
		if r.Every == 0 {
			return nil, p.errf(e, key+".every", "missing: how often such tenants are due (24h, 7d)")
		}
		out = append(out, r)
	}
	if len(out) == 0 {
		return nil, p.errf(n, "tenants.cadence", "an empty list: give a duration or rules")
	}
	return out, nil
}
