package replay

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/reconctl/reconctl/providers"
)

func testEvent() providers.Event {
	return providers.Event{ID: "evt_1", Type: "customer.updated", Raw: []byte(`{"id":"evt_1"}`)}
}

// testSigner signs like a provider would, with a fixed header.
type testSigner struct{}

func (testSigner) WebhookSecretEnv() string { return "TEST_WEBHOOK_SECRET" }
func (testSigner) SignWebhook(payload []byte, secret string, now time.Time) (string, string) {
	return "Stripe-Signature", fmt.Sprintf("t=%d,v1=test", now.Unix())
}

func testJob(target string) jobSpec {
	return jobSpec{target: target, secret: "whsec_testsecret", signer: testSigner{}, timeout: 5 * time.Second}
}

// A 307 from a loopback --deliver-to endpoint to a plain-http remote host,
// or to another (loopback) host, re-POSTs nothing: the signed event reaches
// no other host, and the delivery fails after one attempt.
func TestDeliverRefusesRedirects(t *testing.T) {
	var mu sync.Mutex
	var stolen []http.Header
	other := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		stolen = append(stolen, r.Header.Clone())
		mu.Unlock()
	}))
	defer other.Close()
	for _, to := range []string{"http://remote.example.com/hook", strings.Replace(other.URL, "127.0.0.1", "localhost", 1) + "/hook", "/same-host"} {
		var hits atomic.Int32
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			hits.Add(1)
			if r.URL.Path == "/same-host" {
				w.WriteHeader(http.StatusOK) // would count as delivered if followed
				return
			}
			w.Header().Set("Location", to)
			w.WriteHeader(http.StatusTemporaryRedirect)
		}))
		job := testJob(srv.URL + "/webhooks?token=hooksecret")
		err := deliverOne(context.Background(), deliveryClient(job), job, "r_1", testEvent())
		srv.Close()
		if err == nil {
			t.Errorf("redirect to %s: delivery reported as success", to)
			continue
		}
		msg := err.Error()
		if !strings.Contains(msg, "answered HTTP 307 redirecting to") || !strings.Contains(msg, "sent once") {
			t.Errorf("redirect to %s: error %q does not report the refused redirect", to, msg)
		}
		if strings.Contains(msg, "hooksecret") {
			t.Errorf("error echoes the target's query string: %s", msg)
		}
		if n := hits.Load(); n != 1 {
			t.Errorf("redirect to %s: endpoint hit %d times, want 1 (a redirect is not retried)", to, n)
		}
	}
	mu.Lock()
	defer mu.Unlock()
	if len(stolen) > 0 {
		t.Errorf("the other host received %d deliveries (Stripe-Signature %q)", len(stolen), stolen[0].Get("Stripe-Signature"))
	}
}

// A 4xx is sent once and says so; a 5xx is retried and the count is real.
func TestDeliverAttemptCount(t *testing.T) {
	var hits atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		http.Error(w, "bad signature", http.StatusBadRequest)
	}))
	defer srv.Close()
	job := testJob(srv.URL)
	err := deliverOne(context.Background(), deliveryClient(job), job, "r_1", testEvent())
	if err == nil {
		t.Fatal("400 reported as delivered")
	}
	if hits.Load() != 1 {
		t.Errorf("400 sent %d times, want once", hits.Load())
	}
	want := "endpoint answered 400 Bad Request (sent once; a 4xx other than 408 and 429 is not retried)"
	if err.Error() != want {
		t.Errorf("error %q, want %q", err, want)
	}

	hits.Store(0)
	srv503 := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if hits.Add(1) < 3 {
			http.Error(w, "busy", http.StatusServiceUnavailable)
			return
		}
		http.Error(w, "gone", http.StatusGone)
	}))
	defer srv503.Close()
	job = testJob(srv503.URL)
	err = deliverOne(context.Background(), deliveryClient(job), job, "r_1", testEvent())
	if err == nil || hits.Load() != 3 || !strings.Contains(err.Error(), "410 Gone (sent 3 times;") {
		t.Errorf("503, 503, 410: %d requests, error %v", hits.Load(), err)
	}
}
