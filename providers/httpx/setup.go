package httpx

import (
	"cmp"
	"fmt"
	"log/slog"
	"net/url"
	"os"
	"strings"

	"github.com/reconctl/reconctl/providers"
)

// Setup is what an HTTP provider's New starts from, read from Options: the
// API key, the checked API base, the HTTP layer's configuration (tweaks not
// yet applied) and a logger.
type Setup struct {
	Key    string
	KeyEnv string // the variable Key came from (for providers.AuthError)
	Base   *url.URL
	Config Config
	Log    *slog.Logger // Options.Logger, or one that discards
}

// Defaults are a provider's values for the Options fields NewSetup reads.
type Defaults struct {
	Name    string // prefixes API base errors: "stripe: api base …"
	APIBase string
	KeyEnv  string
	RPS     float64 // 0 leaves Config.RPS zero when Options.RPS is
}

// NewSetup reads the API key (from Options.APIKeyEnv, else d.KeyEnv), then
// checks the API base (Options.APIBase, else d.APIBase) with CheckAPIBase.
func NewSetup(opts providers.Options, d Defaults) (*Setup, error) {
	keyEnv := cmp.Or(opts.APIKeyEnv, d.KeyEnv)
	key, err := LookupKey(keyEnv)
	if err != nil {
		return nil, err
	}
	u, err := CheckAPIBase(cmp.Or(opts.APIBase, d.APIBase))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", d.Name, err)
	}
	return &Setup{Key: key, KeyEnv: keyEnv, Base: u, Config: ConfigFrom(opts, d.RPS), Log: OrDiscard(opts.Logger)}, nil
}

// LookupKey returns the trimmed value of the environment variable env, or
// the error an operator sees when it is empty.
// The key is registered with RegisterSecret, so no error message or journal
// row shows it, whatever its shape.
func LookupKey(env string) (string, error) {
	if err := CheckEnvName("api_key_env", env); err != nil {
		return "", err
	}
	key := strings.TrimSpace(os.Getenv(env))
	if key == "" {
		return "", fmt.Errorf("%s is not set; export it or set api_key_env in reconctl.yaml", env)
	}
	RegisterSecret(key)
	return key, nil
}

// ConfigFrom is the Config that Options ask for: their RPS (defaultRPS when
// zero; negative turns pacing off), Retries, Timeout and Logger, sending
// through Options.HTTPClient's Transport when one is set.
func ConfigFrom(opts providers.Options, defaultRPS float64) Config {
	cfg := Config{RPS: cmp.Or(opts.RPS, defaultRPS), Retries: opts.Retries, Timeout: opts.Timeout, Logger: opts.Logger}
	if opts.Budget != nil {
		cfg.Budget = opts.Budget
	}
	cfg.Calls = opts.Calls
	if opts.HTTPClient != nil && opts.HTTPClient.Transport != nil {
		cfg.Base = opts.HTTPClient.Transport
	}
	return cfg
}

// OrDiscard returns log, or a logger that discards when it is nil.
func OrDiscard(log *slog.Logger) *slog.Logger {
	if log == nil {
		return slog.New(slog.DiscardHandler)
	}
	return log
}
