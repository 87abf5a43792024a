package commands

import (
	"fmt"
	"os"

	"github.com/urfave/cli/v2"

	// Providers register themselves by name.
	_ "github.com/reconctl/reconctl/providers/clerk"
	_ "github.com/reconctl/reconctl/providers/file"
	_ "github.com/reconctl/reconctl/providers/rest"
	_ "github.com/reconctl/reconctl/providers/stripe"
	_ "github.com/reconctl/reconctl/providers/workos"
)

// New builds the command tree.
func New(io IO) *cli.App {
	app := newApp(io)
	// A usage error is one line on stderr, never the help text on stdout
	// (stdout is for reports only).
	for _, c := range app.Commands {
		c.OnUsageError = usageError
	}
	app.OnUsageError = usageError
	return app
}

func usageError(c *cli.Context, err error, _ bool) error {
	name := "reconctl"
	if c.Command != nil && c.Command.Name != "" {
		name += " " + c.Command.Name
	}
	return fmt.Errorf("%v: see %s --help", err, name)
}

func newApp(io IO) *cli.App {
	return &cli.App{
		Name:  "reconctl",
		Usage: "keep an app's data honest against the SaaS providers it mirrors",
		Description: `reconctl pulls live provider state (Stripe, WorkOS, Clerk, a REST API, or an
export file), compares it with the app's own state (its SQLite database or a
JSON snapshot), prints the drift and fixes it when asked.

EXIT STATUS (every command):
   0  in sync: no drift found, or every drift item was fixed
   1  error: bad input, config, credentials, provider or state failure; nothing half-written
   2  drift remains
   3  the safety brake refused to write (plan larger than --max-changes)`,
		Writer:               io.Out,
		ErrWriter:            io.Err,
		Reader:               io.In,
		HideVersion:          true,
		EnableBashCompletion: true,
		// main maps errors to exit codes in one place; urfave must not exit by itself.
		ExitErrHandler: func(*cli.Context, error) {},
		Commands: []*cli.Command{
			diffCommand(io),
			checkUserCommand(io),
			resyncCommand(io),
			historyCommand(io),
			replayCommand(io),
			demoCommand(io),
			versionCommand(io),
			completionCommand(io),
		},
	}
}

func colorOK(w any) bool {
	f, ok := w.(*os.File)
	return ok && isTerminal(f) && os.Getenv("NO_COLOR") == ""
}

// progress returns progress bars on stderr when they are wanted, else nil.
func (s *Settings) progress() *barProgress {
	if s.Quiet || s.NoProgress || !isTerminal(s.IO.Err) {
		return nil
	}
	return &barProgress{w: s.IO.Err}
}
