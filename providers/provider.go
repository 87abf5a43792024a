// Package providers defines what reconctl needs from a SaaS provider (Stripe,
// WorkOS, Clerk, a REST API, or a JSON export) and a registry of providers by
// name. The engine talks to providers only through these interfaces.
package providers

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"sync/atomic"
	"time"
)

// Record is one provider object. Data is the object decoded from JSON with
// numbers kept as json.Number, so field paths use the provider's own names.
type Record struct {
	ID string
	// UpdatedAt is the provider's last-modified time, zero when the provider
	// has none for this resource (Stripe customers, for example).
	UpdatedAt time.Time
	Data      map[string]any
}

// RemoteStatus is the outcome of fetching a single object.
type RemoteStatus string

const (
	StatusPresent      RemoteStatus = "present"      // 200 with the object
	StatusDeleted      RemoteStatus = "deleted"      // 404, or Stripe's deleted:true
	StatusInaccessible RemoteStatus = "inaccessible" // 401/403 on this object
)

// Provider streams a resource's records and fetches single objects.
type Provider interface {
	// Name is the provider's registry name ("stripe", "file", ...).
	Name() string
	// DefaultResources are the resources used when neither config nor flags name any.
	DefaultResources() []string
	// List streams every record of resource, page by page, to fn (one call
	// at a time; fn must not keep Record.Data, whose map a provider may
	// reuse, though it may keep the values in it). It never
	// returns a silently partial listing: if any page cannot be read, it
	// returns an error naming the resource and page.
	List(ctx context.Context, resource string, fn func(Record) error) error
	// Get fetches one object. A nil error with StatusPresent carries the
	// record; StatusInaccessible carries none, nor does StatusDeleted from a
	// 404. StatusDeleted with Data set is the provider's own tombstone (Stripe's
	// deleted: true): the deletion is confirmed, not inferred. A non-nil
	// error means the check failed (the caller reports "unconfirmed").
	Get(ctx context.Context, resource, id string) (Record, RemoteStatus, error)
}

// PathLister is implemented by providers that can decode only the parts of
// each record a comparison reads (providers/pick): most of a provider
// object's decoding is spent on fields nothing maps.
type PathLister interface {
	// ListPaths is List, except that each Record's Data need hold only the
	// values at paths (field paths split at their dots, as the engine walks
	// them: a segment is an object key or an array index). Every value it
	// holds is what List would have there; a path absent from the object is
	// absent from Data and a null is a null. ID and UpdatedAt are List's.
	ListPaths(ctx context.Context, resource string, paths [][]string, fn func(Record) error) error
}

// Event is one provider event (Stripe /v1/events, WorkOS /events, ...).
type Event struct {
	ID       string
	Type     string
	Created  time.Time
	Resource string // the reconctl resource the event's object belongs to ("" when none)
	ObjectID string
	Object   map[string]any  // the object as of the event
	Deleted  bool            // the event removes the object (customer.deleted)
	Raw      json.RawMessage // the event exactly as the provider sent it
	// ForeignVersion, when set, is the API version Object is rendered in
	// because it differs from the one the client pins (Stripe renders each
	// event in its own api_version): a mapped path may be absent or moved
	// in Object, so it must not be read as "the field is empty".
	ForeignVersion string
}

// EventQuery selects events by creation time (Since inclusive, Until exclusive; zero = open) and type.
type EventQuery struct {
	Since, Until time.Time
	Types        []string
	// Paths, when set, are all a caller reads of each resource's event
	// objects (replay's mapped paths, split at their dots): a source may
	// decode an event's Object keeping only these and the object's id
	// (providers/pick), so a lookup of any of them answers as in the
	// whole object. Raw is the whole event still. Nil: whole objects.
	Paths map[string][][]string
}

// EventSource is implemented by providers with an events API. Events are
// delivered oldest first by Created; events with the same Created come in
// the provider's own order (ids may be opaque: never sort them by ID).
type EventSource interface {
	Events(ctx context.Context, q EventQuery, fn func(Event) error) error
	// EventRetention is how far back the provider keeps events.
	EventRetention() time.Duration
}

// DeletionEventer is implemented by event sources whose events can confirm
// that an object is gone (Features.Deletions): the engine reads them for a
// run's missing_remote records (a page of events settles up to a page of
// ids) and falls back to Get for the ids they do not settle.
type DeletionEventer interface {
	// DeletionEvents returns resource's event types after which the object
	// no longer exists (gone: only types whose object really disappears,
	// never a cancel or a soft state change), and the types that create an
	// object (created: a creation at or after a deletion of the same id
	// outweighs it, should an id ever come back). No gone types: events
	// cannot confirm this resource's deletions.
	DeletionEvents(resource string) (gone, created []string)
}

