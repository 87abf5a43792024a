// Package rest is a generic JSON REST provider, configured by the rest:
// section of reconctl.yaml, for SaaS APIs without a dedicated provider. It
// talks through providers/httpx (pacing, retries, whole-body reads) like
// every provider. The section (every key; defaults in brackets):
//
//	rest:
//	  base_url: https://api.example.com     # required unless --api-base / api_base is given (they win)
//	  auth:                                 # optional; without it no credentials are sent
//	    header: Authorization               # [Authorization]
//	    prefix: "Bearer "                   # ["Bearer " for Authorization, else ""]
//	    env: EXAMPLE_API_KEY                # the key's environment variable; api_key_env / --api-key-env win
//	    query_param: api_key                # optional: send the key as this query parameter instead of a header
//	  headers: {Accept: application/json}   # optional static headers (never credentials)
//	  rps: 10                               # [10] client-side request rate; --rps / rps: win
//	  resources:                            # required, at least one
//	    users:
//	      list_path: /users                 # required; relative to base_url
//	      query: {status: all}              # optional static list parameters
//	      items_path: data                  # [""] where the array sits; "" = the body is the array
//	      id_path: id                       # required
//	      updated_at_path: updated_at       # optional
//	      updated_at_format: auto           # [auto] auto, rfc3339, unix, unix_ms
//	      get_path: /users/{id}             # required; {id} is path-escaped
//	      get_item_path: ""                 # [""] where the object sits in a GET body
//	      deleted_path: deleted             # optional: true there in a GET body = deleted
//	      email_param: email                # optional: enables check-user by email (list_path?email=…)
//	      email_path: email                 # [email] the record's email, re-checked client-side
//	      updated_after_param: updated_after # optional, without events: replay lists records updated since --since
//	      updated_after_format: rfc3339     # [rfc3339] or unix, unix_ms
//	      pagination:                       # optional; without it the list is one request
//	        style: cursor                   # cursor, page, offset, link, next_url, none
//	        param: cursor                   #   cursor: [cursor] the query parameter
//	        next_path: meta.next_cursor     #   cursor: required; null, "" or false ends the list
//	        has_more_path: meta.has_more    #   cursor: optional; false ends the list
//	        limit_param: limit              #   cursor, link: optional; offset: [limit]
//	        limit: 100                      #   cursor, offset, link: [100]
//	        offset_param: offset            #   offset: [offset]
//	        page_param: page                #   page: [page]
//	        per_page_param: per_page        #   page: [per_page]; "" = not sent (an empty page ends the list)
//	        per_page: 100                   #   page: [100]
//	        first_page: 1                   #   page: [1]
//	        total_path: meta.total          #   page, offset: optional; reaching this total ends the list
//	        next_url_path: "@odata.nextLink" #  next_url: required; the next page's URL (same host only)
//	  events:                               # optional: enables replay
//	    path: /events                       # required
//	    query: {}                           # optional static parameters
//	    items_path: data                    # [""]
//	    id_path: id                         # required
//	    type_path: type                     # required
//	    time_path: created_at               # required
//	    time_format: auto                   # [auto]
//	    object_path: data.object            # required
//	    object_id_path: data.object.id      # [object_path + ".id"]
//	    since_param: since                  # optional: window start
//	    until_param: until                  # optional: window end
//	    since_format: rfc3339               # [rfc3339] or unix, unix_ms: how since/until are written
//	    types_param: types                  # optional: wanted types
//	    types_style: repeat                 # [repeat] one parameter each; comma: one comma-joined value
//	    pagination: {style: cursor, ...}    # as for resources
//	    retention: 30d                      # [30d] how far back the API keeps events
//	    types:                              # required: event type → resource
//	      user.created: users
//	      user.deleted: {resource: users, delete: true}
//
// Field paths are dot-separated; a number indexes a list (items.0.id); a
// key containing dots is found as written (the longest matching key wins).
//
// A listing ends only on an explicit signal (empty page, no next cursor,
// link or URL, has_more false, total reached), never on a short page: APIs
// cap page sizes silently.
// Every problem in the section is reported when the provider is built,
// each naming its key (rest.resources.users.pagination.style: …).
//
// Pagination by page or offset can repeat or skip records when the list
// changes during a listing; records are de-duplicated by id, and a record
// missing from a listing is always fetched by id before anything is
// deleted, so a skip costs a check, not a wrong delete.
package rest

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/reconctl/reconctl/providers"
	"github.com/reconctl/reconctl/providers/httpx"
	"github.com/reconctl/reconctl/providers/pick"
)

