package rest

import (
	"errors"
	"fmt"
	"math"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/reconctl/reconctl/providers"
)

// Config is the rest: section of reconctl.yaml, validated. See the package
// comment for the schema.
type Config struct {
	BaseURL   string
	Auth      *Auth // nil: no auth section
	Headers   map[string]string
	RPS       float64
	Resources map[string]*Resource
	Events    *Events // nil: no events API
}

// Auth says how the key is sent: Header: Prefix+key, or, with QueryParam,
// as that query parameter (then no header); key from the Env variable.
type Auth struct {
	Header     string
	Prefix     string
	QueryParam string
	Env        string
}

// Resource is one entry of rest.resources.
type Resource struct {
	Name            string
	ListPath        string
	Query           map[string]string // static query parameters for the list
	ItemsPath       string            // "" = the body is the array
	IDPath          string
	UpdatedAtPath   string
	UpdatedAtFormat string // auto, rfc3339, unix, unix_ms
	Pagination      Pagination
	GetPath         string // with {id}
	GetItemPath     string // where the object sits in a GET body ("" = the body)
	DeletedPath     string // a true value here in a GET body means deleted
	EmailParam      string // list filter for lookups by email ("" = none)
	EmailPath       string // the record's email field (checked client-side)
	// UpdatedAfterParam is the list filter returning records updated at or
	// after a time ("" = none); with it, replay reads the resource's changes
	// incrementally when the API has no events feed.
	UpdatedAfterParam  string
	UpdatedAfterFormat string // rfc3339, unix, unix_ms
}

// Pagination styles.
const (
	StyleNone   = "none"
	StyleCursor = "cursor"
	StylePage   = "page"
	StyleOffset = "offset"
	StyleLink   = "link"
	// StyleNextURL follows a next-page URL found in the body (OData's
	// "@odata.nextLink", "next" in many JSON APIs).
	StyleNextURL = "next_url"
)

// Pagination says how a list is paged.
type Pagination struct {
	Style string
	// cursor
	Param       string // the query parameter carrying the cursor
	NextPath    string // where the next cursor sits in the body
	HasMorePath string // optional boolean; false ends the list
	// page
	PageParam    string
	PerPageParam string
	PerPage      int
	FirstPage    int
	// offset
	OffsetParam string
	// page, offset: optional; the total number of records, whose reach ends the list
	TotalPath string
	// next_url: where the next page's URL sits in the body
	NextURLPath string
	// cursor, offset, link, next_url
	LimitParam string
	Limit      int
}

// Events is rest.events.
type Events struct {
	Path         string
	Query        map[string]string
	ItemsPath    string
	IDPath       string
	TypePath     string
	TimePath     string
	TimeFormat   string
	ObjectPath   string
	ObjectIDPath string
	SinceParam   string
	UntilParam   string
	SinceFormat  string // rfc3339, unix, unix_ms: how since_param/until_param are written
	TypesParam   string
	TypesStyle   string // repeat (types=a&types=b) or comma (types=a,b)
	Pagination   Pagination
	Types        map[string]EventType
	Retention    time.Duration
}

// EventType maps an event type to a resource.
type EventType struct {
	Resource string
	Delete   bool
}

var (
	timeFormats  = []string{"auto", "rfc3339", "unix", "unix_ms"}
	sinceFormats = []string{"rfc3339", "unix", "unix_ms"}
	typesStyles  = []string{"repeat", "comma"}
	styles       = []string{StyleCursor, StylePage, StyleOffset, StyleLink, StyleNextURL, StyleNone}
	styleKeys    = map[string][]string{
		StyleNone:    {},
		StyleCursor:  {"param", "next_path", "has_more_path", "limit_param", "limit"},
		StylePage:    {"page_param", "per_page_param", "per_page", "first_page", "total_path"},
		StyleOffset:  {"offset_param", "limit_param", "limit", "total_path"},
		StyleLink:    {"limit_param", "limit"},
		StyleNextURL: {"next_url_path", "limit_param", "limit"},
	}
)

