package reconcile

import (
	"context"
	"encoding/json"
	"errors"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/reconctl/reconctl/config"
	"github.com/reconctl/reconctl/localstate"
	"github.com/reconctl/reconctl/providers"
)

// memProvider serves records from memory; gets maps ids to statuses.
type memProvider struct {
	records map[string][]providers.Record
	gets    map[string]providers.RemoteStatus // id -> status for ids not listed
	getErr  map[string]error
}

func (p *memProvider) Name() string               { return "mem" }
func (p *memProvider) DefaultResources() []string { return []string{"customers"} }
func (p *memProvider) List(ctx context.Context, resource string, fn func(providers.Record) error) error {
	recs, ok := p.records[resource]
	if !ok {
		return &providers.UnknownResourceError{Provider: "mem", Resource: resource}
	}
	for _, r := range recs {
		if err := fn(r); err != nil {
			return err
		}
	}
	return nil
}
func (p *memProvider) Get(ctx context.Context, resource, id string) (providers.Record, providers.RemoteStatus, error) {
	if err := p.getErr[id]; err != nil {
		return providers.Record{}, "", err
	}
	for _, r := range p.records[resource] {
		if r.ID == id {
			return r, providers.StatusPresent, nil
		}
	}
	if st, ok := p.gets[id]; ok {
		if st == providers.StatusPresent {
			return providers.Record{ID: id, Data: map[string]any{"id": id}}, st, nil
		}
		return providers.Record{}, st, nil
	}
	return providers.Record{}, providers.StatusDeleted, nil
}

// memStore is a minimal in-memory Store for engine tests.
type memStore struct {
	cols    []string
	rows    map[string]map[string]any
	applied []localstate.Change
}

func (s *memStore) Kind() string { return "mem" }
func (s *memStore) Path() string { return "mem" }
func (s *memStore) Columns(ctx context.Context, t *localstate.Table) ([]string, error) {
	return s.cols, nil
}
func (s *memStore) keys() []string {
	var ks []string
	for k := range s.rows {
		ks = append(ks, k)
	}
	sort.Strings(ks)
	return ks
}
func (s *memStore) Scan(ctx context.Context, t *localstate.Table, cols []string, fn func(localstate.Row) error) error {
	for _, k := range s.keys() {
		r, _, _ := s.Get(ctx, t, cols, k)
		if err := fn(r); err != nil {
			return err
		}
	}
	return nil
}
func (s *memStore) Get(ctx context.Context, t *localstate.Table, cols []string, key string) (localstate.Row, bool, error) {
	row, ok := s.rows[key]
	if !ok {
		return localstate.Row{}, false, nil
	}
	vals := make([]any, len(cols))
	for i, c := range cols {
		vals[i] = row[c]
	}
	return localstate.Row{Key: key, Values: vals}, true, nil
}
func (s *memStore) Apply(ctx context.Context, changes []localstate.Change) error {
	s.applied = append(s.applied, changes...)
	for _, c := range changes {
		switch c.Op {
		case localstate.OpCreate:
			s.rows[c.Key] = map[string]any{}
			fallthrough
		case localstate.OpUpdate:
			for k, v := range c.Values {
				s.rows[c.Key][k] = v
			}
		case localstate.OpDelete:
			delete(s.rows, c.Key)
		}
	}
	return nil
}
func (s *memStore) Close() error { return nil }

func (s *memStore) Features() localstate.Features { return localstate.Features{} }

func rec(id string, data string) providers.Record {
	var m map[string]any
	d := json.NewDecoder(strings.NewReader(data))
	d.UseNumber()
	if err := d.Decode(&m); err != nil {
		panic(err)
	}
	m["id"] = id
	return providers.Record{ID: id, Data: m}
}

func customersTable() *localstate.Table {
	return &localstate.Table{Resource: "customers", Name: "users", Key: "id", Fields: []localstate.Field{
		{Column: "email", Path: "email", Compare: "casefold"},
		{Column: "plan", Path: "metadata.plan"},
		{Column: "vip", Path: "metadata.vip", Compare: "bool"},
	}}
}

func fixture() (*memProvider, *memStore) {
	p := &memProvider{records: map[string][]providers.Record{"customers": {
		rec("cus_1", `{"email":"a@x","metadata":{"plan":"pro","vip":"true"}}`),
		rec("cus_2", `{"email":"B@x","metadata":{"plan":"free"}}`),
		rec("cus_3", `{"email":"c@x","metadata":{"plan":"pro"}}`),
		rec("cus_new", `{"email":"n@x","metadata":{"plan":"team","vip":"false"}}`),
	}}, gets: map[string]providers.RemoteStatus{
		"cus_gone": providers.StatusDeleted, "cus_scope": providers.StatusPresent, "cus_403": providers.StatusInaccessible,
	}, getErr: map[string]error{"cus_err": errors.New("boom")}}
	s := &memStore{cols: []string{"email", "plan", "vip"}, rows: map[string]map[string]any{
		"cus_1":     {"email": "a@x", "plan": "pro", "vip": int64(1)},
		"cus_2":     {"email": "b@x", "plan": "free", "vip": nil},
		"cus_3":     {"email": "c@x", "plan": "free", "vip": nil},
		"cus_gone":  {"email": "g@x", "plan": "free"},
		"cus_scope": {"email": "s@x", "plan": "free"},
		"cus_403":   {"email": "f@x", "plan": "free"},
		"cus_err":   {"email": "e@x", "plan": "free"},
	}}
	return p, s
}

