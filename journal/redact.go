package journal

import (
	"regexp"
	"strings"

	"github.com/reconctl/reconctl/providers/httpx"
)

// Redacted replaces a secret in recorded arguments.
const Redacted = httpx.Redacted

// settingName is a flag or setting name, as in --api-key=… or api_key=….
var settingName = regexp.MustCompile(`^-{0,2}[A-Za-z0-9_.\-]+$`)

// secretName says whether a flag or setting name looks like it holds a secret.
func secretName(name string) bool {
	n := strings.ToLower(strings.TrimLeft(name, "-"))
	if n == "" {
		return false
	}
	for _, w := range []string{"key", "secret", "token", "password", "passwd", "credential"} {
		if strings.Contains(n, w) {
			return true
		}
	}
	return false
}

// RedactArgs returns a copy of args fit for the journal: the values of flags
// whose names look secret (containing key, secret, token, password) are
// replaced by [REDACTED] — both --api-key=VALUE and --api-key VALUE, and
// name=VALUE settings — and so is anything that looks like a provider key or
// signing secret (sk_…, rk_…, whsec_…, pk_live_…), a key reconctl read, a
// URL's password (a DSN's user:password@ becomes user:***@), a
// secret-looking name=value, a URL's whole query string (shown as "?…"), or
// a bearer token.
func RedactArgs(args []string) []string {
	if args == nil {
		return nil
	}
	out := make([]string, len(args))
	for i := 0; i < len(args); i++ {
		a := args[i]
		if a == "--" { // after --, only positional arguments
			for ; i < len(args); i++ {
				out[i] = redactValue(args[i])
			}
			break
		}
		if name, _, ok := strings.Cut(a, "="); ok && settingName.MatchString(name) && secretName(name) {
			out[i] = name + "=" + Redacted
			continue
		}
		out[i] = redactValue(a)
		if strings.HasPrefix(a, "-") && len(a) > 1 && secretName(a) && i+1 < len(args) &&
			!strings.HasPrefix(args[i+1], "-") {
			// --api-key VALUE. A boolean flag followed by a positional
			// argument loses that argument here: the safe direction.
			i++
			out[i] = Redacted
		}
	}
	return out
}

// redactValue is httpx.ScrubError — the keys reconctl read, anything shaped
// like a key or signing secret, bearer tokens, secret-looking name=value
// pairs and every URL's query string — after masking the password of every
// URL-style DSN (postgres://app:***@db/app, as localstate.RedactLocation
// shows it).
func redactValue(s string) string { return httpx.ScrubError(redactDSNPasswords(s)) }

// RedactError is an error message fit for the journal's error column (the
// same scrubbing as what main prints, and DSN passwords masked).
func RedactError(s string) string { return httpx.ScrubError(redactDSNPasswords(s)) }

// dsnPassword is the user:password@ of a URL (scheme://user:password@host):
// the password runs to the last @ before the host, so one holding an
// unescaped @ is masked whole.
var dsnPassword = regexp.MustCompile(`([A-Za-z][A-Za-z0-9+.\-]*://[^:/@\s]*):[^\s/]*@`)

func redactDSNPasswords(s string) string {
	if !strings.Contains(s, "://") {
		return s
	}
	return dsnPassword.ReplaceAllString(s, "${1}:***@")
}
