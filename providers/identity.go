package providers

import (
	"crypto/sha256"
	"encoding/hex"
	"strings"
)

// Identifier is implemented by providers that can say which account their
// calls read (Identity): what a provider-side snapshot (diff --incremental)
// is kept under besides the provider's name, so that another API base, key
// or connected account never reuses it.
type Identifier interface {
	Identity() string
}

// AccountIdentity is a short, stable digest of what selects an account:
// the API base, the key and any further part (a connected account, a
// directory). It is one-way: the key cannot be read back from it.
func AccountIdentity(parts ...string) string {
	h := sha256.Sum256([]byte(strings.Join(parts, "\x00")))
	return hex.EncodeToString(h[:6])
}

// IdentityOf is p's Identity, or "" when p cannot say.
func IdentityOf(p Provider) string {
	if id, ok := p.(Identifier); ok {
		return id.Identity()
	}
	return ""
}
