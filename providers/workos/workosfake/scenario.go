package workosfake

import (
	"fmt"
	"time"

	"github.com/reconctl/reconctl/providers/fakefault"
)

// Scenario is a script of WorkOS account history, in order, for CLI tests:
// each operation happens at its own time and records the events WorkOS
// would (seed_* ops record none: data that predates the event window).
type Scenario struct {
	Ops    []Op    `json:"ops"`
	Faults *Faults `json:"faults,omitempty"`
}

// Op is one operation. At is when it happens: RFC 3339, or a duration back
// from now ("-36h", "-40d"); empty keeps the previous op's time.
//
// Ops: create_user, update_user, delete_user, seed_users,
// create_organization, update_organization, delete_organization,
// seed_organizations, create_directory_user, update_directory_user,
// delete_directory_user (Directory names the directory), add_membership
// (ID is the user, Fields.organization_id the organization), forbid (ID),
// event (Type, Fields as the event's data).
//
// seed_* create N objects at the op's time, without events; ID and every
// string field may hold a % verb formatted with 1..N ("user_bulk_%03d").
type Op struct {
	At        string         `json:"at,omitempty"`
	Op        string         `json:"op"`
	ID        string         `json:"id,omitempty"`
	Type      string         `json:"type,omitempty"`
	Directory string         `json:"directory,omitempty"`
	N         int            `json:"n,omitempty"`
	Fields    map[string]any `json:"fields,omitempty"`
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
	// The Create* methods panic on a duplicate id: report it as an error.
	defer fakefault.RecoverOp(&err)
	fields := fakefault.ExpandFields(op.Fields, 0)
	withID := func() map[string]any {
		if op.ID != "" {
			fields["id"] = op.ID
		}
		return fields
	}
	seed := fakefault.SeedFields(op.Fields, op.ID, t)
	switch op.Op {
	case "create_user":
		f.CreateUser(withID())
	case "update_user":
		_, err = f.UpdateUser(op.ID, fields)
	case "delete_user":
		err = f.DeleteUser(op.ID)
	case "seed_users":
		f.SeedUsers(op.N, seed)
	case "create_organization":
		f.CreateOrganization(withID())
	case "update_organization":
		_, err = f.UpdateOrganization(op.ID, fields)
	case "delete_organization":
		err = f.DeleteOrganization(op.ID)
	case "seed_organizations":
		f.SeedOrganizations(op.N, seed)
	case "create_directory_user":
		f.CreateDirectoryUser(op.Directory, withID())
	case "update_directory_user":
		_, err = f.UpdateDirectoryUser(op.ID, fields)
	case "delete_directory_user":
		err = f.DeleteDirectoryUser(op.ID)
	case "add_membership":
		org, _ := fields["organization_id"].(string)
		if org == "" {
			return fmt.Errorf("add_membership needs fields.organization_id")
		}
		f.AddMembership(op.ID, org)
	case "forbid":
		f.Forbid(op.ID)
	case "event":
		if op.Type == "" {
			return fmt.Errorf("event needs a type")
		}
		f.AddEvent(op.Type, fields, t)
	default:
		return fmt.Errorf("unknown op %q", op.Op)
	}
	return err
}
