// Package stripe is the Stripe provider: customers and subscriptions read
// through stripe-go v84, paced and retried by providers/httpx, with listings
// split by creation time so several pages are in flight at once.
//
// Provider notes (what the real API does, and where it is handled):
//   - A deleted cursor object is refused with 400 resource_missing, param
//     starting_after (stripe-go issue #1030): list.go lostCursor.
//   - Event ids are opaque; same-second events keep the list's own order
//     (newest first, reversed): events.go.
//   - Each event is rendered in its own api_version: Event.ForeignVersion,
//     handled by replay.
//   - Objects on test clocks are left out of lists unless test_clock is
//     given: List lists each clock's objects in test mode.
//   - The email filter is exact and case-sensitive; SearchByEmail uses the
//     Search API (email~, lagging up to a minute): search.go.
package stripe

import (
	"gopkg.in/yaml.v3"

	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"regexp"
	"time"

	stripeapi "github.com/stripe/stripe-go/v84"

	"github.com/reconctl/reconctl/providers"
	"github.com/reconctl/reconctl/providers/httpx"
)

// Defaults for Options fields left zero.
const (
	DefaultAPIBase = "https://api.stripe.com"
	DefaultKeyEnv  = "STRIPE_API_KEY"
	// DefaultRPS stays under Stripe's 25 req/s per-endpoint limit.
	DefaultRPS         = 20
	DefaultConcurrency = 4
	// EventRetention is how long Stripe keeps events.
	EventRetention = 30 * 24 * time.Hour

	pageSize = 100
)

// Resources served by this provider.
const (
	Customers     = "customers"
	Subscriptions = "subscriptions"
)

var knownResources = []string{Customers, Subscriptions}

func init() {
	providers.Register(providers.Registration{
		Name: "stripe", Rank: 10,
		New: func(o providers.Options) (providers.Provider, error) { return New(o) },
		// The stripe: section is accepted and takes no settings yet.
		DecodeConfig: func(*yaml.Node, string) (any, error) { return nil, nil },
		// Secret and restricted keys (sk_live_…, sk_test_…, rk_…) and
		// webhook signing secrets (whsec_…).
		KeyPatterns: []providers.KeyPattern{{Prefix: `sk_`, MinBody: 8}, {Prefix: `rk_`, MinBody: 8}, {Prefix: `whsec_`, MinBody: 8}},
	})
}

// Provider implements providers.Provider, EventSource, EmailFinder,
// RelatedLister and PathLister for Stripe.
type Provider struct {
	sc          *stripeapi.Client
	api         stripeapi.Backend
	key         string
	keyEnv      string
	account     string // Stripe Connect: the connected account (connect.go)
	base        string // the API base, for Identity
	transport   *httpx.Transport
	concurrency int
	// rps is the client-side request rate (0: none): a listing keeps only
	// as many tasks running as it can serve (see lister.target).
	rps float64
	log *slog.Logger

	// floor is the lower creation time assumed when splitting an open-ended
	// range (the bottom partition itself stays open, so older objects are
	// still listed).
	floor int64
	// maxEventBuffer bounds how many events Events holds before it narrows
	// the time window (see events.go).
	maxEventBuffer int
	now            func() time.Time
}

// Identity implements providers.Identifier: the API base, the key and the
// connected account.
func (p *Provider) Identity() string { return providers.AccountIdentity(p.base, p.key, p.account) }

var (
	_ providers.Provider      = (*Provider)(nil)
	_ providers.EventSource   = (*Provider)(nil)
	_ providers.EmailFinder   = (*Provider)(nil)
	_ providers.RelatedLister = (*Provider)(nil)
	_ providers.PathLister    = (*Provider)(nil)
	_ providers.Featurer      = (*Provider)(nil)
)

// New builds a Stripe provider. Zero Options fields take the defaults above
// (and httpx's: 5 retries, 30 s per attempt); a negative RPS turns client-side
// pacing off. Options.HTTPClient's Transport, when set, is what httpx sends
// through. The optional tweaks adjust the HTTP layer's configuration after
// Options are applied (tests use them for short backoff).
func New(opts providers.Options, tweaks ...func(*httpx.Config)) (*Provider, error) {
	su, err := httpx.NewSetup(opts, httpx.Defaults{Name: "stripe", APIBase: DefaultAPIBase, KeyEnv: DefaultKeyEnv, RPS: DefaultRPS})
	if err != nil {
		return nil, err
	}
	cfg := su.Config
	if opts.Account != "" {
		// Stripe Connect: every call acts for the connected account.
		cfg.Headers = http.Header{"Stripe-Account": {opts.Account}}
	}
	for _, t := range tweaks {
		t(&cfg)
	}
	tr := httpx.New(cfg)
	backends := stripeapi.NewBackendsWithConfig(&stripeapi.BackendConfig{
		URL:        stripeapi.String(su.Base.String()),
		HTTPClient: tr.Client(),
		// httpx retries (with pacing and jitter); the SDK must not retry on top.
		MaxNetworkRetries: stripeapi.Int64(0),
		EnableTelemetry:   stripeapi.Bool(false),
		// The SDK's default logger prints errors to stderr; our layer logs.
		LeveledLogger: &stripeapi.LeveledLogger{Level: stripeapi.LevelNull},
	})
	conc := opts.Concurrency
	if conc <= 0 {
		conc = DefaultConcurrency
	}
	return &Provider{
		sc:             stripeapi.NewClient(su.Key, stripeapi.WithBackends(backends)),
		api:            backends.API,
		key:            su.Key,
		keyEnv:         su.KeyEnv,
		account:        opts.Account,
		base:           su.Base.String(),
		transport:      tr,
		concurrency:    conc,
		rps:            max(cfg.RPS, 0),
		log:            su.Log,
		floor:          time.Date(2010, 1, 1, 0, 0, 0, 0, time.UTC).Unix(),
		maxEventBuffer: 20000,
		now:            time.Now,
	}, nil
}

