// Package httpx is the HTTP layer every provider talks through: a client-side
// token bucket, bounded retries with full-jitter backoff, per-attempt timeouts,
// whole-body buffering (so a truncated body is retried like any network
// error), debug logging that never shows secrets, and counters for tests and
// benchmarks.
package httpx

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"math/rand/v2"
	"net/http"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"golang.org/x/time/rate"
)

// Defaults used when a Config field is zero.
const (
	DefaultRetries       = 5
	DefaultTimeout       = 30 * time.Second
	DefaultBaseDelay     = 250 * time.Millisecond
	DefaultMaxDelay      = 20 * time.Second
	DefaultMaxRetryAfter = 60 * time.Second
)

// Config configures a Transport. Zero values mean the defaults above.
type Config struct {
	// RPS is the client-side request rate (every attempt, retries included,
	// takes a token). Zero or negative means no client-side limit: providers
	// fill in their own default before calling New.
	RPS float64
	// Burst is the token bucket size; 0 picks a small one from RPS, so a
	// cold start cannot fire a volley that trips the server's limiter.
	Burst int
	// Retries is how many times a failed attempt is retried (total attempts
	// = Retries+1). 0 means DefaultRetries; negative means never retry.
	Retries int
	// Timeout bounds one attempt, from sending to the last byte of the body.
	Timeout time.Duration
	// BaseDelay and MaxDelay shape the exponential backoff: attempt n waits a
	// uniformly random time in [0, min(MaxDelay, BaseDelay*2^n)) ("full jitter").
	BaseDelay, MaxDelay time.Duration
	// MaxRetryAfter caps how long a server's Retry-After may make us wait.
	MaxRetryAfter time.Duration
	// Base is the RoundTripper that actually sends; nil means a clone of
	// http.DefaultTransport with enough idle connections for parallel listing.
	Base   http.RoundTripper
	Logger *slog.Logger
	// Headers are set on every request (Stripe-Account for a connected
	// account).
	Headers http.Header
	// Budget, when set, is waited on by every attempt after the
	// Transport's own limiter: a request budget shared by several
	// Transports (many tenants under one --rps).
	Budget interface{ Wait(context.Context) error }
	// Calls, when set, counts every attempt sent, like Stats.Requests, for
	// a caller that shares it between Transports (the report's
	// provider_calls).
	Calls *atomic.Int64
}

// Stats are cumulative counters of a Transport.
type Stats struct {
	Requests  int64 // attempts sent (first tries and retries)
	Retries   int64 // attempts that were retries
	Throttled int64 // 429 responses received
	Failures  int64 // round trips that failed for good after all attempts
}

// Transport is an http.RoundTripper that paces, retries and buffers.
//
// Unlike a plain RoundTripper it interprets responses (that is the point):
// the response it returns has its whole body in memory, so callers never
// see a half-read body from a dropped connection.
type Transport struct {
	cfg     Config
	limiter *rate.Limiter
	base    http.RoundTripper
	log     *slog.Logger

	requests, retries, throttled, failures atomic.Int64
}

// New builds a Transport from cfg.
func New(cfg Config) *Transport {
	if cfg.Retries == 0 {
		cfg.Retries = DefaultRetries
	}
	if cfg.Retries < 0 {
		cfg.Retries = 0
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = DefaultTimeout
	}
	if cfg.BaseDelay <= 0 {
		cfg.BaseDelay = DefaultBaseDelay
	}
	if cfg.MaxDelay <= 0 {
		cfg.MaxDelay = DefaultMaxDelay
	}
	if cfg.MaxRetryAfter <= 0 {
		cfg.MaxRetryAfter = DefaultMaxRetryAfter
	}
	t := &Transport{cfg: cfg, base: cfg.Base, log: cfg.Logger}
	if t.base == nil {
		t.base = NewBase()
	}
	if t.log == nil {
		t.log = slog.New(slog.DiscardHandler)
	}
	if cfg.RPS > 0 {
		burst := cfg.Burst
		if burst <= 0 {
			burst = min(max(int(math.Ceil(cfg.RPS/10)), 1), 5)
		}
		t.limiter = rate.NewLimiter(rate.Limit(cfg.RPS), burst)
	} else {
		t.limiter = rate.NewLimiter(rate.Inf, 0)
	}
	return t
}

// NewBase is the connection pool a Transport sends through when
// Config.Base is nil: http.DefaultTransport's settings (at most 100 idle
// connections in all, closed after 90 s idle) with up to 64 idle
// connections per host, as the default of 2 makes parallel listing open and
// close a connection on almost every call. Many Transports may share one
// (a run over many tenants: one pool, not one per tenant, each keeping its
// idle connections and their goroutines alive until they time out).
func NewBase() *http.Transport {
	dt := http.DefaultTransport.(*http.Transport).Clone()
	dt.MaxIdleConnsPerHost = 64
	return dt
}