// DefaultRPS is the client-side rate when neither the config nor flags set one.
const DefaultRPS = 10

func init() {
	providers.Register(providers.Registration{
		Name: "rest", Rank: 40,
		New:          func(o providers.Options) (providers.Provider, error) { return New(o) },
		DecodeConfig: DecodeConfig,
	})
}

// Provider is the generic REST provider. Its Features say whether it can
// look objects up by email (some resource has email_param) and list events
// (events: is configured, or some resource has updated_after_param).
type Provider struct {
	cfg        *Config
	base       *url.URL
	authHeader string
	authValue  string // secret: never logged or shown
	authQuery  string // the query parameter carrying authValue ("" = a header carries it)
	keyEnv     string
	client     *http.Client
	transport  *httpx.Transport
	names      []string
	log        *slog.Logger
}

// Identity implements providers.Identifier: the API base and the
// credential.
func (p *Provider) Identity() string { return providers.AccountIdentity(p.base.String(), p.authValue) }

// restEvents is the events capability: the events: feed, or incremental
// reads through updated_after_param.
type restEvents struct{ p *Provider }

func (e restEvents) Events(ctx context.Context, q providers.EventQuery, fn func(providers.Event) error) error {
	return e.p.events(ctx, q, fn)
}

func (e restEvents) EventRetention() time.Duration { return e.p.retention() }

// restEmail is the email-lookup capability (some resource has email_param).
type restEmail struct{ p *Provider }

func (e restEmail) FindByEmail(ctx context.Context, resource, email string) ([]providers.Record, error) {
	return e.p.findByEmail(ctx, resource, email)
}

// retention is the events feed's, or, for incremental reads through
// updated_after_param, unlimited: the list holds every record's latest state.
func (p *Provider) retention() time.Duration {
	if p.cfg.Events != nil {
		return p.cfg.Events.Retention
	}
	return 100 * 365 * 24 * time.Hour
}

// Features implements providers.Featurer: email lookup when some resource
// has email_param, events when events: is configured or some resource has
// updated_after_param; never webhook signing (no signature scheme).
func (p *Provider) Features() providers.Features {
	var f providers.Features
	email, changes := false, false
	for _, r := range p.cfg.Resources {
		email = email || r.EmailParam != ""
		changes = changes || r.UpdatedAfterParam != ""
	}
	if email {
		f.EmailLookup = restEmail{p}
	}
	if p.cfg.Events != nil || changes {
		f.Events = restEvents{p}
	}
	f.Paths = p
	// What changed in a window: from the events feed or updated_after_param
	// (ChangesSince says, per resource, when it has neither).
	f.Changes = p
	return f
}

var (
	_ providers.EmailFinder  = restEmail{}
	_ providers.EventSource  = restEvents{}
	_ providers.Featurer     = (*Provider)(nil)
	_ providers.ChangeLister = (*Provider)(nil)
)

