package main

import (
	"database/sql"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/reconctl/reconctl/providers/stripe/stripefake"
	"github.com/rogpeppe/go-internal/testscript"
	"github.com/stripe/stripe-go/v84/webhook"
	_ "modernc.org/sqlite"
)

var scriptCmds = map[string]func(ts *testscript.TestScript, neg bool, args []string){
	"sqlite":     cmdSQLite,
	"stripefake": cmdStripeFake,
	"webhook":    cmdWebhook,
	"setjson":    cmdSetJSON,
	"sqlitelock": cmdSQLiteLock,
}

// sqlite DB SQL: runs SQL against DB (created if missing) and prints the rows
// of a query as tab-separated lines, NULL as NULL.
func cmdSQLite(ts *testscript.TestScript, neg bool, args []string) {
	if len(args) < 2 {
		ts.Fatalf("usage: sqlite DB SQL")
	}
	db, err := sql.Open("sqlite", "file:"+ts.MkAbs(args[0]))
	ts.Check(err)
	defer db.Close()
	q := strings.Join(args[1:], " ")
	if strings.HasPrefix(q, "@") { // @file.sql
		b, err := os.ReadFile(ts.MkAbs(q[1:]))
		ts.Check(err)
		q = string(b)
	}
	if !strings.HasPrefix(strings.ToUpper(strings.TrimSpace(q)), "SELECT") {
		_, err := db.Exec(q)
		if neg {
			if err == nil {
				ts.Fatalf("sqlite: unexpected success")
			}
			return
		}
		ts.Check(err)
		return
	}
	rows, err := db.Query(q)
	ts.Check(err)
	defer rows.Close()
	cols, _ := rows.Columns()
	for rows.Next() {
		vals := make([]any, len(cols))
		ptrs := make([]any, len(cols))
		for i := range vals {
			ptrs[i] = &vals[i]
		}
		ts.Check(rows.Scan(ptrs...))
		out := make([]string, len(vals))
		for i, v := range vals {
			switch x := v.(type) {
			case nil:
				out[i] = "NULL"
			case []byte:
				out[i] = string(x)
			default:
				out[i] = fmt.Sprint(x)
			}
		}
		fmt.Fprintln(ts.Stdout(), strings.Join(out, "\t"))
	}
	ts.Check(rows.Err())
}

// stripefake SCENARIO.json: starts the fake Stripe API seeded from a scenario
// for the rest of the script and sets STRIPE_API_BASE and STRIPE_API_KEY.
func cmdStripeFake(ts *testscript.TestScript, neg bool, args []string) {
	if len(args) != 1 {
		ts.Fatalf("usage: stripefake SCENARIO.json")
	}
	sc, err := stripefake.LoadScenario(ts.MkAbs(args[0]))
	ts.Check(err)
	f, srv := stripefake.NewServer(stripefake.Config{APIKey: "sk_test_reconctl"})
	ts.Defer(srv.Close)
	ts.Check(f.Play(sc, time.Now()))
	runningStripe.Store(ts, f) // for stripeplay
	ts.Setenv("STRIPE_API_BASE", srv.URL)
	ts.Setenv("STRIPE_API_KEY", "sk_test_reconctl")
}

// webhook SECRET FAIL_EVERY: starts an app webhook endpoint for the rest of
// the script that verifies each delivery with stripe-go's own
// webhook.ConstructEvent, answers 500 to every FAIL_EVERY-th request (0:
// never), and appends "<event id> <type> <Reconctl-Replay header>" for each
// accepted one to $WORK/received.txt. Sets WEBHOOK_URL.
func cmdWebhook(ts *testscript.TestScript, neg bool, args []string) {
	if len(args) != 2 {
		ts.Fatalf("usage: webhook SECRET FAIL_EVERY")
	}
	secret := args[0]
	failEvery, err := strconv.Atoi(args[1])
	ts.Check(err)
	logPath := ts.MkAbs("received.txt")
	var mu sync.Mutex
	n := 0
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		defer mu.Unlock()
		n++
		if failEvery > 0 && n%failEvery == 0 {
			http.Error(w, "injected failure", http.StatusInternalServerError)
			return
		}
		body, _ := io.ReadAll(r.Body)
		ev, err := webhook.ConstructEvent(body, r.Header.Get("Stripe-Signature"), secret)
		if err != nil {
			http.Error(w, "bad signature: "+err.Error(), http.StatusBadRequest)
			return
		}
		f, err := os.OpenFile(logPath, os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o644)
		if err != nil {
			http.Error(w, err.Error(), 500)
			return
		}
		replay := r.Header.Get("Reconctl-Replay")
		if replay != "" {
			replay = "replay"
		}
		fmt.Fprintf(f, "%s %s %s\n", ev.ID, ev.Type, replay)
		f.Close()
	}))
	ts.Defer(srv.Close)
	ts.Setenv("WEBHOOK_URL", srv.URL+"/webhooks/stripe")
}

// setjson FILE KEY VAR: sets VAR to the top-level string or number KEY of
// the JSON object in FILE (of its first element, when FILE holds an array).
func cmdSetJSON(ts *testscript.TestScript, neg bool, args []string) {
	if len(args) != 3 {
		ts.Fatalf("usage: setjson FILE KEY VAR")
	}
	var m map[string]any
	text := ts.ReadFile(args[0])
	if strings.HasPrefix(strings.TrimSpace(text), "[") {
		var list []map[string]any
		ts.Check(json.Unmarshal([]byte(text), &list))
		if len(list) == 0 {
			ts.Fatalf("%s is an empty list", args[0])
		}
		m = list[0]
	} else {
		ts.Check(json.Unmarshal([]byte(text), &m))
	}
	v, ok := m[args[1]]
	if !ok {
		ts.Fatalf("%s has no key %q", args[0], args[1])
	}
	ts.Setenv(args[2], fmt.Sprint(v))
}

// sqlitelock DB: holds an exclusive write lock on DB (as a busy app would)
// until the script ends or `sqlitelock DB release`.
func cmdSQLiteLock(ts *testscript.TestScript, neg bool, args []string) {
	if len(args) < 1 {
		ts.Fatalf("usage: sqlitelock DB [release]")
	}
	key := ts.MkAbs(args[0])
	if len(args) == 2 && args[1] == "release" {
		if v, ok := sqliteLocks.LoadAndDelete(key); ok {
			v.(func())()
		}
		return
	}
	db, err := sql.Open("sqlite", "file:"+ts.MkAbs(args[0]))
	ts.Check(err)
	db.SetMaxOpenConns(1)
	_, err = db.Exec("BEGIN EXCLUSIVE")
	ts.Check(err)
	var once sync.Once
	release := func() {
		once.Do(func() {
			_, _ = db.Exec("ROLLBACK")
			db.Close()
		})
	}
	ts.Defer(release)
	sqliteLocks.Store(key, release)
}

var sqliteLocks sync.Map // absolute DB path -> release func
