package replay

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/url"
	"time"

	"github.com/reconctl/reconctl/journal"
	"github.com/reconctl/reconctl/providers"
	"github.com/reconctl/reconctl/providers/httpx"
	"github.com/reconctl/reconctl/reconcile"
)

// deliver POSTs each event, signed, to the app's webhook endpoint.
func deliver(ctx context.Context, env *Env, job jobSpec, events []providers.Event, rep *Report) error {
	defer rep.finishCounts()
	provider := job.key
	client := deliveryClient(job)
	var todo []providers.Event
	for _, e := range events {
		if !job.reprocess {
			if outcome, found, err := env.Journal.EventProcessed(ctx, nil, provider, TargetKey(job.target), e.ID); err != nil {
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
		sortEvents(rep)
		if len(todo) > 0 {
			rep.ExitCode = reconcile.ExitDrift
		}
		return nil
	}
	var last *providers.Event
	for i := range todo {
		e := todo[i]
		err := deliverOne(ctx, client, job, env.RunID, e)
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if err != nil {
			rep.add(e, OutcomeFailed, err.Error())
			_ = env.Journal.RecordEvent(ctx, nil, journal.EventRow{Provider: provider, Target: TargetKey(job.target), EventID: e.ID, RunID: env.RunID, Type: e.Type, Created: e.Created, Outcome: OutcomeFailed})
			rep.Stopped = fmt.Sprintf("stopped at %s: %v; later events were not delivered, to keep their order; run again with --since last to resume", e.ID, err)
			break
		}
		rep.add(e, OutcomeDelivered, "")
		if err := env.Journal.RecordEvent(ctx, nil, journal.EventRow{Provider: provider, Target: TargetKey(job.target), EventID: e.ID, RunID: env.RunID, Type: e.Type, Created: e.Created, Outcome: OutcomeDelivered}); err != nil {
			return err
		}
		last = &todo[i]
	}
	sortEvents(rep)
	return checkpoint(ctx, env, job, newestOf(events), last, rep)
}

const deliveryAttempts = 5

// deliveryClient sends to --deliver-to: one attempt per timeout, and no
// redirect followed (httpx.NoRedirects), so a signed event goes nowhere but
// the given URL.
func deliveryClient(job jobSpec) *http.Client {
	return &http.Client{Timeout: job.timeout, CheckRedirect: httpx.NoRedirects}
}

func deliverOne(ctx context.Context, client *http.Client, job jobSpec, runID string, e providers.Event) error {
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
