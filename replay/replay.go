// Package replay re-reads a provider's events for a window and applies each
// once, in order, to the local state (or re-delivers them, signed, to the
// app's webhook endpoint): planning (ignored, duplicate, stale), the safety
// brake, applying in chunks by net effect, delivery with retries, and the
// journal's checkpoint. The command (commands/replay.go) only parses flags,
// opens the provider, the state and the journal, calls Run and renders.
package replay

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"log/slog"
	"net/url"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/reconctl/reconctl/journal"
	"github.com/reconctl/reconctl/localstate"
	"github.com/reconctl/reconctl/providers"
	"github.com/reconctl/reconctl/providers/httpx"
	"github.com/reconctl/reconctl/reconcile"
)

// Options are one run's inputs, as the operator gave them.
type Options struct {
	Since        string   // WHEN (see ParseWhen) or "last": resume from the checkpoint
	Until        string   // WHEN; empty: now
	Types        []string // only these event types (empty: the configured resources' events)
	DryRun       bool
	Reprocess    bool // apply events an earlier run processed again
	AllowPartial bool // replay what remains of a window past the provider's retention
	// Target, when set, is the app's webhook URL: events are delivered there
	// (signed by Signer with Secret) instead of applied to the state.
	Target   string
	Secret   string
	Signer   providers.WebhookSigner
	Insecure bool          // --allow-insecure-target (already checked by CheckTarget)
	Timeout  time.Duration // one delivery attempt
	Brake    reconcile.Limiter
	// AllowEmpty lifts the mass-delete guard (--allow-empty-remote).
	AllowEmpty bool
	// AllowAbsent confirms mapped paths no event payload has
	// (--allow-absent-path, allow_absent_paths:): replay may write NULL from them.
	AllowAbsent []string
}

// Progress is told how many events will be applied and of each one.
type Progress interface {
	Events(total int)
	Step()
	Done()
}

// Env is what a run works with; the command opens and owns all of it.
type Env struct {
	Provider providers.Provider
	Journal  *journal.Journal
	RunID    string
	// Resources are the configured resources: events of others are ignored.
	Resources []string
	// Table is a resource's local mapping; Prepare compiles it against the
	// store (reporting a schema error at its config line).
	Table   func(resource string) *localstate.Table
	Prepare func(ctx context.Context, eng *reconcile.Engine, t *localstate.Table) (*reconcile.Resource, error)
	// OpenStore opens the state (read-only for a dry run); called only
	// when events are applied, after they are fetched.
	OpenStore func(ctx context.Context, readOnly bool) (localstate.Store, error)
	// JournalInState: the journal is the state's own database, so an
	// event's change and its journal row commit in one transaction.
	JournalInState bool
	// CheckLock, when set, says whether the run still holds its writer
	// lock; it runs right before each write commits, whose error aborts it.
	CheckLock func(ctx context.Context) error
	Logger    *slog.Logger
	Progress  Progress // nil: none
	// JournalKey names the run's events, record versions and checkpoint in
	// the journal; empty: the provider's name. A tenant's replay uses
	// journal.TenantKey (provider/tenant), so each tenant has its own.
	JournalKey string
}

// job is a run's resolved inputs.
type jobSpec struct {
	q           providers.EventQuery
	dryRun      bool
	reprocess   bool
	target      string
	secret      string
	signer      providers.WebhookSigner // the provider's webhook signature
	insecure    bool
	timeout     time.Duration
	brake       reconcile.Limiter
	allowEmpty  bool     // --allow-empty-remote: lift the mass-delete guard
	allowAbsent []string // mapped paths confirmed absent
	checkpoint  string   // checkpoint key: the journal key, or it + target
	key         string   // the journal key (Env.JournalKey or the provider)
}

// NewReport starts a run's report; Run fills it in.
func NewReport(runID string, started time.Time, state string, o Options) *Report {
	return &Report{Command: "replay", RunID: runID, StartedAt: started.Format(time.RFC3339), State: state, Target: httpx.ShowRawURL(o.Target), DryRun: o.DryRun, Types: o.Types, Events: []Event{}, Summary: map[string]int{}, ByType: map[string]map[string]int{}}
}

