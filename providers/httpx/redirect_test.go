package httpx

import (
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
)

// recordingBase sends through the default transport and records every host
// a request actually went to.
type recordingBase struct {
	mu    sync.Mutex
	hosts []string
}

func (b *recordingBase) RoundTrip(r *http.Request) (*http.Response, error) {
	b.mu.Lock()
	b.hosts = append(b.hosts, r.URL.Host)
	b.mu.Unlock()
	return http.DefaultTransport.RoundTrip(r)
}

func redirectTo(code int, target string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Location", target)
		w.WriteHeader(code)
	}
}

func credRequest(t *testing.T, method, url string) *http.Request {
	t.Helper()
	var body *strings.Reader
	if method == http.MethodPost {
		body = strings.NewReader(`{"a":1}`)
	} else {
		body = strings.NewReader("")
	}
	req, err := http.NewRequest(method, url, body)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer sk_test_secretsecret")
	req.Header.Set("X-Api-Key", "custom-key-value")
	req.Header.Set("Stripe-Signature", "t=1,v1=abc")
	return req
}

// A redirect from a loopback API base to a plain-http remote host is refused
// before anything is sent there, and reported as the request's failure.
func TestRedirectToPlainHTTPRemoteRefused(t *testing.T) {
	srv := httptest.NewServer(redirectTo(http.StatusTemporaryRedirect, "http://remote.example.com/v1/hook?token=abc"))
	defer srv.Close()
	base := &recordingBase{}
	c := New(fast(Config{Base: base})).Client()
	resp, err := c.Do(credRequest(t, http.MethodPost, srv.URL+"/v1/customers"))
	if err == nil {
		resp.Body.Close()
		t.Fatal("redirect to a plain-http remote host was followed")
	}
	var re *RedirectError
	if !errors.As(err, &re) || re.Status != http.StatusTemporaryRedirect {
		t.Fatalf("error %v is not a RedirectError for the 307", err)
	}
	if !strings.Contains(err.Error(), `plain http:// to the non-loopback host "remote.example.com"`) {
		t.Errorf("error does not say why: %v", err)
	}
	// (net/http's url.Error around it quotes the target in full; the
	// operator sees it through ScrubError, which hides every query string.)
	if strings.Contains(re.Error(), "token=abc") || strings.Contains(ScrubError(err.Error()), "token=abc") {
		t.Errorf("error echoes the target's query string: %v", err)
	}
	for _, h := range base.hosts {
		if strings.Contains(h, "remote.example.com") {
			t.Errorf("a request was sent to %s", h)
		}
	}
}

// A cross-host redirect (here to another loopback server, which the scheme
// rule alone would allow) never reaches the other host, so it never sees
// Authorization, a custom key header or a webhook signature.
func TestCrossHostRedirectCarriesNoCredentials(t *testing.T) {
	var mu sync.Mutex
	var seen []http.Header
	other := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		seen = append(seen, r.Header.Clone())
		mu.Unlock()
	}))
	defer other.Close()
	otherURL := strings.Replace(other.URL, "127.0.0.1", "localhost", 1)
	for _, code := range []int{http.StatusFound, http.StatusTemporaryRedirect, http.StatusPermanentRedirect, http.StatusMovedPermanently} {
		for _, method := range []string{http.MethodGet, http.MethodPost} {
			srv := httptest.NewServer(redirectTo(code, otherURL+"/steal"))
			c := New(fast(Config{})).Client()
			resp, err := c.Do(credRequest(t, method, srv.URL+"/v1/users"))
			srv.Close()
			if err == nil {
				resp.Body.Close()
				t.Errorf("%s answered %d: cross-host redirect followed", method, code)
				continue
			}
			var re *RedirectError
			if !errors.As(err, &re) || !strings.Contains(err.Error(), "credentials are never sent to another host") {
				t.Errorf("%s answered %d: error %v is not the cross-host refusal", method, code, err)
			}
		}
	}
	mu.Lock()
	defer mu.Unlock()
	for _, h := range seen {
		for _, k := range []string{"Authorization", "X-Api-Key", "Stripe-Signature"} {
			if h.Get(k) != "" {
				t.Errorf("the other host received %s", k)
			}
		}
	}
	if len(seen) > 0 {
		t.Errorf("the other host received %d requests", len(seen))
	}
}

// A same-origin GET redirect (a trailing-slash fix) is still followed; a
// POST is never re-sent, even on the same host.
func TestSameOriginRedirect(t *testing.T) {
	mux := http.NewServeMux()
	mux.Handle("/v1/users", redirectTo(http.StatusMovedPermanently, "/v1/users/"))
	mux.HandleFunc("/v1/users/", func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("X-Api-Key") == "" {
			http.Error(w, "no key", http.StatusUnauthorized)
			return
		}
		_, _ = w.Write([]byte(`[]`))
	})
	srv := httptest.NewServer(mux)
	defer srv.Close()
	c := New(fast(Config{})).Client()
	resp, err := c.Do(credRequest(t, http.MethodGet, srv.URL+"/v1/users"))
	if err != nil {
		t.Fatalf("same-origin GET redirect: %v", err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Errorf("same-origin GET redirect: HTTP %d", resp.StatusCode)
	}
	resp, err = c.Do(credRequest(t, http.MethodPost, srv.URL+"/v1/users"))
	if err == nil {
		resp.Body.Close()
		t.Fatal("a POST was re-sent after a redirect")
	}
	if !strings.Contains(err.Error(), "a POST is never re-sent elsewhere") {
		t.Errorf("error: %v", err)
	}
}

func TestNoRedirects(t *testing.T) {
	srv := httptest.NewServer(redirectTo(http.StatusFound, "/elsewhere"))
	defer srv.Close()
	c := &http.Client{CheckRedirect: NoRedirects}
	resp, err := c.Get(srv.URL)
	if err == nil {
		resp.Body.Close()
		t.Fatal("redirect followed")
	}
	var re *RedirectError
	if !errors.As(err, &re) {
		t.Fatalf("error %v is not a RedirectError", err)
	}
}

func TestShowURL(t *testing.T) {
	for in, want := range map[string]string{
		"https://api.example.com/v1":                   "https://api.example.com/v1",
		"https://user:pw@api.example.com/v1?token=abc": "https://api.example.com/v1?…",
		"http://127.0.0.1:9/hook#frag":                 "http://127.0.0.1:9/hook?…",
		"http://a b/?sig=x":                            "http://a b/?…",
	} {
		if got := ShowRawURL(in); got != want {
			t.Errorf("ShowRawURL(%q) = %q, want %q", in, got, want)
		}
	}
}
