package main

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"sort"
	"strings"

	"github.com/rogpeppe/go-internal/testscript"
)

// Script commands for the hardening scripts (testdata/script/secrets.txtar).
func init() {
	scriptCmds["echoproxy"] = cmdEchoProxy
}

// echoproxy: starts a server that plays a WAF or proxy answering every
// request with HTTP 400 and a text/plain body echoing the request, headers
// (credentials) included, and sets ECHO_URL.
func cmdEchoProxy(ts *testscript.TestScript, neg bool, args []string) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var b strings.Builder
		fmt.Fprintf(&b, "Request blocked by policy. %s %s\n", r.Method, r.URL.RequestURI())
		var names []string
		for k := range r.Header {
			names = append(names, k)
		}
		sort.Strings(names)
		for _, k := range names {
			fmt.Fprintf(&b, "%s: %s\n", k, strings.Join(r.Header[k], ", "))
		}
		w.Header().Set("Content-Type", "text/plain")
		w.WriteHeader(http.StatusBadRequest)
		_, _ = w.Write([]byte(b.String()))
	}))
	ts.Defer(srv.Close)
	ts.Setenv("ECHO_URL", srv.URL)
}
