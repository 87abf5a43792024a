package workosfake

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"strconv"
	"strings"
	"time"
)

// DefaultWebhookTolerance is workos-node's default tolerance (180000 ms).
const DefaultWebhookTolerance = 180000 * time.Millisecond

// VerifyWebhook checks a WorkOS-Signature header value the way WorkOS's
// Node SDK does, step for step, so tests check reconctl's signer against
// WorkOS's reading rather than our own (source: workos-node
// src/common/crypto/signature-provider.ts, SignatureProvider.verifyHeader,
// commit fd885bc):
//
//  1. split the header on "," into t and v1 parts (both must exist);
//  2. take the text after "=" in each: the timestamp and the hex hash (an
//     empty hash: "No signature hash found with expected scheme v1");
//  3. reject when parseInt(timestamp) < now_ms - tolerance ("timestamp
//     outside the tolerance zone"): the timestamp is MILLISECONDS;
//  4. compute hex(HMAC-SHA256(secret, `${timestamp}.${payload}`)) and
//     compare it with the hash in constant time.
//
// It is not the client's code: it lives beside the fake, for tests only.
func VerifyWebhook(payload []byte, header, secret string, tolerance time.Duration, now time.Time) error {
	parts := strings.Split(header, ",")
	if len(parts) < 2 {
		return errors.New("signature or timestamp missing")
	}
	after := func(s string) string {
		// JS: const { 1: x } = s.split('=') — the second piece, "" if none.
		p := strings.Split(s, "=")
		if len(p) < 2 {
			return ""
		}
		return p[1]
	}
	timestamp, hash := after(parts[0]), after(parts[1])
	if hash == "" {
		return errors.New("no signature hash found with expected scheme v1")
	}
	// parseInt(timestamp, 10): leading digits (after optional spaces), NaN otherwise.
	ts := strings.TrimLeft(timestamp, " \t")
	end := 0
	for end < len(ts) && (ts[end] >= '0' && ts[end] <= '9' || end == 0 && ts[end] == '-') {
		end++
	}
	n, err := strconv.ParseInt(ts[:end], 10, 64)
	if err != nil {
		// NaN < x is false in JS: no tolerance error, and the HMAC decides.
		n = now.UnixMilli()
	}
	if n < now.UnixMilli()-tolerance.Milliseconds() {
		return errors.New("timestamp outside the tolerance zone")
	}
	mac := hmac.New(sha256.New, []byte(secret))
	mac.Write([]byte(timestamp + "." + string(payload)))
	want := hex.EncodeToString(mac.Sum(nil))
	if !hmac.Equal([]byte(want), []byte(hash)) {
		return errors.New("signature hash does not match the expected signature hash for payload")
	}
	return nil
}