// Run replays the window of o into rep. On an error, what was applied stays
// applied and rep says how far the run got.
func Run(ctx context.Context, env *Env, o Options, rep *Report) error {
	if env.Logger == nil {
		env.Logger = slog.New(slog.DiscardHandler)
	}
	j := jobSpec{q: providers.EventQuery{Types: o.Types}, dryRun: o.DryRun, reprocess: o.Reprocess, target: o.Target, secret: o.Secret, signer: o.Signer, insecure: o.Insecure, timeout: o.Timeout, brake: o.Brake, allowEmpty: o.AllowEmpty, allowAbsent: o.AllowAbsent}
	return replay(ctx, env, j, o.Since, o.Until, o.AllowPartial, rep)
}

// targetKey is how the journal names a --deliver-to target (its checkpoint
// and delivered events): the URL itself, or, when it has userinfo, a query or
// a fragment (which may carry a token), the URL without them plus a digest
// of the whole, so the secret part is never stored.
func TargetKey(target string) string {
	u, err := url.Parse(target)
	if err == nil && u.User == nil && u.RawQuery == "" && !u.ForceQuery && u.Fragment == "" {
		return target
	}
	shown := httpx.ShowRawURL(target)
	sum := sha256.Sum256([]byte(target))
	return strings.TrimSuffix(shown, "?…") + " sha256:" + hex.EncodeToString(sum[:8])
}

// CheckTarget refuses a --deliver-to target that is neither https:// nor
// loopback, unless insecure.
func CheckTarget(target string, insecure bool) error {
	if insecure {
		return nil
	}
	if _, err := httpx.CheckAPIBase(target); err != nil {
		return fmt.Errorf("--deliver-to %s: %v (pass --allow-insecure-target to deliver over plain http anyway)", httpx.ShowRawURL(target), err)
	}
	return nil
}

