package replay

import (
	"bytes"
	"encoding/json"
	"testing"
	"time"

	"github.com/reconctl/reconctl/providers"
	"github.com/reconctl/reconctl/reconcile"
	"github.com/reconctl/reconctl/report"
)

// TestReportWriteJSON: the report written one event at a time is the json
// format byte for byte, whatever the report holds.
func TestReportWriteJSON(t *testing.T) {
	at := time.Date(2026, 11, 20, 10, 0, 0, 0, time.UTC)
	full := NewReport("r_1", at, "app.db", Options{Types: []string{"customer.updated"}})
	full.Provider, full.Since, full.Until, full.Cursor = "stripe", "2026-11-19T10:00:00Z", "2026-11-20T10:00:00Z", "evt_2"
	full.add(providers.Event{ID: "evt_1", Type: "customer.created", Created: at, Resource: "customers", ObjectID: "cus_<&>"}, OutcomeApplied, "")
	full.addReason(providers.Event{ID: "evt_2", Type: "customer.updated", Created: at, Resource: "customers", ObjectID: "cus_2"}, OutcomeStale, "the app wrote \"events\": null\n  later")
	full.add(providers.Event{ID: "evt_3", Type: "customer.deleted", Created: at, Resource: "customers", ObjectID: "cus_3"}, OutcomeFailed, "boom <b>")
	full.Brake = &reconcile.BrakeRefusal{Resource: "customers", Planned: 3, Limit: 1, Setting: "1"}
	full.ByType["events"] = map[string]int{"events": 1} // a nested "events" key is not the member
	empty := NewReport("r_2", at, "app.db", Options{})
	nilEvents := NewReport("r_3", at, "app.db", Options{})
	nilEvents.Events = nil
	for name, rep := range map[string]*Report{"full": full, "empty": empty, "nil": nilEvents} {
		var want, got bytes.Buffer
		if err := report.WriteJSON(&want, rep); err != nil {
			t.Fatal(err)
		}
		if err := rep.WriteJSON(&got); err != nil {
			t.Fatal(err)
		}
		if got.String() != want.String() {
			t.Errorf("%s: streamed JSON differs\n got: %s\nwant: %s", name, got.String(), want.String())
		}
	}
}

// TestReportNDJSONStreamed: the ndjson report written line by line
// (report.StreamedNDJSON) is what the whole-buffer encoding writes.
func TestReportNDJSONStreamed(t *testing.T) {
	at := time.Date(2026, 11, 20, 10, 0, 0, 0, time.UTC)
	rep := NewReport("r_1", at, "app.db", Options{})
	for i, id := range []string{"evt_1", "evt_<&>", "evt_3"} {
		rep.add(providers.Event{ID: id, Type: "customer.updated", Created: at.Add(time.Duration(i) * time.Second), Resource: "customers", ObjectID: "cus_<b>"}, OutcomeApplied, "")
	}
	rep.add(providers.Event{ID: "evt_4", Type: "customer.deleted", Created: at, Resource: "customers", ObjectID: "cus_4"}, OutcomeFailed, "boom <b> & \"q\"")
	rep.Cursor = "evt_3"
	var want bytes.Buffer
	enc := json.NewEncoder(&want)
	enc.SetEscapeHTML(false) // replay's ndjson never escaped HTML
	for _, line := range rep.NDJSONLines() {
		if err := enc.Encode(line); err != nil {
			t.Fatal(err)
		}
	}
	var got bytes.Buffer
	if err := report.Render(&got, "ndjson", rep, report.Options{}); err != nil {
		t.Fatal(err)
	}
	if got.String() != want.String() {
		t.Errorf("streamed ndjson differs\n got: %s\nwant: %s", got.String(), want.String())
	}
}