// New builds the provider from Options.Config (the rest: section as
// DecodeConfig decoded it; without it, New says the section is missing).
// Options.APIBase overrides base_url, Options.APIKeyEnv overrides
// auth.env, Options.RPS overrides rps (negative: no client-side pacing).
// The optional tweaks adjust the HTTP layer's configuration (tests use them
// for short backoff).
//
// Not httpx.NewSetup: the base comes from the config and is checked before
// the key, which is optional (no auth: section, no key).
func New(opts providers.Options, tweaks ...func(*httpx.Config)) (providers.Provider, error) {
	cfg, ok := opts.Config.(*Config)
	if !ok || cfg == nil {
		var err error
		if cfg, err = decodeAt(nil, nil, ""); err != nil {
			return nil, err
		}
	}
	base := opts.APIBase
	if base == "" {
		base = cfg.BaseURL
	}
	if base == "" {
		return nil, errors.New("rest.base_url: missing; set it in the rest: section of reconctl.yaml or pass --api-base")
	}
	u, err := httpx.CheckAPIBase(base)
	if err != nil {
		return nil, fmt.Errorf("rest: %w", err)
	}
	p := &Provider{cfg: cfg, base: u, names: sortedNames(cfg.Resources), log: httpx.OrDiscard(opts.Logger)}
	keyEnv := opts.APIKeyEnv
	if keyEnv == "" && cfg.Auth != nil {
		keyEnv = cfg.Auth.Env
	}
	switch {
	case keyEnv != "":
		key, err := httpx.LookupKey(keyEnv)
		if err != nil {
			return nil, err
		}
		p.keyEnv, p.authHeader, p.authValue = keyEnv, "Authorization", "Bearer "+key
		if cfg.Auth != nil {
			p.authHeader, p.authValue = cfg.Auth.Header, cfg.Auth.Prefix+key
			if cfg.Auth.QueryParam != "" {
				p.authQuery, p.authHeader, p.authValue = cfg.Auth.QueryParam, "", key
			}
		}
	case cfg.Auth != nil:
		return nil, errors.New("rest.auth.env: missing; name the environment variable holding the API key (or set api_key_env)")
	}
	hc := httpx.ConfigFrom(opts, cmp.Or(cfg.RPS, DefaultRPS))
	for _, t := range tweaks {
		t(&hc)
	}
	p.transport = httpx.New(hc)
	p.client = p.transport.Client()

	return p, nil
}

// Name implements providers.Provider.
func (p *Provider) Name() string { return "rest" }

// DefaultResources implements providers.Provider: every configured resource.
func (p *Provider) DefaultResources() []string { return append([]string(nil), p.names...) }

// Config returns the validated configuration.
func (p *Provider) Config() *Config { return p.cfg }

// HTTPStats returns the HTTP layer's counters.
func (p *Provider) HTTPStats() httpx.Stats { return p.transport.Stats() }

func (p *Provider) resource(name string) (*Resource, error) {
	r := p.cfg.Resources[name]
	if r == nil {
		return nil, &providers.UnknownResourceError{Provider: "rest", Resource: name, Known: p.names}
	}
	return r, nil
}

// resolve makes an absolute URL of a configured path (already escaped;
// it may carry a query of its own) plus query.
func (p *Provider) resolve(path string, query url.Values) (*url.URL, error) {
	u, err := url.Parse(p.base.String() + path)
	if err != nil {
		return nil, fmt.Errorf("bad path %q: %w", path, err)
	}
	if len(query) > 0 {
		q := u.Query()
		for k, v := range query {
			q[k] = v
		}
		u.RawQuery = q.Encode()
	}
	return u, nil
}

// get sends one GET and returns the buffered response. With query-parameter
// auth the key is added here, to a copy: the URLs that paging keeps and
// errors describe never carry it.
func (p *Provider) get(ctx context.Context, u *url.URL) (*http.Response, []byte, error) {
	target := u.String()
	if p.authQuery != "" {
		withKey := *u
		withKey.RawQuery = withAuthParam(u.RawQuery, p.authQuery, p.authValue)
		target = withKey.String()
	}
	resp, body, err := httpx.Get(ctx, p.client, target, func(h http.Header) {
		for k, v := range p.cfg.Headers {
			h.Set(k, v)
		}
		if p.authHeader != "" {
			h.Set(p.authHeader, p.authValue)
		}
	})
	if err != nil && p.authQuery != "" {
		// Transport errors can quote the request URL, and with it the key.
		if msg := err.Error(); strings.Contains(msg, p.authValue) || strings.Contains(msg, url.QueryEscape(p.authValue)) {
			msg = strings.ReplaceAll(msg, url.QueryEscape(p.authValue), "[key]")
			err = errors.New(p.scrub(msg))
		}
	}
	return resp, body, err
}

