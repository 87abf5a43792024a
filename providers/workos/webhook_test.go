package workos

import (
	"strings"
	"testing"
	"time"

	"github.com/reconctl/reconctl/providers/workos/workosfake"
)

// TestSignWebhook checks the signer with a verifier that follows
// workos-node's SignatureProvider.verifyHeader (see workosfake.VerifyWebhook).
func TestSignWebhook(t *testing.T) {
	payload := []byte(`{"id":"event_01","event":"user.updated","data":{"id":"user_1"},"created_at":"2026-03-01T12:00:00.000Z"}`)
	const secret = "wos_webhook_secret_123"
	now := time.Date(2026, 3, 1, 12, 0, 0, 123e6, time.UTC)
	p := &Provider{}
	if p.WebhookSecretEnv() != "WORKOS_WEBHOOK_SECRET" {
		t.Errorf("secret env %q", p.WebhookSecretEnv())
	}
	h, v := p.SignWebhook(payload, secret, now)
	if h != "WorkOS-Signature" {
		t.Errorf("header %q", h)
	}
	if !strings.HasPrefix(v, "t=1772366400123, v1=") {
		t.Errorf("value %q: want t=<unix ms>, v1=<hex>", v)
	}
	tol := workosfake.DefaultWebhookTolerance
	if err := workosfake.VerifyWebhook(payload, v, secret, tol, now.Add(time.Second)); err != nil {
		t.Errorf("valid signature rejected: %v", err)
	}
	if err := workosfake.VerifyWebhook(append([]byte(" "), payload...), v, secret, tol, now); err == nil {
		t.Error("changed payload accepted")
	}
	if err := workosfake.VerifyWebhook(payload, v, "other", tol, now); err == nil {
		t.Error("wrong secret accepted")
	}
	if err := workosfake.VerifyWebhook(payload, v, secret, tol, now.Add(4*time.Minute)); err == nil || !strings.Contains(err.Error(), "tolerance") {
		t.Errorf("stale signature: %v", err)
	}
	// A Stripe-style value (seconds, no space) is what WorkOS handlers rejected.
	sec := strings.Replace(v, "t=1772366400123, ", "t=1772366400,", 1)
	if err := workosfake.VerifyWebhook(payload, sec, secret, tol, now); err == nil {
		t.Error("a seconds timestamp passed the WorkOS verifier")
	}
}
