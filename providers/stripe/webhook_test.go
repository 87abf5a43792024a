package stripe

import (
	"testing"
	"time"

	"github.com/stripe/stripe-go/v84/webhook"
)

// TestSignWebhook verifies the signer with stripe-go's own verifier.
func TestSignWebhook(t *testing.T) {
	payload := []byte(`{"id":"evt_1","object":"event","type":"customer.updated"}`)
	const secret = "whsec_test123"
	p := &Provider{}
	if p.WebhookSecretEnv() != "STRIPE_WEBHOOK_SECRET" {
		t.Errorf("secret env %q", p.WebhookSecretEnv())
	}
	now := time.Now()
	h, v := p.SignWebhook(payload, secret, now)
	if h != "Stripe-Signature" {
		t.Errorf("header %q", h)
	}
	if err := webhook.ValidatePayload(payload, v, secret); err != nil {
		t.Errorf("stripe-go rejects the signature: %v", err)
	}
	if err := webhook.ValidatePayload(payload, v, "whsec_other"); err == nil {
		t.Error("wrong secret accepted")
	}
	if err := webhook.ValidatePayload(payload, SignWebhook(payload, secret, now.Add(-time.Hour)), secret); err == nil {
		t.Error("an hour-old signature accepted")
	}
}
