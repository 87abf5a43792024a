// Package fakefault is the fault injection and request bookkeeping shared by
// the in-repo fake provider servers (workosfake, clerkfake, restfake): every
// N-th request throttled (429) or failed (5xx), every K-th successful body cut
// short with the connection dropped, latency before every answer, and a log
// of what was served; Base adds the clock and Forbid every fake has. The
// provider-specific parts (error body shapes, authentication, routing) stay
// in each fake (stripefake, workosfake, clerkfake, restfake).
package fakefault

import (
	"net/http"
	"slices"
	"strconv"
	"sync"
	"time"

	"golang.org/x/time/rate"
)

// Faults are injected into responses. Counting is over every request served
// since the last Set (the N-th request overall), so parallel clients see them
// too. Zero values disable a fault.
type Faults struct {
	// RateLimitEvery makes every N-th request a 429.
	RateLimitEvery int
	// RetryAfter, when > 0, is sent as Retry-After (seconds) on those 429s.
	RetryAfter int
	// RateLimitHeader is added to those 429s (stripefake: Stripe-Should-Retry).
	RateLimitHeader http.Header `json:"-"`
	// ServerErrorEvery makes every M-th request a 5xx (ServerErrorStatus,
	// default 500). 1 fails every request.
	ServerErrorEvery int
	// ServerErrorStatus is the status used by ServerErrorEvery.
	ServerErrorStatus int
	// TruncateEvery cuts every K-th successful (200) body in half and drops
	// the connection: the client reads fewer bytes than Content-Length.
	TruncateEvery int
	// Latency is added before every response (cut short when the client
	// gives up).
	Latency time.Duration
	// LimitRPS, when > 0, enforces a server-side token bucket the way a
	// provider's rate limiter does: LimitRPS tokens a second, LimitBurst
	// (default 1) at most; a request that arrives when the bucket is empty
	// is answered 429 (after Latency, like any answer) and counted in
	// Stats.RateLimited. Clients that pace themselves badly see 429s.
	LimitRPS   float64
	LimitBurst int
}

// Response is a rendered answer.
type Response struct {
	Status int
	Header http.Header
	Body   []byte
}

// Shapes renders a provider's own error bodies for injected faults.
type Shapes struct {
	// RateLimited is the 429 body.
	RateLimited func() []byte
	// ServerError is the 5xx body for status.
	ServerError func(status int) []byte
	// Header, when set, adds provider headers (a request id, …) to every
	// response; n is the request's number since the injector was made.
	Header func(h http.Header, n int)
}

// Stats counts what a fake served.
type Stats struct {
	Requests     int // every request received
	RateLimited  int // 429s answered (injected, or over LimitRPS)
	ServerErrors int // 5xx injected
	Truncated    int // bodies cut
	Unauthorized int // 401s answered
	Forbidden    int // 403s answered
	BadRequests  int // 400s answered
}

// Faulted is how many faults were injected (429s, 5xx, truncated bodies).
func (s Stats) Faulted() int { return s.RateLimited + s.ServerErrors + s.Truncated }

// Request is one served request, for assertions in tests.
type Request struct {
	Method, Path string
	Query        string // raw query as received
	Header       http.Header
	Status       int
}

// Injector wraps a fake's answer function with faults and bookkeeping. The
// zero value is not usable; call New. All methods are safe for concurrent use.
type Injector struct {
	shapes Shapes

	mu     sync.Mutex
	faults Faults
	bucket *rate.Limiter // LimitRPS's token bucket; nil: none
	served int           // requests since the last Set
	total  int           // requests since New
	stats  Stats
	log    []Request
}

// New returns an injector that renders injected errors with shapes.
func New(shapes Shapes) *Injector {
	if shapes.RateLimited == nil {
		shapes.RateLimited = func() []byte { return []byte(`{"message":"Too many requests"}`) }
	}
	if shapes.ServerError == nil {
		shapes.ServerError = func(int) []byte { return []byte(`{"message":"Internal server error"}`) }
	}
	return &Injector{shapes: shapes}
}

