// Package clerk is the Clerk provider: the users of a Clerk instance, read
// from the Backend API over plain HTTP through providers/httpx.
//
// Clerk has NO events API: changes reach an app only as webhooks (sent
// through Svix), and Clerk keeps no history to list. So this provider does
// not implement providers.EventSource, and `reconctl replay` answers
// providers.ErrNoEvents; use `reconctl diff` or `reconctl resync` instead.
//
// We do not use clerk-sdk-go: its user.List calls GET /v1/users/count on
// every page as well as GET /v1/users, doubling the requests a listing
// spends against the instance's rate limit.
//
// Listing pages by cursor (starting_after, oldest first), as Clerk's spec
// recommends over deep offsets; see list.go.
package clerk

import (
	"gopkg.in/yaml.v3"

	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"time"

	"github.com/reconctl/reconctl/providers"
	"github.com/reconctl/reconctl/providers/httpx"
)

// Defaults for Options fields left zero.
const (
	DefaultAPIBase = "https://api.clerk.com"
	DefaultKeyEnv  = "CLERK_SECRET_KEY"
	// DefaultRPS is for production instances (sk_live_ keys). Clerk allows
	// 1,000 requests per 10 s per instance, and that budget is shared with
	// the application's own Backend API calls: 20 req/s uses a fifth of it,
	// leaving the app room, and still lists 10,000 users a second at 500
	// per page.
	DefaultRPS = 20
	// DefaultDevRPS is for development instances (sk_test_ keys), whose
	// limit is 100 requests per 10 s.
	DefaultDevRPS = 5
	// DefaultConcurrency is kept for Options compatibility; cursor pages
	// depend on each other and are read one at a time (see list.go).
	DefaultConcurrency = 4
	// APIVersion is sent as Clerk-API-Version, as clerk-sdk-go does.
	APIVersion = "2021-02-05"

	pageSize = 500 // Clerk's maximum
)

// Users is the one resource this provider serves.
const Users = "users"

var knownResources = []string{Users}

func init() {
	providers.Register(providers.Registration{
		Name: "clerk", Rank: 30,
		New:          func(o providers.Options) (providers.Provider, error) { return New(o) },
		DecodeConfig: decodeConfig,
		// Secret keys (sk_live_…/sk_test_…) and publishable keys
		// (pk_live_…/pk_test_…).
		KeyPatterns: []providers.KeyPattern{{Prefix: `sk_`, MinBody: 8}, {Prefix: `pk_(?:live|test)_`, MinBody: 6}},
	})
}

// Provider implements providers.Provider and EmailFinder for Clerk (and
// deliberately not EventSource: see the package comment).
type Provider struct {
	base        string // scheme://host[/prefix], without /v1
	key         string
	keyEnv      string
	client      *http.Client
	transport   *httpx.Transport
	concurrency int
	rps         float64
	pageSize    int
	maxBackups  int
	log         *slog.Logger
}

var (
	_ providers.Provider    = (*Provider)(nil)
	_ providers.EmailFinder = (*Provider)(nil)
	_ providers.Featurer    = (*Provider)(nil)
)

// New builds a Clerk provider. Zero Options fields take the defaults above
// (and httpx's: 5 retries, 30 s per attempt); a negative RPS turns
// client-side pacing off. The optional tweaks adjust the HTTP layer's
// configuration after Options are applied (tests use them for short backoff).
// Identity implements providers.Identifier: the API base and the key.
func (p *Provider) Identity() string { return providers.AccountIdentity(p.base, p.key) }

func New(opts providers.Options, tweaks ...func(*httpx.Config)) (*Provider, error) {
	// RPS 0: Clerk's default depends on the kind of key (set below).
	su, err := httpx.NewSetup(opts, httpx.Defaults{Name: "clerk", APIBase: DefaultAPIBase, KeyEnv: DefaultKeyEnv})
	if err != nil {
		return nil, err
	}
	// Clerk documents its base as https://api.clerk.com/v1; our paths
	// carry /v1 themselves.
	u := su.Base
	u.Path = strings.TrimSuffix(u.Path, "/v1")
	cfg := su.Config
	if cfg.RPS == 0 {
		cfg.RPS = DefaultRPS
		if strings.HasPrefix(su.Key, "sk_test_") {
			cfg.RPS = DefaultDevRPS
		}
	}
	for _, t := range tweaks {
		t(&cfg)
	}
	tr := httpx.New(cfg)
	conc := opts.Concurrency
	if conc <= 0 {
		conc = DefaultConcurrency
	}
	return &Provider{base: u.String(), key: su.Key, keyEnv: su.KeyEnv, client: tr.Client(), transport: tr,
		concurrency: conc, rps: cfg.RPS, pageSize: pageSize, maxBackups: 100, log: su.Log}, nil
}

func unknownSetting(key string) error {
	return fmt.Errorf("clerk.%s: unknown key (the clerk: section takes no settings)", key)
}

// decodeConfig checks the clerk: section of reconctl.yaml, which takes no
// settings: its first key, if any, is an error.
func decodeConfig(section *yaml.Node, _ string) (any, error) {
	if section != nil && section.Kind == yaml.MappingNode && len(section.Content) > 0 {
		return nil, unknownSetting(section.Content[0].Value)
	}
	return nil, nil
}

// Name implements providers.Provider.
func (p *Provider) Name() string { return "clerk" }

// Features implements providers.Featurer: email lookup, no events API.
func (p *Provider) Features() providers.Features { return providers.Features{}.Fill(p) }

