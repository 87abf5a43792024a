package journal

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/reconctl/reconctl/localstate"
	"github.com/reconctl/reconctl/reconcile"
)

// Run statuses. StatusIncomplete is never stored: it is how a run still
// marked running reads once its process is gone.
const (
	StatusRunning     = "running"
	StatusOK          = "ok"
	StatusDrift       = "drift"
	StatusFailed      = "failed"
	StatusRefused     = "refused"
	StatusInterrupted = "interrupted"
	StatusIncomplete  = "incomplete"
)

// staleAfter is how long a run on another host may stay "running" before it
// reads as incomplete (its pid cannot be checked from here).
const staleAfter = 24 * time.Hour

// NewRunID makes a run id such as r_20261127T101500Z_3f9a: the start time in
// UTC and 4 random hex digits.
func NewRunID(now time.Time) string {
	var b [2]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails on supported platforms
	return "r_" + now.UTC().Format("20060102T150405Z") + "_" + hex.EncodeToString(b[:])
}

// Run is what StartRun records when a run begins.
type Run struct {
	ID        string
	Command   string   // diff, check-user, resync, replay, ...
	Args      []string // command-line arguments; redacted by StartRun
	Provider  string
	State     string
	Resources []string
	StartedAt time.Time // zero: now
}

// StartRun records a run as running, with this process's pid and host.
func (j *Journal) StartRun(ctx context.Context, r Run) error {
	if r.ID == "" || r.Command == "" {
		return errors.New("journal: StartRun needs a run id and a command")
	}
	if r.StartedAt.IsZero() {
		r.StartedAt = time.Now()
	}
	args, _ := json.Marshal(nonNil(RedactArgs(r.Args)))
	res, _ := json.Marshal(nonNil(r.Resources))
	var procStart any
	if t, ok := procStartTime(os.Getpid()); ok {
		procStart = t
	}
	_, err := j.db.ExecContext(ctx, j.d.bind(
		`INSERT INTO reconctl_runs (run_id, command, args_json, provider, state, resources_json,
			started_at, status, error, pid, proc_start, host)
		 VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`),
		r.ID, r.Command, string(args), r.Provider, r.State, string(res),
		fmtTS(r.StartedAt), StatusRunning, "", os.Getpid(), procStart, hostname())
	return j.fail("recording the start of run "+r.ID, err)
}

