package main

import (
	"flag"
	"os"
	"testing"

	"github.com/rogpeppe/go-internal/testscript"
)

func TestMain(m *testing.M) {
	testscript.Main(m, map[string]func(){
		"reconctl": func() { os.Exit(run(os.Args, os.Stdin, os.Stdout, os.Stderr)) },
	})
}

var update = flag.Bool("update", false, "rewrite the expected output (cmp files) in testdata/script")

// TestScripts runs the CLI end-to-end scripts in testdata/script.
func TestScripts(t *testing.T) {
	testscript.Run(t, testscript.Params{
		Dir:                 "testdata/script",
		RequireExplicitExec: true,
		UpdateScripts:       *update,
		Setup: func(env *testscript.Env) error {
			// Scripts copy the demo data they need from here.
			wd, err := os.Getwd()
			if err != nil {
				return err
			}
			env.Setenv("DEMO", wd+"/testdata/demo")
			env.Setenv("NO_COLOR", "1")
			return nil
		},
		Cmds: scriptCmds,
	})
}

// TestStores runs the store-parameterized scripts in testdata/stores once
// per store: TestStores/sqlite/NAME, TestStores/postgres/NAME,
// TestStores/mysql/NAME (see scriptcmds_stores_test.go). A server that does
// not answer, or whose store has not landed yet, skips with a message
// (RECONCTL_TEST_SERVERS=require turns an unreachable server into a failure).
func TestStores(t *testing.T) {
	for _, kind := range storeKinds {
		t.Run(kind, func(t *testing.T) { runStoreScripts(t, kind, "testdata/stores", true) })
	}
}

// TestStoreHarness checks TestStores' own machinery on every store (a
// database per script, the db command's one text for every store, users,
// conditions) with scripts that never run reconctl, so it runs on the
// servers before their stores land.
func TestStoreHarness(t *testing.T) {
	for _, kind := range storeKinds {
		t.Run(kind, func(t *testing.T) { runStoreScripts(t, kind, "testdata/storeharness", false) })
	}
}
