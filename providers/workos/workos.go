// Package workos is the WorkOS provider: users (User Management),
// organizations and Directory Sync users, read over plain HTTP through
// providers/httpx (WorkOS publishes no Go SDK this project can use), plus
// the /events API for replay.
//
// Listings are WorkOS cursor walks (limit=100, after=list_metadata.after
// until it is null): one request in flight per listing, so
// Options.Concurrency does not apply. Pacing defaults stay under the
// published limits: 50 req/s overall (the key's limit is 6,000 per 60 s and
// /user_management reads 1,000 per 10 s, i.e. 100/s each) and 4 req/s for
// /directory_users (WorkOS allows 4 per second per directory; reconctl reads
// one directory).
package workos

import (
	"gopkg.in/yaml.v3"

	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"regexp"
	"sort"
	"strings"
	"time"

	"github.com/reconctl/reconctl/providers"
	"github.com/reconctl/reconctl/providers/httpx"
	"github.com/reconctl/reconctl/providers/pick"
)

// Defaults for Options fields left zero.
const (
	DefaultAPIBase = "https://api.workos.com"
	DefaultKeyEnv  = "WORKOS_API_KEY"
	// DefaultRPS is half of WorkOS's 100 req/s (6,000 per minute per key;
	// user management reads 1,000 per 10 s).
	DefaultRPS = 50
	// DirectoryUsersRPS is WorkOS's limit for /directory_users: 4 requests
	// per second per directory. Listing directory users never goes faster,
	// whatever Options.RPS says.
	DirectoryUsersRPS = 4
	// EventRetention is how long WorkOS keeps events.
	EventRetention = 30 * 24 * time.Hour

	pageSize = 100
)

// Resources served by this provider.
const (
	Users          = "users"
	Organizations  = "organizations"
	DirectoryUsers = "directory_users"
)

var knownResources = []string{Users, Organizations, DirectoryUsers}

// SettingDirectoryID is the key in reconctl.yaml's workos: section holding
// the Directory Sync directory whose users directory_users lists.
const SettingDirectoryID = "directory_id"

func init() {
	providers.Register(providers.Registration{
		Name: "workos", Rank: 20,
		New:          func(o providers.Options) (providers.Provider, error) { return New(o) },
		DecodeConfig: decodeConfig,
		// API keys (sk_…); client ids (client_…) are not secret and stay.
		KeyPatterns: []providers.KeyPattern{{Prefix: `sk_`, MinBody: 8}},
	})
}

// Provider implements providers.Provider, EventSource and EmailFinder for WorkOS.
type Provider struct {
	base        *url.URL
	key         string
	keyEnv      string
	directoryID string
	client      *http.Client // everything but /directory_users
	dirClient   *http.Client // /directory_users, paced at DirectoryUsersRPS
	transports  []*httpx.Transport
	log         *slog.Logger
	// maxEventBuffer bounds how many events one window holds before
	// Events narrows it (see eventsRange).
	maxEventBuffer int
}

var (
	_ providers.Provider    = (*Provider)(nil)
	_ providers.EventSource = (*Provider)(nil)
	_ providers.EmailFinder = (*Provider)(nil)
	_ providers.Featurer    = (*Provider)(nil)
)

// New builds a WorkOS provider. Zero Options fields take the defaults above
// (and httpx's: 5 retries, 30 s per attempt); a negative RPS turns
// client-side pacing off (for both limiters). Options.Config is the
// workos: section of reconctl.yaml as decoded (a Config: {directory_id:
// directory_…}; none: no directory). The
// optional tweaks adjust the HTTP layer's configuration after Options are
// applied (tests use them for short backoff).
func New(opts providers.Options, tweaks ...func(*httpx.Config)) (*Provider, error) {
	var dirID string
	if c, ok := opts.Config.(Config); ok {
		dirID = c.DirectoryID
	}
	su, err := httpx.NewSetup(opts, httpx.Defaults{Name: "workos", APIBase: DefaultAPIBase, KeyEnv: DefaultKeyEnv, RPS: DefaultRPS})
	if err != nil {
		return nil, err
	}
	cfg := su.Config
	dirCfg := cfg
	if dirCfg.RPS > 0 {
		dirCfg.RPS = min(dirCfg.RPS, DirectoryUsersRPS)
		dirCfg.Burst = 1
	}
	for _, t := range tweaks {
		t(&cfg)
		t(&dirCfg)
	}
	tr, dirTr := httpx.New(cfg), httpx.New(dirCfg)
	return &Provider{
		base: su.Base, key: su.Key, keyEnv: su.KeyEnv, directoryID: dirID,
		client: tr.Client(), dirClient: dirTr.Client(),
		transports: []*httpx.Transport{tr, dirTr}, log: su.Log, maxEventBuffer: 50000,
	}, nil
}

