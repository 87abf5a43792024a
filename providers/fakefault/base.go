package fakefault

import (
	"fmt"
	"maps"
	"net/http"
	"strings"
	"sync"
	"time"
)

// Base is the plumbing every fake server shares, embedded (as *Base) in
// each fake: its clock, the object ids whose GET answers 403, and an
// Injector's faults, counters and request log. All methods are safe for
// concurrent use; Base's lock is taken last, so a fake may call Now and
// Forbidden while holding its own.
type Base struct {
	inj *Injector

	mu        sync.Mutex
	now       func() time.Time
	forbidden map[string]bool
}

// NewBase returns a Base with clock now (nil means time.Now) whose
// injected errors are rendered with shapes.
func NewBase(now func() time.Time, shapes Shapes) *Base {
	if now == nil {
		now = time.Now
	}
	return &Base{inj: New(shapes), now: now, forbidden: map[string]bool{}}
}

// Serve answers r through the injector (see Injector.Serve).
func (b *Base) Serve(w http.ResponseWriter, r *http.Request, answer func(*http.Request) Response) {
	b.inj.Serve(w, r, answer)
}

// SetClock replaces the fake's clock.
func (b *Base) SetClock(now func() time.Time) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.now = now
}

// Clock returns the fake's clock.
func (b *Base) Clock() func() time.Time {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.now
}

// Now is the time on the fake's clock.
func (b *Base) Now() time.Time { return b.Clock()() }

// SetFaults replaces the injected faults and restarts their counting.
func (b *Base) SetFaults(fl Faults) { b.inj.Set(fl) }

// Stats returns the counters so far.
func (b *Base) Stats() Stats { return b.inj.Stats() }

// Requests returns every request served so far.
func (b *Base) Requests() []Request { return b.inj.Requests() }

// ResetStats clears the counters and the request log.
func (b *Base) ResetStats() { b.inj.Reset() }

// Forbid makes GET of this object id answer 403 (an object the key may not read).
func (b *Base) Forbid(id string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.forbidden[id] = true
}

// Forbidden reports whether Forbid was called for id.
func (b *Base) Forbidden(id string) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.forbidden[id]
}

// BearerKey is the trimmed key of an "Authorization: Bearer KEY" header;
// ok is false when the header has another scheme or no key.
func BearerKey(r *http.Request) (key string, ok bool) {
	key, ok = strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	key = strings.TrimSpace(key)
	return key, ok && key != ""
}

// KeyAccepted reports whether a fake configured with want accepts key:
// exactly want when it is set, else any key with one of the prefixes.
func KeyAccepted(key, want string, prefixes ...string) bool {
	if want != "" {
		return key == want
	}
	for _, p := range prefixes {
		if strings.HasPrefix(key, p) {
			return true
		}
	}
	return false
}

// Play runs a scenario's ops in order with b's clock moved to each op's
// time (at(op), as OpClock reads it; now anchors relative times), then
// restores the clock. A failing op stops the play, reported as
// "op I (label(op)): err".
func Play[Op any](b *Base, now time.Time, ops []Op, at, label func(Op) string, run func(Op, time.Time) error) error {
	defer b.SetClock(b.Clock())
	clock := OpClock{Now: now}
	for i, op := range ops {
		t, err := clock.Next(at(op))
		if err != nil {
			return fmt.Errorf("op %d: %w", i, err)
		}
		b.SetClock(func() time.Time { return t })
		if err := run(op, t); err != nil {
			return fmt.Errorf("op %d (%s): %w", i, label(op), err)
		}
	}
	return nil
}

// PlayScenario is Play, then (when faults is not nil) setFaults(*faults):
// the whole of a fake's Play.
func PlayScenario[Op, F any](b *Base, now time.Time, ops []Op, faults *F, setFaults func(F), at, label func(Op) string, run func(Op, time.Time) error) error {
	if err := Play(b, now, ops, at, label, run); err != nil {
		return err
	}
	if faults != nil {
		setFaults(*faults)
	}
	return nil
}

// SeedFields returns the fields of a seed op's object i (from 0): fields
// and id with their % verbs formatted with i+1 (id only when not empty),
// and created_at t unless fields set it.
func SeedFields(fields map[string]any, id string, t time.Time) func(i int) map[string]any {
	return func(i int) map[string]any {
		fl := ExpandFields(fields, i+1)
		if id != "" {
			fl["id"] = fmt.Sprintf(id, i+1)
		}
		if _, ok := fl["created_at"]; !ok {
			fl["created_at"] = t
		}
		return fl
	}
}

// FieldsAt returns a copy of fields(i) to add defaults to: never nil, and
// never the caller's map (nil fields gives an empty map).
func FieldsAt(fields func(i int) map[string]any, i int) map[string]any {
	var fl map[string]any
	if fields != nil {
		fl = maps.Clone(fields(i))
	}
	if fl == nil {
		fl = map[string]any{}
	}
	return fl
}

// RecoverOp turns a panic in a scenario op (the fakes' Create methods panic
// on a duplicate id) into *err: `defer fakefault.RecoverOp(&err)`.
func RecoverOp(err *error) {
	if r := recover(); r != nil {
		*err = fmt.Errorf("%v", r)
	}
}