// DefaultResources implements providers.Provider.
func (p *Provider) DefaultResources() []string { return []string{Users} }

// HTTPStats returns the HTTP layer's counters.
func (p *Provider) HTTPStats() httpx.Stats { return p.transport.Stats() }

func (p *Provider) unknown(resource string) error {
	return &providers.UnknownResourceError{Provider: "clerk", Resource: resource, Known: knownResources}
}

// get sends one GET to path (escaped, starting with /v1) with query q.
func (p *Provider) get(ctx context.Context, path string, q url.Values) (*http.Response, []byte, error) {
	target := p.base + path
	if len(q) > 0 {
		target += "?" + q.Encode()
	}
	return httpx.Get(ctx, p.client, target, func(h http.Header) {
		h.Set("Authorization", "Bearer "+p.key)
		h.Set("Clerk-API-Version", APIVersion)
	})
}

// Get implements providers.Provider. Clerk answers 404 resource_not_found
// both for an id that never existed and for a deleted user.
func (p *Provider) Get(ctx context.Context, resource, id string) (providers.Record, providers.RemoteStatus, error) {
	if resource != Users {
		return providers.Record{}, "", p.unknown(resource)
	}
	if id == "" {
		return providers.Record{}, "", errors.New("getting clerk users: empty id")
	}
	resp, body, err := p.get(ctx, "/v1/users/"+url.PathEscape(id), nil)
	if err != nil {
		return providers.Record{}, "", fmt.Errorf("getting clerk user %s: %w", id, err)
	}
	// Only Clerk's resource_not_found 404 is a deletion, not a wrong path's 404.
	gone := func(st int) bool {
		var ae *APIError
		return st == http.StatusNotFound && errors.As(p.apiError(resp, body), &ae) && ae.Code == "resource_not_found"
	}
	rec, st, err := httpx.GetRecord(resp, body, gone, p.apiError, "clerk user", toRecord)
	if err != nil {
		return providers.Record{}, "", fmt.Errorf("getting clerk user %s: %w", id, err)
	}
	return rec, st, nil
}

// APIError is a Clerk error response other than 401:
// {"errors":[{"message","long_message","code"}],"clerk_trace_id"}.
type APIError struct {
	Status  int
	Code    string
	Param   string // meta.param_name of the first error, when Clerk names one
	Message string // with anything that looks like a key removed
	TraceID string
}

func (e *APIError) Error() string {
	return httpx.ErrorText("clerk", e.Status, e.Code, e.Message, "trace", e.TraceID)
}

func (p *Provider) apiError(resp *http.Response, body []byte) error {
	var e struct {
		Errors []struct {
			Message     string `json:"message"`
			LongMessage string `json:"long_message"`
			Code        string `json:"code"`
			Meta        struct {
				ParamName string `json:"param_name"`
			} `json:"meta"`
		} `json:"errors"`
		TraceID string `json:"clerk_trace_id"`
	}
	_ = json.Unmarshal(body, &e)
	if resp.StatusCode == http.StatusUnauthorized {
		ae := &providers.AuthError{Provider: "clerk", KeyEnv: p.keyEnv}
		if len(e.Errors) > 0 && e.Errors[0].Code != "" {
			ae.Detail = e.Errors[0].Code
		}
		return ae
	}
	ae := &APIError{Status: resp.StatusCode, TraceID: e.TraceID}
	var msgs []string
	for i, x := range e.Errors {
		if i == 0 {
			ae.Code = x.Code
			ae.Param = x.Meta.ParamName
		}
		m := x.LongMessage
		if m == "" {
			m = x.Message
		}
		if m != "" {
			msgs = append(msgs, m)
		}
	}
	ae.Message = p.scrub(strings.Join(msgs, "; "))
	if len(e.Errors) == 0 && resp.StatusCode < 500 && resp.StatusCode != http.StatusTooManyRequests {
		ae.Message = "unexpected answer without Clerk's errors[] (is the API base right?)"
	}
	return ae
}

var keyLike = regexp.MustCompile(`\bsk_(?:test|live)_[A-Za-z0-9]+`)

func (p *Provider) scrub(s string) string { return httpx.Scrub(s, keyLike, p.key) }

// toRecord makes a record of a user: the object as Clerk sent it plus a
// flat "email", the address of the email_addresses entry whose id is
// primary_email_address_id (null when there is none), so configs can map
// `email: email`. Clerk timestamps are unix milliseconds.
func toRecord(obj map[string]any) (providers.Record, error) {
	id, err := httpx.StringID(obj, "clerk user")
	if err != nil {
		return providers.Record{}, err
	}
	obj["email"] = PrimaryEmail(obj)
	rec := providers.Record{ID: id, Data: obj}
	if v, ok := obj["updated_at"]; ok && v != nil {
		n, ok := v.(json.Number)
		ms, err := n.Int64()
		if !ok || err != nil {
			return providers.Record{}, fmt.Errorf("clerk user %s: updated_at %v is not unix milliseconds", id, v)
		}
		rec.UpdatedAt = time.UnixMilli(ms).UTC()
	}
	return rec, nil
}

// PrimaryEmail returns the address of the user's primary email, or nil.
func PrimaryEmail(user map[string]any) any {
	pid, _ := user["primary_email_address_id"].(string)
	if pid == "" {
		return nil
	}
	list, _ := user["email_addresses"].([]any)
	for _, e := range list {
		m, _ := e.(map[string]any)
		if id, _ := m["id"].(string); id == pid {
			if addr, ok := m["email_address"].(string); ok {
				return addr
			}
		}
	}
	return nil
}
