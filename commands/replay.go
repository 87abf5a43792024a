package commands

import (
	"bytes"
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/csv"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/url"
	"os"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/reconctl/reconctl/journal"
	"github.com/reconctl/reconctl/localstate"
	"github.com/reconctl/reconctl/providers"
	"github.com/reconctl/reconctl/providers/httpx"
	"github.com/reconctl/reconctl/reconcile"
	"github.com/reconctl/reconctl/report"
)

// Replay outcomes (contract).
const (
	OutcomeApplied    = "applied"
	OutcomeWouldApply = "would_apply"
	OutcomeDuplicate  = "duplicate"
	OutcomeStale      = "stale"
	OutcomeIgnored    = "ignored"
	OutcomeDelivered  = "delivered"
	OutcomeFailed     = "failed"
)

// ReplayReport is replay's report (contract: replay JSON).
type ReplayReport struct {
	Command    string                    `json:"command"`
	RunID      string                    `json:"run_id"`
	Provider   string                    `json:"provider"`
	State      string                    `json:"state"`
	Target     string                    `json:"target,omitempty"`
	Since      string                    `json:"since"`
	Until      string                    `json:"until"`
	Types      []string                  `json:"types,omitempty"`
	DryRun     bool                      `json:"dry_run"`
	Partial    bool                      `json:"partial,omitempty"`
	LostUntil  string                    `json:"lost_until,omitempty"`
	StartedAt  string                    `json:"started_at"`
	FinishedAt string                    `json:"finished_at"`
	Events     []ReplayEvent             `json:"events"`
	Summary    map[string]int            `json:"summary"`
	ByType     map[string]map[string]int `json:"by_type"`
	Cursor     string                    `json:"cursor"`
	Brake      *reconcile.BrakeRefusal   `json:"brake,omitempty"`
	Stopped    string                    `json:"stopped,omitempty"`
	ExitCode   int                       `json:"exit_code"`

	order map[string]int // event id → position in the fetched list
	// foreign: event id → its API version, for events whose payload is in
	// another version than the client's; refetched: those re-read.
	foreign   map[string]string
	refetched map[string]bool
}

// ReplayEvent is one event's outcome.
type ReplayEvent struct {
	ID       string `json:"id"`
	Type     string `json:"type"`
	Created  string `json:"created"`
	Resource string `json:"resource"`
	ObjectID string `json:"object_id"`
	Outcome  string `json:"outcome"`
	Error    string `json:"error,omitempty"`
	// APIVersion is set when the event's payload is rendered in another
	// API version than the client pins; Payload then says what replay did:
	// PayloadRefetched or PayloadAbsentUnknown.
	APIVersion string `json:"api_version,omitempty"`
	Payload    string `json:"payload,omitempty"`
}

// What replay did with a payload in another API version.
const (
	// PayloadRefetched: the object was read again (one GET) in the pinned
	// version and that is what was applied.
	PayloadRefetched = "refetched"
	// PayloadAbsentUnknown: the re-read failed (object gone or
	// unreadable), so mapped fields absent from the payload were left as
	// they were instead of written as NULL.
	PayloadAbsentUnknown = "absent_fields_unknown"
)

func replayCommand(io IO) *cli.Command {
	return &cli.Command{
		Name:      "replay",
		Usage:     "post-incident: re-read the provider's events for a window and apply each once, in order (or re-deliver them to the app's webhook endpoint)",
		ArgsUsage: " ",
		Description: `Reads the provider's events API for a window (Stripe: /v1/events, kept 30
days) and applies each event to the local state exactly once, oldest first:
customer.created/updated upsert the customer, customer.deleted deletes it (a
soft delete when soft_delete is mapped), customer.subscription.* upsert the
subscription (a deleted subscription is a canceled one, still a record).

Every processed event id is recorded in the journal: an event seen in an
earlier run is a duplicate (unless --reprocess), and the journal keeps the
newest event applied to each record so an older event never overwrites newer
data (stale), also after a diff --apply or resync wrote fresher state. A
successful run stores a checkpoint: --since last resumes from it. Each event's
change and its journal row commit together.

A window reaching past what the provider keeps is refused (the part that is
lost can only be repaired by reconctl resync); --allow-partial replays what
remains and the report says so.

--deliver-to URL POSTs each event's JSON to the app's own webhook endpoint
instead, signed like the provider (Stripe: Stripe-Signature, secret from
STRIPE_WEBHOOK_SECRET; WorkOS: WorkOS-Signature, secret from
WORKOS_WEBHOOK_SECRET; or the variable named by --signing-secret-env) and
marked with a
Reconctl-Replay: <run-id> header so the app can skip side effects such as
emails. One at a time, in order, retried with backoff; delivered ids are
journaled per target and skipped by a re-run. Loopback and https:// targets
only, unless --allow-insecure-target.

WHEN is RFC 3339 (2026-11-20T10:00:00Z), a date (2026-11-20, UTC midnight), a
duration back from now (36h, 90m, 7d), unix seconds, or last.

EXAMPLES:
   reconctl replay --since 36h --dry-run
   reconctl replay --since 2026-11-20T10:00:00Z --until 2026-11-20T14:00:00Z --types customer.updated,customer.deleted
   reconctl replay --since last            # in cron: continue where the last run stopped
   reconctl replay --since 24h --deliver-to https://app.example.com/webhooks/stripe

EXIT STATUS:
   0  every event was applied, delivered, duplicate, stale or ignored
   1  error (window past retention without --allow-partial, provider, state); what was applied stays applied
   2  an event failed, or (dry run) events would be applied
   3  the safety brake refused to write`,
		Flags: withGlobal(
			&cli.StringFlag{Name: "since", Usage: "start of the window: `WHEN` (required)", EnvVars: envs("SINCE")},
			&cli.StringFlag{Name: "until", Usage: "end of the window: `WHEN` (default: now)", EnvVars: envs("UNTIL")},
			&cli.StringSliceFlag{Name: "types", Usage: "only these event `TYPES` (comma-separated or repeated; Stripe allows customer.* wildcards)", EnvVars: envs("TYPES")},
			&cli.BoolFlag{Name: "dry-run", Aliases: []string{"n"}, Usage: "show the plan (events per type and outcome); write nothing", EnvVars: envs("DRY_RUN")},
			&cli.BoolFlag{Name: "reprocess", Usage: "apply events already processed by an earlier run again", EnvVars: envs("REPROCESS")},
			&cli.BoolFlag{Name: "allow-partial", Usage: "replay what the provider still keeps when the window reaches past its retention", EnvVars: envs("ALLOW_PARTIAL")},
			&cli.StringFlag{Name: "deliver-to", Usage: "POST the events to the app's webhook `URL` instead of writing the state", EnvVars: envs("DELIVER_TO")},
			&cli.StringFlag{Name: "signing-secret-env", Usage: "environment variable `NAME` holding the webhook signing secret (default: the provider's, STRIPE_WEBHOOK_SECRET or WORKOS_WEBHOOK_SECRET)", EnvVars: envs("SIGNING_SECRET_ENV")},
			&cli.BoolFlag{Name: "allow-insecure-target", Usage: "allow a plain http:// --deliver-to target that is not loopback", EnvVars: envs("ALLOW_INSECURE_TARGET")},
			&cli.DurationFlag{Name: "delivery-timeout", Value: 10 * time.Second, Usage: "timeout of one delivery attempt", EnvVars: envs("DELIVERY_TIMEOUT")},
			maxChangesFlag(),
			allowEmptyRemoteFlag(),
			allowAbsentPathFlag(),
			waitFlag(),
		),
		Action: func(c *cli.Context) error {
			s, err := loadSettings(c, io)
			if err != nil {
				return err
			}
			return runReplay(c, s)
		},
	}
}

