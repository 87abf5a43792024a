package commands

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/reconctl/reconctl/journal"
	"github.com/reconctl/reconctl/providers"
)

// Journal retention (journal_retention:, history --prune): see journal.Prune.

// eventsBefore is, per provider, the time before which its events are past
// its event retention (their idempotency rows may go). Only the configured
// provider is known: it is opened (no request is made) to read its
// retention; when it cannot be, its rows are kept.
func (s *Settings) eventsBefore(now time.Time) map[string]time.Time {
	out := map[string]time.Time{}
	if s.Provider == "" {
		return out
	}
	p, err := s.openProvider()
	if err != nil {
		s.Logger.Debug("journal retention: provider not opened, its replay events are kept", "err", err)
		return out
	}
	name, _ := providers.SplitSpec(s.Provider)
	if src := providers.FeaturesOf(p).Events; src != nil {
		out[name] = now.Add(-src.EventRetention())
	} else {
		out[name] = now // no events API: nothing can be replayed again
	}
	return out
}

// prune deletes the journal's runs older than keep.
func (s *Settings) prune(ctx context.Context, j *journal.Journal, keep time.Duration) (journal.Pruned, error) {
	now := time.Now()
	return j.Prune(ctx, now.Add(-keep), s.eventsBefore(now))
}

// prunedText says what a prune deleted, in one line.
func prunedText(p journal.Pruned, keep string) string {
	var cmds []string
	for c, n := range p.ByCommand {
		cmds = append(cmds, fmt.Sprintf("%d %s", n, c))
	}
	sort.Strings(cmds)
	msg := fmt.Sprintf("pruned %d runs started before %s (older than %s)", p.Runs, p.Before.Format(time.RFC3339), keep)
	if len(cmds) > 0 {
		msg += ": " + strings.Join(cmds, ", ")
	}
	msg += fmt.Sprintf("; %d drift items, %d replay event records past the provider's event retention", p.DriftItems, p.Events)
	msg += "; kept: checkpoints, record versions, running runs and replay event records the provider still keeps"
	if len(p.EventsKeptFor) > 0 {
		msg += fmt.Sprintf(" (all those of %s: event retention not known)", strings.Join(p.EventsKeptFor, ", "))
	}
	return msg
}

// pruneAfterWrite applies journal_retention: after a writing run, saying on
// stderr what went; a failure is a warning (the run itself is recorded).
func (r *run) pruneAfterWrite(ctx context.Context) {
	keep := r.s.Config.JournalRetention
	if keep <= 0 {
		return
	}
	p, err := r.s.prune(ctx, r.j, keep)
	if err != nil {
		r.s.Logger.Warn("journal_retention: could not prune the journal", "err", err)
		return
	}
	if p.Runs > 0 || p.Events > 0 {
		r.s.Logger.Info("journal_retention: " + prunedText(p, keepText(keep)))
	}
}

// keepText shows a retention as it is usually written (90d, or 36h).
func keepText(d time.Duration) string {
	if d%(24*time.Hour) == 0 {
		return fmt.Sprintf("%dd", d/(24*time.Hour))
	}
	return d.String()
}
