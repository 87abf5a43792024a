package workos

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"time"

	"github.com/reconctl/reconctl/providers"
)

// Webhook signing, as WorkOS signs its deliveries and its SDKs verify them
// (source: workos-node src/common/crypto/signature-provider.ts, commit
// fd885bc): header WorkOS-Signature: "t=<unix MILLISECONDS>, v1=<hex
// HMAC-SHA256 of "<t>.<payload>" keyed with the endpoint's secret>". Unlike
// Stripe's, the timestamp is in milliseconds; the verifier rejects a
// timestamp older than its tolerance (180,000 ms by default).

// WebhookHeader is the header WorkOS signs deliveries with.
const WebhookHeader = "WorkOS-Signature"

// DefaultWebhookSecretEnv holds the endpoint's webhook secret.
const DefaultWebhookSecretEnv = "WORKOS_WEBHOOK_SECRET"

var _ providers.WebhookSigner = (*Provider)(nil)

// WebhookSecretEnv implements providers.WebhookSigner.
func (p *Provider) WebhookSecretEnv() string { return DefaultWebhookSecretEnv }

// SignWebhook implements providers.WebhookSigner.
func (p *Provider) SignWebhook(payload []byte, secret string, now time.Time) (string, string) {
	return WebhookHeader, SignWebhook(payload, secret, now)
}

// SignWebhook returns the WorkOS-Signature value for payload at now.
func SignWebhook(payload []byte, secret string, now time.Time) string {
	t := now.UnixMilli()
	mac := hmac.New(sha256.New, []byte(secret))
	fmt.Fprintf(mac, "%d.", t)
	mac.Write(payload)
	return fmt.Sprintf("t=%d, v1=%s", t, hex.EncodeToString(mac.Sum(nil)))
}
