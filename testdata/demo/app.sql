-- The demo app's database: a users table as a real app would have it, keyed by
-- its own id and holding the Stripe customer id in a column, plus a mirror of
-- Stripe subscriptions. Regenerate app.db with: go run ./testdata/demo/mkdb
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
  price TEXT,
  current_period_end TEXT
);
-- in sync
INSERT INTO users (stripe_customer_id, email, full_name, plan, vip) VALUES
 ('cus_A1', 'ann@example.com', 'Ann Lee', 'pro', 1),
 ('cus_A2', 'bob@example.com', 'Bob Stone', 'free', 0),
 ('cus_A3', 'cy@example.com', 'Cy Park', 'team', 0);
-- changed: plan missed an upgrade webhook; email differs only in case (casefold: in sync); name drifted
INSERT INTO users (stripe_customer_id, email, full_name, plan, vip) VALUES
 ('cus_B1', 'dee@example.com', 'Dee Fox', 'free', 0),
 ('cus_B2', 'EVE@example.com', 'Eve Moss', 'pro', 1),
 ('cus_B3', 'fay@example.com', 'Fay Hill', 'pro', 0);
-- missing_remote: deleted at Stripe, the customer.deleted webhook was lost
INSERT INTO users (stripe_customer_id, email, full_name, plan, vip) VALUES
 ('cus_C1', 'gus@example.com', 'Gus Dean', 'free', 0);
-- soft-deleted locally and gone at the provider: in sync (absent on both sides)
INSERT INTO users (stripe_customer_id, email, full_name, plan, vip, deleted_at) VALUES
 ('cus_C2', 'hal@example.com', 'Hal Kim', 'free', 0, '2026-10-01T00:00:00Z');
INSERT INTO subscriptions VALUES
 ('sub_1', 'cus_A1', 'active', 'price_pro', '2026-12-01T00:00:00Z'),
 ('sub_2', 'cus_B1', 'active', 'price_free', '2026-12-05T00:00:00Z'),
 ('sub_3', 'cus_A3', 'active', 'price_team', '2026-12-09T00:00:00Z'),
 ('sub_9', 'cus_C1', 'active', 'price_free', '2026-12-10T00:00:00Z');