func compare(t *testing.T, p providers.Provider, s localstate.Store, tbl *localstate.Table, mode Mode) (*Engine, *Result) {
	t.Helper()
	e := &Engine{Provider: p, Store: s}
	r, err := e.Prepare(context.Background(), tbl)
	if err != nil {
		t.Fatal(err)
	}
	res, err := e.Compare(context.Background(), []*Resource{r}, mode)
	if err != nil {
		t.Fatal(err)
	}
	return e, res
}

func TestClassify(t *testing.T) {
	p, s := fixture()
	_, res := compare(t, p, s, customersTable(), ModeDiff)
	got := map[string]Drift{}
	for _, d := range res.Drift {
		got[d.ID] = d
	}
	want := map[string][3]string{ // kind, remote_status, action
		"cus_new":   {KindMissingLocal, RemotePresent, ActionCreate},
		"cus_3":     {KindChanged, RemotePresent, ActionUpdate},
		"cus_gone":  {KindMissingRemote, RemoteDeleted, ActionDelete},
		"cus_scope": {KindMissingRemote, RemoteExists, ActionNone},
		"cus_403":   {KindMissingRemote, RemoteInaccessible, ActionNone},
		"cus_err":   {KindMissingRemote, RemoteUnconfirmed, ActionNone},
	}
	if len(got) != len(want) {
		t.Fatalf("drift = %+v, want %d items", res.Drift, len(want))
	}
	for id, w := range want {
		d := got[id]
		if d.Kind != w[0] || d.RemoteStatus != w[1] || d.Action != w[2] {
			t.Errorf("%s: got %s/%s/%s, want %v", id, d.Kind, d.RemoteStatus, d.Action, w)
		}
	}
	if f := got["cus_3"].Fields; len(f) != 1 || f[0].Name != "plan" || f[0].Path != "metadata.plan" || f[0].Local != "free" || f[0].Remote != "pro" {
		t.Errorf("cus_3 fields = %+v", f)
	}
	if got["cus_err"].Error == "" {
		t.Errorf("unconfirmed item carries no error")
	}
	sum := res.Summaries()["customers"]
	if sum.Remote != 4 || sum.Local != 7 || sum.InSync != 2 || sum.MissingLocal != 1 || sum.MissingRemote != 4 || sum.Changed != 1 || sum.Unresolved != 6 {
		t.Errorf("summary = %+v", sum)
	}
	// drift is ordered: missing_local, missing_remote, changed; by id within a kind
	var order []string
	for _, d := range res.Drift {
		order = append(order, d.ID)
	}
	if strings.Join(order, ",") != "cus_new,cus_403,cus_err,cus_gone,cus_scope,cus_3" {
		t.Errorf("order = %v", order)
	}
}

func TestApplyWritesOnlyFixes(t *testing.T) {
	p, s := fixture()
	e, res := compare(t, p, s, customersTable(), ModeDiff)
	if err := e.Apply(context.Background(), res); err != nil {
		t.Fatal(err)
	}
	ops := map[string]localstate.Change{}
	for _, c := range s.applied {
		ops[c.Key] = c
	}
	if len(ops) != 3 {
		t.Fatalf("applied %+v", s.applied)
	}
	if c := ops["cus_3"]; c.Op != localstate.OpUpdate || len(c.Values) != 1 || c.Values["plan"] != "pro" {
		t.Errorf("update = %+v", c)
	}
	if c := ops["cus_new"]; c.Op != localstate.OpCreate || c.Values["email"] != "n@x" || c.Values["plan"] != "team" {
		t.Errorf("create = %+v", c)
	}
	if c := ops["cus_gone"]; c.Op != localstate.OpDelete {
		t.Errorf("delete = %+v", c)
	}
	if res.Unresolved() != 3 { // exists, inaccessible, unconfirmed stay
		t.Errorf("unresolved = %d", res.Unresolved())
	}
	if s := res.Summaries()["customers"]; s.Applied != 3 || s.Unresolved != 3 {
		t.Errorf("summary = %+v", s)
	}
	// a second comparison finds only what cannot be fixed
	_, res = compare(t, p, s, customersTable(), ModeDiff)
	if len(res.Drift) != 3 {
		t.Errorf("after apply: %+v", res.Drift)
	}
}

