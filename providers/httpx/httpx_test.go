package httpx

import (
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

func fast(c Config) Config {
	c.BaseDelay = time.Millisecond
	c.MaxDelay = 5 * time.Millisecond
	if c.MaxRetryAfter == 0 {
		c.MaxRetryAfter = 5 * time.Millisecond
	}
	return c
}

// script answers the n-th request (1-based) with steps[n-1], repeating the last.
func script(t *testing.T, steps ...func(w http.ResponseWriter, r *http.Request)) (*httptest.Server, *atomic.Int32) {
	t.Helper()
	var n atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		i := int(n.Add(1)) - 1
		steps[min(i, len(steps)-1)](w, r)
	}))
	t.Cleanup(srv.Close)
	return srv, &n
}

func status(code int, hdr ...string) func(http.ResponseWriter, *http.Request) {
	return func(w http.ResponseWriter, r *http.Request) {
		for i := 0; i+1 < len(hdr); i += 2 {
			w.Header().Set(hdr[i], hdr[i+1])
		}
		w.WriteHeader(code)
		io.WriteString(w, `{"status":`+strconv.Itoa(code)+`}`)
	}
}

func truncated(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Length", "100")
	w.WriteHeader(200)
	io.WriteString(w, `{"partial":`)
	w.(http.Flusher).Flush()
	panic(http.ErrAbortHandler)
}

func get(t *testing.T, tr *Transport, url string) (*http.Response, string, error) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, url, nil)
	resp, err := tr.Client().Do(req)
	if err != nil {
		return nil, "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("reading a buffered body failed: %v", err)
	}
	return resp, string(b), nil
}

func TestRetriesThenSucceeds(t *testing.T) {
	srv, n := script(t, status(429), status(500), status(503), truncated, status(200))
	tr := New(fast(Config{}))
	resp, body, err := get(t, tr, srv.URL+"/v1/x")
	if err != nil || resp.StatusCode != 200 || body != `{"status":200}` {
		t.Fatalf("got %v %q %v", resp, body, err)
	}
	if n.Load() != 5 {
		t.Errorf("server saw %d requests, want 5", n.Load())
	}
	st := tr.Stats()
	if st.Requests != 5 || st.Retries != 4 || st.Throttled != 1 || st.Failures != 0 {
		t.Errorf("stats %+v", st)
	}
}

func TestBoundedAttempts(t *testing.T) {
	srv, n := script(t, status(503))
	tr := New(fast(Config{Retries: 3}))
	resp, body, err := get(t, tr, srv.URL)
	// Out of attempts on an HTTP error: the caller gets the last response to decode.
	if err != nil || resp.StatusCode != 503 || body != `{"status":503}` {
		t.Fatalf("got %v %q %v", resp, body, err)
	}
	if n.Load() != 4 {
		t.Errorf("server saw %d requests, want 1+3 retries", n.Load())
	}
	if tr.Stats().Failures != 1 {
		t.Errorf("stats %+v", tr.Stats())
	}

	srv2, n2 := script(t, truncated)
	tr2 := New(fast(Config{Retries: 2}))
	if _, _, err := get(t, tr2, srv2.URL); err == nil || !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Errorf("persistent truncation: err = %v, want unexpected EOF", err)
	}
	if n2.Load() != 3 {
		t.Errorf("server saw %d requests, want 3", n2.Load())
	}

	srv3, n3 := script(t, status(503))
	if _, _, err := get(t, New(fast(Config{Retries: -1})), srv3.URL); err != nil || n3.Load() != 1 {
		t.Errorf("Retries<0 must mean no retry: %v, %d requests", err, n3.Load())
	}
}

func TestStripeShouldRetryHeader(t *testing.T) {
	srv, n := script(t, status(429, "Stripe-Should-Retry", "false"), status(200))
	resp, _, err := get(t, New(fast(Config{})), srv.URL)
	if err != nil || resp.StatusCode != 429 || n.Load() != 1 {
		t.Errorf("Should-Retry false: %v %v, %d requests", resp.StatusCode, err, n.Load())
	}
	srv2, n2 := script(t, status(409, "Stripe-Should-Retry", "true"), status(200))
	resp, _, err = get(t, New(fast(Config{})), srv2.URL)
	if err != nil || resp.StatusCode != 200 || n2.Load() != 2 {
		t.Errorf("Should-Retry true on 409: %v %v, %d requests", resp.StatusCode, err, n2.Load())
	}
	srv3, n3 := script(t, status(400), status(200))
	resp, _, _ = get(t, New(fast(Config{})), srv3.URL)
	if resp.StatusCode != 400 || n3.Load() != 1 {
		t.Errorf("400 must not be retried: %d requests", n3.Load())
	}
}

