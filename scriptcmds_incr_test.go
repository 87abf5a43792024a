package main

import (
	"sync"
	"time"

	"github.com/reconctl/reconctl/providers/stripe/stripefake"
	"github.com/rogpeppe/go-internal/testscript"
)

// runningStripe is each script's fake Stripe started by stripefake.
var runningStripe sync.Map // *testscript.TestScript -> *stripefake.Fake

func init() { scriptCmds["stripeplay"] = cmdStripePlay }

// stripeplay SCENARIO.json: plays more operations (with their events) on the
// fake Stripe the script's stripefake started, now.
func cmdStripePlay(ts *testscript.TestScript, neg bool, args []string) {
	if len(args) != 1 {
		ts.Fatalf("usage: stripeplay SCENARIO.json")
	}
	v, ok := runningStripe.Load(ts)
	if !ok {
		ts.Fatalf("stripeplay: no stripefake started in this script")
	}
	sc, err := stripefake.LoadScenario(ts.MkAbs(args[0]))
	ts.Check(err)
	ts.Check(v.(*stripefake.Fake).Play(sc, time.Now()))
}