// WebhookSigner is implemented by providers whose webhooks `replay
// --deliver-to` can re-send: it signs a payload the way the provider signs
// its own deliveries, so the app's unchanged webhook handler verifies it.
type WebhookSigner interface {
	// WebhookSecretEnv is the environment variable that holds the signing
	// secret when --signing-secret-env is not given (STRIPE_WEBHOOK_SECRET).
	WebhookSecretEnv() string
	// SignWebhook returns the header (name and value) that signs payload
	// with secret at time now.
	SignWebhook(payload []byte, secret string, now time.Time) (header, value string)
}

// EmailFinder is implemented by providers that can look an object up by email.
type EmailFinder interface {
	FindByEmail(ctx context.Context, resource, email string) ([]Record, error)
}

// EmailSearcher is implemented by providers with a search API that finds an
// email in any case (Stripe's /v1/customers/search); check-user --search.
type EmailSearcher interface {
	SearchByEmail(ctx context.Context, resource, email string) ([]Record, error)
}

// EmailLookupNoter explains how a provider's email lookup matches, shown
// when nothing matched.
type EmailLookupNoter interface {
	EmailLookupNote() string
}

// RelatedLister is implemented by providers whose objects have dependants
// (a Stripe customer's subscriptions). It returns the resources related to
// parentResource and streams one parent's related records.
type RelatedLister interface {
	RelatedResources(parentResource string) []string
	// ParentPath is the field path in a related record holding its parent's
	// id ("customer" for a Stripe subscription).
	ParentPath(resource, parentResource string) string
	ListRelated(ctx context.Context, resource, parentResource, parentID string, fn func(Record) error) error
}

// Options configure a provider instance. Zero values mean the provider's defaults.
type Options struct {
	Spec        string // as given: "stripe", "file:PATH"
	Path        string // for file:PATH, the resolved path
	APIBase     string
	APIKeyEnv   string
	RPS         float64
	Concurrency int
	Retries     int
	Timeout     time.Duration
	HTTPClient  *http.Client
	Logger      *slog.Logger
	// Config is the provider's own section of reconctl.yaml as its
	// Registration.DecodeConfig returned it (a typed value: *rest.Config,
	// workos.Config, ...); nil when the file has no such section.
	Config any
	// Account is the connected account every call acts for (tenants from
	// Stripe Connect: the Stripe-Account header); "" for the account of
	// the key itself.
	Account string
	// Budget, when set, is a request budget shared with other providers of
	// the same process (every attempt waits on it as well as on the
	// provider's own pacing): --rps over many tenants.
	Budget Waiter
	// Calls, when set, counts every HTTP request the provider sends (each
	// attempt, retries included): the report's provider_calls.
	Calls *atomic.Int64
}

// Waiter is a shared request budget: Wait blocks until one request may be
// sent (a *rate.Limiter is one).
type Waiter interface {
	Wait(ctx context.Context) error
}

// UnknownResourceError is returned by List and Get for a resource the provider does not serve.
type UnknownResourceError struct {
	Provider, Resource string
	Known              []string
}

func (e *UnknownResourceError) Error() string {
	return fmt.Sprintf("provider %s has no resource %q (it has: %s); fix --resource or resources: in reconctl.yaml",
		e.Provider, e.Resource, strings.Join(e.Known, ", "))
}

// ErrNoEvents is returned by replay for providers without an events API.
var ErrNoEvents = errors.New("this provider has no events API: use `reconctl diff` or `reconctl resync`")

// AuthError means the provider rejected the API key (401). It fails the run.
type AuthError struct {
	Provider string
	KeyEnv   string // the environment variable the key came from
	Detail   string
}

func (e *AuthError) Error() string {
	msg := fmt.Sprintf("%s rejected the API key from %s (401)", e.Provider, e.KeyEnv)
	if e.Detail != "" {
		msg += ": " + e.Detail
	}
	return msg + "; check that " + e.KeyEnv + " holds a valid key for this account"
}

// EventTyper is implemented by event sources that can name the event types
// that concern some resources; replay asks only for those unless --types says
// otherwise (a busy account's invoices and charges are never fetched).
type EventTyper interface {
	EventTypesFor(resources []string) []string
}