func TestRetryAfterHonouredAndCapped(t *testing.T) {
	srv, _ := script(t, status(429, "Retry-After", "1"), status(200))
	start := time.Now()
	if _, _, err := get(t, New(fast(Config{MaxRetryAfter: 300 * time.Millisecond})), srv.URL); err != nil {
		t.Fatal(err)
	}
	if d := time.Since(start); d < 290*time.Millisecond || d > 900*time.Millisecond {
		t.Errorf("Retry-After 1 capped at 300ms waited %v", d)
	}
	for in, want := range map[string]time.Duration{"2": 2 * time.Second, " 0 ": 0, "1.5": 1500 * time.Millisecond} {
		if got, ok := RetryAfter(in, time.Now()); !ok || got != want {
			t.Errorf("RetryAfter(%q) = %v %v", in, got, ok)
		}
	}
	now := time.Now()
	if got, ok := RetryAfter(now.Add(3*time.Second).UTC().Format(http.TimeFormat), now); !ok || got < 2*time.Second || got > 3*time.Second {
		t.Errorf("RetryAfter(date) = %v %v", got, ok)
	}
	if _, ok := RetryAfter("soon", now); ok {
		t.Error("RetryAfter(soon) ok")
	}
}

func TestPerAttemptTimeout(t *testing.T) {
	var n atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if n.Add(1) == 1 {
			select {
			case <-time.After(2 * time.Second):
			case <-r.Context().Done():
			}
			return
		}
		io.WriteString(w, "ok")
	}))
	defer srv.Close()
	tr := New(fast(Config{Timeout: 100 * time.Millisecond}))
	resp, body, err := get(t, tr, srv.URL)
	if err != nil || resp.StatusCode != 200 || body != "ok" {
		t.Fatalf("got %v %q %v", resp, body, err)
	}

	srv2, _ := script(t, func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-time.After(2 * time.Second):
		case <-r.Context().Done():
		}
	})
	_, _, err = get(t, New(fast(Config{Timeout: 50 * time.Millisecond, Retries: 1})), srv2.URL)
	var te *TimeoutError
	if !errors.As(err, &te) || errors.Is(err, context.DeadlineExceeded) && !strings.Contains(err.Error(), "within 50ms") {
		t.Errorf("err = %v, want a TimeoutError", err)
	}
}

func TestCancelAbortsWaits(t *testing.T) {
	// A long backoff (Retry-After 10s) must not outlive the caller's context.
	srv, _ := script(t, status(429, "Retry-After", "10"))
	tr := New(Config{MaxRetryAfter: time.Minute, BaseDelay: time.Second})
	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(100*time.Millisecond, cancel)
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, srv.URL, nil)
	start := time.Now()
	_, err := tr.Client().Do(req)
	if !errors.Is(err, context.Canceled) {
		t.Errorf("err = %v, want context.Canceled", err)
	}
	if d := time.Since(start); d > time.Second {
		t.Errorf("cancel took %v", d)
	}

	// And a token-bucket wait.
	slow := New(Config{RPS: 0.1, Burst: 1})
	srv2, _ := script(t, status(200))
	get(t, slow, srv2.URL) // uses the only token
	ctx2, cancel2 := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel2()
	req2, _ := http.NewRequestWithContext(ctx2, http.MethodGet, srv2.URL, nil)
	start = time.Now()
	if _, err := slow.Client().Do(req2); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("rate wait err = %v", err)
	}
	if d := time.Since(start); d > time.Second {
		t.Errorf("rate wait cancel took %v", d)
	}
}

func TestBodyReplayedOnRetry(t *testing.T) {
	var bodies []string
	var mu sync.Mutex
	var n atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		mu.Lock()
		bodies = append(bodies, string(b))
		mu.Unlock()
		if n.Add(1) < 3 {
			w.WriteHeader(502)
		}
	}))
	defer srv.Close()
	req, _ := http.NewRequest(http.MethodPost, srv.URL, strings.NewReader("a=1&b=2"))
	resp, err := New(fast(Config{})).Client().Do(req)
	if err != nil || resp.StatusCode != 200 {
		t.Fatal(resp, err)
	}
	if strings.Join(bodies, "|") != "a=1&b=2|a=1&b=2|a=1&b=2" {
		t.Errorf("bodies %q", bodies)
	}
	// Without GetBody the request cannot be replayed: one attempt only.
	n.Store(0)
	bodies = nil
	req, _ = http.NewRequest(http.MethodPost, srv.URL, io.NopCloser(strings.NewReader("x")))
	resp, err = New(fast(Config{})).Client().Do(req)
	if err != nil || resp.StatusCode != 502 || len(bodies) != 1 {
		t.Errorf("non-replayable: %v %v %d", resp.StatusCode, err, len(bodies))
	}
}