// Config is the workos: section of reconctl.yaml.
type Config struct {
	DirectoryID string // directory_id: the directory whose users are directory_users
}

// decodeConfig decodes the workos: section (providers.Registration.DecodeConfig).
func decodeConfig(section *yaml.Node, file string) (any, error) {
	m, err := providers.SectionMap(section, file, "workos")
	if err != nil {
		return nil, err
	}
	dirID, err := parseSettings(m)
	if err != nil {
		return nil, err
	}
	return Config{DirectoryID: dirID}, nil
}

// parseSettings validates the workos: section.
func parseSettings(s map[string]any) (dirID string, err error) {
	if inner, ok := s["workos"].(map[string]any); ok && len(s) == 1 {
		s = inner // the whole settings map rather than the section
	}
	keys := make([]string, 0, len(s))
	for k := range s {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		switch k {
		case SettingDirectoryID:
			v, ok := s[k].(string)
			if !ok && s[k] != nil {
				return "", fmt.Errorf("workos.%s: want a string (a directory id such as directory_01E…), got %T", k, s[k])
			}
			dirID = strings.TrimSpace(v)
		default:
			return "", fmt.Errorf("workos.%s: unknown key (known: %s)", k, SettingDirectoryID)
		}
	}
	return dirID, nil
}

// Name implements providers.Provider.
func (p *Provider) Name() string { return "workos" }

// Features implements providers.Featurer: events (and their types), email
// lookup, webhook signing.
func (p *Provider) Features() providers.Features { return providers.Features{}.Fill(p) }

// DefaultResources implements providers.Provider: users and organizations,
// plus directory_users when a directory is configured.
func (p *Provider) DefaultResources() []string {
	if p.directoryID != "" {
		return []string{Users, Organizations, DirectoryUsers}
	}
	return []string{Users, Organizations}
}

// EventRetention implements providers.EventSource.
func (p *Provider) EventRetention() time.Duration { return EventRetention }

// HTTPStats returns the HTTP layer's counters (both limiters together).
func (p *Provider) HTTPStats() httpx.Stats {
	var s httpx.Stats
	for _, t := range p.transports {
		ts := t.Stats()
		s.Requests += ts.Requests
		s.Retries += ts.Retries
		s.Throttled += ts.Throttled
		s.Failures += ts.Failures
	}
	return s
}

func (p *Provider) unknown(resource string) error {
	return &providers.UnknownResourceError{Provider: "workos", Resource: resource, Known: knownResources}
}

// endpoint is where a resource lives.
type endpoint struct {
	resource string
	path     string      // list path; objects are path/{id}
	dir      bool        // /directory_users: the slow limiter and the directory filter
	keep     *pick.Paths // ListPaths: the paths each listed object keeps (nil: all)
}

func (p *Provider) endpoint(resource string) (endpoint, error) {
	switch resource {
	case Users:
		return endpoint{resource: resource, path: "/user_management/users"}, nil
	case Organizations:
		return endpoint{resource: resource, path: "/organizations"}, nil
	case DirectoryUsers:
		return endpoint{resource: resource, path: "/directory_users", dir: true}, nil
	}
	return endpoint{}, p.unknown(resource)
}

// get sends one GET to path (relative to the API base; already escaped)
// with query q and returns the buffered response.
func (p *Provider) get(ctx context.Context, ep endpoint, path string, q url.Values) (*http.Response, []byte, error) {
	target := p.base.String() + path
	if len(q) > 0 {
		target += "?" + q.Encode()
	}
	c := p.client
	if ep.dir {
		c = p.dirClient
	}
	return httpx.Get(ctx, c, target, func(h http.Header) { h.Set("Authorization", "Bearer "+p.key) })
}

// Get implements providers.Provider.
func (p *Provider) Get(ctx context.Context, resource, id string) (providers.Record, providers.RemoteStatus, error) {
	ep, err := p.endpoint(resource)
	if err != nil {
		return providers.Record{}, "", err
	}
	if id == "" {
		return providers.Record{}, "", fmt.Errorf("getting workos %s: empty id", resource)
	}
	resp, body, err := p.get(ctx, ep, ep.path+"/"+url.PathEscape(id), nil)
	if err != nil {
		return providers.Record{}, "", fmt.Errorf("getting workos %s %s: %w", resource, id, err)
	}
	// Only WorkOS's own "no such object" 404 is a deletion (see entityNotFound).
	gone := func(st int) bool { return st == http.StatusNotFound && entityNotFound(body, id) }
	rec, st, err := httpx.GetRecord(resp, body, gone, p.apiError, "workos object", toRecord)
	if err != nil {
		return providers.Record{}, "", fmt.Errorf("getting workos %s %s: %w", resource, id, err)
	}
	return rec, st, nil
}

