package restfake

import (
	"fmt"
	"time"

	"github.com/reconctl/reconctl/providers/fakefault"
)

// Scenario is a script of an API's history, in order, for CLI tests: each
// operation happens at its own time and records the events the fake's
// /events serves ("user.created", … for resource "users").
type Scenario struct {
	// Fake configures the fake the scenario runs against (see Config).
	Fake   *ScenarioFake `json:"fake,omitempty"`
	Ops    []Op          `json:"ops"`
	Faults *Faults       `json:"faults,omitempty"`
}

// ScenarioFake is the JSON form of the Config fields a scenario may set.
type ScenarioFake struct {
	DefaultLimit int  `json:"default_limit,omitempty"`
	MaxLimit     int  `json:"max_limit,omitempty"`
	BareArray    bool `json:"bare_array,omitempty"`
	LinkAbsolute bool `json:"link_absolute,omitempty"`
	NumericIDs   bool `json:"numeric_ids,omitempty"`
	WrapGet      bool `json:"wrap_get,omitempty"`
	SoftDelete   bool `json:"soft_delete,omitempty"`
	UnixTimes    bool `json:"unix_times,omitempty"`
	// EmptyPageAfter: see Config.EmptyPageAfter.
	EmptyPageAfter int    `json:"empty_page_after,omitempty"`
	AuthHeader     string `json:"auth_header,omitempty"`
	AuthPrefix     string `json:"auth_prefix,omitempty"`
	// UpdatedAfter: an API without an events feed whose list filters by
	// updated_after (Config.UpdatedAfter and NoEvents: ConfigFor then
	// configures updated_after_param instead of events:).
	UpdatedAfter bool `json:"updated_after,omitempty"`
}

// Config returns the fake's Config for a pagination style and API key,
// with what the scenario's "fake" section sets.
func (s *Scenario) Config(style, apiKey string) Config {
	c := Config{Style: style, APIKey: apiKey}
	if sf := s.Fake; sf != nil {
		c.DefaultLimit, c.MaxLimit = sf.DefaultLimit, sf.MaxLimit
		c.BareArray, c.LinkAbsolute, c.NumericIDs = sf.BareArray, sf.LinkAbsolute, sf.NumericIDs
		c.WrapGet, c.SoftDelete, c.UnixTimes = sf.WrapGet, sf.SoftDelete, sf.UnixTimes
		c.AuthHeader, c.AuthPrefix = sf.AuthHeader, sf.AuthPrefix
		c.EmptyPageAfter, c.UpdatedAfter, c.NoEvents = sf.EmptyPageAfter, sf.UpdatedAfter, sf.UpdatedAfter
	}
	return c
}

// Op is one operation. At is when it happens: RFC 3339, or a duration back
// from now ("-36h", "-40d"); empty keeps the previous op's time.
//
// Ops: create, update, delete (Resource, ID, Fields), seed (N objects of
// Resource at the op's time, without events; ID and every string field may
// hold a % verb formatted with 1..N: "user_bulk_%03d"), forbid (ID), event
// (Type, Fields as data.object).
type Op struct {
	At       string         `json:"at,omitempty"`
	Op       string         `json:"op"`
	Resource string         `json:"resource,omitempty"`
	ID       string         `json:"id,omitempty"`
	Type     string         `json:"type,omitempty"`
	N        int            `json:"n,omitempty"`
	Fields   map[string]any `json:"fields,omitempty"`
}

// LoadScenario reads a scenario file.
func LoadScenario(path string) (*Scenario, error) { return fakefault.Load[Scenario](path) }

// Play runs the scenario's operations against f with f's clock moved to each
// op's time, then restores the clock and sets the scenario's faults. now
// anchors relative times.
func (f *Fake) Play(s *Scenario, now time.Time) error {
	at := func(op Op) string { return op.At }
	label := func(op Op) string { return op.Op + " " + op.Resource + " " + op.ID }
	return fakefault.PlayScenario(f.Base, now, s.Ops, s.Faults, f.SetFaults, at, label, f.playOp)
}

func (f *Fake) playOp(op Op, t time.Time) (err error) {
	// Create and Seed panic on a bad resource or duplicate id: report it.
	defer fakefault.RecoverOp(&err)
	fields := fakefault.ExpandFields(op.Fields, 0)
	needResource := func() error {
		if op.Resource == "" {
			return fmt.Errorf("%s needs a resource", op.Op)
		}
		return nil
	}
	switch op.Op {
	case "create":
		if err := needResource(); err != nil {
			return err
		}
		if op.ID != "" {
			fields["id"] = op.ID
		}
		f.Create(op.Resource, fields)
	case "update":
		if err := needResource(); err != nil {
			return err
		}
		_, err = f.Update(op.Resource, op.ID, fields)
	case "delete":
		if err := needResource(); err != nil {
			return err
		}
		err = f.Delete(op.Resource, op.ID)
	case "seed":
		if err := needResource(); err != nil {
			return err
		}
		f.Seed(op.Resource, op.N, fakefault.SeedFields(op.Fields, op.ID, t))
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