type replayJob struct {
	q          providers.EventQuery
	dryRun     bool
	reprocess  bool
	target     string
	secret     string
	signer     providers.WebhookSigner // the provider's webhook signature
	insecure   bool
	timeout    time.Duration
	brake      reconcile.Limiter
	allowEmpty bool // --allow-empty-remote: lift the mass-delete guard
	// allowAbsent: mapped paths confirmed absent (--allow-absent-path, allow_absent_paths:)
	allowAbsent []string
	checkpoint  string // checkpoint key: the provider, or provider + target
}

func runReplay(c *cli.Context, s *Settings) error {
	ctx := c.Context
	if !c.IsSet("since") {
		return errors.New("replay needs --since WHEN (RFC 3339, a date, 36h/7d back from now, unix seconds, or last)")
	}
	brake, err := s.maxChanges(c)
	if err != nil {
		return err
	}
	job := replayJob{dryRun: c.Bool("dry-run"), reprocess: c.Bool("reprocess"), target: c.String("deliver-to"), insecure: c.Bool("allow-insecure-target"), timeout: c.Duration("delivery-timeout"), brake: brake, allowEmpty: c.Bool("allow-empty-remote"),
		allowAbsent: append(slices.Clone(s.Config.AllowAbsentPaths), c.StringSlice("allow-absent-path")...)}
	for _, t := range c.StringSlice("types") {
		for _, part := range strings.Split(t, ",") {
			if part = strings.TrimSpace(part); part != "" {
				job.q.Types = append(job.q.Types, part)
			}
		}
	}
	if job.target != "" {
		if err := checkTarget(job.target, job.insecure); err != nil {
			return err
		}
		// The signature belongs to the provider: open it to ask.
		p, err := s.openProvider()
		if err != nil {
			return err
		}
		signer, ok := p.(providers.WebhookSigner)
		if _, events := p.(providers.EventSource); events && !ok {
			return fmt.Errorf("%s: replay --deliver-to cannot sign this provider's webhooks (it has no known signature scheme); replay without --deliver-to applies the events to the state instead", p.Name())
		}
		job.signer = signer
		env := c.String("signing-secret-env")
		if env == "" && signer != nil {
			env = signer.WebhookSecretEnv()
		}
		if err := httpx.CheckEnvName("--signing-secret-env", env); err != nil {
			return err
		}
		job.secret = os.Getenv(env)
		httpx.RegisterSecret(job.secret)
		if job.secret == "" && !job.dryRun && signer != nil {
			return fmt.Errorf("%s is not set: export the app's %s webhook signing secret or name another variable with --signing-secret-env", env, p.Name())
		}
	}
	var wait time.Duration
	if c.IsSet("wait") {
		wait = c.Duration("wait")
	}
	r, err := s.beginRun(ctx, "replay", !job.dryRun && job.target == "", wait)
	if err != nil {
		return err
	}
	rep := &ReplayReport{Command: "replay", RunID: r.id, StartedAt: r.started.Format(time.RFC3339), State: s.displayState(), Target: httpx.ShowRawURL(job.target), DryRun: job.dryRun, Types: job.q.Types, Events: []ReplayEvent{}, Summary: map[string]int{}, ByType: map[string]map[string]int{}}
	rep.Provider, _ = providers.SplitSpec(s.Provider)
	err = replay(ctx, s, r, job, c.String("since"), c.String("until"), c.Bool("allow-partial"), rep)
	rep.FinishedAt = now().Format(time.RFC3339)
	if err != nil {
		// Keep the partial report in the journal: what was applied stays applied.
		var js bytes.Buffer
		_ = report.WriteJSON(&js, rep)
		r.finish(ctx, reconcile.ExitError, err, nil, js.Bytes(), rep.Summary)
		return err
	}
	var js bytes.Buffer
	if err := report.WriteJSON(&js, rep); err != nil {
		return err
	}
	r.finish(ctx, rep.ExitCode, nil, nil, js.Bytes(), rep.Summary)
	if err := renderReplay(s.IO.Out, s.Output, rep); err != nil {
		return err
	}
	return exitWith(rep.ExitCode)
}

