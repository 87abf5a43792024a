package commands

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/reconctl/reconctl/localstate"
	"github.com/reconctl/reconctl/providers/stripe/stripefake"
)

const demoKeyEnv = "RECONCTL_DEMO_STRIPE_KEY"

const demoSchema = `
CREATE TABLE users (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  stripe_customer_id TEXT UNIQUE,
  email TEXT NOT NULL,
  full_name TEXT,
  plan TEXT,
  vip INTEGER NOT NULL DEFAULT 0,
  signup_source TEXT NOT NULL DEFAULT 'web',
  deleted_at TEXT
);
CREATE TABLE subscriptions (
  id TEXT PRIMARY KEY,
  customer TEXT NOT NULL,
  status TEXT NOT NULL,
  price TEXT
);`

const demoConfig = `# reconctl demo: the app's users table mirrors Stripe customers, its
# subscriptions table mirrors Stripe subscriptions.
provider: stripe
api_base: %s
api_key_env: ` + demoKeyEnv + `
state: app.db
user_resource: customers
resources:
  customers:
    table: users
    key: stripe_customer_id
    soft_delete: deleted_at
    fields:
      email: {path: email, compare: casefold}
      full_name: name
      plan: metadata.plan
      vip: {path: metadata.vip, compare: bool}
  subscriptions:
    fields:
      customer: customer
      status: status
      price: items.data.0.price.id
`

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
	fake := stripefake.New(stripefake.Config{APIKey: key})
	if err := fake.Play(demoScenario(), time.Now()); err != nil {
		return fmt.Errorf("seeding the fake Stripe: %w", err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	srv := &http.Server{Handler: fake, ReadHeaderTimeout: 10 * time.Second}
	go srv.Serve(ln)
	defer srv.Close()
	base := "http://" + ln.Addr().String()
	if err := os.Setenv(demoKeyEnv, key); err != nil {
		return err
	}

	// The app's database, drifted.
	dbPath := filepath.Join(dir, "app.db")
	if _, err := os.Stat(dbPath); err == nil {
		return fmt.Errorf("%s already exists: --keep needs a new or empty directory", dbPath)
	}
	if err := writeDemoDB(dbPath); err != nil {
		return err
	}
	cfgPath := filepath.Join(dir, "reconctl.yaml")
	if err := os.WriteFile(cfgPath, []byte(fmt.Sprintf(demoConfig, base)), 0o644); err != nil {
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
		notes := fmt.Sprintf(`# reconctl demo, kept

The fake Stripe API ran inside "reconctl demo" and stopped with it. The app
database and its mapping are here:

- app.db: the app's SQLite database (tables users, subscriptions; the journal in reconctl_* tables)
- reconctl.yaml: the mapping of Stripe customers and subscriptions onto it

Look at what happened:

    reconctl history --config %s
    sqlite3 %s 'SELECT * FROM users'

Against a real Stripe test account, point the config at Stripe:
remove api_base and api_key_env, export STRIPE_API_KEY=sk_test_..., and run
reconctl diff --config %s
`, cfgPath, dbPath, cfgPath)
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

// demoScenario is the account's history: most of it synced, the last day's
// webhooks lost.
func demoScenario() *stripefake.Scenario {
	cus := func(at, id, email, name, plan string) stripefake.Op {
		return stripefake.Op{At: at, Op: "create_customer", ID: id, Fields: map[string]any{"email": email, "name": name, "metadata": map[string]any{"plan": plan, "vip": "false"}}}
	}
	sub := func(id, customer, price string) stripefake.Op {
		return stripefake.Op{Op: "create_subscription", ID: id, Fields: map[string]any{"customer": customer, "price": price}}
	}
	return &stripefake.Scenario{Ops: []stripefake.Op{
		cus("-20d", "cus_demo_ann", "ann@example.com", "Ann Lee", "pro"),
		sub("sub_demo_ann", "cus_demo_ann", "price_pro"),
		cus("-19d", "cus_demo_bob", "bob@example.com", "Bob Stone", "free"),
		cus("-18d", "cus_demo_cy", "cy@example.com", "Cy Park", "team"),
		sub("sub_demo_cy", "cus_demo_cy", "price_team"),
		cus("-15d", "cus_demo_upgrade", "dee@example.com", "Dee Fox", "free"),
		sub("sub_demo_dee", "cus_demo_upgrade", "price_free"),
		cus("-12d", "cus_demo_leaver", "gus@example.com", "Gus Dean", "pro"),
		cus("-10d", "cus_demo_eve", "EVE@example.com", "Eve Moss", "pro"),
		// The last day: webhooks lost.
		{At: "-20h", Op: "update_customer", ID: "cus_demo_upgrade", Fields: map[string]any{"metadata": map[string]any{"plan": "pro", "vip": "true"}}},
		{At: "-20h", Op: "update_subscription", ID: "sub_demo_dee", Fields: map[string]any{"metadata": map[string]any{"upgraded": "true"}}},
		{At: "-12h", Op: "cancel_subscription", ID: "sub_demo_cy"},
		{At: "-8h", Op: "delete_customer", ID: "cus_demo_leaver"},
		cus("-3h", "cus_demo_new", "ivy@example.com", "Ivy Chen", "team"),
		sub("sub_demo_new", "cus_demo_new", "price_team"),
	}}
}

func writeDemoDB(path string) error {
	stmts := []string{demoSchema,
		`INSERT INTO users (stripe_customer_id, email, full_name, plan, vip, signup_source) VALUES
		 ('cus_demo_ann', 'ann@example.com', 'Ann Lee', 'pro', 0, 'ads'),
		 ('cus_demo_bob', 'bob@example.com', 'Bob Stone', 'free', 0, 'web'),
		 ('cus_demo_cy', 'cy@example.com', 'Cy Park', 'team', 0, 'web'),
		 ('cus_demo_upgrade', 'dee@example.com', 'Dee Fox', 'free', 0, 'referral'),
		 ('cus_demo_leaver', 'gus@example.com', 'Gus Dean', 'pro', 0, 'web'),
		 ('cus_demo_eve', 'eve@example.com', 'Eve Moss', 'pro', 0, 'web')`,
		`INSERT INTO subscriptions (id, customer, status, price) VALUES
		 ('sub_demo_ann', 'cus_demo_ann', 'active', 'price_pro'),
		 ('sub_demo_cy', 'cus_demo_cy', 'active', 'price_team'),
		 ('sub_demo_dee', 'cus_demo_upgrade', 'active', 'price_starter')`,
	}
	if err := localstate.CreateSQLite(context.Background(), path, stmts...); err != nil {
		return fmt.Errorf("creating the demo database: %w", err)
	}
	return nil
}