// ConfigError is one problem in the rest: section, naming its key.
type ConfigError struct {
	File string
	Line int
	Key  string // "rest.resources.users.list_path"
	Msg  string
}

func (e *ConfigError) Error() string {
	var loc string
	switch {
	case e.File != "" && e.Line > 0:
		loc = fmt.Sprintf("%s:%d: ", e.File, e.Line)
	case e.Line > 0:
		loc = fmt.Sprintf("line %d: ", e.Line)
	}
	return loc + e.Key + ": " + e.Msg
}

// checker collects the problems of the rest: section, each naming its key.
type checker struct {
	errs  []error
	lines map[string]int
	file  string
}

func (c *checker) errf(path, format string, args ...any) {
	key := "rest"
	if path != "" {
		key += "." + path
	}
	// A missing key has no line of its own: use the nearest enclosing key's.
	line := 0
	for p := path; p != "" && line == 0; {
		line = c.lines[p]
		i := strings.LastIndexAny(p, ".[")
		if i < 0 {
			break
		}
		p = p[:i]
	}
	c.errs = append(c.errs, &ConfigError{File: c.file, Line: line, Key: key, Msg: fmt.Sprintf(format, args...)})
}

func join(path, key string) string {
	if strings.ContainsAny(key, ". ") {
		key = strconv.Quote(key)
		if path == "" {
			return "[" + key + "]"
		}
		return path + "[" + key + "]"
	}
	if path == "" {
		return key
	}
	return path + "." + key
}

// describe names a value as YAML decodes it (for "want …, got …").
func describe(v any) string {
	switch x := v.(type) {
	case nil:
		return "null"
	case string:
		return fmt.Sprintf("string %q", x)
	case bool:
		return fmt.Sprintf("bool %v", x)
	case int, int64, float64, uint64:
		return fmt.Sprintf("number %v", x)
	case map[string]any:
		return "a mapping"
	case []any:
		return "a list"
	}
	return fmt.Sprintf("%T", v)
}

func number(v any) (float64, bool) {
	switch x := v.(type) {
	case int:
		return float64(x), true
	case int64:
		return float64(x), true
	case uint64:
		return float64(x), true
	case float64:
		return x, true
	}
	return 0, false
}

// value is one scalar setting of type T (string, bool, float64, or any)
// as written in reconctl.yaml. A key that is missing or null is not given;
// a value of another YAML type is given but not ok, and raw keeps it for
// the message.
type value[T any] struct {
	given, ok bool
	v         T
	raw       any
}

func (f *value[T]) UnmarshalYAML(n *yaml.Node) error {
	var raw any
	if err := n.Decode(&raw); err != nil {
		return err
	}
	if raw == nil {
		return nil
	}
	f.given, f.raw = true, raw
	switch p := any(&f.v).(type) {
	case *string:
		*p, f.ok = raw.(string)
	case *bool:
		*p, f.ok = raw.(bool)
	case *float64:
		*p, f.ok = number(raw)
	case *any:
		*p, f.ok = raw, true
	}
	return nil
}

// section is a mapping setting decoded into T (a struct with yaml tags, or
// a map by name). keys are the keys as written, sorted (with merged ones),
// null values included, so unknown keys can be named; a value that is not
// a mapping is given but not a map.
type section[T any] struct {
	given, isMap bool
	raw          any
	keys         []string
	v            T
}

func (s *section[T]) UnmarshalYAML(n *yaml.Node) error {
	var raw any
	if err := n.Decode(&raw); err != nil {
		return err
	}
	if raw == nil {
		return nil
	}
	s.given, s.raw = true, raw
	m, ok := raw.(map[string]any)
	if !ok {
		return nil
	}
	s.isMap, s.keys = true, sortedKeys(m)
	return n.Decode(&s.v)
}

