// Package config reads reconctl.yaml (see the contract) with errors that name
// the file, line and key.
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

	"github.com/reconctl/reconctl/localstate"
	"github.com/reconctl/reconctl/providers"
)

// DefaultFile is read when --config is not given and it exists.
const DefaultFile = "reconctl.yaml"

// CompareModes lists the valid compare: values.
var CompareModes = []string{
	localstate.CompareExact, localstate.CompareCasefold, localstate.CompareNumber,
	localstate.CompareBool, localstate.CompareTime, localstate.CompareJSON,
}

// Config is reconctl.yaml. Zero values mean "not set".
type Config struct {
	File string // the file it was read from ("" when none)

	Provider  string
	APIBase   string
	APIKeyEnv string
	State     string
	Journal   string
	// PasswordEnv names the environment variable holding the database
	// password of a server state (and of a journal DSN on the same server).
	PasswordEnv string
	// Schema is the Postgres schema of the state's tables.
	Schema       string
	UserResource string
	MaxChanges   string
	RPS          float64
	Concurrency  int
	Resources    []*Resource
	Ignore       []string
	// AllowAbsentPaths are mapped provider paths confirmed absent from every
	// record (--allow-absent-path): a plan may write null from them.
	AllowAbsentPaths []string
	// JournalRetention (journal_retention: 90d): after each writing run,
	// runs that started longer ago are pruned from the journal (see
	// journal.Prune). Zero: keep every run.
	JournalRetention time.Duration
	// FullEvery (full_every: 7d): diff/resync --incremental lists in full
	// again once the last full listing is this old. Zero: the default (7d).
	FullEvery time.Duration
	// Sections holds each provider's own section (workos:, rest:) as its
	// raw YAML node, by provider name; the provider's registered decoder
	// (providers.DecodeSection) reads it, so its errors name file:line.
	Sections map[string]*yaml.Node
	// Tenants is the tenants: section (nil: one unscoped run).
	Tenants *Tenants
}

// Section returns the raw section of the provider named by spec, or nil.
func (c *Config) Section(spec string) *yaml.Node {
	name, _ := providers.SplitSpec(spec)
	return c.Sections[name]
}

// Resource is one entry of resources:.
type Resource struct {
	Name       string
	Table      string
	Key        string
	UpdatedAt  string
	SoftDelete string
	Fields     []localstate.Field
	Line       int
	// Lines holds the line of each key set under the resource ("table",
	// "key", "fields.email", ...), so errors about them can point there.
	Lines map[string]int
}

// LineOf returns the line of the resource's key (or of the resource itself).
func (r *Resource) LineOf(key string) int {
	if l, ok := r.Lines[key]; ok {
		return l
	}
	return r.Line
}

// LocalTable returns the store mapping of r.
func (r *Resource) LocalTable() *localstate.Table {
	t := &localstate.Table{Resource: r.Name, Name: r.Table, Key: r.Key, UpdatedAt: r.UpdatedAt, SoftDelete: r.SoftDelete, Fields: slices.Clone(r.Fields)}
	if t.Name == "" {
		t.Name = r.Name
	}
	if t.Key == "" {
		t.Key = "id"
	}
	return t
}

// Resource returns the named resource entry, or nil.
func (c *Config) Resource(name string) *Resource {
	for _, r := range c.Resources {
		if r.Name == name {
			return r
		}
	}
	return nil
}

// Error is a config error at a line.
type Error struct {
	File string
	Line int
	Key  string
	Msg  string
}

func (e *Error) Error() string {
	loc := e.File
	if e.Line > 0 {
		loc = fmt.Sprintf("%s:%d", e.File, e.Line)
	}
	if e.Key != "" {
		return fmt.Sprintf("%s: %s: %s", loc, e.Key, e.Msg)
	}
	return fmt.Sprintf("%s: %s", loc, e.Msg)
}

// Load reads path. Relative paths inside (state, journal, file:PATH) are
// resolved against the file's directory.
func Load(path string) (*Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil, fmt.Errorf("config file %s does not exist: check --config", path)
		}
		return nil, fmt.Errorf("reading config: %w", err)
	}
	c, err := Parse(path, data)
	if err != nil {
		return nil, err
	}
	c.resolvePaths(filepath.Dir(path))
	if err := c.Tenants.loadFile(filepath.Dir(path)); err != nil {
		return nil, err
	}
	return c, nil
}

func (c *Config) resolvePaths(dir string) {
	abs := func(p string) string {
		// A server DSN (postgres://…) is a location, not a path.
		if p == "" || filepath.IsAbs(p) || !localstate.IsFile(p) {
			return p
		}
		return filepath.Join(dir, p)
	}
	c.State = abs(c.State)
	c.Journal = abs(c.Journal)
	if name, path := providers.SplitSpec(c.Provider); path != "" {
		c.Provider = name + ":" + abs(path)
	}
}

