package stripe

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"time"

	"github.com/reconctl/reconctl/providers"
)

// Webhook signing, as Stripe documents it ("Verify webhook signatures
// manually", docs.stripe.com/webhooks) and stripe-go's webhook package
// verifies it: header Stripe-Signature: t=<unix seconds>,v1=<hex
// HMAC-SHA256 of "<t>.<payload>" keyed with the endpoint's whsec_ secret>.
// The test verifies it with stripe-go's webhook.ConstructEvent.

// WebhookHeader is the header Stripe signs deliveries with.
const WebhookHeader = "Stripe-Signature"

// DefaultWebhookSecretEnv holds the endpoint's signing secret (whsec_...).
const DefaultWebhookSecretEnv = "STRIPE_WEBHOOK_SECRET"

var _ providers.WebhookSigner = (*Provider)(nil)

// WebhookSecretEnv implements providers.WebhookSigner.
func (p *Provider) WebhookSecretEnv() string { return DefaultWebhookSecretEnv }

// SignWebhook implements providers.WebhookSigner.
func (p *Provider) SignWebhook(payload []byte, secret string, now time.Time) (string, string) {
	return WebhookHeader, SignWebhook(payload, secret, now)
}

// SignWebhook returns the Stripe-Signature value for payload at now.
func SignWebhook(payload []byte, secret string, now time.Time) string {
	mac := hmac.New(sha256.New, []byte(secret))
	fmt.Fprintf(mac, "%d.", now.Unix())
	mac.Write(payload)
	return fmt.Sprintf("t=%d,v1=%s", now.Unix(), hex.EncodeToString(mac.Sum(nil)))
}
