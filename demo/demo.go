// Package demo is the fixture behind `reconctl demo`: the fake Stripe
// account's history, the app database that drifted from it (schema and seed
// rows), the reconctl.yaml mapping the two, and the notes --keep leaves
// behind. The command in commands/demo.go only wires these together and runs
// the playbook; the SQL and the HTTP serving live here and in stripefake.
package demo

import (
	"context"
	"fmt"
	"time"

	"github.com/reconctl/reconctl/localstate"
	"github.com/reconctl/reconctl/providers/stripe/stripefake"
)

// KeyEnv is the environment variable the demo's config names for the fake
// Stripe's API key.
const KeyEnv = "RECONCTL_DEMO_STRIPE_KEY"

const schema = `
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

// seed is the app's rows as its webhooks left them: in sync until the last
// day, then a missed signup, deletion, upgrade, cancellation and price change.
var seed = []string{
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

const configTemplate = `# reconctl demo: the app's users table mirrors Stripe customers, its
# subscriptions table mirrors Stripe subscriptions.
provider: stripe
api_base: %s
api_key_env: ` + KeyEnv + `
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

const notesTemplate = `# reconctl demo, kept

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
`

// Config is the demo's reconctl.yaml, pointing at the fake Stripe at apiBase
// (its state is app.db beside the file).
func Config(apiBase string) string { return fmt.Sprintf(configTemplate, apiBase) }

// Notes is RUNNING.md, left by --keep: how to look at the kept config and
// database.
func Notes(cfgPath, dbPath string) string {
	return fmt.Sprintf(notesTemplate, cfgPath, dbPath, cfgPath)
}

// WriteDB creates the app's drifted database at path (a file already there is
// an error).
func WriteDB(path string) error {
	if err := localstate.CreateSQLite(context.Background(), path, append([]string{schema}, seed...)...); err != nil {
		return fmt.Errorf("creating the demo database: %w", err)
	}
	return nil
}

// StartStripe seeds a fake Stripe accepting key with Scenario (times relative
// to now) and serves it on a loopback port until stop is called; base is its
// API base.
func StartStripe(key string, now time.Time) (base string, stop func(), err error) {
	fake := stripefake.New(stripefake.Config{APIKey: key})
	if err := fake.Play(Scenario(), now); err != nil {
		return "", nil, fmt.Errorf("seeding the fake Stripe: %w", err)
	}
	return fake.Listen("127.0.0.1:0")
}

// Scenario is the account's history: most of it synced, the last day's
// webhooks lost.
func Scenario() *stripefake.Scenario {
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
