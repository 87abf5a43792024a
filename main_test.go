package main

import (
	"os"
	"testing"

	"github.com/rogpeppe/go-internal/testscript"
)

func TestMain(m *testing.M) {
	testscript.Main(m, map[string]func(){
		"reconctl": func() { os.Exit(run(os.Args, os.Stdin, os.Stdout, os.Stderr)) },
	})
}

// TestScripts runs the CLI end-to-end scripts in testdata/script.
func TestScripts(t *testing.T) {
	testscript.Run(t, testscript.Params{
		Dir:                 "testdata/script",
		RequireExplicitExec: true,
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
