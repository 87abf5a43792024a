// Package commands builds reconctl's command tree (urfave/cli/v2), one file
// per command. Commands resolve settings (flags > environment > reconctl.yaml
// > defaults), open the provider and the store, and hand them to the engine.
package commands

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"time"

	"github.com/urfave/cli/v2"
	"golang.org/x/term"

	"github.com/reconctl/reconctl/config"
	"github.com/reconctl/reconctl/localstate"
	"github.com/reconctl/reconctl/providers"
	"github.com/reconctl/reconctl/providers/httpx"
	"github.com/reconctl/reconctl/reconcile"
	"github.com/reconctl/reconctl/report"
)

// IO is where a command reads and writes; tests inject buffers.
type IO struct {
	In       io.Reader
	Out, Err io.Writer
}

// ExitError carries a non-zero exit code that is not a failure to report
// (drift found: 2; brake: 3). main maps it; the report has already been printed.
type ExitError struct{ Code int }

func (e *ExitError) Error() string { return fmt.Sprintf("exit status %d", e.Code) }

// exitWith returns nil for 0 and an *ExitError otherwise.
func exitWith(code int) error {
	if code == 0 {
		return nil
	}
	return &ExitError{Code: code}
}

func envs(name string) []string { return []string{"RECONCTL_" + name} }

// globalFlags are accepted by every command (contract: global flags).
func globalFlags() []cli.Flag {
	return []cli.Flag{
		&cli.StringFlag{Name: "config", Aliases: []string{"c"}, Usage: "config `FILE` (default ./reconctl.yaml when present)", EnvVars: envs("CONFIG")},
		&cli.StringFlag{Name: "provider", Usage: "provider `NAME`: " + providers.Usages(), EnvVars: envs("PROVIDER")},
		&cli.StringFlag{Name: "api-base", Usage: "provider base `URL` (a proxy or fake; plain http:// only for loopback hosts)", EnvVars: envs("API_BASE")},
		&cli.StringFlag{Name: "state", Usage: "app state `PATH` or DSN: .db/.sqlite/.sqlite3 (SQLite), .json (snapshot), or a database server: postgres:// or postgresql:// (PostgreSQL), mysql:// (MySQL/MariaDB)", EnvVars: envs("STATE")},
		&cli.StringSliceFlag{Name: "resource", Aliases: []string{"r"}, Usage: "resource `NAME` to check (repeatable; default: the config's resources or the provider's defaults)", EnvVars: envs("RESOURCE")},
		&cli.StringFlag{Name: "output", Aliases: []string{"o"}, Value: "table", Usage: "report `FORMAT`: table, json, ndjson, csv, markdown", EnvVars: envs("OUTPUT")},
		&cli.StringFlag{Name: "journal", Usage: "journal `PATH` or DSN: a SQLite file or a postgres:// or mysql:// database (default: inside the SQLite or server state, or <snapshot>.reconctl.db beside a JSON state)", EnvVars: envs("JOURNAL")},
		&cli.Float64Flag{Name: "rps", Usage: "provider requests per second (default: the provider's, e.g. 20 for Stripe)", EnvVars: envs("RPS")},
		&cli.IntFlag{Name: "concurrency", Usage: "provider requests in flight (default: the provider's, e.g. 4 for Stripe)", EnvVars: envs("CONCURRENCY")},
		&cli.BoolFlag{Name: "quiet", Aliases: []string{"q"}, Usage: "no progress and no log lines below warnings", EnvVars: envs("QUIET")},
		&cli.BoolFlag{Name: "verbose", Aliases: []string{"v"}, Usage: "debug logs on stderr (requests: method, path, status, duration, retries; never keys)", EnvVars: envs("VERBOSE")},
		&cli.BoolFlag{Name: "no-progress", Usage: "no progress bars", EnvVars: envs("NO_PROGRESS")},
		&cli.StringFlag{Name: "log-format", Value: "text", Usage: "log `FORMAT` on stderr: text or json", EnvVars: envs("LOG_FORMAT")},
	}
}

// withTenants adds the tenant flags (tenants.go) to a command's flags.
func withTenants(flags ...cli.Flag) []cli.Flag { return append(flags, tenantFlags()...) }

func withGlobal(flags ...cli.Flag) []cli.Flag { return append(flags, globalFlags()...) }