func replay(ctx context.Context, env *Env, job jobSpec, sinceArg, untilArg string, allowPartial bool, rep *Report) error {
	var err error
	p := env.Provider
	rep.Provider = p.Name()
	src := providers.FeaturesOf(p).Events
	ok := src != nil
	if !ok {
		return fmt.Errorf("%s: %w", p.Name(), providers.ErrNoEvents)
	}
	// The journal key: the provider's name, as every journal before
	// tenants has it, or the tenant's own (provider/tenant).
	job.key = env.JournalKey
	if job.key == "" {
		job.key = p.Name()
	}
	job.checkpoint = job.key
	if job.target != "" {
		job.checkpoint = job.key + " " + TargetKey(job.target)
	}
	if len(job.q.Types) > 0 {
		// A run filtered by --types must not move the checkpoint of the
		// unfiltered replays past events it never read: it keeps its own.
		types := slices.Clone(job.q.Types)
		sort.Strings(types)
		job.checkpoint += " types=" + strings.Join(types, ",")
	}
	clock := time.Now().UTC()
	if sinceArg == "last" {
		id, created, found, err := env.Journal.Checkpoint(ctx, job.checkpoint)
		if err != nil {
			return err
		}
		if !found {
			return fmt.Errorf("no checkpoint for %s yet: the first replay needs an explicit --since (e.g. --since 24h)", job.checkpoint)
		}
		env.Logger.Info("resuming from the checkpoint", "event", id, "created", created)
		job.q.Since = created
	} else if job.q.Since, err = ParseWhen(sinceArg, clock); err != nil {
		return fmt.Errorf("--since: %w", err)
	}
	job.q.Until = clock
	if untilArg != "" {
		if job.q.Until, err = ParseWhen(untilArg, clock); err != nil {
			return fmt.Errorf("--until: %w", err)
		}
	}
	if !job.q.Since.Before(job.q.Until) {
		return fmt.Errorf("empty window: --since %s is not before --until %s", job.q.Since.Format(time.RFC3339), job.q.Until.Format(time.RFC3339))
	}
	// Retention guard: what the provider no longer keeps cannot be replayed.
	oldest := clock.Add(-src.EventRetention())
	if job.q.Since.Before(oldest) {
		lost := fmt.Sprintf("%s keeps events for %s: the part of the window from %s to %s is lost",
			p.Name(), durationWords(src.EventRetention()), job.q.Since.Format(time.RFC3339), oldest.Format(time.RFC3339))
		if !allowPartial {
			return fmt.Errorf("%s; run `reconctl resync` to repair state from that time, or pass --allow-partial to replay what remains", lost)
		}
		env.Logger.Warn(lost + "; replaying what remains (--allow-partial); run `reconctl resync` to repair the rest")
		job.q.Since = oldest.Add(time.Minute) // margin: the provider's clock and ours differ
		rep.Partial, rep.LostUntil = true, job.q.Since.Format(time.RFC3339)
	}
	rep.Since, rep.Until = job.q.Since.Format(time.RFC3339), job.q.Until.Format(time.RFC3339)
	if typer := providers.FeaturesOf(p).EventTypes; typer != nil && len(job.q.Types) == 0 {
		// Only the events of the configured resources: a busy account's
		// other events are neither fetched nor counted.
		job.q.Types = typer.EventTypesFor(env.Resources)
		rep.Types = job.q.Types
	}

	// 1. Fetch the window, oldest first: into a spool (spool.go) while the
	// events come in time order, else (or for a delivery) into memory.
	var events []providers.Event
	var pls []*payload // with events: what each keeps of its object (project.go)
	proj := newProjector(env.Table, env.Resources)
	var sp *spool
	if job.target == "" {
		// Only the mapped paths are read: the source need not decode the
		// rest of each object (a delivery sends the raw event instead).
		job.q.Paths = proj.allPaths()
		if sp, err = newSpool(); err != nil {
			env.Logger.Debug("no spool for the window: it is held in memory", "error", err)
			sp = nil
		}
		defer sp.close() // also on every error and on Ctrl-C's cancel
	}
	var resources []string // the spooled window's, in order of first appearance
	seen := map[string]bool{}
	var newest time.Time
	if err := src.Events(ctx, job.q, func(e providers.Event) error {
		var pl *payload
		if job.target == "" {
			e.Raw = nil // only deliveries need the raw body
			// Only the values at the mapped paths are kept.
			if !proj.keepsObject(e.Resource) {
				pl, e.Object = proj.compact(e.Resource, e.Object), nil
			}
		}
		if sp != nil {
			if sp.n == 0 || !e.Created.Before(newest) {
				err := sp.add(&e, pl)
				if err == nil {
					newest = e.Created
					if !seen[e.Resource] {
						seen[e.Resource] = true
						resources = append(resources, e.Resource)
					}
					return nil
				}
				if err != errUnspoolable {
					return err
				}
			}
			// Out of time order, or not kept exactly: the window is held
			// in memory, sorted once it is all in.
			var err error
			if events, pls, err = sp.load(proj); err != nil {
				return err
			}
			sp.close()
			sp = nil
		}
		events = append(events, e)
		pls = append(pls, pl)
		return nil
	}); err != nil {
		return fmt.Errorf("reading %s events: %w", p.Name(), err)
	}
	if windowHook != nil {
		windowHook(sp != nil)
	}
	if sp != nil {
		// In time order already: what the sort below would leave as it is.
		rep.Events = slices.Grow(rep.Events, sp.n)
		rep.order = make(map[string]int, sp.n)
		rep.Summary["fetched"] = sp.n
		return applySpooled(ctx, env, p, job, sp, proj, resources, rep)
	}
	// Providers deliver oldest first; within one time the order is the
	// API's own. Event ids are opaque (Stripe's are not ordered), so they
	// are never compared: a stable sort by time only.
	sort.Stable(byCreated{events, pls})
	// Each event is reported once: room for all of them now, not a slice
	// doubled (and copied) as it grows.
	rep.Events = slices.Grow(rep.Events, len(events))
	rep.order = make(map[string]int, len(events))
	for i, e := range events {
		rep.order[e.ID] = i
	}
	rep.Summary["fetched"] = len(events)
	if job.target != "" {
		return deliver(ctx, env, job, events, rep)
	}
	return applyEvents(ctx, env, p, job, events, pls, rep)
}

// windowHook, when set (tests), is told whether a window went through the spool.
var windowHook func(spooled bool)

// byCreated sorts events, and their payloads with them, by time.
type byCreated struct {
	ev []providers.Event
	pl []*payload
}

func (s byCreated) Len() int           { return len(s.ev) }
func (s byCreated) Less(a, b int) bool { return s.ev[a].Created.Before(s.ev[b].Created) }
func (s byCreated) Swap(a, b int) {
	s.ev[a], s.ev[b] = s.ev[b], s.ev[a]
	s.pl[a], s.pl[b] = s.pl[b], s.pl[a]
}

func durationWords(d time.Duration) string {
	if d%(24*time.Hour) == 0 {
		return fmt.Sprintf("%d days", d/(24*time.Hour))
	}
	return d.String()
}
