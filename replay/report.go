package replay

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/reconctl/reconctl/providers"
	"github.com/reconctl/reconctl/reconcile"
	"github.com/reconctl/reconctl/report"
)

// Replay outcomes (contract).
const (
	OutcomeApplied    = "applied"
	OutcomeWouldApply = "would_apply"
	OutcomeDuplicate  = "duplicate"
	OutcomeStale      = "stale"
	OutcomeIgnored    = "ignored"
	OutcomeDelivered  = "delivered"
	OutcomeFailed     = "failed"
)

// Report is replay's report (contract: replay JSON).
type Report struct {
	Command    string                    `json:"command"`
	RunID      string                    `json:"run_id"`
	Provider   string                    `json:"provider"`
	State      string                    `json:"state"`
	Target     string                    `json:"target,omitempty"`
	Since      string                    `json:"since"`
	Until      string                    `json:"until"`
	Types      []string                  `json:"types,omitempty"`
	DryRun     bool                      `json:"dry_run"`
	Partial    bool                      `json:"partial,omitempty"`
	LostUntil  string                    `json:"lost_until,omitempty"`
	StartedAt  string                    `json:"started_at"`
	FinishedAt string                    `json:"finished_at"`
	Events     []Event                   `json:"events"`
	Summary    map[string]int            `json:"summary"`
	ByType     map[string]map[string]int `json:"by_type"`
	Cursor     string                    `json:"cursor"`
	Brake      *reconcile.BrakeRefusal   `json:"brake,omitempty"`
	Stopped    string                    `json:"stopped,omitempty"`
	// Tenants is a replay over tenants' section per tenant (tenants.go).
	Tenants  []TenantResult `json:"tenants,omitempty"`
	ExitCode int            `json:"exit_code"`

	order map[string]int // event id → position in the fetched list
	// foreign: event id → its API version, for events whose payload is in
	// another version than the client's; refetched: those re-read.
	foreign   map[string]string
	refetched map[string]bool
}

// Event is one event's outcome.
type Event struct {
	ID       string `json:"id"`
	Type     string `json:"type"`
	Created  string `json:"created"`
	Resource string `json:"resource"`
	ObjectID string `json:"object_id"`
	Outcome  string `json:"outcome"`
	Error    string `json:"error,omitempty"`
	// Reason says why a stale event found by its write was not applied (the
	// local row was newer: issue #15).
	Reason string `json:"reason,omitempty"`
	// Conflict marks an event not applied because its create met a row the
	// app inserted meanwhile and nothing tells which is newer (no
	// updated_at mapped): the run exits 2 (issue #15).
	Conflict bool `json:"conflict,omitempty"`
	// APIVersion is set when the event's payload is rendered in another
	// API version than the client pins; Payload then says what replay did:
	// PayloadRefetched or PayloadAbsentUnknown.
	APIVersion string `json:"api_version,omitempty"`
	Payload    string `json:"payload,omitempty"`
	// Tenant is the event's tenant in a replay over tenants.
	Tenant string `json:"tenant,omitempty"`
}

// What replay did with a payload in another API version.
const (
	// PayloadRefetched: the object was read again (one GET) in the pinned
	// version and that is what was applied.
	PayloadRefetched = "refetched"
	// PayloadAbsentUnknown: the re-read failed (object gone or
	// unreadable), so mapped fields absent from the payload were left as
	// they were instead of written as NULL.
	PayloadAbsentUnknown = "absent_fields_unknown"
)

// addReason is add with the reason an event was not applied.
func (rep *Report) addReason(e providers.Event, outcome, reason string) {
	rep.add(e, outcome, "")
	rep.Events[len(rep.Events)-1].Reason = reason
}

func (rep *Report) add(e providers.Event, outcome, errText string) {
	ev := Event{ID: e.ID, Type: e.Type, Created: e.Created.UTC().Format(time.RFC3339), Resource: e.Resource, ObjectID: e.ObjectID, Outcome: outcome, Error: errText}
	if v := rep.foreign[e.ID]; v != "" && (outcome == OutcomeApplied || outcome == OutcomeFailed) {
		ev.APIVersion = v
		switch {
		case e.Deleted:
			// A deletion carries no fields that could be unknown: no label.
		case rep.refetched[e.ID]:
			ev.Payload = PayloadRefetched
		default:
			ev.Payload = PayloadAbsentUnknown
		}
	}
	rep.Events = append(rep.Events, ev)
	rep.Summary[outcome]++
	if rep.ByType[e.Type] == nil {
		rep.ByType[e.Type] = map[string]int{}
	}
	rep.ByType[e.Type][outcome]++
}

