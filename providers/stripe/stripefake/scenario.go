package stripefake

import (
	"encoding/json"
	"fmt"
	"os"
	"time"

	"github.com/reconctl/reconctl/providers/fakefault"
)

// Scenario is a script of account history, in order, for CLI tests and the
// demo: each operation happens at its own time and records the events
// Stripe would.
type Scenario struct {
	Ops    []Op    `json:"ops"`
	Faults *Faults `json:"faults,omitempty"`
}

// Op is one operation. At is when it happens: RFC 3339, or a duration back
// from now ("-36h", "-40d"); empty keeps the previous op's time.
type Op struct {
	At     string         `json:"at,omitempty"`
	Op     string         `json:"op"` // create_customer, update_customer, delete_customer, create_subscription, update_subscription, cancel_subscription, create_test_clock, forbid, event
	ID     string         `json:"id,omitempty"`
	Type   string         `json:"type,omitempty"` // for op "event"
	Fields map[string]any `json:"fields,omitempty"`
	// APIVersion, when set, renders the events this op records in that
	// api_version (see SetEventAPIVersion), e.g. OldAPIVersion.
	APIVersion string `json:"api_version,omitempty"`
	// Account, when set, plays the op in that connected account (Stripe
	// Connect; created on first use). Op "create_account" with ID creates
	// an account with no objects.
	Account string `json:"account,omitempty"`
}

// LoadScenario reads a scenario file. Unlike the other fakes' (fakefault.LoadJSON),
// it ignores unknown keys, as it always has: the demo's scenarios rely on nothing stricter.
func LoadScenario(path string) (*Scenario, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var s Scenario
	if err := json.Unmarshal(b, &s); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return &s, nil
}

// Play runs the scenario's operations against f with f's clock moved to each
// op's time, then restores the clock. now anchors relative times.
func (f *Fake) Play(s *Scenario, now time.Time) error {
	at := func(op Op) string { return op.At }
	label := func(op Op) string { return op.Op + " " + op.ID }
	return fakefault.PlayScenario(f.Base, now, s.Ops, s.Faults, f.SetFaults, at, label, f.playOp)
}

// playOp runs one op; a panic (a duplicate id) is not recovered.
func (f *Fake) playOp(op Op, t time.Time) error {
	if op.Op == "create_account" {
		f.Account(op.ID)
		return nil
	}
	if op.Account != "" {
		acct := op.Account
		op.Account = ""
		return f.Account(acct).playOp(op, t)
	}
	fields := op.Fields
	if fields == nil {
		fields = map[string]any{}
	}
	if op.ID != "" {
		fields["id"] = op.ID
	}
	if op.APIVersion != "" {
		f.SetEventAPIVersion(op.APIVersion)
		defer f.SetEventAPIVersion("")
	}
	var err error
	switch op.Op {
	case "create_customer":
		f.CreateCustomer(fields)
	case "update_customer":
		delete(fields, "id")
		_, err = f.UpdateCustomer(op.ID, fields)
	case "delete_customer":
		err = f.DeleteCustomer(op.ID)
	case "create_subscription":
		_, err = f.CreateSubscription(fields)
	case "update_subscription":
		delete(fields, "id")
		_, err = f.UpdateSubscription(op.ID, fields)
	case "cancel_subscription":
		err = f.CancelSubscription(op.ID)
	case "create_test_clock":
		f.CreateTestClock(fields)
	case "forbid":
		f.Forbid(op.ID)
	case "event":
		f.AddEvent(op.Type, fields, t)
	default:
		err = fmt.Errorf("unknown op %q", op.Op)
	}
	return err
}