// targetKey is how the journal names a --deliver-to target (its checkpoint
// and delivered events): the URL itself, or, when it has userinfo, a query or
// a fragment (which may carry a token), the URL without them plus a digest
// of the whole, so the secret part is never stored.
func targetKey(target string) string {
	u, err := url.Parse(target)
	if err == nil && u.User == nil && u.RawQuery == "" && !u.ForceQuery && u.Fragment == "" {
		return target
	}
	shown := httpx.ShowRawURL(target)
	sum := sha256.Sum256([]byte(target))
	return strings.TrimSuffix(shown, "?…") + " sha256:" + hex.EncodeToString(sum[:8])
}

func checkTarget(target string, insecure bool) error {
	if insecure {
		return nil
	}
	if _, err := httpx.CheckAPIBase(target); err != nil {
		return fmt.Errorf("--deliver-to %s: %v (pass --allow-insecure-target to deliver over plain http anyway)", httpx.ShowRawURL(target), err)
	}
	return nil
}

func replay(ctx context.Context, s *Settings, r *run, job replayJob, sinceArg, untilArg string, allowPartial bool, rep *ReplayReport) error {
	p, err := s.openProvider()
	if err != nil {
		return err
	}
	rep.Provider = p.Name()
	src, ok := p.(providers.EventSource)
	if !ok {
		return fmt.Errorf("%s: %w", p.Name(), providers.ErrNoEvents)
	}
	job.checkpoint = p.Name()
	if job.target != "" {
		job.checkpoint = p.Name() + " " + targetKey(job.target)
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
		id, created, found, err := r.j.Checkpoint(ctx, job.checkpoint)
		if err != nil {
			return err
		}
		if !found {
			return fmt.Errorf("no checkpoint for %s yet: the first replay needs an explicit --since (e.g. --since 24h)", job.checkpoint)
		}
		s.Logger.Info("resuming from the checkpoint", "event", id, "created", created)
		job.q.Since = created
	} else if job.q.Since, err = parseWhen(sinceArg, clock); err != nil {
		return fmt.Errorf("--since: %w", err)
	}
	job.q.Until = clock
	if untilArg != "" {
		if job.q.Until, err = parseWhen(untilArg, clock); err != nil {
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
		s.Logger.Warn(lost + "; replaying what remains (--allow-partial); run `reconctl resync` to repair the rest")
		job.q.Since = oldest.Add(time.Minute) // margin: the provider's clock and ours differ
		rep.Partial, rep.LostUntil = true, job.q.Since.Format(time.RFC3339)
	}
	rep.Since, rep.Until = job.q.Since.Format(time.RFC3339), job.q.Until.Format(time.RFC3339)
	if typer, ok := p.(providers.EventTyper); ok && len(job.q.Types) == 0 {
		// Only the events of the configured resources: a busy account's
		// other events are neither fetched nor counted.
		var names []string
		if ts, err := s.tables(p); err == nil {
			for _, t := range ts {
				names = append(names, t.Resource)
			}
		}
		job.q.Types = typer.EventTypesFor(names)
		rep.Types = job.q.Types
	}

	// 1. Fetch the window, oldest first.
	var events []providers.Event
	if err := src.Events(ctx, job.q, func(e providers.Event) error {
		if job.target == "" {
			e.Raw = nil // only deliveries need the raw body
		}
		events = append(events, e)
		return nil
	}); err != nil {
		return fmt.Errorf("reading %s events: %w", p.Name(), err)
	}
	// Providers deliver oldest first; within one time the order is the
	// API's own. Event ids are opaque (Stripe's are not ordered), so they
	// are never compared: a stable sort by time only.
	sort.SliceStable(events, func(a, b int) bool { return events[a].Created.Before(events[b].Created) })
	rep.order = make(map[string]int, len(events))
	for i, e := range events {
		rep.order[e.ID] = i
	}
	rep.Summary["fetched"] = len(events)
	if job.target != "" {
		return deliver(ctx, s, r, job, events, rep)
	}
	return applyEvents(ctx, s, r, p, job, events, rep)
}

func durationWords(d time.Duration) string {
	if d%(24*time.Hour) == 0 {
		return fmt.Sprintf("%d days", d/(24*time.Hour))
	}
	return d.String()
}

func (rep *ReplayReport) add(e providers.Event, outcome, errText string) {
	ev := ReplayEvent{ID: e.ID, Type: e.Type, Created: e.Created.UTC().Format(time.RFC3339), Resource: e.Resource, ObjectID: e.ObjectID, Outcome: outcome, Error: errText}
	if v := rep.foreign[e.ID]; v != "" && (outcome == OutcomeApplied || outcome == OutcomeFailed) {
		ev.APIVersion, ev.Payload = v, PayloadAbsentUnknown
		if rep.refetched[e.ID] {
			ev.Payload = PayloadRefetched
		}
	}
	rep.Events = append(rep.Events, ev)
	rep.Summary[outcome]++
	if rep.ByType[e.Type] == nil {
		rep.ByType[e.Type] = map[string]int{}
	}
	rep.ByType[e.Type][outcome]++
}

func (rep *ReplayReport) finishCounts() {
	for _, k := range []string{OutcomeApplied, OutcomeDuplicate, OutcomeStale, OutcomeIgnored, OutcomeFailed} {
		if _, ok := rep.Summary[k]; !ok {
			rep.Summary[k] = 0
		}
	}
}

// planned is an event to process: et is nil for a stale event (journaled only).
type planned struct {
	e  providers.Event
	et *eventTable
}

// eventTarget maps an event to its local table, or nil when not configured.
type eventTable struct {
	table *localstate.Table
	res   *reconcile.Resource
}

// applyEvents classifies every event, checks the brake, then applies in
// order, committing each batch's changes together with its journal rows.
func applyEvents(ctx context.Context, s *Settings, r *run, p providers.Provider, job replayJob, events []providers.Event, rep *ReplayReport) error {
	defer rep.finishCounts()
	store, err := s.openStore(ctx, job.dryRun)
	if err != nil {
		return err
	}
	defer store.Close()
	eng := &reconcile.Engine{Provider: p, Store: store, Logger: s.Logger}
	tables := map[string]*eventTable{}
	configured := map[string]bool{}
	if ts, err := s.tables(p); err == nil {
		for _, t := range ts {
			configured[t.Resource] = true
		}
	}
	tableFor := func(resource string) (*eventTable, error) {
		if resource == "" || !configured[resource] {
			return nil, nil
		}
		if et, ok := tables[resource]; ok {
			return et, nil
		}
		t := s.table(resource)
		res, err := s.prepare(ctx, eng, t)
		if err != nil {
			return nil, err
		}
		et := &eventTable{table: t, res: res}
		tables[resource] = et
		return et, nil
	}

	// 2. Classify: ignored, duplicate, stale, or to apply.
	var todo []planned
	newest := map[string]time.Time{} // resource/object -> newest event time seen in this run
	perResource := map[string]int{}
	written := map[string]bool{}
	lastDeleted := map[string]bool{} // resource/id -> its newest applied event deletes it
	provider := p.Name()
	// The journal is asked in batches: which events were processed, and how
	// fresh each record (and each resource, after a diff --apply/resync) is.
	var ids []string
	objects := map[string][]string{}
	for _, e := range events {
		if et, err := tableFor(e.Resource); err != nil {
			return err
		} else if et != nil {
			ids = append(ids, e.ID)
			objects[e.Resource] = append(objects[e.Resource], e.ObjectID)
		}
	}
	processed := map[string]string{}
	if !job.reprocess {
		if processed, err = r.j.EventsProcessed(ctx, provider, "", ids); err != nil {
			return err
		}
	}
	versions := map[string]map[string]time.Time{}
	watermark := map[string]time.Time{}
	for res, objs := range objects {
		if versions[res], err = r.j.Versions(ctx, provider, res, objs); err != nil {
			return err
		}
		if w, _, found, err := r.j.Version(ctx, nil, provider, res, "*"); err != nil {
			return err
		} else if found {
			watermark[res] = w
		}
	}
	for _, e := range events {
		et, _ := tableFor(e.Resource)
		if et == nil {
			rep.add(e, OutcomeIgnored, "")
			continue
		}
		if outcome, found := processed[e.ID]; found && outcome != OutcomeFailed {
			// A failed event is tried again: its fix must not be lost.
			rep.add(e, OutcomeDuplicate, "")
			continue
		}
		key := e.Resource + "/" + e.ObjectID
		at, ok := newest[key]
		if !ok {
			at = versions[e.Resource][e.ObjectID]
			if w := watermark[e.Resource]; w.After(at) {
				at = w
			}
		}
		if !at.IsZero() && e.Created.Before(at) {
			rep.add(e, OutcomeStale, "")
			todo = append(todo, planned{e: e}) // recorded as processed, nothing written
			continue
		}
		newest[key] = e.Created
		lastDeleted[key] = e.Deleted
		todo = append(todo, planned{e: e, et: et})
		if !written[key] { // the brake counts records written, not events
			written[key] = true
			perResource[e.Resource]++
		}
	}
	// Dry run: the plan is the outcome.
	if job.dryRun {
		if err := absentPathGuard(ctx, s, store, todo, job.allowAbsent, false); err != nil {
			return err
		}
		for _, t := range todo {
			if t.et != nil {
				rep.add(t.e, OutcomeWouldApply, "")
			}
		}
		sortReplayEvents(rep)
		if rep.Summary[OutcomeWouldApply] > 0 {
			rep.ExitCode = reconcile.ExitDrift
		}
		return nil
	}

	// 3. The brake counts the writes per resource.
	// The mass-delete guard counts the live local records whose last event
	// deletes them: all or nearly all is refused whatever --max-changes says.
	for res, n := range perResource {
		local, deletes := 0, 0
		if et := tables[res]; et != nil {
			// Writes go by key: a key several rows share (or that collides
			// under the column's collation) would change all of them.
			if err := reconcile.LocalKeyGuard(ctx, store, et.table, objects[res]); err != nil {
				return err
			}
			if err := store.Scan(ctx, et.table, nil, func(row localstate.Row) error {
				local++
				if lastDeleted[res+"/"+row.Key] {
					deletes++
				}
				return nil
			}); err != nil {
				return err
			}
		}
		b := reconcile.MassDeleteCheck(res, deletes, local)
		if job.allowEmpty {
			b = nil
		}
		if limit := job.brake.Limit(local); b == nil && limit >= 0 && n > limit {
			b = &reconcile.BrakeRefusal{Resource: res, Planned: n, Limit: limit, Setting: job.brake.String()}
		}
		if b != nil {
			rep.Brake = b
			rep.ExitCode = reconcile.ExitBrake
			for _, t := range todo {
				if t.et != nil {
					rep.add(t.e, OutcomeWouldApply, "")
				}
			}
			sortReplayEvents(rep)
			return nil
		}
	}

	// 3b. Payloads rendered in another API version than the client's.
	if err := refetchForeign(ctx, p, todo, rep); err != nil {
		return err
	}
	// 3c. A mapped path no event payload has (a typo) would write NULL.
	if err := absentPathGuard(ctx, s, store, todo, job.allowAbsent, true); err != nil {
		return err
	}

	// 4. Apply in order, in batches; each batch's changes and journal rows commit together.
	txs, sameDB := store.(localstate.TxStore)
	sameDB = sameDB && r.j.Path() == s.State
	var bar *barProgress
	if b := s.progress(); b != nil {
		bar = b
		bar.Events(len(todo))
		defer bar.Done()
	}
	const batch = 500
	var last *providers.Event
	for start := 0; start < len(todo); start += batch {
		chunk := todo[start:min(start+batch, len(todo))]
		failedAt := -1
		var failErr error
		known := existence{}
		commit := func(q journal.Querier, apply func([]localstate.Change) error) error {
			for i, t := range chunk {
				if t.et == nil { // stale: only recorded
					if err := r.j.RecordEvent(ctx, q, journal.EventRow{Provider: provider, EventID: t.e.ID, RunID: r.id, Type: t.e.Type, Created: t.e.Created, Outcome: OutcomeStale}); err != nil {
						return err
					}
					continue
				}
				ch, err := eventChange(ctx, store, known, t.et, t.e)
				if err == nil && ch != nil {
					err = apply([]localstate.Change{*ch})
				}
				if err != nil {
					if ctx.Err() != nil {
						return ctx.Err()
					}
					failedAt, failErr = i, err
					return nil
				}
				if err := r.j.RecordEvent(ctx, q, journal.EventRow{Provider: provider, EventID: t.e.ID, RunID: r.id, Type: t.e.Type, Created: t.e.Created, Outcome: OutcomeApplied}); err != nil {
					return err
				}
				if err := r.j.RecordVersion(ctx, q, provider, t.e.Resource, t.e.ObjectID, t.e.Created, t.e.ID, "replay "+r.id); err != nil {
					return err
				}
			}
			return nil
		}
		// Fast path: the chunk's net changes in one write, with all its
		// journal rows. If any change fails, the chunk is rolled back and
		// replayed event by event below, to stop exactly at the failing one.
		fastErr := applyChunkNet(ctx, store, r, provider, chunk, sameDB)
		if fastErr == nil {
			failedAt = -1
		} else if ctx.Err() != nil {
			return fmt.Errorf("replaying events (events before %s are applied and journaled): %w", chunk[0].e.ID, ctx.Err())
		}
		var err error
		switch {
		case fastErr == nil:
		case sameDB:
			err = inTx(ctx, txs.DB(), func(tx *sql.Tx) error {
				return commit(tx, func(chs []localstate.Change) error {
					return withSavepoint(ctx, tx, func() error { return txs.ApplyTx(ctx, tx, chs) })
				})
			})
		default:
			// Journal elsewhere: each change lands first, then its journal rows;
			// a crash in between re-applies an idempotent upsert next time.
			err = commit(nil, func(chs []localstate.Change) error { return store.Apply(ctx, chs) })
		}
		if err != nil {
			return fmt.Errorf("replaying events (events before %s are applied and journaled): %w", chunk[0].e.ID, err)
		}
		end := len(chunk)
		if failedAt >= 0 {
			end = failedAt
		}
		for _, t := range chunk[:end] {
			if t.et == nil {
				continue // already counted as stale
			}
			rep.add(t.e, OutcomeApplied, "")
			if bar != nil {
				bar.Step()
			}
		}
		if end > 0 {
			last = &chunk[end-1].e
		}
		if failedAt >= 0 {
			f := chunk[failedAt].e
			rep.add(f, OutcomeFailed, failErr.Error())
			_ = r.j.RecordEvent(ctx, nil, journal.EventRow{Provider: provider, EventID: f.ID, RunID: r.id, Type: f.Type, Created: f.Created, Outcome: OutcomeFailed})
			rep.Stopped = fmt.Sprintf("stopped at %s (%s): later events were not applied, to keep their order; fix the cause and run replay --since last", f.ID, failErr)
			break
		}
	}
	sortReplayEvents(rep)
	// 5. Checkpoint: the newest event processed before any failure.
	if last == nil && len(todo) > 0 && rep.Summary[OutcomeFailed] == 0 {
		last = &todo[len(todo)-1].e
	}
	if last == nil && len(events) > 0 && rep.Summary[OutcomeFailed] == 0 {
		last = &events[len(events)-1]
	}
	if last != nil {
		rep.Cursor = last.ID
		if err := r.j.SetCheckpoint(ctx, nil, job.checkpoint, last.ID, last.Created, r.id); err != nil {
			return err
		}
	}
	if rep.Summary[OutcomeFailed] > 0 {
		rep.ExitCode = reconcile.ExitDrift
	}
	return nil
}

// absentPathGuard names each mapped path that no written event payload of
// its resource has (the key missing, not null: most likely a typo) and, with
// refuse, refuses the run (exit 1) when applying would set that column to
// null on a local row that has a value, or create a row with it null, unless
// the path is in allow. Deletions and payloads of another API version (whose
// absent fields are left as they are) do not count.
func absentPathGuard(ctx context.Context, s *Settings, store localstate.Store, todo []planned, allow []string, refuse bool) error {
	writes := map[string][]*planned{}
	present := map[string]map[string]bool{}
	var order []string
	for i := range todo {
		t := &todo[i]
		if t.et == nil || t.e.Deleted || t.e.ForeignVersion != "" || len(t.et.table.Fields) == 0 {
			continue
		}
		res := t.e.Resource
		if _, ok := writes[res]; !ok {
			order = append(order, res)
			present[res] = map[string]bool{}
		}
		writes[res] = append(writes[res], t)
		for _, f := range t.et.res.Fields() {
			if _, ok := reconcile.Lookup(t.e.Object, strings.Split(f.Path, ".")); ok {
				present[res][f.Path] = true
			}
		}
	}
	for _, res := range order {
		ws := writes[res]
		et := ws[0].et
		for _, f := range et.res.Fields() {
			if present[res][f.Path] {
				continue
			}
			s.Logger.Warn("no event payload has this mapped path: applying it writes null (a typo?)", "resource", res, "column", f.Column, "path", f.Path, "events", len(ws))
			if !refuse || slices.Contains(allow, f.Path) {
				continue
			}
			rows, done := 0, map[string]bool{}
			for _, t := range ws {
				if done[t.e.ObjectID] {
					continue
				}
				done[t.e.ObjectID] = true
				row, found, err := store.Get(ctx, et.table, []string{f.Column}, t.e.ObjectID)
				if err != nil {
					return err
				}
				if !found || len(row.Values) > 0 && row.Values[0] != nil {
					rows++
				}
			}
			if rows > 0 {
				return &reconcile.GuardError{Msg: fmt.Sprintf("resource %s: no event payload has the mapped path %q (column %s), so replaying would set %s to null on %s; nothing was written. Fix the path in reconctl.yaml if it is a typo, or confirm it with --allow-absent-path %s",
					res, f.Path, f.Column, f.Column, rowsText(rows), f.Path)}
			}
		}
	}
	return nil
}

func rowsText(n int) string {
	if n == 1 {
		return "1 row"
	}
	return fmt.Sprintf("%d rows", n)
}

// sortReplayEvents puts the report's events back in the order they were
// fetched (and applied), not by id: ids are opaque.
func sortReplayEvents(rep *ReplayReport) {
	sort.SliceStable(rep.Events, func(a, b int) bool {
		if rep.Events[a].Created != rep.Events[b].Created {
			return rep.Events[a].Created < rep.Events[b].Created
		}
		return rep.order[rep.Events[a].ID] < rep.order[rep.Events[b].ID]
	})
}

func inTx(ctx context.Context, db *sql.DB, fn func(*sql.Tx) error) error {
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	if err := fn(tx); err != nil {
		_ = tx.Rollback()
		return err
	}
	return tx.Commit()
}

// withSavepoint runs fn so that a failure undoes only fn's writes.
func withSavepoint(ctx context.Context, tx *sql.Tx, fn func() error) error {
	if _, err := tx.ExecContext(ctx, "SAVEPOINT reconctl_event"); err != nil {
		return err
	}
	if err := fn(); err != nil {
		_, _ = tx.ExecContext(ctx, "ROLLBACK TO reconctl_event")
		_, _ = tx.ExecContext(ctx, "RELEASE reconctl_event")
		return err
	}
	_, err := tx.ExecContext(ctx, "RELEASE reconctl_event")
	return err
}

// applyChunkNet writes a chunk of events as their net effect on each record
// (events are applied in order, and an upsert writes every mapped column, so
// a record's last event decides its state) in one write, and journals every
// event of the chunk with it: in the same transaction when the journal lives
// in the state, else right after.
func applyChunkNet(ctx context.Context, store localstate.Store, r *run, provider string, chunk []planned, sameDB bool) error {
	known := existence{}
	before := map[string]bool{}
	net := map[string]*localstate.Change{}
	var order []string
	for _, t := range chunk {
		if t.et == nil {
			continue
		}
		k := t.e.Resource + "/" + t.e.ObjectID
		if _, seen := before[k]; !seen {
			ex, err := known.exists(ctx, store, t.et.table, t.e.ObjectID)
			if err != nil {
				return err
			}
			before[k] = ex
			order = append(order, k)
		}
		ch, err := eventChange(ctx, store, known, t.et, t.e)
		if err != nil {
			return err
		}
		switch {
		case t.e.Deleted && before[k]:
			net[k] = &localstate.Change{Table: t.et.table, Op: localstate.OpDelete, Key: t.e.ObjectID}
		case t.e.Deleted && t.et.table.SoftDelete != "":
			// Created and deleted inside the chunk, with a soft delete: event
			// by event leaves a soft-deleted row, which one net change cannot.
			return errEventByEvent
		case t.e.Deleted:
			net[k] = nil // created and deleted inside the chunk
		case ch != nil:
			ch.Op = localstate.OpCreate
			if before[k] {
				ch.Op = localstate.OpUpdate
			}
			net[k] = ch
		}
	}
	var changes []localstate.Change
	for _, k := range order {
		if ch := net[k]; ch != nil {
			changes = append(changes, *ch)
		}
	}
	record := func(q journal.Querier) error {
		var evs []journal.EventRow
		var vers []journal.VersionRow
		for _, t := range chunk {
			outcome := OutcomeApplied
			if t.et == nil {
				outcome = OutcomeStale
			} else {
				vers = append(vers, journal.VersionRow{Provider: provider, Resource: t.e.Resource, ObjectID: t.e.ObjectID, At: t.e.Created, EventID: t.e.ID, Source: "replay " + r.id})
			}
			evs = append(evs, journal.EventRow{Provider: provider, EventID: t.e.ID, RunID: r.id, Type: t.e.Type, Created: t.e.Created, Outcome: outcome})
		}
		if err := r.j.RecordEvents(ctx, q, evs); err != nil {
			return err
		}
		return r.j.RecordVersions(ctx, q, vers)
	}
	if txs, ok := store.(localstate.TxStore); ok && sameDB {
		return inTx(ctx, txs.DB(), func(tx *sql.Tx) error {
			if err := txs.ApplyTx(ctx, tx, changes); err != nil {
				return err
			}
			return record(tx)
		})
	}
	if err := store.Apply(ctx, changes); err != nil {
		return err
	}
	return inTx(ctx, r.j.DB(), func(tx *sql.Tx) error { return record(tx) })
}

// errEventByEvent sends a chunk down the event-by-event path.
var errEventByEvent = errors.New("chunk needs event-by-event application")

// existence tracks which records exist locally while a batch of events is
// applied: the batch's own uncommitted writes are invisible to the store's
// reads, so what the batch did is remembered here.
type existence map[string]bool

func (x existence) exists(ctx context.Context, store localstate.Store, t *localstate.Table, id string) (bool, error) {
	k := t.Resource + "/" + id
	if v, ok := x[k]; ok {
		return v, nil
	}
	_, ok, err := store.Get(ctx, t, nil, id)
	if err != nil {
		return false, err
	}
	x[k] = ok
	return ok, nil
}

// eventChange turns an event into an upsert or a delete of its record.
// refetchForeign handles events whose payload is in another API version
// than the client pins (Stripe renders each event in its own api_version):
// a mapped path may be absent or moved there, and applying it as is would
// write NULL. Each such object is read again, once per object (one GET,
// counted in the summary as "refetched"), and the current object, rendered
// in the pinned version, is applied instead. When the re-read finds nothing
// (deleted since, inaccessible, or the read fails), the payload is applied
// with its absent mapped fields treated as unknown: left as they are.
func refetchForeign(ctx context.Context, p providers.Provider, todo []planned, rep *ReplayReport) error {
	fetched := map[string]*providers.Record{}
	for i := range todo {
		t := &todo[i]
		if t.et == nil || t.e.ForeignVersion == "" {
			continue
		}
		if rep.foreign == nil {
			rep.foreign, rep.refetched = map[string]string{}, map[string]bool{}
		}
		rep.foreign[t.e.ID] = t.e.ForeignVersion
		rep.Summary["foreign_version"]++
		if t.e.Deleted {
			continue // a deletion reads no fields
		}
		k := t.e.Resource + "/" + t.e.ObjectID
		rec, done := fetched[k]
		if !done {
			rep.Summary["refetched"]++
			r, st, err := p.Get(ctx, t.e.Resource, t.e.ObjectID)
			if err != nil && ctx.Err() != nil {
				return ctx.Err()
			}
			if err == nil && st == providers.StatusPresent {
				rec = &r
			}
			fetched[k] = rec
		}
		if rec != nil {
			t.e.Object, t.e.ForeignVersion = rec.Data, ""
			rep.refetched[t.e.ID] = true
		}
	}
	return nil
}

func eventChange(ctx context.Context, store localstate.Store, known existence, et *eventTable, e providers.Event) (*localstate.Change, error) {
	if e.ObjectID == "" {
		return nil, fmt.Errorf("event %s has no object id", e.ID)
	}
	exists, err := known.exists(ctx, store, et.table, e.ObjectID)
	if err != nil {
		return nil, err
	}
	known[e.Resource+"/"+e.ObjectID] = !e.Deleted
	if e.Deleted {
		if !exists {
			return nil, nil // already gone
		}
		return &localstate.Change{Table: et.table, Op: localstate.OpDelete, Key: e.ObjectID}, nil
	}
	ch := &localstate.Change{Table: et.table, Op: localstate.OpUpdate, Key: e.ObjectID, Values: map[string]any{}}
	if !exists {
		ch.Op = localstate.OpCreate
	}
	for _, f := range et.res.Fields() {
		v, ok := reconcile.Lookup(e.Object, strings.Split(f.Path, "."))
		if !ok && len(et.table.Fields) == 0 {
			continue // auto mapping: only columns the object has
		}
		if !ok && e.ForeignVersion != "" {
			continue // another API version: absent is unknown, not empty
		}
		ch.Values[f.Column] = v
	}
	if et.table.UpdatedAt != "" {
		ch.Values[et.table.UpdatedAt] = e.Created.UTC().Format(time.RFC3339)
	}
	return ch, nil
}

// deliver POSTs each event, signed, to the app's webhook endpoint.
func deliver(ctx context.Context, s *Settings, r *run, job replayJob, events []providers.Event, rep *ReplayReport) error {
	defer rep.finishCounts()
	provider := rep.Provider
	client := deliveryClient(job)
	var todo []providers.Event
	for _, e := range events {
		if !job.reprocess {
			if outcome, found, err := r.j.EventProcessed(ctx, nil, provider, targetKey(job.target), e.ID); err != nil {
				return err
			} else if found && outcome == OutcomeDelivered {
				rep.add(e, OutcomeDuplicate, "")
				continue
			}
		}
		todo = append(todo, e)
	}
	if job.dryRun {
		for _, e := range todo {
			rep.add(e, OutcomeWouldApply, "")
		}
		sortReplayEvents(rep)
		if len(todo) > 0 {
			rep.ExitCode = reconcile.ExitDrift
		}
		return nil
	}
	var last *providers.Event
	for i := range todo {
		e := todo[i]
		err := deliverOne(ctx, client, job, r.id, e)
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if err != nil {
			rep.add(e, OutcomeFailed, err.Error())
			_ = r.j.RecordEvent(ctx, nil, journal.EventRow{Provider: provider, Target: targetKey(job.target), EventID: e.ID, RunID: r.id, Type: e.Type, Created: e.Created, Outcome: OutcomeFailed})
			rep.Stopped = fmt.Sprintf("stopped at %s: %v; later events were not delivered, to keep their order; run again with --since last to resume", e.ID, err)
			break
		}
		rep.add(e, OutcomeDelivered, "")
		if err := r.j.RecordEvent(ctx, nil, journal.EventRow{Provider: provider, Target: targetKey(job.target), EventID: e.ID, RunID: r.id, Type: e.Type, Created: e.Created, Outcome: OutcomeDelivered}); err != nil {
			return err
		}
		last = &todo[i]
	}
	sortReplayEvents(rep)
	if last == nil && rep.Summary[OutcomeFailed] == 0 && len(events) > 0 {
		last = &events[len(events)-1]
	}
	if last != nil {
		rep.Cursor = last.ID
		if err := r.j.SetCheckpoint(ctx, nil, job.checkpoint, last.ID, last.Created, r.id); err != nil {
			return err
		}
	}
	if rep.Summary[OutcomeFailed] > 0 {
		rep.ExitCode = reconcile.ExitDrift
	}
	return nil
}

const deliveryAttempts = 5

// deliveryClient sends to --deliver-to: one attempt per timeout, and no
// redirect followed (httpx.NoRedirects), so a signed event goes nowhere but
// the given URL.
func deliveryClient(job replayJob) *http.Client {
	return &http.Client{Timeout: job.timeout, CheckRedirect: httpx.NoRedirects}
}

func deliverOne(ctx context.Context, client *http.Client, job replayJob, runID string, e providers.Event) error {
	body := e.Raw
	if len(body) == 0 {
		return fmt.Errorf("event %s has no raw body to deliver", e.ID)
	}
	var lastErr error
	sent := 0
	for attempt := 0; attempt < deliveryAttempts; attempt++ {
		if attempt > 0 {
			backoff := time.Duration(200*(1<<(attempt-1))) * time.Millisecond
			backoff = backoff/2 + time.Duration(rand.Int64N(int64(backoff/2)+1))
			select {
			case <-ctx.Done():
				return ctx.Err()
			case <-time.After(backoff):
			}
		}
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, job.target, bytes.NewReader(body))
		if err != nil {
			return errors.New("--deliver-to " + httpx.ShowRawURL(job.target) + " is not a URL")
		}
		req.Header.Set("Content-Type", "application/json; charset=utf-8")
		req.Header.Set("User-Agent", "reconctl-replay")
		// Signed at send time, like the provider: a retry gets a fresh timestamp.
		req.Header.Set(job.signer.SignWebhook(body, job.secret, time.Now()))
		req.Header.Set("Reconctl-Replay", runID)
		sent++
		resp, err := client.Do(req)
		if err != nil {
			var ue *url.Error
			if errors.As(err, &ue) {
				// url.Error quotes the whole target, query string included.
				ue.URL = httpx.ShowRawURL(ue.URL)
			}
			var re *httpx.RedirectError
			if errors.As(err, &re) {
				// Re-sending gets the same redirect: one attempt, reported as a failure.
				return fmt.Errorf("endpoint %s (sent once; a redirect is never followed or retried)", re.Error())
			}
			lastErr = err
			continue
		}
		_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
		resp.Body.Close()
		if resp.StatusCode >= 200 && resp.StatusCode < 300 {
			return nil
		}
		lastErr = fmt.Errorf("endpoint answered %s", resp.Status)
		if resp.StatusCode >= 400 && resp.StatusCode < 500 && resp.StatusCode != 408 && resp.StatusCode != 429 {
			// The app rejected it: retrying sends the same thing.
			return fmt.Errorf("%w (%s; a 4xx other than 408 and 429 is not retried)", lastErr, attemptsText(sent))
		}
	}
	return fmt.Errorf("after %d attempts: %w", sent, lastErr)
}