// noSuchRun says whether an UPDATE of runID's row found no row. MySQL
// counts changed rows, not matched ones, so there a row updated to the
// values it had is looked up.
func (j *Journal) noSuchRun(ctx context.Context, q Querier, res interface{ RowsAffected() (int64, error) }, runID string) bool {
	n, err := res.RowsAffected()
	if err != nil || n > 0 {
		return false
	}
	if !j.d.mysql() {
		return true
	}
	var c int
	if err := q.QueryRowContext(ctx, `SELECT count(*) FROM reconctl_runs WHERE run_id = ?`, runID).Scan(&c); err != nil {
		return false
	}
	return c == 0
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

// Finish is how a run ended.
type Finish struct {
	FinishedAt time.Time // zero: now
	Status     string    // ok, drift, failed, refused, interrupted
	ExitCode   int
	Err        string // the error the operator saw, if any
	// Report is the diff/resync/check-user --fix report; its drift items are
	// stored one row each. May be nil.
	Report *reconcile.Report
	// ReportJSON is the report exactly as printed with -o json (any report
	// shape: replay, check-user, ...). Stored byte for byte so history can
	// re-render it. When nil, Report is marshalled instead.
	ReportJSON []byte
	// WriteReport, when set (and ReportJSON nil), writes that same JSON; it
	// is compressed as it is written, so a large report (replay's window of
	// events) is never held whole.
	WriteReport func(io.Writer) error
	// Counts is the run's summary for `reconctl history` (for replay, its
	// summary object). Nil: summed from Report.Summary.
	Counts any
}

// FinishRun records the end of a run, its report and its drift items, in one
// transaction. A run's end matters most when it was interrupted, so a
// cancelled ctx does not stop the write: it gets 10 more seconds.
func (j *Journal) FinishRun(ctx context.Context, runID string, f Finish) error {
	switch f.Status {
	case StatusOK, StatusDrift, StatusFailed, StatusRefused, StatusInterrupted:
	default:
		return fmt.Errorf("journal: FinishRun: status %q is not one of ok, drift, failed, refused, interrupted", f.Status)
	}
	if ctx.Err() != nil {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
		defer cancel()
	}
	if f.FinishedAt.IsZero() {
		f.FinishedAt = time.Now()
	}
	f.Err = RedactError(f.Err) // no key, key-shaped string or URL query is stored

	var report any // NULL unless there is a report
	switch {
	case f.ReportJSON != nil:
		report = f.ReportJSON // compressed as it is: no copy of a large report
	case f.WriteReport != nil:
		report = f.WriteReport
	case f.Report != nil:
		b, err := json.Marshal(f.Report)
		if err != nil {
			return fmt.Errorf("journal: encoding the report of run %s: %w", runID, err)
		}
		report = b
	}
	var counts any
	if c := f.Counts; c != nil || f.Report != nil {
		if c == nil {
			c = reportCounts(f.Report)
		}
		b, err := json.Marshal(c)
		if err != nil {
			return fmt.Errorf("journal: encoding the counts of run %s: %w", runID, err)
		}
		counts = string(b)
	}

	tx, err := j.db.Begin(ctx)
	if err != nil {
		return j.fail("recording the end of run "+runID, err)
	}
	defer tx.Rollback()
	if report, err = j.storeReport(ctx, tx, runID, report); err != nil {
		return j.fail("recording the report of run "+runID, err)
	}
	res, err := tx.ExecContext(ctx, j.d.bind(
		`UPDATE reconctl_runs SET finished_at = ?, status = ?, exit_code = ?, error = ?,
			counts_json = ?, report_json = ? WHERE run_id = ?`),
		fmtTS(f.FinishedAt), f.Status, f.ExitCode, f.Err, counts, report, runID)
	if err != nil {
		return j.fail("recording the end of run "+runID, err)
	}
	if j.noSuchRun(ctx, tx, res, runID) {
		return &runNotFoundError{id: runID, path: j.shown()}
	}
	// Finishing twice replaces the drift items rather than doubling them.
	if _, err := tx.ExecContext(ctx, j.d.bind(`DELETE FROM reconctl_drift WHERE run_id = ?`), runID); err != nil {
		return j.fail("recording the drift of run "+runID, err)
	}
	if f.Report != nil && len(f.Report.Drift) > 0 {
		// The report (always stored with f.Report) holds the fields.
		if err := j.insertDrift(ctx, tx, runID, f.Report.Drift, false); err != nil {
			return j.fail("recording the drift of run "+runID, err)
		}
	}
	return j.fail("recording the end of run "+runID, tx.Commit())
}

// RecordApplied records, inside tx — the transaction that writes the
// changes, when the journal lives in the same SQLite database as the state —
// what the run applies: its report as it will stand once tx commits, its
// counts and drift items. The run stays "running" until FinishRun: killed
// after the commit, it shows as incomplete with the writes that landed,
// never as "applied 0".
func (j *Journal) RecordApplied(ctx context.Context, tx Querier, runID string, rep *reconcile.Report, reportJSON []byte) error {
	counts, err := json.Marshal(reportCounts(rep))
	if err != nil {
		return fmt.Errorf("journal: encoding the counts of run %s: %w", runID, err)
	}
	var report any
	if reportJSON != nil {
		report = reportJSON
	}
	if report, err = j.storeReport(ctx, tx, runID, report); err != nil {
		return j.fail("recording what run "+runID+" applies", err)
	}
	res, err := tx.ExecContext(ctx, j.d.bind(`UPDATE reconctl_runs SET counts_json = ?, report_json = ? WHERE run_id = ?`), string(counts), report, runID)
	if err != nil {
		return j.fail("recording what run "+runID+" applies", err)
	}
	if j.noSuchRun(ctx, tx, res, runID) {
		return &runNotFoundError{id: runID, path: j.shown()}
	}
	if _, err := tx.ExecContext(ctx, j.d.bind(`DELETE FROM reconctl_drift WHERE run_id = ?`), runID); err != nil {
		return j.fail("recording the drift of run "+runID, err)
	}
	if len(rep.Drift) > 0 {
		// The fields are kept once: in the report when there is one.
		if err := j.insertDrift(ctx, tx, runID, rep.Drift, reportJSON == nil); err != nil {
			return j.fail("recording the drift of run "+runID, err)
		}
	}
	return nil
}

// pendingPrefix starts the error of a run whose apply into a state outside
// the journal's database was under way (MarkPending), until it finishes or
// a later run resolves it.
const pendingPrefix = "pending apply: state sha256 "

// MarkPending records, before the state is written, what the run is about to
// apply and a fingerprint of the state as it is now. If the run dies before
// FinishRun, the next writing run compares the state with the fingerprint
// (ResolvePending) to tell whether the writes landed.
func (j *Journal) MarkPending(ctx context.Context, runID string, rep *reconcile.Report, reportJSON []byte, stateSHA string) error {
	tx, err := j.db.Begin(ctx)
	if err != nil {
		return j.fail("recording the pending apply of run "+runID, err)
	}
	defer tx.Rollback()
	if err := j.RecordApplied(ctx, tx, runID, rep, reportJSON); err != nil {
		return err
	}
	if _, err := tx.ExecContext(ctx, j.d.bind(`UPDATE reconctl_runs SET error = ? WHERE run_id = ?`), pendingPrefix+stateSHA, runID); err != nil {
		return j.fail("recording the pending apply of run "+runID, err)
	}
	return j.fail("recording the pending apply of run "+runID, tx.Commit())
}

// PendingRun is a run that died between MarkPending and FinishRun.
type PendingRun struct {
	ID         string
	State      string // the run's state as it was given
	StateSHA   string // the state's fingerprint before its apply
	ReportJSON []byte // the report as it would stand had the apply landed
}

// PendingRuns lists the runs still marked running with a pending apply. Call
// it holding the state's writer lock: no live run is then applying.
func (j *Journal) PendingRuns(ctx context.Context) ([]PendingRun, error) {
	rows, err := j.db.QueryContext(ctx, j.d.bind(`SELECT run_id, coalesce(state, ''), error, report_json FROM reconctl_runs
		WHERE status = ? AND substr(error, 1, `+strconv.Itoa(len(pendingPrefix))+`) = ? ORDER BY started_at`), StatusRunning, pendingPrefix)
	if err != nil {
		return nil, j.fail("reading pending applies", err)
	}
	defer rows.Close()
	var out []PendingRun
	for rows.Next() {
		var p PendingRun
		var msg string
		var report *string // NULL: no report
		if err := rows.Scan(&p.ID, &p.State, &msg, &report); err != nil {
			return nil, j.fail("reading pending applies", err)
		}
		p.StateSHA = msg[len(pendingPrefix):]
		if report != nil {
			p.ReportJSON = []byte(*report)
		}
		out = append(out, p)
	}
	if err := rows.Err(); err != nil {
		return nil, j.fail("reading pending applies", err)
	}
	rows.Close()
	for i := range out {
		if out[i].ReportJSON == nil {
			if out[i].ReportJSON, err = j.loadReport(ctx, out[i].ID, nil); err != nil {
				return nil, j.fail("reading pending applies", err)
			}
		}
	}
	return out, nil
}

// ResolvePending settles a pending run: its writes landed (the report stays
// as recorded) or they did not (rep, with nothing applied, replaces it). The
// run stays incomplete; its error says which.
func (j *Journal) ResolvePending(ctx context.Context, runID string, landed bool, rep *reconcile.Report, reportJSON []byte) error {
	tx, err := j.db.Begin(ctx)
	if err != nil {
		return j.fail("resolving the pending apply of run "+runID, err)
	}
	defer tx.Rollback()
	msg := "killed after its writes landed in the state, before it recorded its end"
	if !landed {
		msg = "killed before its writes landed: nothing was written"
		if err := j.RecordApplied(ctx, tx, runID, rep, reportJSON); err != nil {
			return err
		}
	}
	if _, err := tx.ExecContext(ctx, j.d.bind(`UPDATE reconctl_runs SET error = ? WHERE run_id = ?`), msg, runID); err != nil {
		return j.fail("resolving the pending apply of run "+runID, err)
	}
	return j.fail("resolving the pending apply of run "+runID, tx.Commit())
}

// driftBatch is how many drift rows one INSERT carries on a server (10
// parameters each, far below either server's 65,535), so a diff with 100k
// items is a few hundred round trips, not 100k. SQLite, in process, keeps
// one prepared statement per row.
const driftBatch = 500

const driftCols = `INSERT INTO reconctl_drift (run_id, seq, resource, object_id, kind, remote_status,
			action, applied, error, fields_json) VALUES `

// insertDrift stores the run's drift index: one row per item (what, which
// record, the action and its outcome), and each item's field differences
// only withFields, when no stored report holds them (reports.go).
func (j *Journal) insertDrift(ctx context.Context, tx Querier, runID string, drift []reconcile.Drift, withFields bool) error {
	batch := 1
	if j.d.kind != localstate.KindSQLite {
		batch = driftBatch
	}
	row := "(" + placeholders(10) + ")"
	stmt := func(n int) string {
		return j.d.bind(driftCols + strings.TrimSuffix(strings.Repeat(row+",", n), ","))
	}
	exec, done, err := prepareOn(ctx, tx, stmt(min(batch, len(drift))))
	if err != nil {
		return err
	}
	defer done()
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	args := make([]any, 0, 10*min(batch, len(drift)))
	for i := range drift {
		d := &drift[i]
		var fields any
		if withFields && len(d.Fields) > 0 {
			buf.Reset()
			if err := enc.Encode(d.Fields); err != nil {
				return fmt.Errorf("encoding the fields of %s %s: %w", d.Resource, d.ID, err)
			}
			fields = string(bytes.TrimSuffix(buf.Bytes(), []byte("\n")))
		}
		applied := 0 // an integer on every kind (pgx does not turn a bool into one)
		if d.Applied {
			applied = 1
		}
		args = append(args, runID, i, d.Resource, d.ID, d.Kind, d.RemoteStatus,
			d.Action, applied, RedactError(driftError(d)), fields)
		if len(args) < 10*batch && i < len(drift)-1 {
			continue
		}
		if len(args) == 10*min(batch, len(drift)) {
			err = exec(ctx, args...)
		} else { // the last, shorter batch
			_, err = tx.ExecContext(ctx, stmt(len(args)/10), args...)
		}
		if err != nil {
			return err
		}
		args = args[:0]
	}
	return nil
}

// reportCounts sums a report's summary over its resources.
func reportCounts(r *reconcile.Report) map[string]int {
	c := map[string]int{
		reconcile.KindMissingLocal: 0, reconcile.KindMissingRemote: 0, reconcile.KindChanged: 0,
		"applied": 0, "unresolved": 0,
	}
	if len(r.Summary) == 0 {
		for _, d := range r.Drift {
			c[d.Kind]++
			if d.Applied {
				c["applied"]++
			} else {
				c["unresolved"]++
			}
		}
		return c
	}
	for _, s := range r.Summary {
		if s == nil {
			continue
		}
		c[reconcile.KindMissingLocal] += s.MissingLocal
		c[reconcile.KindMissingRemote] += s.MissingRemote
		c[reconcile.KindChanged] += s.Changed
		c["applied"] += s.Applied
		c["unresolved"] += s.Unresolved
	}
	return c
}

// RunInfo is one run as `reconctl history` lists it.
type RunInfo struct {
	RunID      string     `json:"run_id"`
	Command    string     `json:"command"`
	Args       []string   `json:"args"`
	Provider   string     `json:"provider"`
	State      string     `json:"state"`
	Resources  []string   `json:"resources"`
	StartedAt  time.Time  `json:"started_at"`
	FinishedAt *time.Time `json:"finished_at"`
	// Status is the stored status, or "incomplete" for a run still marked
	// running whose process is gone.
	Status   string `json:"status"`
	ExitCode *int   `json:"exit_code"`
	Error    string `json:"error,omitempty"`
	// Counts: for diff/resync/check-user missing_local, missing_remote,
	// changed, applied, unresolved summed over resources; for replay its
	// summary (fetched, applied, duplicate, ...). Nil until the run finished.
	Counts map[string]int `json:"counts"`
	PID    int            `json:"pid"`
	Host   string         `json:"host"`
}

// Filter selects runs for ListRuns.
type Filter struct {
	Limit   int    // 0: 20; negative: no limit
	Command string // "": every command
	// Tenant, when set, keeps the runs that ran for that tenant.
	Tenant string
}

const runCols = `run_id, command, args_json, provider, state, resources_json, started_at,
	finished_at, status, exit_code, error, counts_json, pid, proc_start, host`

// ListRuns lists runs newest first.
func (j *Journal) ListRuns(ctx context.Context, f Filter) ([]RunInfo, error) {
	limit := f.Limit
	if limit == 0 {
		limit = 20
	}
	q := `SELECT ` + runCols + ` FROM reconctl_runs`
	var args []any
	if f.Command != "" {
		q += ` WHERE command = ?`
		args = append(args, f.Command)
	}
	if f.Tenant != "" {
		if len(args) == 0 {
			q += ` WHERE`
		} else {
			q += ` AND`
		}
		q += ` run_id IN (SELECT run_id FROM reconctl_tenant_runs WHERE tenant = ?)`
		args = append(args, f.Tenant)
	}
	q += ` ORDER BY started_at DESC, ` + j.d.order() + ` DESC`
	if limit >= 0 {
		q += ` LIMIT ` + strconv.Itoa(limit)
	}
	rows, err := j.db.QueryContext(ctx, j.d.bind(q), args...)
	if err != nil {
		return nil, j.fail("listing runs", err)
	}
	defer rows.Close()
	now := time.Now()
	var out []RunInfo
	for rows.Next() {
		ri, err := scanRun(rows, now)
		if err != nil {
			return nil, j.fail("listing runs", err)
		}
		out = append(out, ri)
	}
	if err := rows.Err(); err != nil {
		return nil, j.fail("listing runs", err)
	}
	return out, nil
}

// GetRun returns one run and the report JSON stored by FinishRun (nil while
// the run has not finished or printed no report).
func (j *Journal) GetRun(ctx context.Context, runID string) (RunInfo, []byte, error) {
	row := j.db.QueryRowContext(ctx, j.d.bind(
		`SELECT `+runCols+`, report_json FROM reconctl_runs WHERE run_id = ?`), runID)
	var report *string // NULL: no report
	ri, err := scanRun(row, time.Now(), &report)
	if errors.Is(err, localstate.ErrNoRows) {
		return RunInfo{}, nil, &runNotFoundError{id: runID, path: j.shown()}
	}
	if err != nil {
		return RunInfo{}, nil, j.fail("reading run "+runID, err)
	}
	rep, err := j.loadReport(ctx, runID, report)
	if err != nil {
		return RunInfo{}, nil, j.fail("reading run "+runID, err)
	}
	return ri, rep, nil
}

type scanner interface{ Scan(dest ...any) error }

func scanRun(s scanner, now time.Time, extra ...any) (RunInfo, error) {
	var (
		ri                         RunInfo
		argsJSON, resJSON, started string
		finished, counts           *string // nil: NULL
		exit, procStart            *int64
	)
	dest := append([]any{&ri.RunID, &ri.Command, &argsJSON, &ri.Provider, &ri.State, &resJSON, &started,
		&finished, &ri.Status, &exit, &ri.Error, &counts, &ri.PID, &procStart, &ri.Host}, extra...)
	if err := s.Scan(dest...); err != nil {
		return RunInfo{}, err
	}
	// A damaged args or resources column should not hide the run: leave it empty.
	_ = json.Unmarshal([]byte(argsJSON), &ri.Args)
	_ = json.Unmarshal([]byte(resJSON), &ri.Resources)
	var err error
	if ri.StartedAt, err = parseTS(started); err != nil {
		return RunInfo{}, fmt.Errorf("run %s: %w", ri.RunID, err)
	}
	if finished != nil {
		t, err := parseTS(*finished)
		if err != nil {
			return RunInfo{}, fmt.Errorf("run %s: %w", ri.RunID, err)
		}
		ri.FinishedAt = &t
	}
	if exit != nil {
		c := int(*exit)
		ri.ExitCode = &c
	}
	if counts != nil {
		ri.Counts = decodeCounts(*counts)
	}
	if ri.Status == StatusRunning && !runAlive(ri, procStart, now) {
		ri.Status = StatusIncomplete
	}
	return ri, nil
}

// decodeCounts keeps the whole-number entries of a counts object.
func decodeCounts(s string) map[string]int {
	var raw map[string]any
	if json.Unmarshal([]byte(s), &raw) != nil {
		return nil
	}
	out := make(map[string]int, len(raw))
	for k, v := range raw {
		if f, ok := v.(float64); ok && f == float64(int(f)) {
			out[k] = int(f)
		}
	}
	return out
}

// runAlive says whether a run marked running may still be running: on this
// host, whether its process exists (and is the same process, when its start
// time was recorded); on another host, whether it started in the last 24h.
// procStart is the recorded start time, nil when none was.
func runAlive(ri RunInfo, procStart *int64, now time.Time) bool {
	if ri.Host != hostname() {
		return now.Sub(ri.StartedAt) < staleAfter
	}
	if !pidAlive(ri.PID) {
		return false
	}
	if procStart != nil {
		if t, ok := procStartTime(ri.PID); ok && t != *procStart {
			return false // the pid now belongs to another process
		}
	}
	return true
}

type runNotFoundError struct{ id, path string }

func (e *runNotFoundError) Error() string {
	return fmt.Sprintf("no run %s in the journal at %s; `reconctl history` lists runs", e.id, e.path)
}

func (e *runNotFoundError) Is(target error) bool { return target == ErrRunNotFound }