func TestRateLimit(t *testing.T) {
	srv, _ := script(t, status(200))
	tr := New(Config{RPS: 50, Burst: 1})
	start := time.Now()
	for range 11 {
		if _, _, err := get(t, tr, srv.URL); err != nil {
			t.Fatal(err)
		}
	}
	// 11 requests at 50/s with a burst of 1: 10 intervals of 20ms.
	if d := time.Since(start); d < 190*time.Millisecond {
		t.Errorf("11 requests at 50 rps took %v, want >= 200ms", d)
	}
}

func TestLogsNoSecrets(t *testing.T) {
	srv, _ := script(t, status(500), status(200))
	var buf bytes.Buffer
	var mu sync.Mutex
	lg := slog.New(slog.NewTextHandler(&lockedWriter{w: &buf, mu: &mu}, &slog.HandlerOptions{Level: slog.LevelDebug}))
	tr := New(fast(Config{Logger: lg}))
	req, _ := http.NewRequest(http.MethodGet, srv.URL+"/v1/customers?api_key=SECRETQUERY&email=a%40b.c", nil)
	req.Header.Set("Authorization", "Bearer sk_test_SECRETHEADER")
	if _, err := tr.Client().Do(req); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	out := buf.String()
	mu.Unlock()
	for _, secret := range []string{"SECRETQUERY", "SECRETHEADER", "a%40b.c", "Authorization"} {
		if strings.Contains(out, secret) {
			t.Errorf("log shows %q:\n%s", secret, out)
		}
	}
	for _, want := range []string{"method=GET", "path=/v1/customers", "status=500", "status=200", "attempt=2", "duration="} {
		if !strings.Contains(out, want) {
			t.Errorf("log lacks %q:\n%s", want, out)
		}
	}
}

type lockedWriter struct {
	w  io.Writer
	mu *sync.Mutex
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

func TestCheckAPIBase(t *testing.T) {
	for raw, want := range map[string]string{
		"https://api.stripe.com":      "https://api.stripe.com",
		"https://proxy.example/api/":  "https://proxy.example/api",
		"HTTP://127.0.0.1:12111/":     "http://127.0.0.1:12111",
		"http://127.200.0.9:80":       "http://127.200.0.9:80",
		"http://localhost:8080":       "http://localhost:8080",
		"http://[::1]:12111":          "http://[::1]:12111",
		"http://api.stripe.com":       "",
		"http://10.1.2.3":             "",
		"http://localhost.evil.com":   "",
		"http://user:pw@example.com/": "",
		"ftp://127.0.0.1":             "",
		"127.0.0.1:12111":             "",
		"https://":                    "",
		"https://x.example/?a=1":      "",
	} {
		u, err := CheckAPIBase(raw)
		switch {
		case want == "" && err == nil:
			t.Errorf("CheckAPIBase(%q) accepted", raw)
		case want != "" && err != nil:
			t.Errorf("CheckAPIBase(%q): %v", raw, err)
		case want != "" && u.String() != want:
			t.Errorf("CheckAPIBase(%q) = %s, want %s", raw, u, want)
		}
		if err != nil && strings.Contains(err.Error(), "pw") {
			t.Errorf("error shows the password: %v", err)
		}
	}
	_, err := CheckAPIBase("http://api.example.com")
	if err == nil || !strings.Contains(err.Error(), "https://") || !strings.Contains(err.Error(), "loopback") {
		t.Errorf("error should tell to use https and why: %v", err)
	}
}

// TestCallsCounted: Config.Calls counts every attempt, retries included,
// and is shared between Transports.
func TestCallsCounted(t *testing.T) {
	var n atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if n.Add(1) == 1 {
			w.WriteHeader(http.StatusServiceUnavailable)
			return
		}
		w.Write([]byte("{}"))
	}))
	defer srv.Close()
	var calls atomic.Int64
	a, b := New(fast(Config{Calls: &calls})), New(fast(Config{Calls: &calls}))
	for _, tr := range []*Transport{a, b} {
		resp, err := tr.Client().Get(srv.URL)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
	}
	if got := calls.Load(); got != 3 {
		t.Fatalf("calls = %d, want 3 (a retry and two first tries)", got)
	}
}