// Client is the HTTP client type callers outside this layer hold (a
// shared pool for many providers: NewShared), so they need not import
// net/http.
type Client = http.Client

// NewShared returns a client over one NewBase pool, for many providers of
// one process to send through (Options.HTTPClient), and the function that
// closes its idle connections when they are done.
func NewShared() (*Client, func()) {
	pool := NewBase()
	return &http.Client{Transport: pool}, pool.CloseIdleConnections
}

// Client returns an *http.Client sending through t, with RedirectPolicy. Its
// own Timeout is left at zero: t bounds each attempt, and the caller's
// context bounds the whole.
func (t *Transport) Client() *http.Client {
	return &http.Client{Transport: t, CheckRedirect: RedirectPolicy}
}

// Stats returns the counters so far.
func (t *Transport) Stats() Stats {
	return Stats{
		Requests:  t.requests.Load(),
		Retries:   t.retries.Load(),
		Throttled: t.throttled.Load(),
		Failures:  t.failures.Load(),
	}
}

// RoundTrip sends req, retrying as configured. The returned response's body
// is fully buffered. A request with a body is retried only when it has
// GetBody (http.NewRequest sets it for in-memory bodies).
func (t *Transport) RoundTrip(req *http.Request) (*http.Response, error) {
	ctx := req.Context()
	replayable := req.Body == nil || req.Body == http.NoBody || req.GetBody != nil
	for attempt := 1; ; attempt++ {
		if err := t.limiter.Wait(ctx); err != nil {
			t.failures.Add(1)
			if ctx.Err() == nil {
				// The limiter refuses at once when the deadline would pass
				// before a token frees up: report it as the deadline it is.
				return nil, fmt.Errorf("waiting for the client-side rate limit: %w", context.DeadlineExceeded)
			}
			return nil, contextErr(ctx, err)
		}
		if t.cfg.Budget != nil {
			if err := t.cfg.Budget.Wait(ctx); err != nil {
				t.failures.Add(1)
				if ctx.Err() == nil {
					return nil, fmt.Errorf("waiting for the shared request budget: %w", context.DeadlineExceeded)
				}
				return nil, contextErr(ctx, err)
			}
		}
		body, err := t.body(req, attempt)
		if err != nil {
			t.failures.Add(1)
			return nil, fmt.Errorf("%s %s: cannot replay request body: %w", req.Method, req.URL.Path, err)
		}
		if attempt > 1 {
			t.retries.Add(1)
		}
		t.requests.Add(1)
		if t.cfg.Calls != nil {
			t.cfg.Calls.Add(1)
		}
		start := time.Now()
		resp, err := t.attempt(ctx, req, body)
		dur := time.Since(start)

		if ctx.Err() != nil {
			// Ctrl-C or the caller's deadline: stop now, whatever happened.
			t.failures.Add(1)
			return nil, contextErr(ctx, err)
		}
		retry, reason := t.shouldRetry(resp, err)
		status := 0
		if resp != nil {
			status = resp.StatusCode
			if status == http.StatusTooManyRequests {
				t.throttled.Add(1)
			}
		}
		t.log.Debug("http", "method", req.Method, "path", req.URL.Path, "status", status,
			"duration", dur.Round(time.Millisecond), "attempt", attempt, "error", errText(err))

		if !retry || attempt > t.cfg.Retries || !replayable {
			if err != nil {
				t.failures.Add(1)
				if attempt > 1 {
					return nil, fmt.Errorf("%s %s: giving up after %d attempts: %w", req.Method, req.URL.Path, attempt, err)
				}
				return nil, err
			}
			if retry {
				// Out of attempts on a retryable status: hand back the last
				// response so the caller decodes the provider's error body.
				t.failures.Add(1)
			}
			return resp, nil
		}
		wait := t.backoff(attempt, resp)
		t.log.Debug("http retry", "method", req.Method, "path", req.URL.Path, "status", status,
			"attempt", attempt, "reason", reason, "wait", wait.Round(time.Millisecond))
		if err := sleep(ctx, wait); err != nil {
			t.failures.Add(1)
			return nil, contextErr(ctx, err)
		}
	}
}

// body returns the body for this attempt: the original on the first, a fresh
// copy from GetBody on later ones.
func (t *Transport) body(req *http.Request, attempt int) (io.ReadCloser, error) {
	if req.Body == nil || req.Body == http.NoBody {
		return req.Body, nil
	}
	if attempt == 1 {
		return req.Body, nil
	}
	return req.GetBody()
}

