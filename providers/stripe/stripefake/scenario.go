package stripefake

import (
	"encoding/json"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"
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
	Op     string         `json:"op"` // create_customer, update_customer, delete_customer, create_subscription, update_subscription, cancel_subscription, forbid, event
	ID     string         `json:"id,omitempty"`
	Type   string         `json:"type,omitempty"` // for op "event"
	Fields map[string]any `json:"fields,omitempty"`
}

// LoadScenario reads a scenario file.
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

func parseAt(s string, now time.Time) (time.Time, error) {
	if t, err := time.Parse(time.RFC3339, s); err == nil {
		return t, nil
	}
	if rest, ok := strings.CutPrefix(s, "-"); ok {
		if d, ok := strings.CutSuffix(rest, "d"); ok {
			n, err := strconv.Atoi(d)
			if err == nil {
				return now.Add(-time.Duration(n) * 24 * time.Hour), nil
			}
		}
		if d, err := time.ParseDuration(rest); err == nil {
			return now.Add(-d), nil
		}
	}
	return time.Time{}, fmt.Errorf("op time %q: want RFC 3339 or -36h / -2d", s)
}

// Play runs the scenario's operations against f with f's clock moved to each
// op's time, then restores the clock. now anchors relative times.
func (f *Fake) Play(s *Scenario, now time.Time) error {
	f.mu.Lock()
	restore := f.now
	f.mu.Unlock()
	defer f.SetClock(restore)
	at := now
	for i, op := range s.Ops {
		if op.At != "" {
			t, err := parseAt(op.At, now)
			if err != nil {
				return fmt.Errorf("op %d: %w", i, err)
			}
			at = t
		}
		t := at
		f.SetClock(func() time.Time { return t })
		fields := op.Fields
		if fields == nil {
			fields = map[string]any{}
		}
		if op.ID != "" {
			fields["id"] = op.ID
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
		case "forbid":
			f.Forbid(op.ID)
		case "event":
			f.AddEvent(op.Type, fields, t)
		default:
			err = fmt.Errorf("unknown op %q", op.Op)
		}
		if err != nil {
			return fmt.Errorf("op %d (%s %s): %w", i, op.Op, op.ID, err)
		}
	}
	if s.Faults != nil {
		f.SetFaults(*s.Faults)
	}
	return nil
}