func (rep *Report) finishCounts() {
	for _, k := range []string{OutcomeApplied, OutcomeDuplicate, OutcomeStale, OutcomeIgnored, OutcomeFailed} {
		if _, ok := rep.Summary[k]; !ok {
			rep.Summary[k] = 0
		}
	}
}

// place records that event id is at position pos of the fetched list: the
// last position when an id comes more than once, as when the list is
// walked in order (events to apply are placed in pass 2: spoolapply.go).
func (rep *Report) place(id string, pos int) {
	if at, ok := rep.order[id]; !ok || pos > at {
		rep.order[id] = pos
	}
}

// sortEvents puts the report's events back in the order they were
// fetched (and applied), not by id: ids are opaque.
func sortEvents(rep *Report) {
	sort.SliceStable(rep.Events, func(a, b int) bool {
		if rep.Events[a].Created != rep.Events[b].Created {
			return rep.Events[a].Created < rep.Events[b].Created
		}
		return rep.order[rep.Events[a].ID] < rep.order[rep.Events[b].ID]
	})
}

// JSONValue is the json format: the whole report (report.Doc).
func (rep *Report) JSONValue() any { return rep }

// NDJSONLines are the events, then the summary, cursor and exit code.
func (rep *Report) NDJSONLines() []any {
	lines := make([]any, 0, len(rep.Events)+1)
	for i := range rep.Events {
		lines = append(lines, &rep.Events[i]) // encoded alike, without a copy of each event
	}
	last := map[string]any{"summary": rep.Summary, "cursor": rep.Cursor, "exit_code": rep.ExitCode}
	if rep.Tenants != nil {
		last["tenants"] = rep.Tenants
	}
	return append(lines, last)
}

// CSV is one row per event.
func (rep *Report) CSV() ([]string, [][]string) {
	var rows [][]string
	header := []string{"id", "type", "created", "resource", "object_id", "outcome", "error"}
	if rep.Tenants != nil {
		header = append(header, "tenant") // a replay over tenants: the event's
	}
	for _, e := range rep.Events {
		row := []string{e.ID, e.Type, e.Created, e.Resource, e.ObjectID, e.Outcome, e.Error}
		if rep.Tenants != nil {
			row = append(row, e.Tenant)
		}
		rows = append(rows, row)
	}
	return header, rows
}