// APIError is an error response other than 401.
type APIError struct {
	Status  int
	Message string // a short excerpt of the body, secrets removed
}

func (e *APIError) Error() string {
	msg := fmt.Sprintf("the API answered HTTP %d", e.Status)
	if e.Message != "" {
		msg += ": " + e.Message
	}
	return msg
}

func (p *Provider) apiError(resp *http.Response, body []byte) error {
	if resp.StatusCode == http.StatusUnauthorized {
		env := p.keyEnv
		if env == "" {
			env = "(no key configured: set rest.auth.env or api_key_env)"
		}
		return &providers.AuthError{Provider: "rest", KeyEnv: env}
	}
	return &APIError{Status: resp.StatusCode, Message: p.excerpt(body)}
}

// excerpt is a one-line, bounded, secret-free view of an error body: the
// usual message fields of a JSON body, or the start of a text body.
func (p *Provider) excerpt(body []byte) string {
	var m map[string]any
	msg := ""
	if json.Unmarshal(body, &m) == nil {
		for _, k := range []string{"message", "error_description", "error", "detail", "title", "errors"} {
			if v, ok := m[k]; ok && v != nil {
				if s, ok := v.(string); ok {
					msg = s
				} else {
					b, _ := json.Marshal(v)
					msg = string(b)
				}
				break
			}
		}
	}
	if msg == "" {
		msg = string(body)
	}
	msg = strings.Join(strings.Fields(msg), " ")
	if len(msg) > 200 {
		msg = msg[:200] + "…"
	}
	return p.scrub(msg)
}

// scrub removes the credential (header value and bare key); a generic API's
// keys have no known shape, so there is no pattern to match.
func (p *Provider) scrub(s string) string {
	return httpx.Scrub(s, nil, p.authValue, strings.TrimPrefix(p.authValue, p.cfg.authPrefix()))
}

func (c *Config) authPrefix() string {
	if c.Auth == nil {
		return "Bearer "
	}
	return c.Auth.Prefix
}

// Get implements providers.Provider: 404 and 410 are deleted, 403
// inaccessible, 401 an *providers.AuthError.
func (p *Provider) Get(ctx context.Context, resource, id string) (providers.Record, providers.RemoteStatus, error) {
	r, err := p.resource(resource)
	if err != nil {
		return providers.Record{}, "", err
	}
	if id == "" {
		return providers.Record{}, "", fmt.Errorf("getting rest %s: empty id", resource)
	}
	u, err := p.resolve(strings.Replace(r.GetPath, "{id}", url.PathEscape(id), 1), nil)
	if err != nil {
		return providers.Record{}, "", fmt.Errorf("getting rest %s %s: %w", resource, id, err)
	}
	resp, body, err := p.get(ctx, u)
	if err != nil {
		return providers.Record{}, "", fmt.Errorf("getting rest %s %s: %w", resource, id, err)
	}
	// A generic API's error bodies have no known shape: any 404 or 410 is a deletion.
	gone := func(st int) bool { return st == http.StatusNotFound || st == http.StatusGone }
	// Not httpx.GetRecord: the object sits at get_item_path and deleted_path may mark it deleted.
	switch st, ok := httpx.GetStatus(resp.StatusCode, gone); {
	case !ok:
		return providers.Record{}, "", fmt.Errorf("getting rest %s %s: %w", resource, id, p.apiError(resp, body))
	case st != providers.StatusPresent:
		return providers.Record{}, st, nil
	}
	raw, ok, err := rawAt(body, r.GetItemPath)
	if err != nil || !ok {
		return providers.Record{}, "", fmt.Errorf("getting rest %s %s: no object at get_item_path %q in the answer", resource, id, r.GetItemPath)
	}
	obj, err := decodeObject(raw)
	if err != nil {
		return providers.Record{}, "", fmt.Errorf("getting rest %s %s: %w", resource, id, err)
	}
	if r.DeletedPath != "" {
		if v, _ := lookup(obj, r.DeletedPath); v == true {
			// The API's own tombstone: the deletion is confirmed (see providers.Provider.Get).
			return providers.Record{ID: id, Data: obj}, providers.StatusDeleted, nil
		}
	}
	rec, err := toRecord(r, obj)
	if err != nil {
		return providers.Record{}, "", fmt.Errorf("getting rest %s %s: %w", resource, id, err)
	}
	return rec, providers.StatusPresent, nil
}