// Settings are the resolved inputs every command starts from.
type Settings struct {
	Config     *config.Config
	Provider   string
	APIBase    string
	APIKeyEnv  string
	State      string
	Journal    string
	Server     localstate.ServerOptions // password_env: and schema: for a server state
	Resources  []string
	Output     string
	RPS        float64
	Conc       int
	Quiet      bool
	Verbose    bool
	NoProgress bool
	Logger     *slog.Logger
	IO         IO
	Args       []string // the command line as given, for the journal (secrets are redacted there)
	// Tenant is what --tenant, --shard, ... ask for (tenants.go).
	Tenant tenantSelection
	// calls, when set, counts the provider's HTTP requests (--incremental's
	// provider_calls).
	calls *atomic.Int64
	// tenantHTTP, during a run over tenants, is the one connection pool
	// every tenant's provider sends through (shareTenantHTTP, tenants.go).
	tenantHTTP *httpx.Client
}

// loadSettings resolves flags over the config file.
func loadSettings(c *cli.Context, io IO) (*Settings, error) {
	s := &Settings{IO: io, Output: c.String("output"), Quiet: c.Bool("quiet"), Verbose: c.Bool("verbose"), NoProgress: c.Bool("no-progress")}
	if err := report.CheckFormat(s.Output); err != nil {
		return nil, err
	}
	s.Args = os.Args
	lf := c.String("log-format")
	if lf != "text" && lf != "json" {
		return nil, fmt.Errorf("unknown --log-format %q: use text or json", lf)
	}
	level := slog.LevelInfo
	switch {
	case s.Verbose:
		level = slog.LevelDebug
	case s.Quiet:
		level = slog.LevelWarn
	}
	hopts := &slog.HandlerOptions{Level: level}
	if lf == "json" {
		s.Logger = slog.New(slog.NewJSONHandler(io.Err, hopts))
	} else {
		s.Logger = slog.New(slog.NewTextHandler(io.Err, hopts))
	}

	cfgPath := c.String("config")
	switch {
	case cfgPath != "":
		cfg, err := config.Load(cfgPath)
		if err != nil {
			return nil, err
		}
		s.Config = cfg
	default:
		if _, err := os.Stat(config.DefaultFile); err == nil {
			cfg, err := config.Load(config.DefaultFile)
			if err != nil {
				return nil, err
			}
			s.Config = cfg
		} else {
			s.Config = &config.Config{}
		}
	}
	cfg := s.Config
	pick := func(flag, fromCfg string) string {
		if c.IsSet(flag) {
			return c.String(flag)
		}
		return fromCfg
	}
	s.Provider = pick("provider", cfg.Provider)
	s.APIBase = pick("api-base", cfg.APIBase)
	s.APIKeyEnv = cfg.APIKeyEnv
	s.State = pick("state", cfg.State)
	s.Journal = pick("journal", cfg.Journal)
	s.Server = localstate.ServerOptions{PasswordEnv: cfg.PasswordEnv, Schema: cfg.Schema}
	for _, loc := range []string{s.State, s.Journal} {
		if localstate.HasPassword(loc) {
			s.Logger.Warn("a password is written in the DSN " + localstate.RedactLocation(loc) + ": it works, but anyone who can read the command line or the config sees it; use PGPASSWORD or ~/.pgpass (Postgres), or password_env: in reconctl.yaml")
		}
	}
	s.RPS, s.Conc = cfg.RPS, cfg.Concurrency
	if c.IsSet("rps") {
		s.RPS = c.Float64("rps")
		if s.RPS <= 0 {
			return nil, fmt.Errorf("--rps must be above 0, got %v", s.RPS)
		}
	}
	if c.IsSet("concurrency") {
		s.Conc = c.Int("concurrency")
		if s.Conc <= 0 {
			return nil, fmt.Errorf("--concurrency must be at least 1, got %d", s.Conc)
		}
	}
	for _, r := range c.StringSlice("resource") {
		for _, part := range strings.Split(r, ",") {
			if part = strings.TrimSpace(part); part != "" && !slices.Contains(s.Resources, part) {
				if s.Config.Resource(part) == nil && config.IsReserved(part) {
					// Its default table would be the journal's own.
					return nil, fmt.Errorf("--resource %s: %s", part, config.ReservedMessage(part))
				}
				s.Resources = append(s.Resources, part)
			}
		}
	}
	if err := s.loadTenantFlags(c); err != nil {
		return nil, err
	}
	return s, nil
}