// entityNotFound tells WorkOS's "no such object" 404 from any other 404 (a
// wrong API base or a proxy's page), which must not make objects look
// deleted. WorkOS answers {"code":"entity_not_found","message":"User not
// found: 'user_X'.","entity_id":"user_X"}; its docs promise only
// {"message"}, so a code-less JSON message naming the id counts too.
func entityNotFound(body []byte, id string) bool {
	var e struct {
		Code     string `json:"code"`
		Message  string `json:"message"`
		EntityID string `json:"entity_id"`
	}
	if json.Unmarshal(body, &e) != nil {
		return false
	}
	if e.Code != "" {
		return e.Code == "entity_not_found"
	}
	return e.EntityID == id || strings.Contains(e.Message, id) && strings.Contains(strings.ToLower(e.Message), "not found")
}

// APIError is a WorkOS error response other than 401.
type APIError struct {
	Status    int
	Code      string
	Message   string // with anything that looks like a key removed
	RequestID string
}

func (e *APIError) Error() string {
	return httpx.ErrorText("workos", e.Status, e.Code, e.Message, "request", e.RequestID)
}

// apiError turns an error response into *providers.AuthError (401) or
// *APIError. WorkOS error bodies use message, code, error,
// error_description and errors[] in various combinations.
func (p *Provider) apiError(resp *http.Response, body []byte) error {
	reqID := resp.Header.Get("X-Request-Id")
	if resp.StatusCode == http.StatusUnauthorized {
		ae := &providers.AuthError{Provider: "workos", KeyEnv: p.keyEnv}
		if reqID != "" {
			ae.Detail = "WorkOS request " + reqID
		}
		return ae
	}
	var e struct {
		Message          string `json:"message"`
		Code             string `json:"code"`
		Error            string `json:"error"`
		ErrorDescription string `json:"error_description"`
		Errors           []struct {
			Code    string `json:"code"`
			Field   string `json:"field"`
			Message string `json:"message"`
		} `json:"errors"`
	}
	ae := &APIError{Status: resp.StatusCode, RequestID: reqID}
	if json.Unmarshal(body, &e) == nil {
		ae.Code = e.Code
		if ae.Code == "" {
			ae.Code = e.Error
		}
		msg := e.Message
		if msg == "" {
			msg = e.ErrorDescription
		}
		var details []string
		for _, x := range e.Errors {
			d := strings.TrimSpace(x.Field + " " + x.Code)
			if x.Message != "" {
				d += " (" + x.Message + ")"
			}
			details = append(details, d)
		}
		if len(details) > 0 {
			msg = strings.TrimSpace(msg + " " + strings.Join(details, "; "))
		}
		ae.Message = p.scrub(msg)
	} else if resp.StatusCode >= 500 || resp.StatusCode == http.StatusTooManyRequests {
		ae.Message = http.StatusText(resp.StatusCode)
	} else {
		ae.Message = "unexpected non-JSON answer (is the API base right?)"
	}
	return ae
}

var keyLike = regexp.MustCompile(`\bsk_(?:test_|live_)?[A-Za-z0-9_]{8,}`)

// scrub removes our key and anything shaped like a WorkOS secret key.
func (p *Provider) scrub(s string) string { return httpx.Scrub(s, keyLike, p.key) }

func decodeObject(raw []byte) (map[string]any, error) {
	return httpx.DecodeObject(raw, "workos object")
}

func toRecord(obj map[string]any) (providers.Record, error) {
	id, err := httpx.StringID(obj, "workos object")
	if err != nil {
		return providers.Record{}, err
	}
	rec := providers.Record{ID: id, Data: obj}
	if s, ok := obj["updated_at"].(string); ok && s != "" {
		t, err := time.Parse(time.RFC3339Nano, s)
		if err != nil {
			return providers.Record{}, fmt.Errorf("workos object %s: updated_at %q is not ISO-8601: %w", id, s, err)
		}
		rec.UpdatedAt = t.UTC()
	}
	return rec, nil
}

// Identity implements providers.Identifier: the API base, the key and the
// directory.
func (p *Provider) Identity() string {
	return providers.AccountIdentity(p.base.String(), p.key, p.directoryID)
}
