package stripe

import (
	"strings"
	"testing"

	"github.com/reconctl/reconctl/providers"
)

// TestIdentity: the snapshot key's account part differs with the API base,
// the key and the connected account, is stable otherwise, and never holds
// the key.
func TestIdentity(t *testing.T) {
	t.Setenv(testKeyEnv, testKey)
	a := newProvider(t, "http://127.0.0.1:1", providers.Options{})
	same := newProvider(t, "http://127.0.0.1:1", providers.Options{})
	if a.Identity() != same.Identity() || a.Identity() == "" {
		t.Fatalf("same account: %q vs %q", a.Identity(), same.Identity())
	}
	others := map[string]*Provider{
		"base":    newProvider(t, "http://127.0.0.1:2", providers.Options{}),
		"account": newProvider(t, "http://127.0.0.1:1", providers.Options{Account: "acct_1"}),
	}
	t.Setenv(testKeyEnv, "sk_test_another0123456789abcdef")
	others["key"] = newProvider(t, "http://127.0.0.1:1", providers.Options{})
	for what, p := range others {
		if p.Identity() == a.Identity() {
			t.Errorf("another %s, the same identity %q", what, p.Identity())
		}
	}
	if strings.Contains(a.Identity(), testKey) || strings.Contains(a.Identity(), testKey[8:]) {
		t.Error("the identity holds the key")
	}
}