// attempt sends one try under its own timeout and reads the whole body, so
// that a connection dropped mid-body surfaces here as a retryable error.
func (t *Transport) attempt(ctx context.Context, req *http.Request, body io.ReadCloser) (*http.Response, error) {
	actx, cancel := context.WithTimeout(ctx, t.cfg.Timeout)
	defer cancel()
	r := req.Clone(actx)
	r.Body = body
	for k, vs := range t.cfg.Headers {
		r.Header[k] = vs
	}
	resp, err := t.base.RoundTrip(r)
	if err != nil {
		return nil, timeoutErr(actx, ctx, err, t.cfg.Timeout)
	}
	var buf bytes.Buffer
	if resp.ContentLength > 0 && resp.ContentLength < 64<<20 {
		buf.Grow(int(resp.ContentLength) + 1) // one allocation instead of doubling
	}
	_, err = buf.ReadFrom(resp.Body)
	resp.Body.Close()
	data := buf.Bytes()
	if err != nil {
		if errors.Is(err, io.EOF) {
			err = io.ErrUnexpectedEOF
		}
		return nil, fmt.Errorf("reading response body (HTTP %d): %w", resp.StatusCode, timeoutErr(actx, ctx, err, t.cfg.Timeout))
	}
	resp.Body = io.NopCloser(bytes.NewReader(data))
	resp.ContentLength = int64(len(data))
	resp.Header.Del("Content-Length")
	resp.Request = req
	return resp, nil
}

// shouldRetry decides from the outcome of one attempt.
func (t *Transport) shouldRetry(resp *http.Response, err error) (bool, string) {
	if err != nil {
		return true, "network error"
	}
	// Stripe's header is authoritative when present; other providers do
	// not send it, so honouring it everywhere costs nothing.
	switch strings.ToLower(resp.Header.Get("Stripe-Should-Retry")) {
	case "true":
		return true, "Stripe-Should-Retry: true"
	case "false":
		return false, ""
	}
	switch {
	case resp.StatusCode == http.StatusTooManyRequests:
		return true, "rate limited"
	case resp.StatusCode >= 500:
		return true, "server error"
	}
	return false, ""
}

// backoff is full jitter over an exponential cap, but never shorter than a
// server's Retry-After (itself capped, since it is a hint we do not control).
func (t *Transport) backoff(attempt int, resp *http.Response) time.Duration {
	ceiling := t.cfg.MaxDelay
	if shift := attempt - 1; shift < 30 {
		ceiling = min(ceiling, t.cfg.BaseDelay<<shift)
	}
	wait := time.Duration(rand.Int64N(int64(ceiling) + 1))
	if resp != nil {
		if ra, ok := RetryAfter(resp.Header.Get("Retry-After"), time.Now()); ok {
			wait = max(wait, min(ra, t.cfg.MaxRetryAfter))
		}
	}
	return wait
}

// RetryAfter parses a Retry-After value: delay seconds or an HTTP date.
func RetryAfter(v string, now time.Time) (time.Duration, bool) {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0, false
	}
	if s, err := strconv.ParseFloat(v, 64); err == nil && s >= 0 && s < 1e9 {
		return time.Duration(s * float64(time.Second)), true
	}
	if at, err := http.ParseTime(v); err == nil {
		return max(at.Sub(now), 0), true
	}
	return 0, false
}

func sleep(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return ctx.Err()
	}
	tm := time.NewTimer(d)
	defer tm.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-tm.C:
		return nil
	}
}

// contextErr prefers the context's own error so callers can errors.Is it.
func contextErr(ctx context.Context, err error) error {
	if ctx.Err() != nil {
		return context.Cause(ctx)
	}
	return err
}

// TimeoutError is an attempt that ran past Config.Timeout.
type TimeoutError struct {
	After time.Duration
	Err   error
}

func (e *TimeoutError) Error() string {
	return fmt.Sprintf("no complete response within %s: %v", e.After, e.Err)
}
func (e *TimeoutError) Unwrap() error { return e.Err }
func (e *TimeoutError) Timeout() bool { return true }

// timeoutErr names a per-attempt timeout as such (the underlying error is a
// bare "context deadline exceeded" that would read like the caller's own).
func timeoutErr(actx, parent context.Context, err error, after time.Duration) error {
	if actx.Err() != nil && parent.Err() == nil {
		return &TimeoutError{After: after, Err: err}
	}
	return err
}

func errText(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}