// List implements providers.Provider. Records repeated by offset or page
// paging while the list changes are delivered once.
func (p *Provider) List(ctx context.Context, resource string, fn func(providers.Record) error) error {
	r, err := p.resource(resource)
	if err != nil {
		return err
	}
	return p.listRecords(ctx, r, nil, fn)
}

// ListPaths implements providers.PathLister: List, each object decoded with
// only paths kept, and whole every top-level key its id_path and
// updated_at_path may start with (a key may hold dots, as lookup reads them).
func (p *Provider) ListPaths(ctx context.Context, resource string, paths [][]string, fn func(providers.Record) error) error {
	r, err := p.resource(resource)
	if err != nil {
		return err
	}
	return p.listRecordsKeeping(ctx, r, nil, keepFor(r, paths), fn)
}

// keepFor is what ListPaths keeps of r's objects.
func keepFor(r *Resource, paths [][]string) *pick.Paths {
	var keys []string
	for _, path := range []string{r.IDPath, r.UpdatedAtPath} {
		if path == "" {
			continue
		}
		segs := strings.Split(path, ".")
		for n := 1; n <= len(segs); n++ {
			keys = append(keys, strings.Join(segs[:n], "."))
		}
	}
	return pick.Compile(paths, keys...)
}

func (p *Provider) listRecords(ctx context.Context, r *Resource, extra url.Values, fn func(providers.Record) error) error {
	return p.listRecordsKeeping(ctx, r, extra, nil, fn)
}

// listRecordsKeeping lists r keeping only keep's paths of each object (all
// of it when nil).
func (p *Provider) listRecordsKeeping(ctx context.Context, r *Resource, extra url.Values, keep *pick.Paths, fn func(providers.Record) error) error {
	q := url.Values{}
	for k, v := range r.Query {
		q.Set(k, v)
	}
	for k, v := range extra {
		q[k] = v
	}
	seen := map[string]bool{}
	return p.walk(ctx, "rest "+r.Name, r.ListPath, q, r.ItemsPath, r.Pagination, func(raw json.RawMessage) error {
		obj, err := decodeKeeping(raw, keep)
		if err != nil {
			return &itemError{err}
		}
		rec, err := toRecord(r, obj)
		if err != nil {
			return &itemError{err}
		}
		if seen[rec.ID] {
			p.log.Debug("rest: record repeated by the paging; skipped", "resource", r.Name, "id", rec.ID)
			return nil
		}
		seen[rec.ID] = true
		return fn(rec)
	})
}

// findByEmail lists resource with email_param=email and keeps the records
// whose email_path matches (case-insensitively), so an API that ignores
// the parameter cannot make every record a match.
func (p *Provider) findByEmail(ctx context.Context, resource, email string) ([]providers.Record, error) {
	r, err := p.resource(resource)
	if err != nil {
		return nil, err
	}
	if r.EmailParam == "" {
		return nil, fmt.Errorf("rest.resources.%s.email_param is not set: cannot look up %s by email", resource, resource)
	}
	var out []providers.Record
	err = p.listRecords(ctx, r, url.Values{r.EmailParam: {email}}, func(rec providers.Record) error {
		if v, ok := lookup(rec.Data, r.EmailPath); ok {
			if s, ok := v.(string); ok && strings.EqualFold(s, email) {
				out = append(out, rec)
			}
		}
		return nil
	})
	return out, err
}

