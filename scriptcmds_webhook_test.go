package main

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"sync"
	"time"

	"github.com/reconctl/reconctl/providers/workos/workosfake"
	"github.com/rogpeppe/go-internal/testscript"
)

func init() {
	scriptCmds["workoswebhook"] = cmdWorkOSWebhook
}

// workoswebhook SECRET: like webhook, an app endpoint for the rest of the
// script, but verifying each delivery's WorkOS-Signature the way WorkOS's
// Node SDK does (workosfake.VerifyWebhook follows workos-node's
// SignatureProvider.verifyHeader). Appends "<event id> <event type>
// <replay>" per accepted delivery to $WORK/received.txt; sets WEBHOOK_URL.
func cmdWorkOSWebhook(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 1 {
		ts.Fatalf("usage: workoswebhook SECRET")
	}
	secret := args[0]
	logPath := ts.MkAbs("received.txt")
	var mu sync.Mutex
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		defer mu.Unlock()
		body, _ := io.ReadAll(r.Body)
		if err := workosfake.VerifyWebhook(body, r.Header.Get("WorkOS-Signature"), secret, workosfake.DefaultWebhookTolerance, time.Now()); err != nil {
			http.Error(w, "bad signature: "+err.Error(), http.StatusBadRequest)
			return
		}
		var ev struct{ ID, Event string }
		if err := json.Unmarshal(body, &ev); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		f, err := os.OpenFile(logPath, os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o644)
		if err != nil {
			http.Error(w, err.Error(), 500)
			return
		}
		replay := ""
		if r.Header.Get("Reconctl-Replay") != "" {
			replay = "replay"
		}
		fmt.Fprintf(f, "%s %s %s\n", ev.ID, ev.Event, replay)
		f.Close()
	}))
	ts.Defer(srv.Close)
	ts.Setenv("WEBHOOK_URL", srv.URL+"/webhooks/workos")
}
