package httpx

import (
	"fmt"
	"regexp"
	"sort"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/reconctl/reconctl/providers"
)

// Redacted replaces a secret in anything reconctl prints or stores.
const Redacted = "[REDACTED]"

// The shapes of provider secrets come from the providers' registrations
// (providers.Registration.KeyPatterns: Stripe's sk_/rk_/whsec_, Clerk's
// pk_live_/pk_test_, ...). A key has a real body: at least MinBody key
// characters after its prefix, dots not counted, so help text such as
// "(whsec_...)" stays as written.
//
// keyShape matches a whole key; keyPrefix is any value that starts like a
// key: a setting that must name an environment variable is refused when it
// holds one, however short. Both are built from the registrations and
// rebuilt when they change.
type keyRegexps struct {
	gen       uint64
	keyShape  *regexp.Regexp // nil: no provider registered a key shape
	keyPrefix *regexp.Regexp
}

var keyREs atomic.Pointer[keyRegexps]

func keyRegexpsNow() *keyRegexps {
	if k := keyREs.Load(); k != nil && k.gen == providers.Generation() {
		return k // the common case: no registration since the last build
	}
	gen, patterns := providers.KeyPatterns()
	k := &keyRegexps{gen: gen}
	if len(patterns) > 0 {
		shapes := make([]string, len(patterns))
		prefixes := make([]string, len(patterns))
		for i, kp := range patterns {
			shapes[i] = fmt.Sprintf(`\b(?:%s)(?:[A-Za-z0-9_\-+/=]\.*){%d,}`, kp.Prefix, kp.MinBody)
			prefixes[i] = fmt.Sprintf(`\b(?:%s)[A-Za-z0-9_\-+/=.]*`, kp.Prefix)
		}
		k.keyShape = regexp.MustCompile(strings.Join(shapes, "|"))
		k.keyPrefix = regexp.MustCompile(strings.Join(prefixes, "|"))
	}
	keyREs.Store(k)
	return k
}

// authValue is an Authorization value: Bearer or Basic and its credentials.
var authValue = regexp.MustCompile(`(?i)\b(bearer|basic)\s+[^\s"',;]+`)

// secretParam is name=value, or name: value (a header echoed by a proxy, a
// JSON field) with a value of at least 6 characters (so prose such as
// "secrets: 5" stays), when the name looks secret.
var (
	// The value is on the name's own line ([ \t]*, not \s*): "secret:" at a
	// line's end must not take the next line's "Content-Type:" for its value.
	secretParam = regexp.MustCompile(`(?i)([A-Za-z0-9_.\-]*(?:key|secret|token|password|passwd|credential|signature)[A-Za-z0-9_.\-]*"?[ \t]*=[ \t]*"?)([^\s"'&;,]+)`)
	secretField = regexp.MustCompile(`(?i)([A-Za-z0-9_.\-]*(?:key|secret|token|password|passwd|credential|signature)[A-Za-z0-9_.\-]*"?[ \t]*:[ \t]*"?)([^\s"'&;,]{6,})`)
)

// urlQuery is the query string or fragment of a URL in running text (not
// the punctuation that ends a sentence or a quote).
var urlQuery = regexp.MustCompile(`(?i)\b([a-z][a-z0-9+.\-]*://[^\s"'<>?#]*)[?#](?:[^\s"'<>]*[^\s"'<>.,:;)\]])?`)

var known struct {
	sync.RWMutex
	values []string // longest first
}

// RegisterSecret makes ScrubSecrets and ScrubError replace v wherever it appears, whatever its
// shape: LookupKey registers every API key it reads, replay its signing
// secret. Values shorter than 6 characters are not registered (they would
// blank out ordinary words); they are not keys anyone uses.
func RegisterSecret(v string) {
	v = strings.TrimSpace(v)
	if len(v) < 6 {
		return
	}
	known.Lock()
	defer known.Unlock()
	for _, k := range known.values {
		if k == v {
			return
		}
	}
	known.values = append(known.values, v)
	sort.Slice(known.values, func(i, j int) bool { return len(known.values[i]) > len(known.values[j]) })
}

// ScrubSecrets replaces the registered secrets and anything shaped like a
// provider key or signing secret. It never changes other text, so it is
// safe on a JSON document too.
func ScrubSecrets(s string) string {
	if s == "" {
		return s
	}
	known.RLock()
	for _, k := range known.values {
		s = strings.ReplaceAll(s, k, Redacted)
		// An excerpt cut short ("…") may end inside the key: hide that
		// part too.
		for n := len(k) - 1; n >= 6 && strings.Contains(s, "…"); n-- {
			s = strings.ReplaceAll(s, k[:n]+"…", Redacted+"…")
		}
	}
	known.RUnlock()
	if re := keyRegexpsNow().keyShape; re != nil {
		s = re.ReplaceAllString(s, Redacted)
	}
	return s
}

// ScrubError makes an error message fit to print or store: ScrubSecrets, then
// Bearer/Basic credentials, the values of secret-looking name=value and
// name: value pairs (an echoed header, a query parameter), and every URL's
// query string or fragment ("?…"), which may carry a token.
func ScrubError(s string) string {
	if s == "" {
		return s
	}
	s = ScrubSecrets(s)
	s = authValue.ReplaceAllString(s, "$1 "+Redacted)
	s = secretParam.ReplaceAllString(s, "${1}"+Redacted)
	s = secretField.ReplaceAllStringFunc(s, func(m string) string {
		sub := secretField.FindStringSubmatch(m)
		if ownWords[sub[2]] {
			return m // reconctl's own message ("api_key: unknown key"), not a value
		}
		return sub[1] + Redacted
	})
	return urlQuery.ReplaceAllString(s, "${1}?…")
}

// ownWords are the words reconctl's own errors put after "name:" (a config
// key that happens to contain "key" or "token"): never a secret's value.
var ownWords = map[string]bool{"unknown": true, "missing": true, "required": true, "invalid": true, "expected": true}

// envName is a portable environment variable name.
var envName = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)

// CheckEnvName refuses a setting that should name an environment variable
// but holds something else — most often the key itself. The message never
// echoes the value.
func CheckEnvName(setting, env string) error {
	if re := keyRegexpsNow().keyPrefix; !envName.MatchString(env) || re != nil && re.MatchString(env) {
		example := "STRIPE_API_KEY"
		if strings.Contains(setting, "signing-secret") {
			example = "STRIPE_WEBHOOK_SECRET" // a webhook signing secret, not an API key
		}
		return fmt.Errorf("%s must be the name of an environment variable that holds the key (e.g. %s), not the key itself; the value given is not shown; export the key in a variable and put that variable's name there", setting, example)
	}
	return nil
}