func TestBrake(t *testing.T) {
	p, s := fixture()
	_, res := compare(t, p, s, customersTable(), ModeDiff)
	for _, c := range []struct {
		set    string
		refuse bool
	}{{"2", true}, {"3", false}, {"10%", true}, {"50%", false}, {"unlimited", false}, {"", false}, {"0", true}} {
		m, err := config.ParseMaxChanges(c.set)
		if err != nil {
			t.Fatal(err)
		}
		b := res.Brake(m)
		if (b != nil) != c.refuse {
			t.Errorf("max-changes %q: refusal %+v, want refuse=%v", c.set, b, c.refuse)
		}
		if b != nil && (b.Planned != 3 || b.Resource != "customers") {
			t.Errorf("refusal = %+v", b)
		}
	}
	// the default is the larger of 100 and 10%
	if l := (config.MaxChanges{}).Limit(5000); l != 500 {
		t.Errorf("default limit for 5000 = %d", l)
	}
	if l := (config.MaxChanges{}).Limit(50); l != 100 {
		t.Errorf("default limit for 50 = %d", l)
	}
}

func TestAuthErrorFailsRun(t *testing.T) {
	p, s := fixture()
	p.getErr["cus_err"] = &providers.AuthError{Provider: "mem", KeyEnv: "MEM_KEY"}
	e := &Engine{Provider: p, Store: s}
	r, _ := e.Prepare(context.Background(), customersTable())
	_, err := e.Compare(context.Background(), []*Resource{r}, ModeDiff)
	var auth *providers.AuthError
	if !errors.As(err, &auth) {
		t.Fatalf("err = %v, want an AuthError", err)
	}
}

func TestAutoMapping(t *testing.T) {
	p := &memProvider{records: map[string][]providers.Record{"customers": {
		rec("c1", `{"email":"a@x","name":"Ann","balance":0}`),
		rec("c2", `{"email":"b@x","name":"Bo","balance":5}`),
	}}}
	// local has a column the provider lacks (note): it is not compared
	s := &memStore{cols: []string{"email", "name", "balance", "note"}, rows: map[string]map[string]any{
		"c1": {"email": "a@x", "name": "Ann", "balance": int64(0), "note": "vip"},
		"c2": {"email": "b@x", "name": "Bob", "balance": 5.0, "note": nil},
	}}
	_, res := compare(t, p, s, &localstate.Table{Resource: "customers", Key: "id"}, ModeDiff)
	if len(res.Drift) != 1 || res.Drift[0].ID != "c2" || len(res.Drift[0].Fields) != 1 || res.Drift[0].Fields[0].Name != "name" {
		t.Fatalf("drift = %+v", res.Drift)
	}
}

func TestResyncModes(t *testing.T) {
	t1 := time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)
	t2 := t1.Add(time.Hour)
	mk := func() (*memProvider, *memStore) {
		r1 := rec("c1", `{"email":"new@x"}`)
		r1.UpdatedAt = t2 // provider newer: stale locally
		r2 := rec("c2", `{"email":"prov@x"}`)
		r2.UpdatedAt = t1 // local newer: resync leaves it
		r3 := rec("c3", `{"email":"same@x"}`)
		r3.UpdatedAt = t1
		p := &memProvider{records: map[string][]providers.Record{"customers": {r1, r2, r3}}}
		s := &memStore{cols: []string{"email", "upd"}, rows: map[string]map[string]any{
			"c1": {"email": "old@x", "upd": t1.Format(time.RFC3339)},
			"c2": {"email": "local@x", "upd": t2.Format(time.RFC3339)},
			"c3": {"email": "same@x", "upd": t1.Format(time.RFC3339)},
		}}
		return p, s
	}
	tbl := &localstate.Table{Resource: "customers", Key: "id", UpdatedAt: "upd", Fields: []localstate.Field{{Column: "email", Path: "email"}}}

	p, s := mk()
	e, res := compare(t, p, s, tbl, ModeResync)
	if err := e.Apply(context.Background(), res); err != nil {
		t.Fatal(err)
	}
	if s.rows["c1"]["email"] != "new@x" || s.rows["c1"]["upd"] != t2.Format(time.RFC3339) {
		t.Errorf("stale record not updated: %+v", s.rows["c1"])
	}
	if s.rows["c2"]["email"] != "local@x" {
		t.Errorf("newer local record overwritten: %+v", s.rows["c2"])
	}
	for _, d := range res.Drift {
		if d.ID == "c2" && (d.Action != ActionNone || d.Applied) {
			t.Errorf("c2 drift = %+v", d)
		}
	}

	p, s = mk()
	e, res = compare(t, p, s, tbl, ModeResyncForce)
	if n := res.PlannedWrites(); n != 3 {
		t.Errorf("force plans %d writes, want 3", n)
	}
	if n := res.Resources[0].Planned(); n != 2 { // brake counts only value changes
		t.Errorf("force brake count = %d, want 2", n)
	}
	if err := e.Apply(context.Background(), res); err != nil {
		t.Fatal(err)
	}
	if s.rows["c2"]["email"] != "prov@x" {
		t.Errorf("force did not overwrite: %+v", s.rows["c2"])
	}
}
