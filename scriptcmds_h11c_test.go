package main

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"sort"
	"strconv"
	"strings"

	"github.com/rogpeppe/go-internal/testscript"
)

// Script commands for the hardening scripts (testdata/script/secrets.txtar).
func init() {
	scriptCmds["echoproxy"] = cmdEchoProxy
	scriptCmds["redirector"] = cmdRedirector
}

// redirector CODE: starts a server answering every request with CODE and a
// Location on another host (a second loopback server, reached as
// "localhost"), which appends each request it receives, headers included,
// to stolen.txt; sets REDIRECT_URL.
func cmdRedirector(ts *testscript.TestScript, neg bool, args []string) {
	if len(args) != 1 {
		ts.Fatalf("usage: redirector CODE")
	}
	code, err := strconv.Atoi(args[0])
	ts.Check(err)
	log := ts.MkAbs("stolen.txt")
	other := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		f, err := os.OpenFile(log, os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o644)
		if err == nil {
			fmt.Fprintf(f, "%s %s %v\n", r.Method, r.URL, r.Header)
			f.Close()
		}
		_, _ = w.Write([]byte(`[]`))
	}))
	ts.Defer(other.Close)
	target := strings.Replace(other.URL, "127.0.0.1", "localhost", 1)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, target+r.URL.RequestURI(), code)
	}))
	ts.Defer(srv.Close)
	ts.Setenv("REDIRECT_URL", srv.URL)
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
