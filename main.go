// Command reconctl keeps an application's data honest against the SaaS
// providers it mirrors. main only builds the command tree and maps error
// kinds to exit codes.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"

	"github.com/reconctl/reconctl/commands"
	"github.com/reconctl/reconctl/providers/httpx"
	"github.com/reconctl/reconctl/report"
)

func main() { os.Exit(run(os.Args, os.Stdin, os.Stdout, os.Stderr)) }

func run(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	// Ctrl-C cancels the context: in-flight requests stop, an apply rolls back.
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	app := commands.New(commands.IO{In: stdin, Out: stdout, Err: stderr})
	return exitCode(app.RunContext(ctx, commands.Interspersed(app, args)), stderr)
}

// exitCode is the one place that maps error kinds to exit codes (contract):
// 0 ok, 1 error, 2 drift remains, 3 safety brake.
func exitCode(err error, stderr io.Writer) int {
	if err == nil {
		return 0
	}
	var exit *commands.ExitError
	if errors.As(err, &exit) {
		return exit.Code
	}
	if errors.Is(err, context.Canceled) {
		fmt.Fprintln(stderr, "reconctl: interrupted; nothing half-written")
		return 1
	}
	// The one place errors reach the operator: no control character (a
	// provider value) and no secret gets through.
	fmt.Fprintf(stderr, "reconctl: %s\n", report.EscapeText(httpx.ScrubError(err.Error())))
	return 1
}
