package commands

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/reconctl/reconctl/demo"
)

func demoCommand(io IO) *cli.Command {
	return &cli.Command{
		Name:  "demo",
		Usage: "see reconctl work in one command: a fake Stripe, an app database with drift, and the incident playbook",
		Description: `Starts a fake Stripe API on a loopback port (seeded customers, subscriptions
and events), creates an app database whose users and subscriptions tables have
drifted from it in every way webhooks lose data (a missed signup, a missed
deletion, a missed upgrade, a missed cancellation), writes a reconctl.yaml
mapping them, then runs, printing each command line first:

   reconctl diff
   reconctl check-user <a drifted customer>
   reconctl replay --since 24h --dry-run
   reconctl resync
   reconctl diff          (now in sync: exit 0)

Everything goes through the real Stripe provider over HTTP. Without --keep
nothing is left behind.

EXAMPLES:
   reconctl demo
   reconctl demo --keep ./demo   # keep app.db, reconctl.yaml and RUNNING.md

EXIT STATUS:
   0  the final diff found the app in sync
   1  the demo could not run`,
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "keep", Usage: "leave the database, config and running instructions in `DIR`"},
		},
		Action: func(c *cli.Context) error { return runDemo(c.Context, io, c.String("keep")) },
	}
}

func runDemo(ctx context.Context, io IO, keep string) error {
	dir := keep
	if dir == "" {
		tmp, err := os.MkdirTemp("", "reconctl-demo-")
		if err != nil {
			return err
		}
		defer os.RemoveAll(tmp)
		dir = tmp
	} else if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}

	// The fake Stripe, on a loopback port, with history.
	key := "sk_test_demo_" + fmt.Sprint(time.Now().UnixNano()%1e6)
	base, stop, err := demo.StartStripe(key, time.Now())
	if err != nil {
		return err
	}
	defer stop()
	if err := os.Setenv(demo.KeyEnv, key); err != nil {
		return err
	}

	// The app's database, drifted.
	dbPath := filepath.Join(dir, "app.db")
	if _, err := os.Stat(dbPath); err == nil {
		return fmt.Errorf("%s already exists: --keep needs a new or empty directory", dbPath)
	}
	if err := demo.WriteDB(dbPath); err != nil {
		return err
	}
	cfgPath := filepath.Join(dir, "reconctl.yaml")
	if err := os.WriteFile(cfgPath, []byte(demo.Config(base)), 0o644); err != nil {
		return err
	}

	steps := [][]string{
		{"diff"},
		{"check-user", "cus_demo_upgrade"},
		{"replay", "--since", "24h", "--dry-run"},
		{"resync"},
		{"diff"},
	}
	fmt.Fprintf(io.Out, "reconctl demo: a fake Stripe API at %s and an app database at %s\n", base, dbPath)
	fmt.Fprintln(io.Out, "The app missed webhooks: a signup, a deletion, an upgrade, a cancellation and a price change.")
	var last int
	for _, step := range steps {
		fmt.Fprintf(io.Out, "\n$ reconctl %s\n", strings.Join(step, " "))
		args := append([]string{"reconctl", step[0], "--config", cfgPath, "--no-progress"}, step[1:]...)
		app := New(io)
		err := app.RunContext(ctx, Interspersed(app, args))
		var exit *ExitError
		switch {
		case err == nil:
			last = 0
		case errors.As(err, &exit):
			last = exit.Code
		default:
			return fmt.Errorf("demo step %q failed: %w", strings.Join(step, " "), err)
		}
		fmt.Fprintf(io.Out, "(exit %d)\n", last)
	}
	if keep != "" {
		notes := demo.Notes(cfgPath, dbPath)
		if err := os.WriteFile(filepath.Join(dir, "RUNNING.md"), []byte(notes), 0o644); err != nil {
			return err
		}
		fmt.Fprintf(io.Out, "\nKept %s, %s and %s.\n", dbPath, cfgPath, filepath.Join(dir, "RUNNING.md"))
	}
	if last != 0 {
		return fmt.Errorf("the final diff did not find the app in sync (exit %d)", last)
	}
	fmt.Fprintln(io.Out, "\nThe app is in sync again. Every run above is in the journal: reconctl history.")
	return nil
}