// Name implements providers.Provider.
func (p *Provider) Name() string { return "stripe" }

// Features implements providers.Featurer: events (and their types), email
// lookup, related records (subscriptions), webhook signing, listing only
// the mapped paths (ListPaths).
func (p *Provider) Features() providers.Features { return providers.Features{}.Fill(p) }

// DefaultResources implements providers.Provider.
func (p *Provider) DefaultResources() []string { return []string{Customers, Subscriptions} }

// HTTPStats returns the HTTP layer's counters (requests sent, retries, …).
func (p *Provider) HTTPStats() httpx.Stats { return p.transport.Stats() }

// EventRetention implements providers.EventSource.
func (p *Provider) EventRetention() time.Duration { return EventRetention }

func (p *Provider) unknown(resource string) error {
	return &providers.UnknownResourceError{Provider: "stripe", Resource: resource, Known: knownResources}
}

// Get implements providers.Provider.
func (p *Provider) Get(ctx context.Context, resource, id string) (providers.Record, providers.RemoteStatus, error) {
	if resource != Customers && resource != Subscriptions {
		return providers.Record{}, "", p.unknown(resource)
	}
	if id == "" {
		return providers.Record{}, "", fmt.Errorf("getting stripe %s: empty id", resource)
	}
	var raw []byte
	var err error
	switch resource {
	case Customers:
		var c *stripeapi.Customer
		if c, err = p.sc.V1Customers.Retrieve(ctx, id, nil); err == nil {
			raw = c.LastResponse.RawJSON
		}
	case Subscriptions:
		var s *stripeapi.Subscription
		if s, err = p.sc.V1Subscriptions.Retrieve(ctx, id, nil); err == nil {
			raw = s.LastResponse.RawJSON
		}
	}
	if err != nil {
		var se *stripeapi.Error
		if errors.As(err, &se) && se.HTTPStatusCode != http.StatusOK {
			// Stripe's 404 for a missing object carries code resource_missing.
			gone := func(st int) bool { return st == http.StatusNotFound && se.Code == stripeapi.ErrorCodeResourceMissing }
			if st, ok := httpx.GetStatus(se.HTTPStatusCode, gone); ok {
				return providers.Record{}, st, nil
			}
		}
		return providers.Record{}, "", fmt.Errorf("getting stripe %s %s: %w", resource, id, p.wrapErr(ctx, err))
	}
	obj, err := decodeObject(raw)
	if err != nil {
		return providers.Record{}, "", fmt.Errorf("getting stripe %s %s: %w", resource, id, err)
	}
	if d, _ := obj["deleted"].(bool); d {
		// Stripe confirmed the deletion: the tombstone says so (a 404 carries none).
		return providers.Record{ID: id, Data: obj}, providers.StatusDeleted, nil
	}
	rec, err := toRecord(obj)
	if err != nil {
		return providers.Record{}, "", fmt.Errorf("getting stripe %s %s: %w", resource, id, err)
	}
	return rec, providers.StatusPresent, nil
}

// wrapErr turns SDK errors into what an operator can act on: a 401 becomes
// *providers.AuthError (fatal for the run), other API errors a readable
// message with any key-like text removed, a cancelled context its own error.
func (p *Provider) wrapErr(ctx context.Context, err error) error {
	if ctx.Err() != nil {
		return context.Cause(ctx)
	}
	var se *stripeapi.Error
	if !errors.As(err, &se) {
		return err
	}
	if se.HTTPStatusCode == http.StatusUnauthorized {
		ae := &providers.AuthError{Provider: "stripe", KeyEnv: p.keyEnv}
		if se.RequestID != "" {
			ae.Detail = "Stripe request " + se.RequestID
		}
		return ae
	}
	return &APIError{Status: se.HTTPStatusCode, Type: string(se.Type), Code: string(se.Code),
		Message: p.scrub(se.Msg), RequestID: se.RequestID, Err: se}
}

// APIError is a Stripe error response other than 401.
type APIError struct {
	Status    int
	Type      string
	Code      string
	Message   string // with anything that looks like a key removed
	RequestID string
	Err       *stripeapi.Error
}

// Stripe's errors may carry a type but no code: the type stands in for it.
func (e *APIError) Error() string {
	return httpx.ErrorText("stripe", e.Status, cmp.Or(e.Code, e.Type), e.Message, "request", e.RequestID)
}

func (e *APIError) Unwrap() error { return e.Err }

var keyLike = regexp.MustCompile(`\b(?:sk|rk|pk)_(?:test|live)_[A-Za-z0-9*]+`)

// scrub removes our key and anything shaped like a Stripe key (Stripe quotes
// redacted keys in some messages; we quote none).
func (p *Provider) scrub(s string) string { return httpx.Scrub(s, keyLike, p.key) }

func decodeObject(raw []byte) (map[string]any, error) {
	return httpx.DecodeObject(raw, "stripe object")
}

func toRecord(obj map[string]any) (providers.Record, error) {
	id, err := httpx.StringID(obj, "stripe object")
	if err != nil {
		return providers.Record{}, err
	}
	// Stripe objects carry no last-modified time: UpdatedAt stays zero.
	return providers.Record{ID: id, Data: obj}, nil
}

func created(obj map[string]any) int64 {
	if n, ok := obj["created"].(json.Number); ok {
		v, _ := n.Int64()
		return v
	}
	return 0
}