func attemptsText(n int) string {
	if n == 1 {
		return "sent once"
	}
	return fmt.Sprintf("sent %d times", n)
}

func renderReplay(w io.Writer, format string, rep *ReplayReport) error {
	switch format {
	case "json":
		return report.WriteJSON(w, rep)
	case "ndjson":
		var buf bytes.Buffer
		enc := json.NewEncoder(&buf)
		enc.SetEscapeHTML(false)
		for _, e := range rep.Events {
			if err := enc.Encode(e); err != nil {
				return err
			}
		}
		if err := enc.Encode(map[string]any{"summary": rep.Summary, "cursor": rep.Cursor, "exit_code": rep.ExitCode}); err != nil {
			return err
		}
		_, err := w.Write(buf.Bytes())
		return err
	case "csv":
		var buf bytes.Buffer
		cw := csv.NewWriter(&buf)
		_ = cw.Write([]string{"id", "type", "created", "resource", "object_id", "outcome", "error"})
		for _, e := range rep.Events {
			_ = cw.Write([]string{e.ID, e.Type, e.Created, e.Resource, e.ObjectID, e.Outcome, e.Error})
		}
		cw.Flush()
		_, err := w.Write(buf.Bytes())
		return err
	}
	var buf bytes.Buffer
	md := format == "markdown"
	title := fmt.Sprintf("replay %s events %s to %s", rep.Provider, rep.Since, rep.Until)
	if rep.Target != "" {
		title += " to " + rep.Target
	} else {
		title += " into " + rep.State
	}
	if rep.DryRun {
		title += " (dry run)"
	}
	if md {
		fmt.Fprintf(&buf, "## reconctl %s\n\n", title)
	} else {
		buf.WriteString(title + "\n")
	}
	if rep.Partial {
		fmt.Fprintf(&buf, "PARTIAL: events before %s are no longer kept by the provider; run reconctl resync to repair that part.\n", rep.LostUntil)
	}
	outcomes := []string{OutcomeApplied, OutcomeWouldApply, OutcomeDelivered, OutcomeDuplicate, OutcomeStale, OutcomeIgnored, OutcomeFailed}
	var types []string
	for t := range rep.ByType {
		types = append(types, t)
	}
	sort.Strings(types)
	header := append([]string{"type"}, outcomes...)
	var rows [][]string
	for _, t := range types {
		row := []string{t}
		for _, o := range outcomes {
			row = append(row, strconv.Itoa(rep.ByType[t][o]))
		}
		rows = append(rows, row)
	}
	total := []string{"total"}
	for _, o := range outcomes {
		total = append(total, strconv.Itoa(rep.Summary[o]))
	}
	rows = append(rows, total)
	if md {
		report.MarkdownTable(&buf, header, rows)
	} else {
		t := report.NewTable(&buf, header)
		for _, row := range rows {
			row[0] = report.EscapeText(row[0]) // an event type is a provider value
			_ = t.Append(row)
		}
		if err := t.Render(); err != nil {
			return err
		}
	}
	var failed []string
	for _, e := range rep.Events {
		if e.Outcome == OutcomeFailed {
			failed = append(failed, fmt.Sprintf("  %s %s %s: %s", e.ID, e.Type, e.ObjectID, e.Error))
		}
	}
	if len(failed) > 0 {
		buf.WriteString("\nfailed:\n" + strings.Join(failed, "\n") + "\n")
	}
	if rep.Stopped != "" {
		buf.WriteString("\n" + rep.Stopped + "\n")
	}
	if rep.Brake != nil && rep.Brake.Reason != "" {
		fmt.Fprintf(&buf, "\nREFUSED by the %s.\n", rep.Brake.Error())
	} else if rep.Brake != nil {
		fmt.Fprintf(&buf, "\nREFUSED by the safety brake: %d events would write %s, more than --max-changes allows (%d, %s). Nothing was written.\n", rep.Brake.Planned, rep.Brake.Resource, rep.Brake.Limit, rep.Brake.Setting)
	}
	if n := rep.Summary["foreign_version"]; n > 0 {
		fmt.Fprintf(&buf, "\n%d events were rendered in another API version than reconctl's: %d objects re-read (one GET each) and applied as now; events whose object could not be re-read kept the columns their payload lacks.\n", n, rep.Summary["refetched"])
	}
	cursor := rep.Cursor
	if cursor == "" {
		cursor = "(none)"
	}
	fmt.Fprintf(&buf, "\n%d events fetched; checkpoint %s. Exit %d.\n", rep.Summary["fetched"], cursor, rep.ExitCode)
	return report.WriteText(w, buf.Bytes())
}