func (s *section[T]) has(key string) bool { return slices.Contains(s.keys, key) }

// The typed shape of the rest: section (see the package comment).
type yamlConfig struct {
	BaseURL   value[string]                             `yaml:"base_url"`
	Auth      section[yamlAuth]                         `yaml:"auth"`
	Headers   section[map[string]any]                   `yaml:"headers"`
	RPS       value[float64]                            `yaml:"rps"`
	Resources section[map[string]section[yamlResource]] `yaml:"resources"`
	Events    section[yamlEvents]                       `yaml:"events"`
}

var rootKeys = []string{"auth", "base_url", "events", "headers", "resources", "rps"}

type yamlAuth struct {
	Header     value[string] `yaml:"header"`
	Prefix     value[string] `yaml:"prefix"`
	QueryParam value[string] `yaml:"query_param"`
	Env        value[string] `yaml:"env"`
}

var authKeys = []string{"env", "header", "prefix", "query_param"}

type yamlResource struct {
	ListPath           value[string]           `yaml:"list_path"`
	Query              section[map[string]any] `yaml:"query"`
	ItemsPath          value[string]           `yaml:"items_path"`
	IDPath             value[string]           `yaml:"id_path"`
	UpdatedAtPath      value[string]           `yaml:"updated_at_path"`
	UpdatedAtFormat    value[string]           `yaml:"updated_at_format"`
	Pagination         section[yamlPagination] `yaml:"pagination"`
	GetPath            value[string]           `yaml:"get_path"`
	GetItemPath        value[string]           `yaml:"get_item_path"`
	DeletedPath        value[string]           `yaml:"deleted_path"`
	EmailParam         value[string]           `yaml:"email_param"`
	EmailPath          value[string]           `yaml:"email_path"`
	UpdatedAfterParam  value[string]           `yaml:"updated_after_param"`
	UpdatedAfterFormat value[string]           `yaml:"updated_after_format"`
}

var resourceKeys = []string{"deleted_path", "email_param", "email_path", "get_item_path", "get_path", "id_path", "items_path",
	"list_path", "pagination", "query", "updated_after_format", "updated_after_param", "updated_at_format", "updated_at_path"}

type yamlPagination struct {
	Style        value[string]  `yaml:"style"`
	Param        value[string]  `yaml:"param"`
	NextPath     value[string]  `yaml:"next_path"`
	HasMorePath  value[string]  `yaml:"has_more_path"`
	PageParam    value[string]  `yaml:"page_param"`
	PerPageParam value[string]  `yaml:"per_page_param"`
	PerPage      value[float64] `yaml:"per_page"`
	FirstPage    value[float64] `yaml:"first_page"`
	OffsetParam  value[string]  `yaml:"offset_param"`
	TotalPath    value[string]  `yaml:"total_path"`
	NextURLPath  value[string]  `yaml:"next_url_path"`
	LimitParam   value[string]  `yaml:"limit_param"`
	Limit        value[float64] `yaml:"limit"`
}

type yamlEvents struct {
	Path         value[string]                     `yaml:"path"`
	Query        section[map[string]any]           `yaml:"query"`
	ItemsPath    value[string]                     `yaml:"items_path"`
	IDPath       value[string]                     `yaml:"id_path"`
	TypePath     value[string]                     `yaml:"type_path"`
	TimePath     value[string]                     `yaml:"time_path"`
	TimeFormat   value[string]                     `yaml:"time_format"`
	ObjectPath   value[string]                     `yaml:"object_path"`
	ObjectIDPath value[string]                     `yaml:"object_id_path"`
	SinceParam   value[string]                     `yaml:"since_param"`
	UntilParam   value[string]                     `yaml:"until_param"`
	SinceFormat  value[string]                     `yaml:"since_format"`
	TypesParam   value[string]                     `yaml:"types_param"`
	TypesStyle   value[string]                     `yaml:"types_style"`
	Pagination   section[yamlPagination]           `yaml:"pagination"`
	Retention    value[any]                        `yaml:"retention"`
	Types        section[map[string]yamlEventType] `yaml:"types"`
}

