package commands

import (
	"fmt"
	"os"
	"strings"

	"github.com/urfave/cli/v2"

	// Every provider registers itself by name.
	_ "github.com/reconctl/reconctl/providers/all"
)

// New builds the command tree.
func New(io IO) *cli.App {
	app := newApp(io)
	// A usage error is one line on stderr, never the help text on stdout
	// (stdout is for reports only).
	for _, c := range app.Commands {
		c.OnUsageError = usageError
		checkArgCount(app, c)
	}
	app.OnUsageError = usageError
	app.Action = unknownCommand
	// `reconctl help dif`: the same suggestion as `reconctl dif`, not
	// urfave's "No help topic". Setup adds the help command to wrap.
	app.Setup()
	for _, c := range app.Commands {
		if c.Name != "help" || c.Action == nil {
			continue
		}
		show := c.Action
		c.Action = func(ctx *cli.Context) error {
			if name := ctx.Args().First(); name != "" && ctx.App.Command(name) == nil {
				return unknownCommandError(ctx.App, name)
			}
			return show(ctx)
		}
	}
	return app
}

func usageError(c *cli.Context, err error, _ bool) error {
	name := "reconctl"
	if c.Command != nil && c.Command.Name != "" && c.Command.Name != c.App.Name {
		name += " " + c.Command.Name
	} else if msg := err.Error(); msg == "flag provided but not defined: -version" || msg == "flag provided but not defined: -V" {
		return fmt.Errorf("%v: the version is a command: run reconctl version", err)
	} else if strings.HasPrefix(msg, "flag provided but not defined") {
		// Flags belong to a command: "reconctl -c x diff" → "reconctl diff -c x".
		return fmt.Errorf("%v: flags go after the command, e.g. reconctl diff -c reconctl.yaml; see reconctl --help", err)
	}
	return fmt.Errorf("%v: see %s --help", err, name)
}

// unknownCommand runs when the first argument names no command: it suggests
// the nearest command name instead of urfave's "No help topic".
func unknownCommand(c *cli.Context) error {
	if !c.Args().Present() {
		return cli.ShowAppHelp(c)
	}
	return unknownCommandError(c.App, c.Args().First())
}

// unknownCommandError names the nearest command to name, or lists them all.
func unknownCommandError(app *cli.App, name string) error {
	var names []string
	for _, cmd := range app.Commands {
		if !cmd.Hidden {
			names = append(names, cmd.Name)
		}
	}
	if best := nearest(name, names); best != "" {
		return fmt.Errorf("unknown command %q; did you mean %q? see reconctl --help", name, best)
	}
	return fmt.Errorf("unknown command %q; the commands are %s; see reconctl --help", name, strings.Join(names, ", "))
}

// nearest returns the candidate closest to s when it is close enough to be
// a typo (edit distance at most 2, or a prefix of at least 3 characters).
func nearest(s string, candidates []string) string {
	best, bestD := "", 3
	for _, c := range candidates {
		d := editDistance(strings.ToLower(s), c)
		if len(s) >= 3 && strings.HasPrefix(c, strings.ToLower(s)) {
			d = min(d, 1)
		}
		if d < bestD {
			best, bestD = c, d
		}
	}
	return best
}

func editDistance(a, b string) int {
	ra, rb := []rune(a), []rune(b)
	prev := make([]int, len(rb)+1)
	cur := make([]int, len(rb)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(ra); i++ {
		cur[0] = i
		for j := 1; j <= len(rb); j++ {
			cost := 1
			if ra[i-1] == rb[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(rb)]
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
			healthCommand(io),
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