func decodeObject(raw []byte) (map[string]any, error) { return httpx.DecodeObject(raw, "an object") }

// decodeKeeping is decodeObject keeping only keep's paths (all when nil);
// what pick refuses, decodeObject decodes and explains.
func decodeKeeping(raw []byte, keep *pick.Paths) (map[string]any, error) {
	if keep != nil {
		if obj, _, err := keep.Object(raw); err == nil {
			return obj, nil
		}
	}
	return decodeObject(raw)
}

func toRecord(r *Resource, obj map[string]any) (providers.Record, error) {
	v, ok := lookup(obj, r.IDPath)
	id := scalarString(v)
	if !ok || id == "" {
		return providers.Record{}, fmt.Errorf("an object has no id at id_path %q", r.IDPath)
	}
	rec := providers.Record{ID: id, Data: obj}
	if r.UpdatedAtPath != "" {
		if v, ok := lookup(obj, r.UpdatedAtPath); ok && v != nil {
			t, err := parseTime(v, r.UpdatedAtFormat)
			if err != nil {
				return providers.Record{}, fmt.Errorf("object %s: updated_at_path %q: %w", id, r.UpdatedAtPath, err)
			}
			rec.UpdatedAt = t
		}
	}
	return rec, nil
}

// scalarString is a string or number as text ("" for anything else).
func scalarString(v any) string {
	switch x := v.(type) {
	case string:
		return x
	case json.Number:
		return x.String()
	}
	return ""
}

// parseTime reads a timestamp: RFC 3339 text, or unix seconds or
// milliseconds ("auto" takes numbers above 1e11 as milliseconds: 1e11
// seconds is the year 5138).
func parseTime(v any, format string) (time.Time, error) {
	switch x := v.(type) {
	case string:
		if format == "unix" || format == "unix_ms" {
			if _, err := strconv.ParseFloat(x, 64); err == nil {
				return parseTime(json.Number(x), format)
			}
			return time.Time{}, fmt.Errorf("want a number (%s), got %q", format, x)
		}
		if t, ok := providers.ParseTime(x); ok {
			return t.UTC(), nil
		}
		if format == "auto" {
			if _, err := strconv.ParseFloat(x, 64); err == nil {
				return parseTime(json.Number(x), format)
			}
		}
		return time.Time{}, fmt.Errorf("%q is not an RFC 3339 time", x)
	case json.Number:
		if format == "rfc3339" {
			return time.Time{}, fmt.Errorf("want RFC 3339 text, got the number %s", x)
		}
		f, err := x.Float64()
		if err != nil {
			return time.Time{}, fmt.Errorf("%s is not a number", x)
		}
		if format == "unix_ms" || format == "auto" && f > 1e11 {
			return time.UnixMilli(int64(f)).UTC(), nil
		}
		sec, frac := int64(f), f-float64(int64(f))
		return time.Unix(sec, int64(frac*1e9)).UTC(), nil
	}
	return time.Time{}, fmt.Errorf("want a time, got %v", v)
}

// withAuthParam appends name=value to a raw query without re-encoding the
// rest: an API-given next URL may be signed or opaque, so its parameters
// keep their bytes and order ("%20" stays "%20"). An earlier name=… (an
// API echoing the key into its next link) is dropped so that only our key
// is sent.
func withAuthParam(raw, name, value string) string {
	var kept []string
	for _, part := range strings.Split(raw, "&") {
		if part == "" {
			continue
		}
		k, _, _ := strings.Cut(part, "=")
		if uk, err := url.QueryUnescape(k); err == nil && uk == name {
			continue
		}
		kept = append(kept, part)
	}
	return strings.Join(append(kept, url.QueryEscape(name)+"="+url.QueryEscape(value)), "&")
}