var eventsKeys = []string{"id_path", "items_path", "object_id_path", "object_path", "pagination", "path", "query", "retention",
	"since_format", "since_param", "time_format", "time_path", "type_path", "types", "types_param", "types_style", "until_param"}

// yamlEventType is an entry of rest.events.types: a resource name, or
// {resource: NAME, delete: true}.
type yamlEventType struct {
	raw  any
	spec section[struct {
		Resource value[string] `yaml:"resource"`
		Delete   value[bool]   `yaml:"delete"`
	}]
}

func (e *yamlEventType) UnmarshalYAML(n *yaml.Node) error {
	if err := n.Decode(&e.raw); err != nil {
		return err
	}
	if _, isMap := e.raw.(map[string]any); isMap {
		return n.Decode(&e.spec)
	}
	return nil
}

// scope checks the settings of one mapping (path "resources.users",
// without "rest.").
type scope struct {
	c    *checker
	path string
}

func (s scope) at(key string) scope { return scope{c: s.c, path: join(s.path, key)} }

func (s scope) errf(key, format string, args ...any) {
	s.c.errf(join(s.path, key), format, args...)
}

// str reads a string; a missing or null key gives def (or an error when required).
func (s scope) str(key string, f value[string], required bool, def string) string {
	if !f.given {
		if required {
			s.errf(key, "missing (required)")
		}
		return def
	}
	if !f.ok {
		s.errf(key, "want a string, got %s", describe(f.raw))
		return def
	}
	return f.v
}

func (s scope) integer(key string, f value[float64], def, lo int) int {
	if !f.given {
		return def
	}
	if !f.ok || f.v != math.Trunc(f.v) || math.Abs(f.v) > 1<<40 {
		s.errf(key, "want a whole number, got %s", describe(f.raw))
		return def
	}
	if int(f.v) < lo {
		s.errf(key, "must be at least %d, got %d", lo, int(f.v))
		return def
	}
	return int(f.v)
}

func (s scope) float(key string, f value[float64]) float64 {
	if !f.given {
		return 0
	}
	if !f.ok || f.v <= 0 {
		s.errf(key, "want a positive number, got %s", describe(f.raw))
		return 0
	}
	return f.v
}

func (s scope) boolean(key string, f value[bool]) bool {
	if f.given && !f.ok {
		s.errf(key, "want true or false, got %s", describe(f.raw))
	}
	return f.v
}

// mapping says whether a mapping setting is there to read: a missing or
// null key is not (an error when required), nor another type.
func mapping[T any](s scope, key string, sec *section[T], required bool) bool {
	if !sec.given {
		if required {
			s.errf(key, "missing (required)")
		}
		return false
	}
	if !sec.isMap {
		s.errf(key, "want a mapping, got %s", describe(sec.raw))
		return false
	}
	return true
}

// strMap reads a mapping of strings (numbers and bools are accepted and
// written as YAML shows them).
func (s scope) strMap(key string, sec *section[map[string]any]) map[string]string {
	if !mapping(s, key, sec, false) {
		return nil
	}
	ch := s.at(key)
	out := map[string]string{}
	for _, k := range sec.keys {
		switch v := sec.v[k].(type) {
		case string:
			out[k] = v
		case bool:
			out[k] = strconv.FormatBool(v)
		default:
			if f, ok := number(v); ok {
				out[k] = strconv.FormatFloat(f, 'f', -1, 64)
			} else {
				ch.errf(k, "want a string, got %s", describe(v))
			}
		}
	}
	return out
}

// done reports the keys written that are not among known.
func (s scope) done(keys, known []string) {
	for _, k := range keys {
		if !slices.Contains(known, k) {
			s.errf(k, "unknown key (known: %s)", strings.Join(known, ", "))
		}
	}
}

