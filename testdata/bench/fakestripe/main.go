// Command fakestripe serves the fake Stripe API with n seeded customers on a
// loopback port and writes a matching app database (1% of each drift kind),
// so reconctl can be measured in its own process:
//
//	go run ./testdata/bench/fakestripe -n 100000 -dir /tmp/stripe100k &
//	STRIPE_API_KEY=sk_test_bench /usr/bin/time -v reconctl diff -c /tmp/stripe100k/reconctl.yaml -o json >/dev/null
package main

import (
	"database/sql"
	"flag"
	"fmt"
	"log"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"time"

	_ "modernc.org/sqlite"

	"github.com/reconctl/reconctl/providers/stripe/stripefake"
)

func main() {
	n := flag.Int("n", 100000, "customers")
	dir := flag.String("dir", "/tmp/reconctl-stripe-bench", "where to write app.db and reconctl.yaml")
	latency := flag.Duration("latency", 0, "latency added to every call")
	flag.Parse()
	if err := os.MkdirAll(*dir, 0o755); err != nil {
		log.Fatal(err)
	}
	f := stripefake.New(stripefake.Config{APIKey: "sk_test_bench"})
	to := time.Now().Add(-time.Hour)
	ids := f.SeedCustomers(*n, to.Add(-365*24*time.Hour), to, func(i int) map[string]any {
		return map[string]any{"email": fmt.Sprintf("user%d@example.com", i), "metadata": map[string]any{"plan": []string{"free", "pro"}[i%2]}}
	})
	f.SetFaults(stripefake.Faults{Latency: *latency})

	dbPath := filepath.Join(*dir, "app.db")
	_ = os.Remove(dbPath)
	db, err := sql.Open("sqlite", "file:"+dbPath)
	if err != nil {
		log.Fatal(err)
	}
	db.SetMaxOpenConns(1)
	tx, _ := db.Begin()
	must := func(_ sql.Result, err error) {
		if err != nil {
			log.Fatal(err)
		}
	}
	must(tx.Exec(`CREATE TABLE users (id INTEGER PRIMARY KEY, stripe_customer_id TEXT UNIQUE, email TEXT, plan TEXT)`))
	for i, id := range ids {
		if i%100 == 1 {
			continue
		}
		plan := []string{"free", "pro"}[i%2]
		if i%100 == 3 {
			plan = "legacy"
		}
		must(tx.Exec(`INSERT INTO users (stripe_customer_id, email, plan) VALUES (?, ?, ?)`, id, fmt.Sprintf("user%d@example.com", i), plan))
	}
	for i := 0; i < *n/100; i++ {
		must(tx.Exec(`INSERT INTO users (stripe_customer_id, email, plan) VALUES (?, 'gone@example.com', 'free')`, fmt.Sprintf("cus_gone%06d", i)))
	}
	if err := tx.Commit(); err != nil {
		log.Fatal(err)
	}
	db.Close()

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		log.Fatal(err)
	}
	cfg := fmt.Sprintf("provider: stripe\napi_base: http://%s\nstate: app.db\nresources:\n  customers:\n    table: users\n    key: stripe_customer_id\n    fields:\n      email: email\n      plan: metadata.plan\n", ln.Addr())
	if err := os.WriteFile(filepath.Join(*dir, "reconctl.yaml"), []byte(cfg), 0o644); err != nil {
		log.Fatal(err)
	}
	fmt.Printf("fake Stripe with %d customers at http://%s; config %s\n", *n, ln.Addr(), filepath.Join(*dir, "reconctl.yaml"))
	log.Fatal(http.Serve(ln, f))
}