// topKeys are the keys of reconctl.yaml besides the providers' sections.
var topKeys = []string{"provider", "api_base", "api_key_env", "state", "journal", "password_env", "schema", "user_resource", "max_changes",
	"rps", "concurrency", "ignore", "allow_absent_paths", "journal_retention", "full_every", "tenants", "resources"}

type parser struct{ file string }

func (p *parser) errf(n *yaml.Node, key, format string, args ...any) error {
	line := 0
	if n != nil {
		line = n.Line
	}
	return &Error{File: p.file, Line: line, Key: key, Msg: fmt.Sprintf(format, args...)}
}

// Parse parses the YAML text of a config file named file.
func Parse(file string, data []byte) (*Config, error) {
	p := &parser{file: file}
	c := &Config{File: file}
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		return nil, p.yamlErr(err)
	}
	if doc.Kind == 0 || len(doc.Content) == 0 {
		return c, nil // empty file
	}
	root := doc.Content[0]
	if root.Kind != yaml.MappingNode {
		return nil, p.errf(root, "", "the config must be a mapping of keys (provider:, state:, resources:, ...)")
	}
	err := p.mapping(root, "", func(key string, k, v *yaml.Node) error {
		var err error
		switch key {
		case "provider":
			c.Provider, err = p.str(v, key)
		case "api_base":
			c.APIBase, err = p.str(v, key)
		case "api_key_env":
			c.APIKeyEnv, err = p.str(v, key)
		case "state":
			c.State, err = p.str(v, key)
		case "journal":
			c.Journal, err = p.str(v, key)
		case "password_env":
			c.PasswordEnv, err = p.str(v, key)
		case "schema":
			c.Schema, err = p.str(v, key)
		case "user_resource":
			c.UserResource, err = p.str(v, key)
		case "max_changes":
			c.MaxChanges, err = p.str(v, key)
			if err == nil {
				_, err = ParseMaxChanges(c.MaxChanges)
				if err != nil {
					err = p.errf(v, key, "%v", err)
				}
			}
		case "rps":
			c.RPS, err = p.float(v, key)
		case "concurrency":
			c.Concurrency, err = p.int(v, key)
		case "ignore":
			c.Ignore, err = p.strList(v, key)
		case "allow_absent_paths":
			c.AllowAbsentPaths, err = p.strList(v, key)
		case "journal_retention":
			var text string
			if text, err = p.str(v, key); err == nil {
				if c.JournalRetention, err = ParseRetention(text); err != nil {
					err = p.errf(v, key, "%v", err)
				}
			}
		case "full_every":
			var text string
			if text, err = p.str(v, key); err == nil {
				if c.FullEvery, err = ParseRetention(text); err != nil {
					err = p.errf(v, key, "%v", err)
				}
			}
		case "resources":
			c.Resources, err = p.resources(v)
		case "tenants":
			c.Tenants, err = p.tenants(v)
		default:
			if slices.Contains(providers.Sections(), key) {
				// The provider decodes its own section when it is opened.
				var m any
				if err = v.Decode(&m); err != nil {
					return p.errf(v, key, "%v", err)
				}
				if c.Sections == nil {
					c.Sections = map[string]*yaml.Node{}
				}
				c.Sections[key] = v
				return nil
			}
			known := append(slices.Clone(topKeys), providers.Sections()...)
			return p.errf(k, key, "unknown key (known: %s)", strings.Join(known, ", "))
		}
		return err
	})
	if err != nil {
		return nil, err
	}
	return c, nil
}

// ParseRetention reads a retention such as journal_retention: or
// history --prune: whole days ("90d"), weeks ("2w") or a Go duration
// ("720h"), more than zero.
func ParseRetention(s string) (time.Duration, error) {
	t := strings.TrimSpace(s)
	var d time.Duration
	var err error
	if n, unit := strings.TrimRight(t, "dw"), strings.TrimLeft(t, "0123456789"); (unit == "d" || unit == "w") && n != "" && len(n)+1 == len(t) {
		var v int
		if v, err = strconv.Atoi(n); err == nil {
			days := time.Duration(v)
			if unit == "w" {
				days *= 7
			}
			if days > 0 && days <= 100*365 {
				d = days * 24 * time.Hour
			}
		}
	} else {
		d, err = time.ParseDuration(t)
	}
	if err != nil || d <= 0 {
		return 0, fmt.Errorf("want a retention such as 90d, 2w or 720h (more than zero), got %q", s)
	}
	return d, nil
}