func sortedKeys(m map[string]any) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// checkPath validates a field path: dot-separated names, numbers index
// lists; "" is the root.
func (s scope) checkPath(key, p string) {
	if p == "" {
		return
	}
	for seg := range strings.SplitSeq(p, ".") {
		if seg == "" {
			s.errf(key, "path %q has an empty segment", p)
			return
		}
	}
}

// checkURLPath validates a path appended to the base URL.
func (s scope) checkURLPath(key, p string) {
	if p != "" && !strings.HasPrefix(p, "/") {
		s.errf(key, "want a path starting with / (relative to base_url), got %q", p)
	}
}

// DecodeConfig decodes the rest: section of reconctl.yaml (the provider's
// providers.Registration.DecodeConfig) into a *Config: errors read
// "reconctl.yaml:12: rest.resources.users.pagination.style: …", each
// problem on its own line (errors.Join of *ConfigError), the line taken
// from the YAML node of the key.
func DecodeConfig(node *yaml.Node, file string) (any, error) {
	cfg, err := decodeAt(node, providers.KeyLines(node), file)
	if err != nil {
		return nil, err
	}
	return cfg, nil
}

// decodeAt decodes and validates the section, whose keys are at lines (by
// dotted path inside the section: "resources.users.pagination.style").
func decodeAt(node *yaml.Node, lines map[string]int, file string) (*Config, error) {
	if lines == nil {
		lines = map[string]int{}
	}
	c := &checker{lines: lines, file: file}
	var whole section[yamlConfig]
	if node != nil {
		if err := node.Decode(&whole); err != nil {
			return nil, fmt.Errorf("%s:%d: %s: %v", file, node.Line, "rest", err)
		}
		// The whole settings map rather than the section.
		if len(whole.keys) == 1 && whole.keys[0] == "rest" {
			var inner struct {
				Rest section[yamlConfig] `yaml:"rest"`
			}
			if err := node.Decode(&inner); err == nil && inner.Rest.isMap {
				whole = inner.Rest
			}
		}
	}
	if !whole.isMap || len(whole.keys) == 0 {
		c.errf("", "missing: the rest provider needs a rest: section with base_url and resources (see the README)")
		return nil, errors.Join(c.errs...)
	}
	y := &whole.v
	root := scope{c: c}
	cfg := &Config{}
	cfg.BaseURL = root.str("base_url", y.BaseURL, false, "")
	if mapping(root, "auth", &y.Auth, false) {
		cfg.Auth = parseAuth(root.at("auth"), &y.Auth)
	}
	cfg.Headers = root.strMap("headers", &y.Headers)
	for k := range cfg.Headers {
		if strings.EqualFold(k, "Authorization") || cfg.Auth != nil && strings.EqualFold(k, cfg.Auth.Header) {
			c.errf(join("headers", k), "credentials belong in an environment variable named by rest.auth.env, not in the config file")
		}
	}
	cfg.RPS = root.float("rps", y.RPS)
	cfg.Resources = map[string]*Resource{}
	if mapping(root, "resources", &y.Resources, true) {
		rs := root.at("resources")
		if len(y.Resources.keys) == 0 {
			c.errf("resources", "empty: name at least one resource")
		}
		for _, name := range y.Resources.keys {
			if r := y.Resources.v[name]; mapping(rs, name, &r, true) {
				cfg.Resources[name] = parseResource(name, rs.at(name), &r)
			}
		}
	}
	if mapping(root, "events", &y.Events, false) {
		cfg.Events = parseEvents(root.at("events"), &y.Events, cfg.Resources)
		for _, name := range sortedNames(cfg.Resources) {
			if cfg.Resources[name].UpdatedAfterParam != "" {
				c.errf(join(join("resources", name), "updated_after_param"), "not used when rest.events is configured (replay reads the events feed): remove one of them")
			}
		}
	}
	root.done(whole.keys, rootKeys)
	if len(c.errs) > 0 {
		return nil, errors.Join(c.errs...)
	}
	return cfg, nil
}

