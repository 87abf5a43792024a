package providers

import (
	"context"
	"fmt"
	"slices"
	"strings"
)

// SendInOrder sorts a window's buffered events by (Created, ID), oldest
// first, and hands them to fn one by one, stopping with "listing <what>: …"
// when ctx is cancelled. Event-listing providers buffer a window because
// their APIs page newest first or in no documented order.
func SendInOrder(ctx context.Context, events []Event, what string, fn func(Event) error) error {
	slices.SortFunc(events, func(x, y Event) int {
		if c := x.Created.Compare(y.Created); c != 0 {
			return c
		}
		return strings.Compare(x.ID, y.ID)
	})
	for _, ev := range events {
		if err := ctx.Err(); err != nil {
			return fmt.Errorf("listing %s: %w", what, context.Cause(ctx))
		}
		if err := fn(ev); err != nil {
			return err
		}
	}
	return nil
}