func (p *parser) yamlErr(err error) error {
	// yaml.v3 messages look like "yaml: line 3: mapping values are not allowed in this context".
	msg := err.Error()
	msg = strings.TrimPrefix(msg, "yaml: ")
	if rest, ok := strings.CutPrefix(msg, "line "); ok {
		if n, tail, ok := strings.Cut(rest, ":"); ok {
			if line, e := strconv.Atoi(n); e == nil {
				return &Error{File: p.file, Line: line, Msg: "malformed YAML:" + tail}
			}
		}
	}
	return &Error{File: p.file, Msg: "malformed YAML: " + msg}
}

func (p *parser) mapping(n *yaml.Node, prefix string, fn func(key string, k, v *yaml.Node) error) error {
	if n.Kind != yaml.MappingNode {
		return p.errf(n, strings.TrimSuffix(prefix, "."), "want a mapping, got %s", kindName(n))
	}
	seen := map[string]bool{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		key := k.Value
		if seen[key] {
			return p.errf(k, prefix+key, "duplicate key")
		}
		seen[key] = true
		if err := fn(key, k, v); err != nil {
			return err
		}
	}
	return nil
}

func kindName(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	case yaml.ScalarNode:
		if n.Tag == "!!null" {
			return "nothing"
		}
		return fmt.Sprintf("%q", n.Value)
	}
	return "something else"
}

func (p *parser) str(n *yaml.Node, key string) (string, error) {
	if n.Kind != yaml.ScalarNode || n.Tag == "!!null" {
		return "", p.errf(n, key, "want a string, got %s", kindName(n))
	}
	return n.Value, nil
}

func (p *parser) float(n *yaml.Node, key string) (float64, error) {
	if n.Kind == yaml.ScalarNode && (n.Tag == "!!int" || n.Tag == "!!float") {
		f, err := strconv.ParseFloat(n.Value, 64)
		if err == nil && f > 0 {
			return f, nil
		}
	}
	return 0, p.errf(n, key, "want a positive number, got %s", kindName(n))
}

func (p *parser) int(n *yaml.Node, key string) (int, error) {
	if n.Kind == yaml.ScalarNode && n.Tag == "!!int" {
		i, err := strconv.Atoi(n.Value)
		if err == nil && i > 0 {
			return i, nil
		}
	}
	return 0, p.errf(n, key, "want a positive whole number, got %s", kindName(n))
}

func (p *parser) strList(n *yaml.Node, key string) ([]string, error) {
	if n.Kind != yaml.SequenceNode {
		return nil, p.errf(n, key, "want a list of strings, got %s", kindName(n))
	}
	var out []string
	for _, e := range n.Content {
		s, err := p.str(e, key)
		if err != nil {
			return nil, err
		}
		out = append(out, s)
	}
	return out, nil
}

// ident checks a local identifier from the config. Identifiers are always
// quoted in SQL; this only rejects what can never be a column name.
func (p *parser) ident(n *yaml.Node, key string) (string, error) {
	s, err := p.str(n, key)
	if err != nil {
		return "", err
	}
	if s == "" || strings.ContainsRune(s, 0) || strings.TrimSpace(s) != s {
		return "", p.errf(n, key, "%q is not a usable table or column name", s)
	}
	return s, nil
}

func (p *parser) resources(n *yaml.Node) ([]*Resource, error) {
	var out []*Resource
	err := p.mapping(n, "resources.", func(name string, k, v *yaml.Node) error {
		if name == "" {
			return p.errf(k, "resources", "empty resource name")
		}
		r := &Resource{Name: name, Line: k.Line, Lines: map[string]int{}}
		prefix := "resources." + name + "."
		if v.Kind == yaml.ScalarNode && v.Tag == "!!null" {
			if IsReserved(name) { // "customers:" alone: all defaults, table = name
				return p.errf(k, "resources."+name, "%s", ReservedMessage(name))
			}
			out = append(out, r)
			return nil
		}
		err := p.mapping(v, prefix, func(key string, k, v *yaml.Node) error {
			var err error
			r.Lines[key] = k.Line
			if key == "fields" && v.Kind == yaml.MappingNode {
				for i := 0; i+1 < len(v.Content); i += 2 {
					r.Lines["fields."+v.Content[i].Value] = v.Content[i].Line
				}
			}
			switch key {
			case "table":
				r.Table, err = p.ident(v, prefix+key)
			case "key":
				r.Key, err = p.ident(v, prefix+key)
			case "updated_at":
				r.UpdatedAt, err = p.ident(v, prefix+key)
			case "soft_delete":
				r.SoftDelete, err = p.ident(v, prefix+key)
			case "fields":
				r.Fields, err = p.fields(v, prefix+key+".")
			default:
				return p.errf(k, prefix+key, "unknown key (known: table, key, updated_at, soft_delete, fields)")
			}
			return err
		})
		if err != nil {
			return err
		}
		if tbl := r.LocalTable().Name; IsReserved(tbl) {
			line := r.Line
			key := "resources." + name
			if r.Table != "" {
				line, key = r.LineOf("table"), prefix+"table"
			}
			return &Error{File: p.file, Line: line, Key: key, Msg: ReservedMessage(tbl)}
		}
		out = append(out, r)
		return nil
	})
	return out, err
}