func parseAuth(a scope, sec *section[yamlAuth]) *Auth {
	ya := &sec.v
	auth := &Auth{Header: a.str("header", ya.Header, false, "Authorization"), Env: a.str("env", ya.Env, false, ""),
		QueryParam: a.str("query_param", ya.QueryParam, false, "")}
	def := ""
	if strings.EqualFold(auth.Header, "Authorization") {
		def = "Bearer "
	}
	auth.Prefix = a.str("prefix", ya.Prefix, false, def)
	if sec.has("query_param") {
		switch {
		case auth.QueryParam == "" || strings.ContainsAny(auth.QueryParam, "&=?# "):
			a.errf("query_param", "want a query parameter name, got %q", auth.QueryParam)
		case sec.has("header") || sec.has("prefix"):
			a.errf("query_param", "the key goes either in a header or in a query parameter: remove header/prefix, or query_param")
		}
		auth.Header, auth.Prefix = "", ""
	} else if auth.Header == "" || strings.ContainsAny(auth.Header, " :\r\n") {
		a.errf("header", "want an HTTP header name, got %q", auth.Header)
	}
	a.done(sec.keys, authKeys)
	return auth
}

func parseResource(name string, n scope, sec *section[yamlResource]) *Resource {
	y := &sec.v
	r := &Resource{Name: name}
	r.ListPath = n.str("list_path", y.ListPath, true, "")
	n.checkURLPath("list_path", r.ListPath)
	r.Query = n.strMap("query", &y.Query)
	r.ItemsPath = n.str("items_path", y.ItemsPath, false, "")
	n.checkPath("items_path", r.ItemsPath)
	r.IDPath = n.str("id_path", y.IDPath, true, "")
	n.checkPath("id_path", r.IDPath)
	if sec.has("id_path") && r.IDPath == "" {
		n.errf("id_path", "empty: name the field holding the id (e.g. id)")
	}
	r.UpdatedAtPath = n.str("updated_at_path", y.UpdatedAtPath, false, "")
	n.checkPath("updated_at_path", r.UpdatedAtPath)
	r.UpdatedAtFormat = n.timeFormat("updated_at_format", y.UpdatedAtFormat)
	r.Pagination = parsePagination(n, &y.Pagination)
	r.GetPath = n.str("get_path", y.GetPath, true, "")
	n.checkURLPath("get_path", r.GetPath)
	if r.GetPath != "" && strings.Count(r.GetPath, "{id}") != 1 {
		n.errf("get_path", "want exactly one {id} placeholder, got %q", r.GetPath)
	}
	r.GetItemPath = n.str("get_item_path", y.GetItemPath, false, "")
	n.checkPath("get_item_path", r.GetItemPath)
	r.DeletedPath = n.str("deleted_path", y.DeletedPath, false, "")
	n.checkPath("deleted_path", r.DeletedPath)
	r.EmailParam = n.str("email_param", y.EmailParam, false, "")
	r.EmailPath = n.str("email_path", y.EmailPath, false, "email")
	n.checkPath("email_path", r.EmailPath)
	r.UpdatedAfterParam = n.str("updated_after_param", y.UpdatedAfterParam, false, "")
	r.UpdatedAfterFormat = n.str("updated_after_format", y.UpdatedAfterFormat, false, "rfc3339")
	if !slices.Contains(sinceFormats, r.UpdatedAfterFormat) {
		n.errf("updated_after_format", "unknown format %q (want %s)", r.UpdatedAfterFormat, strings.Join(sinceFormats, ", "))
	}
	if r.UpdatedAfterParam != "" && r.UpdatedAtPath == "" {
		n.errf("updated_after_param", "needs updated_at_path: incremental reads take each record's change time from it")
	}
	n.done(sec.keys, resourceKeys)
	return r
}

