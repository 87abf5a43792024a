package httpx_test

import (
	"strings"
	"testing"

	"github.com/reconctl/reconctl/providers"
	_ "github.com/reconctl/reconctl/providers/all" // the providers register their key shapes
	. "github.com/reconctl/reconctl/providers/httpx"
)

func TestScrubError(t *testing.T) {
	RegisterSecret("custom-proxy-key-42")
	for in, want := range map[string]string{
		// a WAF's text body echoing the request
		"rest: the API answered HTTP 400: blocked GET /users X-Api-Key: custom-proxy-key-42 Host: x": "rest: the API answered HTTP 400: blocked GET /users X-Api-Key: [REDACTED] Host: x",
		"echo: custom-proxy-key-42 again custom-proxy-ke…":                                           "echo: [REDACTED] again [REDACTED]…",
		"Authorization: Bearer sk_live_51Habcdef":                                                    "Authorization: Bearer [REDACTED]",
		"token Bearer abc.def.ghi rest":                                                              "token Bearer [REDACTED] rest",
		`unknown provider "sk_test_4eC39HqLyjWDarjtT1zdp7dc"`:                                        `unknown provider "[REDACTED]"`,
		"restricted rk_live_abc, webhook whsec_abc/def=, clerk pk_test_Y2xlcms":                      "restricted [REDACTED], webhook [REDACTED], clerk [REDACTED]",
		"workos client_01HXYZ is not secret":                                                         "workos client_01HXYZ is not secret",
		`--deliver-to https://app.example.com/hook?sig=abc&x=1: refused`:                             `--deliver-to https://app.example.com/hook?…: refused`,
		`Get "http://127.0.0.1:9/v1/customers?limit=100": EOF`:                                       `Get "http://127.0.0.1:9/v1/customers?…": EOF`,
		`{"api_key":"abc123","ok":1}`:                                                                `{"api_key":"[REDACTED]","ok":1}`,
		"plain message, no secrets: 5 drift items":                                                   "plain message, no secrets: 5 drift items",
		// help text is not a key, and a name at a line's end has no value on the next line
		"set the webhook signing secret (whsec_...) first": "set the webhook signing secret (whsec_...) first",
		"a placeholder such as sk_test_... stays":          "a placeholder such as sk_test_... stays",
		"the secret:\nContent-Type: application/json":      "the secret:\nContent-Type: application/json",
		"webhook whsec_0123456789abcdef and sk_live_x":     "webhook [REDACTED] and sk_live_x",
	} {
		if got := ScrubError(in); got != want {
			t.Errorf("ScrubError(%q)\n got %q\nwant %q", in, got, want)
		}
	}
}

func TestCheckEnvNameExample(t *testing.T) {
	err := CheckEnvName("--signing-secret-env", "whsec_abc")
	if err == nil || !strings.Contains(err.Error(), "e.g. STRIPE_WEBHOOK_SECRET") || strings.Contains(err.Error(), "STRIPE_API_KEY") {
		t.Errorf("--signing-secret-env: %v, want a webhook secret variable as the example", err)
	}
}

func TestLookupKeyRefusesAKeyAsTheVariableName(t *testing.T) {
	for _, env := range []string{"sk_test_4eC39HqLyjWDarjtT1zdp7dc", "whsec_abc", "rk_live_x", "not a name", "pk_live_abc", "sk_AbCdEf012345"} {
		_, err := LookupKey(env)
		if err == nil {
			t.Errorf("LookupKey(%q) accepted it", env)
			continue
		}
		if strings.Contains(err.Error(), env) || strings.Contains(err.Error(), "is not set") {
			t.Errorf("LookupKey(%q): %v", env, err)
		}
		if !strings.Contains(err.Error(), "api_key_env must be the name of an environment variable") {
			t.Errorf("LookupKey(%q): %v", env, err)
		}
	}
	t.Setenv("RECONCTL_TEST_ODD_KEY", "oddshape-0123456789")
	if _, err := LookupKey("RECONCTL_TEST_ODD_KEY"); err != nil {
		t.Fatal(err)
	}
	if got := ScrubError("echo oddshape-0123456789"); got != "echo [REDACTED]" {
		t.Errorf("a key LookupKey read is not scrubbed: %q", got)
	}
	if _, err := LookupKey("RECONCTL_TEST_UNSET_KEY"); err == nil || !strings.Contains(err.Error(), "RECONCTL_TEST_UNSET_KEY is not set") {
		t.Errorf("unset variable: %v", err)
	}
}

// A provider with a key shape of its own registers it, and only that makes
// the scrubber and CheckEnvName know it.
func TestRegisteredKeyPatterns(t *testing.T) {
	const key = "acme_live_0123456789abcdef"
	if got := ScrubError("key " + key); got != "key "+key {
		t.Fatalf("scrubbed before any provider registered the shape: %q", got)
	}
	if err := CheckEnvName("api_key_env", "acme_live_x"); err != nil {
		t.Fatalf("CheckEnvName before the registration: %v", err)
	}
	providers.Register(providers.Registration{Name: "acme-test", Rank: 99,
		New:         func(providers.Options) (providers.Provider, error) { return nil, nil },
		KeyPatterns: []providers.KeyPattern{{Prefix: `acme_(?:live|test)_`, MinBody: 8}}})
	t.Cleanup(func() { providers.Unregister("acme-test") })
	if got := ScrubError("key " + key + " and acme_live_short"); got != "key [REDACTED] and acme_live_short" {
		t.Errorf("ScrubError with the registered shape: %q", got)
	}
	if got := ScrubSecrets(`{"k":"` + key + `"}`); got != `{"k":"[REDACTED]"}` {
		t.Errorf("ScrubSecrets with the registered shape: %q", got)
	}
	if err := CheckEnvName("api_key_env", "acme_live_x"); err == nil {
		t.Error("CheckEnvName accepted a value shaped like the registered key")
	}
	// The providers' own shapes stay.
	if got := ScrubError("stripe sk_test_4eC39HqLyjWDarjtT1zdp7dc"); got != "stripe [REDACTED]" {
		t.Errorf("stripe key: %q", got)
	}
	providers.Unregister("acme-test")
	if got := ScrubError("key " + key); got != "key "+key {
		t.Errorf("still scrubbed after Unregister: %q", got)
	}
}

// A config error about a key whose name looks secret keeps its words: only
// values are scrubbed ("b.yaml:3: api_key: unknown key" is reconctl's own).
func TestScrubKeepsConfigErrorWords(t *testing.T) {
	for _, s := range []string{"b.yaml:3: api_key: unknown key (known: provider, state)", "b.yaml:3: token_x: unknown key (known: state)", "rest.auth.token: missing (set it)"} {
		if got := ScrubError(s); got != s {
			t.Errorf("ScrubError(%q) = %q", s, got)
		}
	}
	if got := ScrubError("X-Api-Key: abcd1234efgh"); strings.Contains(got, "abcd1234efgh") {
		t.Errorf("header value kept: %q", got)
	}
}