// IsReserved reports whether a local table name belongs to reconctl itself:
// the journal lives in reconctl_* tables (any case), which a resource must
// never be, or an apply could rewrite or empty the audit trail.
func IsReserved(table string) bool {
	return len(table) >= len("reconctl_") && strings.EqualFold(table[:len("reconctl_")], "reconctl_")
}

// ReservedMessage is the error text for a resource stored in a reserved table.
func ReservedMessage(table string) string {
	return fmt.Sprintf("table %q is reserved: reconctl_* tables hold reconctl's journal and cannot be a resource; map the resource to the application's own table with table:", table)
}

func (p *parser) fields(n *yaml.Node, prefix string) ([]localstate.Field, error) {
	var out []localstate.Field
	err := p.mapping(n, prefix, func(col string, k, v *yaml.Node) error {
		if _, err := p.ident(k, prefix+col); err != nil {
			return err
		}
		f := localstate.Field{Column: col}
		switch v.Kind {
		case yaml.ScalarNode:
			s, err := p.str(v, prefix+col)
			if err != nil {
				return err
			}
			f.Path = s
		case yaml.MappingNode:
			err := p.mapping(v, prefix+col+".", func(key string, k, v *yaml.Node) error {
				var err error
				switch key {
				case "path":
					f.Path, err = p.str(v, prefix+col+".path")
				case "compare":
					f.Compare, err = p.str(v, prefix+col+".compare")
					if err == nil && !slices.Contains(CompareModes, f.Compare) {
						err = p.errf(v, prefix+col+".compare", "unknown compare mode %q (want one of %s)", f.Compare, strings.Join(CompareModes, ", "))
					}
				default:
					err = p.errf(k, prefix+col+"."+key, "unknown key (known: path, compare)")
				}
				return err
			})
			if err != nil {
				return err
			}
		default:
			return p.errf(v, prefix+col, "want a provider field path or {path: ..., compare: ...}, got %s", kindName(v))
		}
		if f.Path == "" {
			return p.errf(v, prefix+col, "missing provider field path")
		}
		if strings.HasPrefix(f.Path, ".") || strings.HasSuffix(f.Path, ".") || strings.Contains(f.Path, "..") {
			return p.errf(v, prefix+col, "malformed field path %q (dots separate names: items.data.0.price.id)", f.Path)
		}
		out = append(out, f)
		return nil
	})
	return out, err
}

// MaxChanges is a parsed --max-changes value.
type MaxChanges struct {
	Unlimited bool
	Count     int     // > 0 when a count was given
	Percent   float64 // > 0 when a share was given
}

// Limit returns how many changes are allowed for a resource with local records.
// The default (zero MaxChanges) is the larger of 100 and 10%.
func (m MaxChanges) Limit(local int) int {
	switch {
	case m.Unlimited:
		return -1
	case m.Count < 0:
		return 0
	case m.Count > 0:
		return m.Count
	case m.Percent > 0:
		return int(float64(local) * m.Percent / 100)
	}
	return max(100, local/10)
}

// String renders m as it would be written.
func (m MaxChanges) String() string {
	switch {
	case m.Unlimited:
		return "unlimited"
	case m.Count < 0:
		return "0"
	case m.Count > 0:
		return strconv.Itoa(m.Count)
	case m.Percent > 0:
		return strconv.FormatFloat(m.Percent, 'f', -1, 64) + "%"
	}
	return "default (max of 100 and 10%)"
}

// ParseMaxChanges parses "500", "10%", "unlimited" ("" = default).
func ParseMaxChanges(s string) (MaxChanges, error) {
	s = strings.TrimSpace(s)
	switch {
	case s == "":
		return MaxChanges{}, nil
	case s == "unlimited":
		return MaxChanges{Unlimited: true}, nil
	case strings.HasSuffix(s, "%"):
		f, err := strconv.ParseFloat(strings.TrimSuffix(s, "%"), 64)
		if err != nil || f <= 0 || f > 100 {
			return MaxChanges{}, fmt.Errorf("max changes %q: want a share between 0%% and 100%%, a count, or unlimited", s)
		}
		return MaxChanges{Percent: f}, nil
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < 0 {
		return MaxChanges{}, fmt.Errorf("max changes %q: want a count (500), a share (10%%) or unlimited", s)
	}
	if n == 0 {
		// 0 means "refuse any write": a count of zero must not fall back to the default.
		return MaxChanges{Count: -1}, nil
	}
	return MaxChanges{Count: n}, nil
}