func (s scope) timeFormat(key string, f value[string]) string {
	v := s.str(key, f, false, "auto")
	if !slices.Contains(timeFormats, v) {
		s.errf(key, "unknown format %q (want %s)", v, strings.Join(timeFormats, ", "))
		return "auto"
	}
	return v
}

func parsePagination(parent scope, sec *section[yamlPagination]) Pagination {
	if !mapping(parent, "pagination", sec, false) {
		return Pagination{Style: StyleNone}
	}
	n, y := parent.at("pagination"), &sec.v
	p := Pagination{Style: n.str("style", y.Style, true, "")}
	if p.Style == "" {
		return p
	}
	keys, ok := styleKeys[p.Style]
	if !ok {
		n.errf("style", "unknown style %q (want %s)", p.Style, strings.Join(styles, ", "))
		return p
	}
	switch p.Style {
	case StyleCursor:
		p.Param = n.str("param", y.Param, false, "cursor")
		p.NextPath = n.str("next_path", y.NextPath, true, "")
		n.checkPath("next_path", p.NextPath)
		p.HasMorePath = n.str("has_more_path", y.HasMorePath, false, "")
		n.checkPath("has_more_path", p.HasMorePath)
		p.LimitParam = n.str("limit_param", y.LimitParam, false, "")
		p.Limit = n.integer("limit", y.Limit, 100, 1)
	case StylePage:
		p.PageParam = n.str("page_param", y.PageParam, false, "page")
		p.PerPageParam = n.str("per_page_param", y.PerPageParam, false, "per_page")
		p.PerPage = n.integer("per_page", y.PerPage, 100, 1)
		p.FirstPage = n.integer("first_page", y.FirstPage, 1, 0)
	case StyleOffset:
		p.OffsetParam = n.str("offset_param", y.OffsetParam, false, "offset")
		p.LimitParam = n.str("limit_param", y.LimitParam, false, "limit")
		p.Limit = n.integer("limit", y.Limit, 100, 1)
	case StyleLink:
		p.LimitParam = n.str("limit_param", y.LimitParam, false, "")
		p.Limit = n.integer("limit", y.Limit, 100, 1)
	case StyleNextURL:
		p.NextURLPath = n.str("next_url_path", y.NextURLPath, true, "")
		n.checkPath("next_url_path", p.NextURLPath)
		p.LimitParam = n.str("limit_param", y.LimitParam, false, "")
		p.Limit = n.integer("limit", y.Limit, 100, 1)
	}
	if p.Style == StylePage || p.Style == StyleOffset {
		p.TotalPath = n.str("total_path", y.TotalPath, false, "")
		n.checkPath("total_path", p.TotalPath)
	}
	known := append([]string{"style"}, keys...)
	// A key of another style is a likely mix-up: say so.
	for _, k := range sec.keys {
		if slices.Contains(known, k) {
			continue
		}
		for _, s := range styles {
			if slices.Contains(styleKeys[s], k) {
				n.errf(k, "not used by style %s (it takes: style, %s)", p.Style, strings.Join(keys, ", "))
				known = append(known, k)
				break
			}
		}
	}
	sort.Strings(known)
	n.done(sec.keys, known)
	return p
}

