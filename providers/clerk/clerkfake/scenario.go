package clerkfake

import (
	"fmt"
	"time"

	"github.com/reconctl/reconctl/providers/fakefault"
)

// Scenario is a script of a Clerk instance's history, in order, for CLI
// tests: each operation happens at its own time (created_at/updated_at
// follow it). Clerk has no events API, so nothing else is recorded.
type Scenario struct {
	Ops    []Op    `json:"ops"`
	Faults *Faults `json:"faults,omitempty"`
}

// Op is one operation. At is when it happens: RFC 3339, or a duration back
// from now ("-36h", "-40d"); empty keeps the previous op's time.
//
// Ops: create_user (Fields as for CreateUser: "email" or "emails" make
// the addresses, the first primary), update_user ("email" changes the
// primary address), delete_user, add_email (Fields.email, Fields.primary),
// forbid, seed_users (N users at the op's time; ID and every string field
// may hold a % verb formatted with 1..N: "user_bulk_%03d").
type Op struct {
	At     string         `json:"at,omitempty"`
	Op     string         `json:"op"`
	ID     string         `json:"id,omitempty"`
	N      int            `json:"n,omitempty"`
	Fields map[string]any `json:"fields,omitempty"`
}

// LoadScenario reads a scenario file.
func LoadScenario(path string) (*Scenario, error) { return fakefault.Load[Scenario](path) }

// Play runs the scenario's operations against f with f's clock moved to each
// op's time, then restores the clock and sets the scenario's faults. now
// anchors relative times.
func (f *Fake) Play(s *Scenario, now time.Time) error {
	at := func(op Op) string { return op.At }
	label := func(op Op) string { return op.Op + " " + op.ID }
	return fakefault.PlayScenario(f.Base, now, s.Ops, s.Faults, f.SetFaults, at, label, f.playOp)
}

func (f *Fake) playOp(op Op, t time.Time) (err error) {
	// CreateUser panics on a duplicate id: report it as an error.
	defer fakefault.RecoverOp(&err)
	fields := fakefault.ExpandFields(op.Fields, 0)
	switch op.Op {
	case "create_user":
		if op.ID != "" {
			fields["id"] = op.ID
		}
		f.CreateUser(fields)
	case "update_user":
		_, err = f.UpdateUser(op.ID, fields)
	case "delete_user":
		err = f.DeleteUser(op.ID)
	case "add_email":
		addr, _ := fields["email"].(string)
		primary, _ := fields["primary"].(bool)
		if addr == "" {
			return fmt.Errorf("add_email needs fields.email")
		}
		_, err = f.AddEmailAddress(op.ID, addr, primary)
	case "forbid":
		f.Forbid(op.ID)
	case "seed_users":
		f.SeedUsers(op.N, fakefault.SeedFields(op.Fields, op.ID, t))
	default:
		return fmt.Errorf("unknown op %q", op.Op)
	}
	return err
}