// Text is the counts per event type and outcome, the failures and the
// checkpoint.
func (rep *Report) Text(t *report.Text) error {
	title := fmt.Sprintf("replay %s events %s to %s", rep.Provider, rep.Since, rep.Until)
	if rep.Target != "" {
		title += " to " + rep.Target
	} else {
		title += " into " + rep.State
	}
	if rep.DryRun {
		title += " (dry run)"
	}
	if t.Markdown {
		t.Printf("## reconctl %s\n\n", title)
	} else {
		t.WriteString(title + "\n")
	}
	if rep.Tenants != nil {
		if err := rep.tenantLines(t); err != nil {
			return err
		}
	}
	if rep.Partial {
		t.Printf("PARTIAL: events before %s are no longer kept by the provider; run reconctl resync to repair that part.\n", rep.LostUntil)
	}
	outcomes := []string{OutcomeApplied, OutcomeWouldApply, OutcomeDelivered, OutcomeDuplicate, OutcomeStale, OutcomeIgnored, OutcomeFailed}
	var types []string
	for typ := range rep.ByType {
		types = append(types, typ)
	}
	sort.Strings(types)
	header := append([]string{"type"}, outcomes...)
	var rows [][]string
	for _, typ := range types {
		row := []string{typ}
		for _, o := range outcomes {
			row = append(row, strconv.Itoa(rep.ByType[typ][o]))
		}
		rows = append(rows, row)
	}
	total := []string{"total"}
	for _, o := range outcomes {
		total = append(total, strconv.Itoa(rep.Summary[o]))
	}
	rows = append(rows, total)
	if err := t.Table(header, rows); err != nil {
		return err
	}
	var failed []string
	for _, e := range rep.Events {
		if e.Outcome == OutcomeFailed {
			failed = append(failed, fmt.Sprintf("  %s%s %s %s: %s", tenantOf(e), e.ID, e.Type, e.ObjectID, e.Error))
		}
	}
	if len(failed) > 0 {
		t.WriteString("\nfailed:\n" + strings.Join(failed, "\n") + "\n")
	}
	var conflicts []string
	for _, e := range rep.Events {
		if e.Conflict {
			conflicts = append(conflicts, fmt.Sprintf("  %s%s %s %s: %s", tenantOf(e), e.ID, e.Type, e.ObjectID, e.Reason))
		}
	}
	if len(conflicts) > 0 {
		t.WriteString("\nconflicts (not applied; run reconctl diff to settle these records):\n" + strings.Join(conflicts, "\n") + "\n")
	}
	if rep.Stopped != "" {
		t.WriteString("\n" + rep.Stopped + "\n")
	}
	if rep.Brake != nil && rep.Brake.Reason != "" {
		t.Printf("\nREFUSED by the %s.\n", rep.Brake.Error())
	} else if rep.Brake != nil {
		t.Printf("\nREFUSED by the safety brake: %d events would write %s, more than --max-changes allows (%d, %s). Nothing was written.\n", rep.Brake.Planned, rep.Brake.Resource, rep.Brake.Limit, rep.Brake.Setting)
	}
	if n := rep.Summary["foreign_version"]; n > 0 {
		t.Printf("\n%d events were rendered in another API version than reconctl's: %d objects re-read (one GET each) and applied as now; %d could not be re-read and their events kept the columns their payload lacks.\n", n, rep.Summary["refetched"], rep.Summary["refetch_failed"])
	}
	if rep.Tenants != nil {
		t.WriteString(rep.tenantsDone())
		return nil
	}
	cursor := rep.Cursor
	if cursor == "" {
		cursor = "(none)"
	}
	t.Printf("\n%d events fetched; checkpoint %s. Exit %d.\n", rep.Summary["fetched"], cursor, rep.ExitCode)
	return nil
}

// tenantOf prefixes an event's line with its tenant in a replay over tenants.
func tenantOf(e Event) string {
	if e.Tenant == "" {
		return ""
	}
	return e.Tenant + " "
}

var _ report.Doc = (*Report)(nil)

// NDJSONStreams: the ndjson lines (each event) are written as they are
// encoded, not held whole first (report.StreamedNDJSON).
func (rep *Report) NDJSONStreams() {}

var _ report.StreamedNDJSON = (*Report)(nil)

// WriteJSON writes the report as report.WriteJSON does, byte for byte (the
// json format: indented, HTML not escaped), but one event at a time: a
// window of 100k events is not held a second and third time as its
// encoding and indentation (issue #16 item 5). The run's journal stores the
// report through it.
func (rep *Report) WriteJSON(w io.Writer) error {
	head := *rep
	head.Events = nil
	var hb bytes.Buffer
	enc := json.NewEncoder(&hb)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	if err := enc.Encode(&head); err != nil {
		return err
	}
	// The one top-level "events" member, at the first indentation level
	// (a string cannot hold a raw newline, nested members are indented
	// deeper): the events are written in its place.
	const slot = "\n  \"events\": null"
	b := hb.Bytes()
	at := bytes.Index(b, []byte(slot))
	if at < 0 {
		return fmt.Errorf("replay report: no events member in its JSON")
	}
	at += len(slot) - len("null")
	bw := bufio.NewWriterSize(w, 64<<10)
	bw.Write(b[:at])
	switch {
	case rep.Events == nil:
		bw.WriteString("null")
	case len(rep.Events) == 0:
		bw.WriteString("[]")
	default:
		var eb bytes.Buffer
		ee := json.NewEncoder(&eb)
		ee.SetEscapeHTML(false)
		ee.SetIndent("    ", "  ")
		bw.WriteString("[\n")
		for i := range rep.Events {
			eb.Reset()
			if err := ee.Encode(&rep.Events[i]); err != nil {
				return err
			}
			if i > 0 {
				bw.WriteString(",\n")
			}
			bw.WriteString("    ")
			bw.Write(bytes.TrimSuffix(eb.Bytes(), []byte("\n")))
		}
		bw.WriteString("\n  ]")
	}
	bw.Write(b[at+len("null"):])
	return bw.Flush()
}
