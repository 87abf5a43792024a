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
// their APIs page newest first or in no documented order. The ID tie-break
// is right only for ids that sort in creation order (WorkOS's ULIDs); for
// opaque ids use SendInListOrder.
func SendInOrder(ctx context.Context, events []Event, what string, fn func(Event) error) error {
	slices.SortFunc(events, func(x, y Event) int {
		if c := x.Created.Compare(y.Created); c != 0 {
			return c
		}
		return strings.Compare(x.ID, y.ID)
	})
	return send(ctx, events, what, fn)
}

// SendInListOrder is SendInOrder for opaque ids (Stripe's evt_… are not
// ordered): events must come in the API's own order, oldest first within
// each second, and are sorted stably by Created only, so events of the same
// second keep that order. Their ids are never compared.
func SendInListOrder(ctx context.Context, events []Event, what string, fn func(Event) error) error {
	slices.SortStableFunc(events, func(x, y Event) int { return x.Created.Compare(y.Created) })
	return send(ctx, events, what, fn)
}

func send(ctx context.Context, events []Event, what string, fn func(Event) error) error {
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
