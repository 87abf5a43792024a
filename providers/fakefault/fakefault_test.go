package fakefault

import (
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"
)

func TestInjector(t *testing.T) {
	in := New(Shapes{Header: func(h http.Header, n int) { h.Set("X-N", string(rune('0'+n))) }})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		in.Serve(w, r, func(*http.Request) Response {
			return Response{Status: 200, Body: []byte(`{"ok":true,"padding":"xxxxxxxx"}`)}
		})
	}))
	defer srv.Close()
	get := func() (int, string, error) {
		resp, err := http.Get(srv.URL + "/x?a=1")
		if err != nil {
			return 0, "", err
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b), err
	}
	in.Set(Faults{RateLimitEvery: 2, RetryAfter: 1, ServerErrorEvery: 3, ServerErrorStatus: 502, TruncateEvery: 5})
	var codes []int
	var truncated int
	for range 6 {
		st, _, err := get()
		if errors.Is(err, io.ErrUnexpectedEOF) {
			truncated++
			continue
		}
		if err != nil {
			t.Fatal(err)
		}
		codes = append(codes, st)
	}
	// 1 ok, 2 429, 3 502, 4 429, 5 truncated, 6 429.
	want := []int{200, 429, 502, 429, 429}
	if len(codes) != len(want) || truncated != 1 {
		t.Fatalf("codes %v, truncated %d", codes, truncated)
	}
	for i := range want {
		if codes[i] != want[i] {
			t.Fatalf("codes %v, want %v", codes, want)
		}
	}
	s := in.Stats()
	if s.Requests != 6 || s.RateLimited != 3 || s.ServerErrors != 1 || s.Truncated != 1 || s.Faulted() != 5 {
		t.Errorf("stats %+v", s)
	}
	reqs := in.Requests()
	if len(reqs) != 6 || reqs[0].Path != "/x" || reqs[0].Query != "a=1" || reqs[1].Status != 429 {
		t.Errorf("log %+v", reqs)
	}
	in.Reset()
	in.Set(Faults{Latency: 50 * time.Millisecond})
	start := time.Now()
	if st, _, err := get(); err != nil || st != 200 || time.Since(start) < 50*time.Millisecond {
		t.Errorf("latency: %d %v %v", st, err, time.Since(start))
	}
	if in.Stats().Requests != 1 {
		t.Errorf("reset: %+v", in.Stats())
	}
}

// TestInjectorTokenBucket: with a server-side limit, a burst above the
// bucket is answered 429 and counted; Set refills the bucket. The rate is
// so low that no token comes back during the test (no timing involved).
func TestInjectorTokenBucket(t *testing.T) {
	in := New(Shapes{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		in.Serve(w, r, func(*http.Request) Response { return Response{Status: 200, Body: []byte(`{}`)} })
	}))
	defer srv.Close()
	burst := func() []int {
		var codes []int
		for range 5 {
			resp, err := http.Get(srv.URL)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			codes = append(codes, resp.StatusCode)
		}
		return codes
	}
	in.Set(Faults{LimitRPS: 0.0001, LimitBurst: 3})
	if got := burst(); got[0] != 200 || got[1] != 200 || got[2] != 200 || got[3] != 429 || got[4] != 429 {
		t.Fatalf("codes %v, want 3×200 then 429s", got)
	}
	if s := in.Stats(); s.RateLimited != 2 || s.Requests != 5 {
		t.Errorf("stats %+v", s)
	}
	in.Set(Faults{LimitRPS: 0.0001})
	if got := burst(); got[0] != 200 || got[1] != 429 {
		t.Fatalf("burst 1: codes %v", got)
	}
	in.Set(Faults{})
	if got := burst(); got[4] != 200 {
		t.Fatalf("no limit: codes %v", got)
	}
}
