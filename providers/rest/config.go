package rest

import (
	"encoding/json"
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

// checker walks the settings map, collecting errors that name keys.
type checker struct {
	errs  []error
	lines map[string]int
	file  string
}

// node is one mapping in the section.
type node struct {
	c    *checker
	path string // "resources.users" (without "rest.")
	m    map[string]any
	seen []string
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

func describe(v any) string {
	switch x := v.(type) {
	case nil:
		return "null"
	case string:
		return fmt.Sprintf("string %q", x)
	case bool:
		return fmt.Sprintf("bool %v", x)
	case int, int64, float64, json.Number, uint64:
		return fmt.Sprintf("number %v", x)
	case map[string]any:
		return "a mapping"
	case []any:
		return "a list"
	}
	return fmt.Sprintf("%T", v)
}

func (n *node) lookup(key string) (any, bool) {
	n.seen = append(n.seen, key)
	v, ok := n.m[key]
	return v, ok
}

// str reads a string; a missing or null key gives def (or an error when required).
func (n *node) str(key string, required bool, def string) string {
	v, ok := n.lookup(key)
	if !ok || v == nil {
		if required {
			n.c.errf(join(n.path, key), "missing (required)")
		}
		return def
	}
	s, isStr := v.(string)
	if !isStr {
		n.c.errf(join(n.path, key), "want a string, got %s", describe(v))
		return def
	}
	return s
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
	case json.Number:
		f, err := x.Float64()
		return f, err == nil
	}
	return 0, false
}

func (n *node) integer(key string, def, lo int) int {
	v, ok := n.lookup(key)
	if !ok || v == nil {
		return def
	}
	f, isNum := number(v)
	if !isNum || f != math.Trunc(f) || math.Abs(f) > 1<<40 {
		n.c.errf(join(n.path, key), "want a whole number, got %s", describe(v))
		return def
	}
	if int(f) < lo {
		n.c.errf(join(n.path, key), "must be at least %d, got %d", lo, int(f))
		return def
	}
	return int(f)
}

func (n *node) float(key string) float64 {
	v, ok := n.lookup(key)
	if !ok || v == nil {
		return 0
	}
	f, isNum := number(v)
	if !isNum || f <= 0 {
		n.c.errf(join(n.path, key), "want a positive number, got %s", describe(v))
		return 0
	}
	return f
}

func (n *node) boolean(key string) bool {
	v, ok := n.lookup(key)
	if !ok || v == nil {
		return false
	}
	b, isBool := v.(bool)
	if !isBool {
		n.c.errf(join(n.path, key), "want true or false, got %s", describe(v))
	}
	return b
}

func (n *node) child(key string, required bool) *node {
	v, ok := n.lookup(key)
	if !ok || v == nil {
		if required {
			n.c.errf(join(n.path, key), "missing (required)")
		}
		return nil
	}
	m, isMap := v.(map[string]any)
	if !isMap {
		n.c.errf(join(n.path, key), "want a mapping, got %s", describe(v))
		return nil
	}
	return &node{c: n.c, path: join(n.path, key), m: m}
}

// strMap reads a mapping of strings (numbers and bools are accepted and
// written as YAML shows them).
func (n *node) strMap(key string) map[string]string {
	ch := n.child(key, false)
	if ch == nil {
		return nil
	}
	out := map[string]string{}
	for _, k := range sortedKeys(ch.m) {
		switch v := ch.m[k].(type) {
		case string:
			out[k] = v
		case bool:
			out[k] = strconv.FormatBool(v)
		default:
			if f, ok := number(v); ok {
				out[k] = strconv.FormatFloat(f, 'f', -1, 64)
			} else {
				n.c.errf(join(ch.path, k), "want a string, got %s", describe(v))
			}
		}
	}
	return out
}

// done reports keys nobody asked for.
func (n *node) done() {
	for _, k := range sortedKeys(n.m) {
		if !slices.Contains(n.seen, k) {
			known := slices.Clone(n.seen)
			sort.Strings(known)
			n.c.errf(join(n.path, k), "unknown key (known: %s)", strings.Join(known, ", "))
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
func (n *node) checkPath(key, p string) {
	if p == "" {
		return
	}
	for seg := range strings.SplitSeq(p, ".") {
		if seg == "" {
			n.c.errf(join(n.path, key), "path %q has an empty segment", p)
			return
		}
	}
}

// checkURLPath validates a path appended to the base URL.
func (n *node) checkURLPath(key, p string) {
	if p != "" && !strings.HasPrefix(p, "/") {
		n.c.errf(join(n.path, key), "want a path starting with / (relative to base_url), got %q", p)
	}
}

// ParseConfig validates the rest: section (as decoded from YAML: maps,
// strings, numbers, bools) and returns it, or an error listing every
// problem, each naming its key (errors.Join of *ConfigError).
func ParseConfig(settings map[string]any) (*Config, error) {
	return ParseConfigAt(settings, nil, "")
}

// DecodeConfig decodes the rest: section of reconctl.yaml (the provider's
// providers.Registration.DecodeConfig): errors read
// "reconctl.yaml:12: rest.resources.users.pagination.style: …".
func DecodeConfig(section *yaml.Node, file string) (any, error) {
	m, err := providers.SectionMap(section, file, "rest")
	if err != nil {
		return nil, err
	}
	return ParseConfigAt(m, providers.KeyLines(section), file)
}

// ParseConfigAt is ParseConfig for a section read from file, whose keys
// are at lines (by dotted path inside the section: "resources.users.pagination.style").
func ParseConfigAt(settings map[string]any, lines map[string]int, file string) (*Config, error) {
	if inner, ok := settings["rest"].(map[string]any); ok && len(sortedKeys(settings)) == 1 {
		settings = inner // the whole settings map rather than the section
	}
	if lines == nil {
		lines = map[string]int{}
	}
	c := &checker{lines: lines, file: file}
	if len(sortedKeys(settings)) == 0 {
		c.errf("", "missing: the rest provider needs a rest: section with base_url and resources (see the README)")
		return nil, errors.Join(c.errs...)
	}
	root := &node{c: c, m: settings}
	cfg := &Config{}
	cfg.BaseURL = root.str("base_url", false, "")
	if a := root.child("auth", false); a != nil {
		_, headerGiven := a.m["header"]
		_, prefixGiven := a.m["prefix"]
		cfg.Auth = &Auth{Header: a.str("header", false, "Authorization"), Env: a.str("env", false, ""),
			QueryParam: a.str("query_param", false, "")}
		def := ""
		if strings.EqualFold(cfg.Auth.Header, "Authorization") {
			def = "Bearer "
		}
		cfg.Auth.Prefix = a.str("prefix", false, def)
		if _, given := a.m["query_param"]; given {
			switch {
			case cfg.Auth.QueryParam == "" || strings.ContainsAny(cfg.Auth.QueryParam, "&=?# "):
				c.errf(join(a.path, "query_param"), "want a query parameter name, got %q", cfg.Auth.QueryParam)
			case headerGiven || prefixGiven:
				c.errf(join(a.path, "query_param"), "the key goes either in a header or in a query parameter: remove header/prefix, or query_param")
			}
			cfg.Auth.Header, cfg.Auth.Prefix = "", ""
		} else if cfg.Auth.Header == "" || strings.ContainsAny(cfg.Auth.Header, " :\r\n") {
			c.errf(join(a.path, "header"), "want an HTTP header name, got %q", cfg.Auth.Header)
		}
		a.done()
	}
	cfg.Headers = root.strMap("headers")
	for k := range cfg.Headers {
		if strings.EqualFold(k, "Authorization") || cfg.Auth != nil && strings.EqualFold(k, cfg.Auth.Header) {
			c.errf(join("headers", k), "credentials belong in an environment variable named by rest.auth.env, not in the config file")
		}
	}
	cfg.RPS = root.float("rps")
	cfg.Resources = map[string]*Resource{}
	if rs := root.child("resources", true); rs != nil {
		if len(rs.m) == 0 {
			c.errf("resources", "empty: name at least one resource")
		}
		for _, name := range sortedKeys(rs.m) {
			if r := rs.child(name, true); r != nil {
				cfg.Resources[name] = parseResource(name, r)
			}
		}
	}
	if ev := root.child("events", false); ev != nil {
		cfg.Events = parseEvents(ev, cfg.Resources)
		for _, name := range sortedNames(cfg.Resources) {
			if cfg.Resources[name].UpdatedAfterParam != "" {
				c.errf(join(join("resources", name), "updated_after_param"), "not used when rest.events is configured (replay reads the events feed): remove one of them")
			}
		}
	}
	root.done()
	if len(c.errs) > 0 {
		return nil, errors.Join(c.errs...)
	}
	return cfg, nil
}

func parseResource(name string, n *node) *Resource {
	r := &Resource{Name: name}
	r.ListPath = n.str("list_path", true, "")
	n.checkURLPath("list_path", r.ListPath)
	r.Query = n.strMap("query")
	r.ItemsPath = n.str("items_path", false, "")
	n.checkPath("items_path", r.ItemsPath)
	r.IDPath = n.str("id_path", true, "")
	n.checkPath("id_path", r.IDPath)
	if _, given := n.m["id_path"]; given && r.IDPath == "" {
		n.c.errf(join(n.path, "id_path"), "empty: name the field holding the id (e.g. id)")
	}
	r.UpdatedAtPath = n.str("updated_at_path", false, "")
	n.checkPath("updated_at_path", r.UpdatedAtPath)
	r.UpdatedAtFormat = n.timeFormat("updated_at_format")
	r.Pagination = parsePagination(n)
	r.GetPath = n.str("get_path", true, "")
	n.checkURLPath("get_path", r.GetPath)
	if r.GetPath != "" && strings.Count(r.GetPath, "{id}") != 1 {
		n.c.errf(join(n.path, "get_path"), "want exactly one {id} placeholder, got %q", r.GetPath)
	}
	r.GetItemPath = n.str("get_item_path", false, "")
	n.checkPath("get_item_path", r.GetItemPath)
	r.DeletedPath = n.str("deleted_path", false, "")
	n.checkPath("deleted_path", r.DeletedPath)
	r.EmailParam = n.str("email_param", false, "")
	r.EmailPath = n.str("email_path", false, "email")
	n.checkPath("email_path", r.EmailPath)
	r.UpdatedAfterParam = n.str("updated_after_param", false, "")
	r.UpdatedAfterFormat = n.str("updated_after_format", false, "rfc3339")
	if !slices.Contains(sinceFormats, r.UpdatedAfterFormat) {
		n.c.errf(join(n.path, "updated_after_format"), "unknown format %q (want %s)", r.UpdatedAfterFormat, strings.Join(sinceFormats, ", "))
	}
	if r.UpdatedAfterParam != "" && r.UpdatedAtPath == "" {
		n.c.errf(join(n.path, "updated_after_param"), "needs updated_at_path: incremental reads take each record's change time from it")
	}
	n.done()
	return r
}

func (n *node) timeFormat(key string) string {
	f := n.str(key, false, "auto")
	if !slices.Contains(timeFormats, f) {
		n.c.errf(join(n.path, key), "unknown format %q (want %s)", f, strings.Join(timeFormats, ", "))
		return "auto"
	}
	return f
}

func parsePagination(parent *node) Pagination {
	n := parent.child("pagination", false)
	if n == nil {
		return Pagination{Style: StyleNone}
	}
	p := Pagination{Style: n.str("style", true, "")}
	if p.Style == "" {
		return p
	}
	keys, ok := styleKeys[p.Style]
	if !ok {
		n.c.errf(join(n.path, "style"), "unknown style %q (want %s)", p.Style, strings.Join(styles, ", "))
		return p
	}
	switch p.Style {
	case StyleCursor:
		p.Param = n.str("param", false, "cursor")
		p.NextPath = n.str("next_path", true, "")
		n.checkPath("next_path", p.NextPath)
		p.HasMorePath = n.str("has_more_path", false, "")
		n.checkPath("has_more_path", p.HasMorePath)
		p.LimitParam = n.str("limit_param", false, "")
		p.Limit = n.integer("limit", 100, 1)
	case StylePage:
		p.PageParam = n.str("page_param", false, "page")
		p.PerPageParam = n.str("per_page_param", false, "per_page")
		p.PerPage = n.integer("per_page", 100, 1)
		p.FirstPage = n.integer("first_page", 1, 0)
	case StyleOffset:
		p.OffsetParam = n.str("offset_param", false, "offset")
		p.LimitParam = n.str("limit_param", false, "limit")
		p.Limit = n.integer("limit", 100, 1)
	case StyleLink:
		p.LimitParam = n.str("limit_param", false, "")
		p.Limit = n.integer("limit", 100, 1)
	case StyleNextURL:
		p.NextURLPath = n.str("next_url_path", true, "")
		n.checkPath("next_url_path", p.NextURLPath)
		p.LimitParam = n.str("limit_param", false, "")
		p.Limit = n.integer("limit", 100, 1)
	}
	if p.Style == StylePage || p.Style == StyleOffset {
		p.TotalPath = n.str("total_path", false, "")
		n.checkPath("total_path", p.TotalPath)
	}
	// A key of another style is a likely mix-up: say so.
	for _, k := range sortedKeys(n.m) {
		if k == "style" || slices.Contains(keys, k) {
			continue
		}
		for _, s := range styles {
			if slices.Contains(styleKeys[s], k) {
				n.c.errf(join(n.path, k), "not used by style %s (it takes: style, %s)", p.Style, strings.Join(keys, ", "))
				n.seen = append(n.seen, k)
				break
			}
		}
	}
	n.done()
	return p
}

func parseEvents(n *node, resources map[string]*Resource) *Events {
	e := &Events{}
	e.Path = n.str("path", true, "")
	n.checkURLPath("path", e.Path)
	e.Query = n.strMap("query")
	e.ItemsPath = n.str("items_path", false, "")
	e.IDPath = n.str("id_path", true, "")
	e.TypePath = n.str("type_path", true, "")
	e.TimePath = n.str("time_path", true, "")
	e.TimeFormat = n.timeFormat("time_format")
	e.ObjectPath = n.str("object_path", true, "")
	e.ObjectIDPath = n.str("object_id_path", false, "")
	if e.ObjectIDPath == "" {
		e.ObjectIDPath = strings.TrimPrefix(e.ObjectPath+".id", ".")
	}
	for _, kv := range [][2]string{{"items_path", e.ItemsPath}, {"id_path", e.IDPath}, {"type_path", e.TypePath},
		{"time_path", e.TimePath}, {"object_path", e.ObjectPath}, {"object_id_path", e.ObjectIDPath}} {
		n.checkPath(kv[0], kv[1])
	}
	e.SinceParam = n.str("since_param", false, "")
	e.UntilParam = n.str("until_param", false, "")
	e.SinceFormat = n.str("since_format", false, "rfc3339")
	if !slices.Contains(sinceFormats, e.SinceFormat) {
		n.c.errf(join(n.path, "since_format"), "unknown format %q (want %s)", e.SinceFormat, strings.Join(sinceFormats, ", "))
	}
	e.TypesParam = n.str("types_param", false, "")
	e.TypesStyle = n.str("types_style", false, "repeat")
	if !slices.Contains(typesStyles, e.TypesStyle) {
		n.c.errf(join(n.path, "types_style"), "unknown style %q (want %s)", e.TypesStyle, strings.Join(typesStyles, ", "))
	}
	e.Pagination = parsePagination(n)
	e.Retention = 30 * 24 * time.Hour
	if v, ok := n.lookup("retention"); ok && v != nil {
		d, err := parseRetention(v)
		if err != nil {
			n.c.errf(join(n.path, "retention"), "%v", err)
		} else {
			e.Retention = d
		}
	}
	e.Types = map[string]EventType{}
	if ts := n.child("types", true); ts != nil {
		if len(ts.m) == 0 {
			n.c.errf(ts.path, "empty: map at least one event type to a resource")
		}
		for _, typ := range sortedKeys(ts.m) {
			var et EventType
			path := join(ts.path, typ)
			switch v := ts.m[typ].(type) {
			case string:
				et.Resource = v
			case map[string]any:
				tn := &node{c: n.c, path: path, m: v}
				et.Resource = tn.str("resource", true, "")
				et.Delete = tn.boolean("delete")
				tn.done()
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
	n.done()
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
