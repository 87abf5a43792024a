package commands

import (
	"context"
	"errors"
	"fmt"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/reconctl/reconctl/journal"
	"github.com/reconctl/reconctl/providers"
	"github.com/reconctl/reconctl/providers/httpx"
	"github.com/reconctl/reconctl/reconcile"
	"github.com/reconctl/reconctl/replay"
	"github.com/reconctl/reconctl/report"
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

With tenants: in reconctl.yaml, each tenant's own events (a Stripe Connect
account's, through its Stripe-Account header; a listed tenant's with its
own credentials) are applied into its scoped rows only, tenants
concurrently (--tenant-concurrency) under the one --rps budget; --tenant,
--shard/--shards and --due (the last successful replay against the
tenant's cadence) select them as for diff. Each tenant has its own
checkpoint and processed events in the journal (key provider/tenant, e.g.
stripe/acct_1), so --since last resumes each from its own; a failing tenant
is reported and the others go on; the report adds a section per tenant and
exits with the worst code. --deliver-to is refused with tenants:.

WHEN is RFC 3339 (2026-11-20T10:00:00Z), a date (2026-11-20, UTC midnight), a
duration back from now (36h, 90m, 7d), unix seconds, or last.

EXAMPLES:
   reconctl replay --since 36h --dry-run
   reconctl replay --since 2026-11-20T10:00:00Z --until 2026-11-20T14:00:00Z --types customer.updated,customer.deleted
   reconctl replay --since last            # in cron: continue where the last run stopped
   reconctl replay --since 24h --deliver-to https://app.example.com/webhooks/stripe
   reconctl replay --since last --due      # with tenants: each due tenant from its own checkpoint

EXIT STATUS:
   0  every event was applied, delivered, duplicate, stale or ignored
   1  error (window past retention without --allow-partial, provider, state); what was applied stays applied
   2  an event failed, or (dry run) events would be applied
   3  the safety brake refused to write`,
		Flags: append(withGlobal(
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
		), tenantFlags()...),
		Action: func(c *cli.Context) error {
			s, err := loadSettings(c, io)
			if err != nil {
				return err
			}
			return runReplay(c, s)
		},
	}
}

// replayOptions are replay's flags, resolved: what runReplayOptions needs.
type replayOptions struct {
	replay.Options
	SigningSecretEnv string // --signing-secret-env; empty: the provider's
	Wait             *time.Duration
	// Metrics, when set, writes --metrics-file from the finished report
	// (also a failed run's, exit 1).
	Metrics func(rep *replay.Report, started time.Time)
}

func runReplay(c *cli.Context, s *Settings) error {
	if !c.IsSet("since") {
		return errors.New("replay needs --since WHEN (RFC 3339, a date, 36h/7d back from now, unix seconds, or last)")
	}
	brake, err := s.maxChanges(c)
	if err != nil {
		return err
	}
	o := replayOptions{Options: replay.Options{Since: c.String("since"), Until: c.String("until"), DryRun: c.Bool("dry-run"), Reprocess: c.Bool("reprocess"), AllowPartial: c.Bool("allow-partial"),
		Target: c.String("deliver-to"), Insecure: c.Bool("allow-insecure-target"), Timeout: c.Duration("delivery-timeout"), Brake: brake, AllowEmpty: c.Bool("allow-empty-remote"),
		AllowAbsent: append(slices.Clone(s.Config.AllowAbsentPaths), c.StringSlice("allow-absent-path")...)},
		SigningSecretEnv: c.String("signing-secret-env")}
	for _, t := range c.StringSlice("types") {
		for _, part := range strings.Split(t, ",") {
			if part = strings.TrimSpace(part); part != "" {
				o.Types = append(o.Types, part)
			}
		}
	}
	if c.IsSet("wait") {
		w := c.Duration("wait")
		o.Wait = &w
	}
	o.Metrics = func(rep *replay.Report, started time.Time) { s.writeMetrics(c, replayMetrics(rep, started)) } // tenants.go
	return runReplayOptions(c.Context, s, o)
}

// runReplayOptions opens the provider, the journal run and (inside
// replay.Run) the state, runs the replay, journals and renders its report.
func runReplayOptions(ctx context.Context, s *Settings, o replayOptions) error {
	if o.Target != "" && s.Config.Tenants != nil {
		return errTenantDelivery // replaytenants.go
	}
	if o.Target != "" {
		if err := replay.CheckTarget(o.Target, o.Insecure); err != nil {
			return err
		}
		// The signature belongs to the provider: open it to ask.
		p, err := s.openProvider()
		if err != nil {
			return err
		}
		// A provider without an events API (Clerk) gets replay's own "no
		// events API" error below, not one about signing.
		if feat := providers.FeaturesOf(p); feat.Events != nil {
			signer := feat.WebhookSigner
			if signer == nil {
				return fmt.Errorf("%s: replay --deliver-to cannot sign this provider's webhooks (it has no known signature scheme); replay without --deliver-to applies the events to the state instead", p.Name())
			}
			o.Signer = signer
			env := o.SigningSecretEnv
			if env == "" {
				env = signer.WebhookSecretEnv()
			}
			if env != "" {
				if err := httpx.CheckEnvName("--signing-secret-env", env); err != nil {
					return err
				}
				o.Secret = os.Getenv(env)
				httpx.RegisterSecret(o.Secret)
			}
			if o.Secret == "" && !o.DryRun {
				return fmt.Errorf("%s is not set: export the app's %s webhook signing secret or name another variable with --signing-secret-env", env, p.Name())
			}
		}
	}
	var wait time.Duration
	if o.Wait != nil {
		wait = *o.Wait
	}
	r, err := s.beginRun(ctx, "replay", !o.DryRun && o.Target == "", wait)
	if err != nil {
		return err
	}
	rep := replay.NewReport(r.id, r.started, s.displayState(), o.Options)
	rep.Provider, _ = providers.SplitSpec(s.Provider)
	if s.Config.Tenants != nil {
		err = s.replayTenants(ctx, r, o.Options, rep) // replaytenants.go
	} else {
		err = s.replay(ctx, r, o.Options, rep)
	}
	rep.FinishedAt = now().Format(time.RFC3339)
	if err != nil {
		// Keep the partial report in the journal: what was applied stays
		// applied. It is written as it is compressed (rep.WriteJSON: the
		// json format, one event at a time), never held whole.
		r.finishWith(ctx, reconcile.ExitError, err, journal.Finish{WriteReport: rep.WriteJSON, Counts: rep.Summary})
		if o.Metrics != nil {
			rep.ExitCode = reconcile.ExitError
			o.Metrics(rep, r.started)
		}
		return err
	}
	r.finishWith(ctx, rep.ExitCode, nil, journal.Finish{WriteReport: rep.WriteJSON, Counts: rep.Summary})
	if err := report.Render(s.IO.Out, s.Output, rep, report.Options{}); err != nil {
		return err
	}
	if o.Metrics != nil {
		o.Metrics(rep, r.started)
	}
	return exitWith(rep.ExitCode)
}

// replay opens the provider and hands replay.Run what it works with.
func (s *Settings) replay(ctx context.Context, r *run, o replay.Options, rep *replay.Report) error {
	p, err := s.openProvider()
	if err != nil {
		return err
	}
	env := &replay.Env{Provider: p, Journal: r.j, RunID: r.id, Table: s.table, Prepare: s.prepare,
		OpenStore: s.openReplayStore, JournalInState: r.journalsInState(), CheckLock: r.checkLock, Logger: s.Logger}
	if ts, err := s.tables(p); err == nil {
		for _, t := range ts {
			env.Resources = append(env.Resources, t.Resource)
		}
	}
	if bar := s.progress(); bar != nil {
		env.Progress = bar // never a typed nil in the interface
	}
	return replay.Run(ctx, env, o, rep)
}