// openProvider builds the configured provider.
func (s *Settings) openProvider() (providers.Provider, error) {
	// The provider decodes its own section of reconctl.yaml (errors name
	// file:line); only the selected provider's section is read.
	pcfg, err := providers.DecodeSection(s.Provider, s.Config.Section(s.Provider), s.Config.File)
	if err != nil {
		return nil, err
	}
	return providers.Open(providers.Options{
		Spec: s.Provider, APIBase: s.APIBase, APIKeyEnv: s.APIKeyEnv,
		RPS: s.RPS, Concurrency: s.Conc, Logger: s.Logger, Config: pcfg, Calls: s.calls,
	})
}

// openStore opens the state; readOnly when the command will not write.
func (s *Settings) openStore(ctx context.Context, readOnly bool) (localstate.Store, error) {
	if s.State == "" {
		return nil, errors.New("no state given: set --state app.db (or .json) or state: in reconctl.yaml")
	}
	return localstate.Open(ctx, s.State, localstate.OpenOptions{ReadOnly: readOnly, Server: s.Server})
}

// openReplayStore is openStore for replay, whose writes are chunks of
// events: small transactions, which keep SQLite's default page cache as
// every write transaction does.
func (s *Settings) openReplayStore(ctx context.Context, readOnly bool) (localstate.Store, error) {
	return s.openStore(ctx, readOnly)
}

// tables resolves which resources to check and how they are stored.
func (s *Settings) tables(p providers.Provider) ([]*localstate.Table, error) {
	names := s.Resources
	if len(names) == 0 {
		for _, r := range s.Config.Resources {
			names = append(names, r.Name)
		}
	}
	if len(names) == 0 {
		names = p.DefaultResources()
	}
	if len(names) == 0 {
		return nil, errors.New("no resources to check: name them with --resource or resources: in reconctl.yaml")
	}
	var out []*localstate.Table
	for _, n := range names {
		r := s.Config.Resource(n)
		if r == nil {
			r = &config.Resource{Name: n}
		}
		t := r.LocalTable()
		if config.IsReserved(t.Name) {
			return nil, fmt.Errorf("resource %s: %s", n, config.ReservedMessage(t.Name))
		}
		out = append(out, t)
	}
	return out, nil
}

// displayState is the state path as the operator gave it, relative when
// possible; a server DSN with its password masked (reports are printed and
// journaled).
func (s *Settings) displayState() string {
	if !localstate.IsFile(s.State) {
		return localstate.RedactLocation(s.State)
	}
	if wd, err := os.Getwd(); err == nil {
		if rel, err := filepath.Rel(wd, s.State); err == nil && !strings.HasPrefix(rel, "..") {
			return rel
		}
	}
	return s.State
}

// stdoutIsTerminal reports whether w is a terminal (colour only then).
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	return ok && term.IsTerminal(int(f.Fd()))
}

func now() time.Time { return time.Now().UTC().Truncate(time.Second) }

// configResource is a resource with no entry in reconctl.yaml: all defaults.
type configResource struct{ name string }

func (r *configResource) table() *localstate.Table {
	return (&config.Resource{Name: r.name}).LocalTable()
}

// prepare compiles a resource's mapping against the store; a table or column
// the state lacks is reported at the config line that names it.
func (s *Settings) prepare(ctx context.Context, eng *reconcile.Engine, t *localstate.Table) (*reconcile.Resource, error) {
	r, err := eng.Prepare(ctx, t)
	if err == nil {
		return r, nil
	}
	var se *localstate.SchemaError
	res := s.Config.Resource(t.Resource)
	if !errors.As(err, &se) || res == nil || s.Config.File == "" {
		return nil, err
	}
	key := ""
	switch {
	case se.Table != "":
		key = "table"
	case se.Column == t.Key:
		key = "key"
	case se.Column == t.UpdatedAt:
		key = "updated_at"
	case se.Column == t.SoftDelete:
		key = "soft_delete"
	default:
		key = "fields." + se.Column
	}
	line := res.LineOf(key)
	if _, ok := res.Lines[key]; !ok {
		key = ""
	}
	where := "resources." + t.Resource
	if key != "" {
		where += "." + key
	}
	return nil, fmt.Errorf("%s:%d: %s: %w", s.Config.File, line, where, err)
}
