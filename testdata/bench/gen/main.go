// Command gen writes a large app database and a matching file: provider
// export with 1% drift of each kind, for measuring reconctl diff end to end:
//
//	go run ./testdata/bench/gen -n 1000000 -dir /tmp/bench
//	/usr/bin/time -v reconctl diff --provider file:/tmp/bench/provider.json --state /tmp/bench/app.db -o json >/dev/null
package main

import (
	"bufio"
	"database/sql"
	"flag"
	"fmt"
	"log"
	"os"
	"path/filepath"

	_ "modernc.org/sqlite"
)

func main() {
	n := flag.Int("n", 1000000, "records per side")
	dir := flag.String("dir", "/tmp/reconctl-bench", "output directory")
	flag.Parse()
	if err := os.MkdirAll(*dir, 0o755); err != nil {
		log.Fatal(err)
	}
	dbPath := filepath.Join(*dir, "app.db")
	_ = os.Remove(dbPath)
	db, err := sql.Open("sqlite", "file:"+dbPath+"?_pragma=journal_mode(off)&_pragma=synchronous(off)")
	if err != nil {
		log.Fatal(err)
	}
	db.SetMaxOpenConns(1)
	if _, err := db.Exec(`CREATE TABLE customers (id TEXT PRIMARY KEY, email TEXT, name TEXT, plan TEXT, balance INTEGER)`); err != nil {
		log.Fatal(err)
	}
	tx, err := db.Begin()
	if err != nil {
		log.Fatal(err)
	}
	stmt, err := tx.Prepare(`INSERT INTO customers VALUES (?, ?, ?, ?, ?)`)
	if err != nil {
		log.Fatal(err)
	}
	pf, err := os.Create(filepath.Join(*dir, "provider.json"))
	if err != nil {
		log.Fatal(err)
	}
	w := bufio.NewWriterSize(pf, 1<<20)
	w.WriteString(`{"customers": [`)
	first := true
	for i := 0; i < *n; i++ {
		id := fmt.Sprintf("cus_%08d", i)
		email, name, plan, bal := fmt.Sprintf("user%d@example.com", i), fmt.Sprintf("User %d", i), []string{"free", "pro", "team"}[i%3], i%1000
		// 1% only remote (missed creates), 1% only local (missed deletions), 1% changed.
		localOnly, remoteOnly, changed := i%100 == 1, i%100 == 2, i%100 == 3
		if !remoteOnly {
			lp := plan
			if changed {
				lp = "legacy"
			}
			if _, err := stmt.Exec(id, email, name, lp, bal); err != nil {
				log.Fatal(err)
			}
		}
		if !localOnly {
			if !first {
				w.WriteString(",\n")
			}
			first = false
			fmt.Fprintf(w, `{"id":%q,"object":"customer","email":%q,"name":%q,"balance":%d,"created":%d,"metadata":{"plan":%q}}`, id, email, name, bal, 1700000000+i, plan)
		}
	}
	w.WriteString("]}\n")
	if err := w.Flush(); err != nil {
		log.Fatal(err)
	}
	if err := pf.Close(); err != nil {
		log.Fatal(err)
	}
	if err := tx.Commit(); err != nil {
		log.Fatal(err)
	}
	if err := db.Close(); err != nil {
		log.Fatal(err)
	}
	cfg := "provider: file:provider.json\nstate: app.db\nresources:\n  customers:\n    fields:\n      email: email\n      name: name\n      plan: metadata.plan\n      balance: balance\n"
	if err := os.WriteFile(filepath.Join(*dir, "reconctl.yaml"), []byte(cfg), 0o644); err != nil {
		log.Fatal(err)
	}
	fmt.Println("wrote", dbPath, filepath.Join(*dir, "provider.json"), filepath.Join(*dir, "reconctl.yaml"))
}