func parseEvents(n scope, sec *section[yamlEvents], resources map[string]*Resource) *Events {
	y := &sec.v
	e := &Events{}
	e.Path = n.str("path", y.Path, true, "")
	n.checkURLPath("path", e.Path)
	e.Query = n.strMap("query", &y.Query)
	e.ItemsPath = n.str("items_path", y.ItemsPath, false, "")
	e.IDPath = n.str("id_path", y.IDPath, true, "")
	e.TypePath = n.str("type_path", y.TypePath, true, "")
	e.TimePath = n.str("time_path", y.TimePath, true, "")
	e.TimeFormat = n.timeFormat("time_format", y.TimeFormat)
	e.ObjectPath = n.str("object_path", y.ObjectPath, true, "")
	e.ObjectIDPath = n.str("object_id_path", y.ObjectIDPath, false, "")
	if e.ObjectIDPath == "" {
		e.ObjectIDPath = strings.TrimPrefix(e.ObjectPath+".id", ".")
	}
	for _, kv := range [][2]string{{"items_path", e.ItemsPath}, {"id_path", e.IDPath}, {"type_path", e.TypePath},
		{"time_path", e.TimePath}, {"object_path", e.ObjectPath}, {"object_id_path", e.ObjectIDPath}} {
		n.checkPath(kv[0], kv[1])
	}
	e.SinceParam = n.str("since_param", y.SinceParam, false, "")
	e.UntilParam = n.str("until_param", y.UntilParam, false, "")
	e.SinceFormat = n.str("since_format", y.SinceFormat, false, "rfc3339")
	if !slices.Contains(sinceFormats, e.SinceFormat) {
		n.errf("since_format", "unknown format %q (want %s)", e.SinceFormat, strings.Join(sinceFormats, ", "))
	}
	e.TypesParam = n.str("types_param", y.TypesParam, false, "")
	e.TypesStyle = n.str("types_style", y.TypesStyle, false, "repeat")
	if !slices.Contains(typesStyles, e.TypesStyle) {
		n.errf("types_style", "unknown style %q (want %s)", e.TypesStyle, strings.Join(typesStyles, ", "))
	}
	e.Pagination = parsePagination(n, &y.Pagination)
	e.Retention = 30 * 24 * time.Hour
	if y.Retention.given {
		d, err := parseRetention(y.Retention.v)
		if err != nil {
			n.errf("retention", "%v", err)
		} else {
			e.Retention = d
		}
	}
	e.Types = map[string]EventType{}
	if mapping(n, "types", &y.Types, true) {
		ts := n.at("types")
		if len(y.Types.keys) == 0 {
			n.c.errf(ts.path, "empty: map at least one event type to a resource")
		}
		for _, typ := range y.Types.keys {
			var et EventType
			entry := y.Types.v[typ]
			path := join(ts.path, typ)
			switch v := entry.raw.(type) {
			case string:
				et.Resource = v
			case map[string]any:
				tn := ts.at(typ)
				et.Resource = tn.str("resource", entry.spec.v.Resource, true, "")
				et.Delete = tn.boolean("delete", entry.spec.v.Delete)
				tn.done(entry.spec.keys, []string{"delete", "resource"})
				path = join(path, "resource")
			default:
				n.c.errf(path, "want a resource name or {resource: NAME, delete: true}, got %s", describe(v))
				continue
			}
			if et.Resource != "" && resources[et.Resource] == nil && len(resources) > 0 {
				n.c.errf(path, "no resource %q in rest.resources (have: %s)", et.Resource, strings.Join(sortedNames(resources), ", "))
			}
			e.Types[typ] = et
		}
	}
	n.done(sec.keys, eventsKeys)
	return e
}

// parseRetention reads "30d", "720h", or a number of days.
func parseRetention(v any) (time.Duration, error) {
	if f, ok := number(v); ok && f > 0 {
		return time.Duration(f * float64(24*time.Hour)), nil
	}
	s, _ := v.(string)
	if days, ok := strings.CutSuffix(s, "d"); ok {
		if f, err := strconv.ParseFloat(days, 64); err == nil && f > 0 {
			return time.Duration(f * float64(24*time.Hour)), nil
		}
	}
	if d, err := time.ParseDuration(s); err == nil && d > 0 {
		return d, nil
	}
	return 0, fmt.Errorf("want a duration such as 30d or 720h, got %s", describe(v))
}

func sortedNames(m map[string]*Resource) []string {
	names := make([]string, 0, len(m))
	for n := range m {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}
