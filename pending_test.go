package main

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/reconctl/reconctl/journal"
	"github.com/reconctl/reconctl/reconcile"
)

// TestPendingJSONApplyResolved: a JSON apply journals what it is about to
// write before it replaces the snapshot. A run that died in between is
// resolved by the next writing run: if the snapshot is still what it was,
// its record says nothing was applied; if not, that its writes landed.
func TestPendingJSONApplyResolved(t *testing.T) {
	dir := t.TempDir()
	state := filepath.Join(dir, "state.json")
	snapshot := `{"customers": [{"id": "c1", "email": "one@example.com"}]}`
	os.WriteFile(state, []byte(snapshot), 0o644)
	os.WriteFile(filepath.Join(dir, "provider.json"), []byte(`{"customers": [{"id": "c1", "email": "one@example.com"}, {"id": "c2", "email": "two@example.com"}]}`), 0o644)
	sum := sha256.Sum256([]byte(snapshot))

	ctx := context.Background()
	j, err := journal.Open(ctx, journal.SidecarPath(state), journal.Options{Create: true})
	if err != nil {
		t.Fatal(err)
	}
	rep := func(id string) *reconcile.Report {
		return &reconcile.Report{Command: "diff", RunID: id, StartedAt: time.Now().UTC(), Resources: []string{"customers"},
			Summary: map[string]*reconcile.ResourceSummary{"customers": {MissingLocal: 1, Applied: 1}},
			Drift:   []reconcile.Drift{{Resource: "customers", ID: "c9", Kind: reconcile.KindMissingLocal, Action: "create", Applied: true}}}
	}
	for id, stateSHA := range map[string]string{"r_notlanded": hex.EncodeToString(sum[:]), "r_landed": strings.Repeat("0", 64)} {
		if err := j.StartRun(ctx, journal.Run{ID: id, Command: "diff", State: state}); err != nil {
			t.Fatal(err)
		}
		b, _ := json.Marshal(rep(id))
		if err := j.MarkPending(ctx, id, rep(id), b, stateSHA); err != nil {
			t.Fatal(err)
		}
	}
	// A run of another state sharing the journal is not this state's to settle.
	other := filepath.Join(dir, "other.json")
	os.WriteFile(other, []byte(snapshot), 0o644)
	if err := j.StartRun(ctx, journal.Run{ID: "r_other", Command: "diff", State: other}); err != nil {
		t.Fatal(err)
	}
	if err := j.MarkPending(ctx, "r_other", rep("r_other"), nil, strings.Repeat("0", 64)); err != nil {
		t.Fatal(err)
	}
	j.Close()

	out, err := reconctl(dir, "diff", "--apply", "--provider", "file:provider.json", "--state", "state.json", "-r", "customers").CombinedOutput()
	if err != nil {
		t.Fatalf("diff --apply: %v\n%s", err, out)
	}
	if b, _ := os.ReadFile(state); !strings.Contains(string(b), "c2") {
		t.Fatalf("the apply did not land: %s", b)
	}
	if !strings.Contains(string(out), "r_notlanded was killed during its apply: its writes are not in the state") ||
		!strings.Contains(string(out), "r_landed was killed during its apply: its writes are in the state") {
		t.Errorf("the resolution was not reported:\n%s", out)
	}
	runs := map[string]map[string]any{}
	hist, err := reconctl(dir, "history", "--state", "state.json", "-o", "json").Output()
	if err != nil {
		t.Fatal(err)
	}
	var list []map[string]any
	json.Unmarshal(hist, &list)
	for _, r := range list {
		runs[r["run_id"].(string)] = r
	}
	nl, l := runs["r_notlanded"], runs["r_landed"]
	if nl == nil || !strings.Contains(nl["error"].(string), "nothing was written") || nl["counts"].(map[string]any)["applied"] != float64(0) {
		t.Errorf("r_notlanded: %v", nl)
	}
	if l == nil || !strings.Contains(l["error"].(string), "writes landed") || l["counts"].(map[string]any)["applied"] != float64(1) {
		t.Errorf("r_landed: %v", l)
	}
	one, err := reconctl(dir, "history", "--state", "state.json", "-o", "json", "r_notlanded").Output()
	if err != nil || !strings.Contains(string(one), `"applied": false`) || strings.Contains(string(one), `"applied": true`) {
		t.Errorf("history r_notlanded: %v\n%s", err, one)
	}
	// A normal apply (c2 was created) leaves nothing pending.
	j, err = journal.Open(ctx, journal.SidecarPath(state), journal.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer j.Close()
	if p, err := j.PendingRuns(ctx); err != nil || len(p) != 1 || p[0].ID != "r_other" {
		t.Errorf("pending after the runs: %v %v", p, err)
	}
}