// Set replaces the injected faults and restarts their counting.
func (in *Injector) Set(f Faults) {
	in.mu.Lock()
	defer in.mu.Unlock()
	in.faults = f
	in.served = 0
	in.bucket = nil
	if f.LimitRPS > 0 {
		in.bucket = rate.NewLimiter(rate.Limit(f.LimitRPS), max(f.LimitBurst, 1))
	}
}

// Stats returns the counters so far.
func (in *Injector) Stats() Stats {
	in.mu.Lock()
	defer in.mu.Unlock()
	return in.stats
}

// Requests returns every request served so far.
func (in *Injector) Requests() []Request {
	in.mu.Lock()
	defer in.mu.Unlock()
	return slices.Clone(in.log)
}

// Reset clears the counters and the request log (not the faults).
func (in *Injector) Reset() {
	in.mu.Lock()
	defer in.mu.Unlock()
	in.stats = Stats{}
	in.log = nil
}

// Serve answers r: it waits out the latency, injects a due fault or calls
// answer, records the request, and writes the response (truncated when due).
func (in *Injector) Serve(w http.ResponseWriter, r *http.Request, answer func(*http.Request) Response) {
	in.mu.Lock()
	in.stats.Requests++
	in.served++
	in.total++
	n, total, fl := in.served, in.total, in.faults
	// The bucket is checked on arrival, as a server's limiter does.
	overLimit := in.bucket != nil && !in.bucket.Allow()
	in.mu.Unlock()

	if fl.Latency > 0 {
		t := time.NewTimer(fl.Latency)
		select {
		case <-t.C:
		case <-r.Context().Done():
			t.Stop()
			return
		}
	}

	var resp Response
	truncate := false
	switch {
	case overLimit || fl.RateLimitEvery > 0 && n%fl.RateLimitEvery == 0:
		resp = Response{Status: http.StatusTooManyRequests, Body: in.shapes.RateLimited(), Header: fl.RateLimitHeader.Clone()}
		if resp.Header == nil {
			resp.Header = http.Header{}
		}
		if fl.RetryAfter > 0 {
			resp.Header.Set("Retry-After", strconv.Itoa(fl.RetryAfter))
		}
	case fl.ServerErrorEvery > 0 && n%fl.ServerErrorEvery == 0:
		st := fl.ServerErrorStatus
		if st == 0 {
			st = http.StatusInternalServerError
		}
		resp = Response{Status: st, Body: in.shapes.ServerError(st)}
	default:
		resp = answer(r)
		truncate = resp.Status == http.StatusOK && fl.TruncateEvery > 0 && n%fl.TruncateEvery == 0 && len(resp.Body) > 1
	}

	in.mu.Lock()
	switch {
	case resp.Status == http.StatusTooManyRequests:
		in.stats.RateLimited++
	case resp.Status >= 500:
		in.stats.ServerErrors++
	case resp.Status == http.StatusUnauthorized:
		in.stats.Unauthorized++
	case resp.Status == http.StatusForbidden:
		in.stats.Forbidden++
	case resp.Status == http.StatusBadRequest:
		in.stats.BadRequests++
	}
	if truncate {
		in.stats.Truncated++
	}
	in.log = append(in.log, Request{Method: r.Method, Path: r.URL.Path, Query: r.URL.RawQuery,
		Header: r.Header.Clone(), Status: resp.Status})
	in.mu.Unlock()

	h := w.Header()
	for k, v := range resp.Header {
		h[k] = v
	}
	if h.Get("Content-Type") == "" {
		h.Set("Content-Type", "application/json")
	}
	if in.shapes.Header != nil {
		in.shapes.Header(h, total)
	}
	h.Set("Content-Length", strconv.Itoa(len(resp.Body)))
	w.WriteHeader(resp.Status)
	if truncate {
		_, _ = w.Write(resp.Body[:len(resp.Body)/2])
		if fl, ok := w.(http.Flusher); ok {
			fl.Flush()
		}
		// Abort: the server drops the connection mid-body.
		panic(http.ErrAbortHandler)
	}
	_, _ = w.Write(resp.Body)
}
