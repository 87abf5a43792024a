package rest

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/reconctl/reconctl/providers"
	"github.com/reconctl/reconctl/providers/providertest"
	"github.com/reconctl/reconctl/providers/rest/restfake"
)

const (
	testKeyEnv = "RECONCTL_TEST_REST_KEY"
	testKey    = "rest-secret-0123456789abcdef"
)

func TestMain(m *testing.M) {
	os.Setenv(testKeyEnv, testKey)
	os.Exit(m.Run())
}

func newFake(t testing.TB, cfg restfake.Config) (*restfake.Fake, *httptest.Server) {
	t.Helper()
	if cfg.APIKey == "" {
		cfg.APIKey = testKey
	}
	f, srv := restfake.NewServer(cfg)
	t.Cleanup(srv.Close)
	return f, srv
}

func build(t testing.TB, settings map[string]any, opts providers.Options) providers.Provider {
	t.Helper()
	opts, err := withSettings(opts, settings)
	if err != nil {
		t.Fatal(err)
	}
	p, err := New(providertest.Options(opts, "", opts.APIKeyEnv), providertest.FastRetries)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func newProvider(t testing.TB, f *restfake.Fake, srv *httptest.Server, opts providers.Options) providers.Provider {
	t.Helper()
	return build(t, f.ConfigFor(srv.URL, "users", testKeyEnv), opts)
}

type fixture struct {
	f   *restfake.Fake
	srv *httptest.Server
}

func (x *fixture) Seed(t *testing.T, resource string, n int) []string {
	return x.f.Seed(resource, n, func(i int) map[string]any {
		return map[string]any{"email": fmt.Sprintf("user%d@example.com", i), "name": fmt.Sprintf("User %d", i)}
	})
}

func (x *fixture) Delete(t *testing.T, resource, id string) {
	if err := x.f.Delete(resource, id); err != nil {
		t.Fatal(err)
	}
}

func (x *fixture) NeverExisted(string) string { return "user_neverexisted" }

func (x *fixture) SetFaults(fl providertest.Faults) {
	x.f.SetFaults(fl.FakeFaults())
}

func (x *fixture) Faulted() int { return x.f.Stats().Faulted() }

func (x *fixture) Provider(t *testing.T, cfg providertest.Config) providers.Provider {
	return newProvider(t, x.f, x.srv, providers.Options{Concurrency: cfg.Concurrency, Retries: cfg.Retries})
}

func TestConformance(t *testing.T) {
	for _, tc := range []struct {
		name string
		cfg  restfake.Config
	}{
		{"cursor", restfake.Config{Style: restfake.Cursor}},
		{"page", restfake.Config{Style: restfake.Page}},
		{"page_bare_array", restfake.Config{Style: restfake.Page, BareArray: true, NumericIDs: true}},
		{"offset", restfake.Config{Style: restfake.Offset, WrapGet: true}},
		{"link_relative", restfake.Config{Style: restfake.Link}},
		{"link_absolute", restfake.Config{Style: restfake.Link, LinkAbsolute: true, SoftDelete: true, AuthHeader: "X-Api-Key"}},
		{"next_url", restfake.Config{Style: restfake.NextURL}},
		{"offset_query_auth", restfake.Config{Style: restfake.Offset, AuthQueryParam: "api_key"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			providertest.Run(t, providertest.Harness{
				Resource: "users",
				New: func(t *testing.T) providertest.Fixture {
					f, srv := newFake(t, tc.cfg)
					return &fixture{f: f, srv: srv}
				},
			})
		})
	}
}

func TestRegistered(t *testing.T) {
	if !slices.Contains(providers.Names(), "rest") {
		t.Fatal(`"rest" is not registered`)
	}
	_, err := providers.Open(providers.Options{Spec: "rest"})
	if err == nil || !strings.Contains(err.Error(), "rest: missing") {
		t.Errorf("no section: %v", err)
	}
}

// minimal is a valid section to break one key at a time.
func minimal() map[string]any {
	return map[string]any{
		"base_url": "https://api.example.com",
		"auth":     map[string]any{"env": testKeyEnv},
		"resources": map[string]any{"users": map[string]any{
			"list_path": "/users", "items_path": "data", "id_path": "id", "get_path": "/users/{id}",
			"pagination": map[string]any{"style": "cursor", "next_path": "meta.next"},
		}},
	}
}

func TestConfigErrorsNameKeys(t *testing.T) {
	users := func(m map[string]any) map[string]any {
		return m["resources"].(map[string]any)["users"].(map[string]any)
	}
	pg := func(m map[string]any) map[string]any { return users(m)["pagination"].(map[string]any) }
	for _, tc := range []struct {
		name   string
		mutate func(m map[string]any)
		want   []string
	}{
		{"unknown style", func(m map[string]any) { pg(m)["style"] = "pages" },
			[]string{`rest.resources.users.pagination.style: unknown style "pages" (want cursor, page, offset, link, next_url, none)`}},
		{"missing list_path", func(m map[string]any) { delete(users(m), "list_path") },
			[]string{"rest.resources.users.list_path: missing (required)"}},
		{"missing get_path and id_path", func(m map[string]any) { delete(users(m), "get_path"); delete(users(m), "id_path") },
			[]string{"rest.resources.users.get_path: missing", "rest.resources.users.id_path: missing"}},
		{"get_path without {id}", func(m map[string]any) { users(m)["get_path"] = "/users/:id" },
			[]string{"rest.resources.users.get_path: want exactly one {id} placeholder"}},
		{"relative list_path", func(m map[string]any) { users(m)["list_path"] = "users" },
			[]string{"rest.resources.users.list_path: want a path starting with /"}},
		{"unknown key", func(m map[string]any) { users(m)["listpath"] = "/x" },
			[]string{"rest.resources.users.listpath: unknown key (known: "}},
		{"unknown top key", func(m map[string]any) { m["base"] = "x" },
			[]string{"rest.base: unknown key (known: auth, base_url, events, headers, resources, rps)"}},
		{"wrong type", func(m map[string]any) { users(m)["id_path"] = 7 },
			[]string{"rest.resources.users.id_path: want a string, got number 7"}},
		{"wrong limit", func(m map[string]any) { pg(m)["limit"] = "many" },
			[]string{`rest.resources.users.pagination.limit: want a whole number, got string "many"`}},
		{"zero limit", func(m map[string]any) { pg(m)["limit"] = 0 },
			[]string{"rest.resources.users.pagination.limit: must be at least 1, got 0"}},
		{"key of another style", func(m map[string]any) { pg(m)["per_page"] = 50 },
			[]string{"rest.resources.users.pagination.per_page: not used by style cursor (it takes: style, param, next_path"}},
		{"cursor without next_path", func(m map[string]any) { delete(pg(m), "next_path") },
			[]string{"rest.resources.users.pagination.next_path: missing (required)"}},
		{"no resources", func(m map[string]any) { delete(m, "resources") },
			[]string{"rest.resources: missing (required)"}},
		{"resource not a mapping", func(m map[string]any) { m["resources"].(map[string]any)["users"] = "yes" },
			[]string{"rest.resources.users: want a mapping, got string"}},
		{"bad path", func(m map[string]any) { users(m)["items_path"] = "data..items" },
			[]string{`rest.resources.users.items_path: path "data..items" has an empty segment`}},
		{"secret in headers", func(m map[string]any) { m["headers"] = map[string]any{"Authorization": "Bearer x"} },
			[]string{"rest.headers.Authorization: credentials belong in an environment variable"}},
		{"bad rps", func(m map[string]any) { m["rps"] = -3 },
			[]string{"rest.rps: want a positive number, got number -3"}},
		{"bad time format", func(m map[string]any) { users(m)["updated_at_format"] = "iso" },
			[]string{`rest.resources.users.updated_at_format: unknown format "iso"`}},
		{"next_url without next_url_path", func(m map[string]any) { users(m)["pagination"] = map[string]any{"style": "next_url"} },
			[]string{"rest.resources.users.pagination.next_url_path: missing (required)"}},
		{"total_path on cursor", func(m map[string]any) { pg(m)["total_path"] = "meta.total" },
			[]string{"rest.resources.users.pagination.total_path: not used by style cursor"}},
		{"query auth with a header", func(m map[string]any) {
			m["auth"] = map[string]any{"env": testKeyEnv, "query_param": "api_key", "header": "X-Key"}
		},
			[]string{"rest.auth.query_param: the key goes either in a header or in a query parameter"}},
		{"bad query_param", func(m map[string]any) { m["auth"] = map[string]any{"env": testKeyEnv, "query_param": "a&b"} },
			[]string{`rest.auth.query_param: want a query parameter name, got "a&b"`}},
		{"event formats", func(m map[string]any) {
			m["events"] = map[string]any{"path": "/events", "id_path": "id", "type_path": "type", "time_path": "t", "object_path": "o",
				"since_format": "epoch", "types_style": "csv", "types": map[string]any{"user.created": "users"}}
		}, []string{
			`rest.events.since_format: unknown format "epoch" (want rfc3339, unix, unix_ms)`,
			`rest.events.types_style: unknown style "csv" (want repeat, comma)`,
		}},
		{"events", func(m map[string]any) {
			m["events"] = map[string]any{"path": "/events", "id_path": "id", "type_path": "type",
				"retention": "a month", "types": map[string]any{"user.created": "accounts",
					"user.deleted": map[string]any{"resource": "users", "delete": "yes"}}}
		}, []string{
			"rest.events.time_path: missing (required)", "rest.events.object_path: missing (required)",
			`rest.events.retention: want a duration such as 30d or 720h, got string "a month"`,
			`rest.events.types["user.created"]: no resource "accounts" in rest.resources (have: users)`,
			`rest.events.types["user.deleted"].delete: want true or false, got string "yes"`,
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m := minimal()
			tc.mutate(m)
			_, err := ParseConfig(m)
			if err == nil {
				t.Fatal("no error")
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error\n%v\ndoes not contain\n%s", err, w)
				}
			}
			var ce *ConfigError
			if !errors.As(err, &ce) {
				t.Errorf("not a *ConfigError: %T", err)
			}
			// New reports the same.
			if _, err2 := newWithSettings(providers.Options{}, m); err2 == nil || err2.Error() != err.Error() {
				t.Errorf("New: %v", err2)
			}
		})
	}
	if _, err := ParseConfig(minimal()); err != nil {
		t.Errorf("minimal config: %v", err)
	}
	// Every problem at once, one per line.
	m := minimal()
	delete(users(m), "list_path")
	pg(m)["style"] = "pages"
	_, err := ParseConfig(m)
	if err == nil || strings.Count(err.Error(), "\n") != 1 {
		t.Errorf("two problems: %v", err)
	}
}

func TestConfigErrorLines(t *testing.T) {
	m := minimal()
	m["resources"].(map[string]any)["users"].(map[string]any)["pagination"].(map[string]any)["style"] = "pages"
	lines := map[string]int{"resources.users.pagination.style": 14}
	_, err := ParseConfigAt(m, lines, "reconctl.yaml")
	want := `reconctl.yaml:14: rest.resources.users.pagination.style: unknown style "pages"`
	if err == nil || !strings.HasPrefix(err.Error(), want) {
		t.Errorf("got %v, want %s…", err, want)
	}
	if _, err := ParseConfigAt(m, lines, ""); err == nil || !strings.HasPrefix(err.Error(), "line 14: rest.resources") {
		t.Errorf("without a file: %v", err)
	}
	// Through the registered decoder, lines come from the YAML itself.
	var doc yaml.Node
	src := "base_url: https://api.example.com\nresources:\n  users:\n    list_path: /users\n    pagination:\n      style: pages\n"
	if err := yaml.Unmarshal([]byte(src), &doc); err != nil {
		t.Fatal(err)
	}
	reg, _ := providers.Lookup("rest")
	_, err = reg.DecodeConfig(doc.Content[0], "app.yaml")
	if want := `app.yaml:6: rest.resources.users.pagination.style: unknown style "pages"`; err == nil || !strings.Contains(err.Error(), want) {
		t.Errorf("decoder: got %v, want %s…", err, want)
	}
	// The whole settings map with a rest: key works too.
	if _, err := ParseConfig(map[string]any{"rest": minimal()}); err != nil {
		t.Errorf("wrapped: %v", err)
	}
}

func TestOptionsAndAuth(t *testing.T) {
	f, srv := newFake(t, restfake.Config{Style: restfake.Cursor, AuthHeader: "X-Api-Key"})
	f.Seed("users", 3, nil)
	cfg := f.ConfigFor("https://unused.example.com", "users", "RECONCTL_TEST_UNSET_KEY")
	if _, err := newWithSettings(providers.Options{}, cfg); err == nil || err.Error() != "RECONCTL_TEST_UNSET_KEY is not set; export it or set api_key_env in reconctl.yaml" {
		t.Errorf("unset key: %v", err)
	}
	// --api-base and api_key_env win over base_url and auth.env.
	p := build(t, cfg, providers.Options{APIBase: srv.URL, APIKeyEnv: testKeyEnv})
	n := 0
	if err := p.List(context.Background(), "users", func(providers.Record) error { n++; return nil }); err != nil || n != 3 {
		t.Fatalf("List = %d, %v", n, err)
	}
	for _, r := range f.Requests() {
		if r.Header.Get("X-Api-Key") != testKey || r.Header.Get("Authorization") != "" {
			t.Errorf("auth headers %v", r.Header)
		}
	}
	// A wrong key: an AuthError naming the variable, never the key.
	t.Setenv("RECONCTL_TEST_REST_WRONG", "wrong-"+testKey)
	bad := build(t, cfg, providers.Options{APIBase: srv.URL, APIKeyEnv: "RECONCTL_TEST_REST_WRONG"})
	var ae *providers.AuthError
	err := bad.List(context.Background(), "users", func(providers.Record) error { return nil })
	if !errors.As(err, &ae) || !strings.Contains(err.Error(), "RECONCTL_TEST_REST_WRONG") || strings.Contains(err.Error(), testKey) {
		t.Errorf("List with a wrong key: %v", err)
	}
	if _, _, err := bad.Get(context.Background(), "users", "x"); !errors.As(err, &ae) || strings.Contains(err.Error(), testKey) {
		t.Errorf("Get with a wrong key: %v", err)
	}
	// No auth section and no api_key_env: nothing sent; the 401 says so.
	delete(cfg, "auth")
	anon := build(t, cfg, providers.Options{APIBase: srv.URL})
	err = anon.List(context.Background(), "users", func(providers.Record) error { return nil })
	if !errors.As(err, &ae) || !strings.Contains(err.Error(), "rest.auth.env") {
		t.Errorf("anonymous: %v", err)
	}
	// base_url missing and no --api-base; plain http to a remote host.
	delete(cfg, "base_url")
	if _, err := newWithSettings(providers.Options{}, cfg); err == nil || !strings.Contains(err.Error(), "rest.base_url: missing") {
		t.Errorf("no base: %v", err)
	}
	if _, err := newWithSettings(providers.Options{APIBase: "http://api.example.com"}, cfg); err == nil || !strings.Contains(err.Error(), "https://") {
		t.Errorf("plain http: %v", err)
	}
}

func TestGetAndRecords(t *testing.T) {
	f, srv := newFake(t, restfake.Config{Style: restfake.Offset, UnixTimes: true})
	at := time.Date(2026, 4, 5, 6, 7, 8, 0, time.UTC)
	f.Create("users", map[string]any{"id": "a/b c", "email": "x@example.com", "created_at": at, "plan": map[string]any{"tier": 2}})
	f.Create("users", map[string]any{"email": "y@example.com"})
	p := newProvider(t, f, srv, providers.Options{})
	ctx := context.Background()
	rec, st, err := p.Get(ctx, "users", "a/b c")
	if err != nil || st != providers.StatusPresent || rec.ID != "a/b c" || !rec.UpdatedAt.Equal(at) {
		t.Fatalf("Get = %+v %v %v", rec, st, err)
	}
	if v, _ := lookup(rec.Data, "plan.tier"); fmt.Sprint(v) != "2" {
		t.Errorf("nested field %v", v)
	}
	reqs := f.Requests()
	if got := reqs[len(reqs)-1].Path; got != "/users/a/b c" {
		t.Errorf("path %q", got)
	}
	f.Forbid("a/b c")
	if _, st, err := p.Get(ctx, "users", "a/b c"); err != nil || st != providers.StatusInaccessible {
		t.Errorf("forbidden: %v %v", st, err)
	}
	if _, st, err := p.Get(ctx, "users", "nope"); err != nil || st != providers.StatusDeleted {
		t.Errorf("404: %v %v", st, err)
	}
	var ure *providers.UnknownResourceError
	if _, _, err := p.Get(ctx, "orders", "1"); !errors.As(err, &ure) || !slices.Equal(ure.Known, []string{"users"}) {
		t.Errorf("unknown resource: %v", err)
	}
	// 410 is deleted; other statuses are errors with a readable excerpt.
	for code, want := range map[int]string{410: "", 500: "the API answered HTTP 500: boom", 400: "the API answered HTTP 400: bad thing"} {
		srv2 := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.WriteHeader(code)
			fmt.Fprintf(w, `{"message":%q}`, map[int]string{500: "boom", 400: "bad thing " + testKey}[code])
		}))
		p2 := build(t, f.ConfigFor(srv2.URL, "users", testKeyEnv), providers.Options{Retries: -1})
		_, st, err := p2.Get(ctx, "users", "x")
		srv2.Close()
		if want == "" && (err != nil || st != providers.StatusDeleted) {
			t.Errorf("%d: %v %v", code, st, err)
		}
		if want != "" && (err == nil || !strings.Contains(err.Error(), want) || strings.Contains(err.Error(), testKey)) {
			t.Errorf("%d: %v", code, err)
		}
	}
}

func TestWrappedAndSoftDeleted(t *testing.T) {
	f, srv := newFake(t, restfake.Config{Style: restfake.Page, WrapGet: true, SoftDelete: true, NumericIDs: true})
	ids := f.Seed("users", 3, nil)
	if err := f.Delete("users", ids[1]); err != nil {
		t.Fatal(err)
	}
	p := newProvider(t, f, srv, providers.Options{})
	rec, st, err := p.Get(context.Background(), "users", ids[0])
	if err != nil || st != providers.StatusPresent || rec.ID != "1" {
		t.Errorf("wrapped: %+v %v %v", rec, st, err)
	}
	if _, st, err := p.Get(context.Background(), "users", ids[1]); err != nil || st != providers.StatusDeleted {
		t.Errorf("deleted:true: %v %v", st, err)
	}
}

func TestCapabilities(t *testing.T) {
	m := minimal()
	p := build(t, m, providers.Options{})
	if providers.FeaturesOf(p).EmailLookup != nil {
		t.Error("EmailFinder without email_param")
	}
	if providers.FeaturesOf(p).Events != nil {
		t.Error("EventSource without events")
	}
	f := restfake.New(restfake.Config{})
	full := build(t, f.ConfigFor("https://api.example.com", "users", testKeyEnv), providers.Options{})
	if providers.FeaturesOf(full).EmailLookup == nil {
		t.Error("no EmailFinder with email_param")
	}
	if es := providers.FeaturesOf(full).Events; es == nil || es.EventRetention() != 30*24*time.Hour {
		t.Error("no EventSource with events")
	}
	if providers.FeaturesOf(full).WebhookSigner != nil {
		t.Error("rest has no webhook signature scheme")
	}
	if inner, ok := full.(*Provider); !ok || inner.Name() != "rest" || !slices.Equal(inner.DefaultResources(), []string{"users"}) {
		t.Error("Unwrap")
	}
}

func TestFindByEmail(t *testing.T) {
	f, srv := newFake(t, restfake.Config{Style: restfake.Cursor})
	f.Seed("users", 30, func(i int) map[string]any { return map[string]any{"email": fmt.Sprintf("u%d@example.com", i)} })
	p := newProvider(t, f, srv, providers.Options{})
	recs, err := providers.FeaturesOf(p).EmailLookup.FindByEmail(context.Background(), "users", "U3@example.com")
	if err != nil || len(recs) != 1 || recs[0].Data["email"] != "u3@example.com" {
		t.Fatalf("FindByEmail = %+v %v", recs, err)
	}
	reqs := f.Requests()
	if q, _ := url.ParseQuery(reqs[len(reqs)-1].Query); q.Get("email") != "U3@example.com" {
		t.Errorf("query %v", q)
	}
	// An API that ignores the parameter returns everyone: the client-side
	// check keeps only the match.
	cfg := f.ConfigFor(srv.URL, "users", testKeyEnv)
	cfg["resources"].(map[string]any)["users"].(map[string]any)["email_param"] = "mail"
	p2 := build(t, cfg, providers.Options{})
	recs, err = providers.FeaturesOf(p2).EmailLookup.FindByEmail(context.Background(), "users", "u7@example.com")
	if err != nil || len(recs) != 1 {
		t.Errorf("ignored parameter: %d records, %v", len(recs), err)
	}
}

func TestNextLink(t *testing.T) {
	for _, tc := range []struct {
		in   []string
		want string
	}{
		{[]string{`<https://api.example.com/users?page=2>; rel="next"`}, "https://api.example.com/users?page=2"},
		{[]string{`<https://a/x?page=1>; rel="first", </users?page=3&per_page=10>; rel="next", <https://a/x?page=9>; rel="last"`}, "/users?page=3&per_page=10"},
		{[]string{`</p?a=1,2>; rel=next`}, "/p?a=1,2"},
		{[]string{`<http://x/1>; rel="prev"`, `<http://x/3>; title="a, b; c"; rel="next last"`}, "http://x/3"},
		{[]string{`<http://x/3>;rel="NEXT"`}, "http://x/3"},
		{[]string{`<http://x/3>; rel="nextpage"`}, ""},
		{[]string{`<http://x/3>; anchor; rel="next"`}, "http://x/3"},
		{[]string{`garbage`}, ""},
		{nil, ""},
	} {
		got, ok := nextLink(tc.in)
		if got != tc.want || ok != (tc.want != "") {
			t.Errorf("nextLink(%q) = %q %v, want %q", tc.in, got, ok, tc.want)
		}
	}
}

func TestLinkPagingStaysOnHost(t *testing.T) {
	other := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		t.Error("the provider followed a Link to another host")
	}))
	defer other.Close()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Link", fmt.Sprintf(`<%s/steal?page=2>; rel="next"`, other.URL))
		fmt.Fprint(w, `{"data":[{"id":"1"}]}`)
	}))
	defer srv.Close()
	f := restfake.New(restfake.Config{Style: restfake.Link})
	p := build(t, f.ConfigFor(srv.URL, "users", testKeyEnv), providers.Options{})
	err := p.List(context.Background(), "users", func(providers.Record) error { return nil })
	if err == nil || !strings.Contains(err.Error(), "refusing to follow Link rel=next") {
		t.Errorf("cross-host Link: %v", err)
	}
	// A Link back to the same page would loop.
	loop := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Link", `<`+r.URL.RequestURI()+`>; rel="next"`)
		fmt.Fprint(w, `{"data":[{"id":"1"}]}`)
	}))
	defer loop.Close()
	p = build(t, f.ConfigFor(loop.URL, "users", testKeyEnv), providers.Options{})
	if err := p.List(context.Background(), "users", func(providers.Record) error { return nil }); err == nil || !strings.Contains(err.Error(), "same page") {
		t.Errorf("looping Link: %v", err)
	}
}

func TestListShapes(t *testing.T) {
	// A 200 that is not the configured shape is an error, never an empty listing.
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprint(w, `<html>maintenance</html>`)
	}))
	defer srv.Close()
	p := build(t, minimal(), providers.Options{APIBase: srv.URL})
	if err := p.List(context.Background(), "users", func(providers.Record) error { return nil }); err == nil || !strings.Contains(err.Error(), "page 1") {
		t.Errorf("HTML page: %v", err)
	}
	srv2 := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprint(w, `{"data":[{"name":"no id"}]}`)
	}))
	defer srv2.Close()
	p = build(t, minimal(), providers.Options{APIBase: srv2.URL})
	if err := p.List(context.Background(), "users", func(providers.Record) error { return nil }); err == nil || !strings.Contains(err.Error(), `id_path "id"`) {
		t.Errorf("item without id: %v", err)
	}
	// Page style without per_page_param stops on an empty page; static
	// query parameters and a base path prefix are kept.
	f, fsrv := newFake(t, restfake.Config{Style: restfake.Page, DefaultLimit: 7})
	f.Seed("users", 16, nil)
	cfg := f.ConfigFor(fsrv.URL+"/", "users", testKeyEnv)
	u := cfg["resources"].(map[string]any)["users"].(map[string]any)
	u["pagination"] = map[string]any{"style": "page", "per_page_param": ""}
	u["query"] = map[string]any{"sort": "created", "n": 5}
	p = build(t, cfg, providers.Options{})
	var got []string
	if err := p.List(context.Background(), "users", func(r providers.Record) error { got = append(got, r.ID); return nil }); err != nil || len(got) != 16 {
		t.Fatalf("page without per_page: %d %v", len(got), err)
	}
	reqs := f.Requests()
	if len(reqs) != 4 {
		t.Errorf("%d requests, want 3 pages and an empty one", len(reqs))
	}
	if q, _ := url.ParseQuery(reqs[0].Query); q.Get("sort") != "created" || q.Get("n") != "5" || q.Has("per_page") {
		t.Errorf("query %v", q)
	}
}

func TestEvents(t *testing.T) {
	now := time.Now().UTC().Truncate(time.Millisecond)
	f, srv := newFake(t, restfake.Config{Style: restfake.Cursor})
	var want []string
	for i := range 45 {
		want = append(want, f.AddEvent([]string{"user.created", "user.updated", "user.deleted"}[i%3],
			map[string]any{"id": fmt.Sprintf("user_%d", i)}, now.Add(-time.Hour+time.Duration(i/2)*time.Second)))
	}
	f.AddEvent("invoice.paid", map[string]any{"id": "inv_1"}, now.Add(-30*time.Minute))
	f.AddEvent("user.created", map[string]any{"id": "early"}, now.Add(-3*time.Hour))
	cfg := f.ConfigFor(srv.URL, "users", testKeyEnv)
	cfg["events"].(map[string]any)["pagination"].(map[string]any)["limit"] = 10
	p := providers.FeaturesOf(build(t, cfg, providers.Options{})).Events
	var evs []providers.Event
	err := p.Events(context.Background(), providers.EventQuery{Since: now.Add(-2 * time.Hour), Until: now},
		func(e providers.Event) error { evs = append(evs, e); return nil })
	if err != nil {
		t.Fatal(err)
	}
	if len(evs) != 46 {
		t.Fatalf("%d events, want 46", len(evs))
	}
	for i := 1; i < len(evs); i++ {
		if evs[i].Created.Before(evs[i-1].Created) {
			t.Fatalf("not oldest first at %d", i)
		}
	}
	e := evs[2]
	if e.ID != want[2] || e.Type != "user.deleted" || e.Resource != "users" || !e.Deleted || e.ObjectID != "user_2" ||
		e.Object["id"] != "user_2" || !strings.Contains(string(e.Raw), `"type":"user.deleted"`) {
		t.Errorf("event %+v", e)
	}
	for _, e := range evs {
		if e.Type == "invoice.paid" && e.Resource != "" {
			t.Errorf("unmapped type got resource %q", e.Resource)
		}
	}
	// since/until/types are sent; the window and types are also enforced here.
	f.ResetStats()
	evs = nil
	err = p.Events(context.Background(), providers.EventQuery{Since: now.Add(-time.Hour + 5*time.Second), Until: now.Add(-time.Hour + 10*time.Second),
		Types: []string{"user.updated"}}, func(e providers.Event) error { evs = append(evs, e); return nil })
	if err != nil || len(evs) != 4 { // i = 10, 13, 16, 19
		t.Fatalf("window: %d %v", len(evs), err)
	}
	q, _ := url.ParseQuery(f.Requests()[0].Query)
	if q.Get("since") == "" || q.Get("until") == "" || !slices.Equal(q["types"], []string{"user.updated"}) {
		t.Errorf("event query %v", q)
	}
}

func TestIgnoredPagingDoesNotLoop(t *testing.T) {
	// Always the same full page, whatever the page parameter says.
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprint(w, `{"data":[{"id":"1"},{"id":"2"}]}`)
	}))
	defer srv.Close()
	m := minimal()
	m["resources"].(map[string]any)["users"].(map[string]any)["pagination"] = map[string]any{"style": "page", "per_page": 2}
	p := build(t, m, providers.Options{APIBase: srv.URL})
	n := 0
	err := p.List(context.Background(), "users", func(providers.Record) error { n++; return nil })
	if err == nil || !strings.Contains(err.Error(), "repeats the page before it") || n != 2 {
		t.Errorf("ignored page parameter: %d records, %v", n, err)
	}
}

func listIDs(t *testing.T, p providers.Provider) []string {
	t.Helper()
	var got []string
	if err := p.List(context.Background(), "users", func(r providers.Record) error { got = append(got, r.ID); return nil }); err != nil {
		t.Fatal(err)
	}
	return got
}

// TestSilentlyCappedLimit: the API serves 25 a page whatever is asked for.
// A short page is not the end; only an empty page, a total reached, or no
// next cursor/link is.
func TestSilentlyCappedLimit(t *testing.T) {
	for _, tc := range []struct {
		name string
		cfg  restfake.Config
	}{
		{"page", restfake.Config{Style: restfake.Page}},
		{"page_bare_array", restfake.Config{Style: restfake.Page, BareArray: true}},
		{"offset", restfake.Config{Style: restfake.Offset}},
		{"offset_bare_array", restfake.Config{Style: restfake.Offset, BareArray: true}},
		{"cursor", restfake.Config{Style: restfake.Cursor}},
		{"link", restfake.Config{Style: restfake.Link}},
		{"next_url", restfake.Config{Style: restfake.NextURL}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tc.cfg.MaxLimit = 25
			f, srv := newFake(t, tc.cfg)
			ids := f.Seed("users", 130, nil)
			m := f.ConfigFor(srv.URL, "users", testKeyEnv)
			pg := m["resources"].(map[string]any)["users"].(map[string]any)["pagination"].(map[string]any)
			for _, k := range []string{"limit", "per_page"} {
				if _, ok := pg[k]; ok {
					pg[k] = 100 // more than the API serves
				}
			}
			got := listIDs(t, build(t, m, providers.Options{}))
			if !slices.Equal(got, ids) {
				t.Fatalf("listed %d of %d records: a capped page must not end the listing", len(got), len(ids))
			}
			// With total_path the listing ends when the total is reached,
			// without asking for an empty page.
			if _, ok := pg["total_path"]; ok {
				n := 0
				for _, r := range f.Requests() {
					if r.Path == "/users" {
						n++
					}
				}
				if n != 6 {
					t.Errorf("%d requests for 130 records at 25 a page with a total, want 6", n)
				}
			}
		})
	}
}

// TestNextURLWithDottedKey reads OData's "@odata.nextLink" (a key with
// dots) and refuses a next URL on another host.
func TestNextURLWithDottedKey(t *testing.T) {
	f, srv := newFake(t, restfake.Config{Style: restfake.NextURL, MaxLimit: 10})
	ids := f.Seed("users", 35, nil)
	if got := listIDs(t, newProvider(t, f, srv, providers.Options{})); !slices.Equal(got, ids) {
		t.Fatalf("listed %d of %d", len(got), len(ids))
	}
	other := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprint(w, `{"data":[{"id":"a"}],"@odata.nextLink":"https://evil.example.com/users?skiptoken=x"}`)
	}))
	defer other.Close()
	m := f.ConfigFor(other.URL, "users", testKeyEnv)
	err := build(t, m, providers.Options{}).List(context.Background(), "users", func(providers.Record) error { return nil })
	if err == nil || !strings.Contains(err.Error(), "refusing to follow next_url_path to https://evil.example.com") {
		t.Errorf("foreign next URL: %v", err)
	}
	// Dotted keys in any path, the longest key winning.
	if v, ok := lookup(map[string]any{"a.b": 1, "a": map[string]any{"b": 2}}, "a.b"); !ok || v != 1 {
		t.Errorf("lookup a.b = %v %v", v, ok)
	}
	if v, ok := lookup(map[string]any{"x": map[string]any{"@odata.count": 3}}, "x.@odata.count"); !ok || v != 3 {
		t.Errorf("lookup x.@odata.count = %v %v", v, ok)
	}
}

// TestQueryParamAuth sends the key as a query parameter, never a header,
// and never shows it in errors.
func TestQueryParamAuth(t *testing.T) {
	f, srv := newFake(t, restfake.Config{Style: restfake.Cursor, AuthQueryParam: "api_key"})
	ids := f.Seed("users", 30, nil)
	p := newProvider(t, f, srv, providers.Options{})
	if got := listIDs(t, p); !slices.Equal(got, ids) {
		t.Fatalf("listed %d of %d", len(got), len(ids))
	}
	for _, r := range f.Requests() {
		q, _ := url.ParseQuery(r.Query)
		if q.Get("api_key") != testKey || r.Header.Get("Authorization") != "" {
			t.Errorf("request %s?%s: want the key in api_key only", r.Path, strings.ReplaceAll(r.Query, testKey, "KEY"))
		}
	}
	f.SetFaults(restfake.Faults{ServerErrorEvery: 1})
	_, _, err := p.Get(context.Background(), "users", ids[0])
	if err == nil || strings.Contains(err.Error(), testKey) {
		t.Errorf("Get under 500s: %v", err)
	}
	// A dead server: transport errors must not quote the URL with the key.
	srv.Close()
	_, _, err = p.Get(context.Background(), "users", ids[0])
	if err == nil || strings.Contains(err.Error(), testKey) {
		t.Errorf("Get from a closed server: %v", err)
	}
}

// TestEventWindowFormatsAndCommaTypes: since/until as unix seconds or
// milliseconds, and a comma-joined types list (an API reading types=a,b
// counts only the first of repeated parameters).
func TestEventWindowFormatsAndCommaTypes(t *testing.T) {
	for _, format := range []string{"unix", "unix_ms", ""} {
		t.Run("format="+format, func(t *testing.T) {
			f, srv := newFake(t, restfake.Config{Style: restfake.Cursor, WindowFormat: format, TypesComma: true})
			now := time.Now().UTC()
			f.SetClock(func() time.Time { return now.Add(-3 * time.Hour) })
			f.Seed("users", 2, nil)
			f.SetClock(func() time.Time { return now.Add(-1 * time.Hour) })
			id := f.Seed("users", 1, nil)[0]
			if _, err := f.Update("users", id, map[string]any{"name": "x"}); err != nil {
				t.Fatal(err)
			}
			if err := f.Delete("users", id); err != nil {
				t.Fatal(err)
			}
			p := newProvider(t, f, srv, providers.Options{})
			var got []string
			err := providers.FeaturesOf(p).Events.Events(context.Background(), providers.EventQuery{
				Since: now.Add(-2 * time.Hour), Until: now, Types: []string{"user.updated", "user.deleted"}},
				func(e providers.Event) error { got = append(got, e.Type); return nil })
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(got, []string{"user.updated", "user.deleted"}) {
				t.Errorf("events %v", got)
			}
			for _, r := range f.Requests() {
				if r.Path != "/events" {
					continue
				}
				q, _ := url.ParseQuery(r.Query)
				if len(q["types"]) != 1 || q.Get("types") != "user.updated,user.deleted" {
					t.Errorf("types sent as %v", q["types"])
				}
				want := map[string]string{"unix": fmt.Sprint(now.Add(-2 * time.Hour).Unix()),
					"unix_ms": fmt.Sprint(now.Add(-2 * time.Hour).UnixMilli())}[format]
				if want != "" && q.Get("since") != want {
					t.Errorf("since=%s, want %s", q.Get("since"), want)
				}
			}
		})
	}
}

// TestIncrementalReadsWithoutEvents: a resource with updated_after_param
// makes the provider an event source for an API without an events feed:
// replay reads only the records changed since the window start.
func TestIncrementalReadsWithoutEvents(t *testing.T) {
	f, srv := newFake(t, restfake.Config{Style: restfake.Cursor, UpdatedAfter: true, MaxLimit: 10})
	now := time.Now().UTC().Truncate(time.Millisecond)
	f.SetClock(func() time.Time { return now.Add(-10 * time.Hour) })
	ids := f.Seed("users", 40, nil)
	f.SetClock(func() time.Time { return now.Add(-1 * time.Hour) })
	for _, id := range ids[5:8] {
		if _, err := f.Update("users", id, map[string]any{"name": "changed"}); err != nil {
			t.Fatal(err)
		}
	}
	m := f.ConfigFor(srv.URL, "users", testKeyEnv)
	delete(m, "events")
	m["resources"].(map[string]any)["users"].(map[string]any)["updated_after_param"] = "updated_after"
	p := build(t, m, providers.Options{})
	src := providers.FeaturesOf(p).Events
	if src == nil {
		t.Fatal("updated_after_param did not make the provider an event source")
	}
	if src.EventRetention() < 50*365*24*time.Hour {
		t.Errorf("retention %v", src.EventRetention())
	}
	f.ResetStats()
	var got []providers.Event
	q := providers.EventQuery{Since: now.Add(-2 * time.Hour), Until: now}
	if err := src.Events(context.Background(), q, func(e providers.Event) error { got = append(got, e); return nil }); err != nil {
		t.Fatal(err)
	}
	if len(got) != 3 {
		t.Fatalf("%d changes, want 3: %+v", len(got), got)
	}
	for i, e := range got {
		if e.Type != "users.updated" || e.Resource != "users" || e.ObjectID != ids[5+i] || e.Object["name"] != "changed" ||
			!e.Created.Equal(now.Add(-time.Hour)) || !strings.HasPrefix(e.ID, "users:"+ids[5+i]+"@") {
			t.Errorf("change %d: %+v", i, e)
		}
	}
	reqs := f.Requests()
	if len(reqs) != 1 {
		t.Errorf("%d requests: the API's filter should leave one page", len(reqs))
	}
	for _, r := range reqs {
		if v, _ := url.ParseQuery(r.Query); v.Get("updated_after") != now.Add(-2*time.Hour).Format(time.RFC3339Nano) {
			t.Errorf("query %s", r.Query)
		}
	}
	// Another type asked for: nothing read.
	f.ResetStats()
	q.Types = []string{"accounts.updated"}
	if err := src.Events(context.Background(), q, func(providers.Event) error { t.Error("unexpected event"); return nil }); err != nil || len(f.Requests()) != 0 {
		t.Errorf("other types: %v, %d requests", err, len(f.Requests()))
	}
	// Validation.
	bad := f.ConfigFor(srv.URL, "users", testKeyEnv)
	users := bad["resources"].(map[string]any)["users"].(map[string]any)
	users["updated_after_param"] = "updated_after"
	users["updated_after_format"] = "iso"
	delete(users, "updated_at_path")
	_, err := ParseConfig(bad)
	for _, w := range []string{
		`rest.resources.users.updated_after_format: unknown format "iso" (want rfc3339, unix, unix_ms)`,
		"rest.resources.users.updated_after_param: needs updated_at_path",
		"rest.resources.users.updated_after_param: not used when rest.events is configured",
	} {
		if err == nil || !strings.Contains(err.Error(), w) {
			t.Errorf("error %v lacks %q", err, w)
		}
	}
}

// The REST provider reads timestamp text with the engine's parser
// (providers.ParseTime): every layout the time compare mode accepts is a
// time here too, not an error.
func TestParseTimeShared(t *testing.T) {
	for _, s := range []string{"2024-01-02T03:04:05.5Z", "2024-01-02T03:04:05", "2024-01-02 03:04:05+02:00", "2024-01-02 03:04:05.25", "2024-01-02"} {
		want, ok := providers.ParseTime(s)
		if !ok {
			t.Fatalf("providers.ParseTime(%q) failed", s)
		}
		got, err := parseTime(s, "auto")
		if err != nil || !got.Equal(want) || got.Location() != time.UTC {
			t.Errorf("parseTime(%q) = %v, %v; want %v in UTC", s, got, err, want)
		}
	}
	if _, err := parseTime("yesterday", "auto"); err == nil {
		t.Error("yesterday parsed")
	}
}

// TestPagingLoopGuard: a server that cycles cursors A→B→A (each page with
// different items than the one before it), cycles next URLs, or keeps
// serving pages of records already seen must fail with an error naming the
// resource and the repeated cursor, not loop until a deadline.
func TestPagingLoopGuard(t *testing.T) {
	var hits int
	cycle := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits++
		if hits > 20 { // a backstop so the test ends before the fix too
			http.Error(w, "too many requests", http.StatusBadRequest)
			return
		}
		switch r.URL.Query().Get("cursor") {
		case "":
			fmt.Fprint(w, `{"data":[{"id":"1"},{"id":"2"}],"meta":{"next":"A"}}`)
		case "A":
			fmt.Fprint(w, `{"data":[{"id":"3"},{"id":"4"}],"meta":{"next":"B"}}`)
		case "B":
			fmt.Fprint(w, `{"data":[{"id":"5"},{"id":"6"}],"meta":{"next":"A"}}`)
		}
	}))
	defer cycle.Close()
	p := build(t, minimal(), providers.Options{APIBase: cycle.URL})
	err := p.List(context.Background(), "users", func(providers.Record) error { return nil })
	if err == nil || !strings.Contains(err.Error(), `rest users`) || !strings.Contains(err.Error(), `repeated the cursor "A"`) || hits > 5 {
		t.Errorf("cursor cycle A→B→A: %d requests, %v", hits, err)
	}

	// next_url cycling between two URLs.
	hits = 0
	var nurl *httptest.Server
	nurl = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits++
		if hits > 20 { // a backstop so the test ends before the fix too
			http.Error(w, "too many requests", http.StatusBadRequest)
			return
		}
		next := "/users?p=a%20b&z=1"
		if r.URL.Query().Get("p") == "a b" {
			next = "/users?p=c"
		}
		fmt.Fprintf(w, `{"data":[{"id":"%d"}],"next":%q}`, hits, nurl.URL+next)
	}))
	defer nurl.Close()
	m := minimal()
	m["resources"].(map[string]any)["users"].(map[string]any)["pagination"] = map[string]any{"style": "next_url", "next_url_path": "next"}
	err = build(t, m, providers.Options{APIBase: nurl.URL}).List(context.Background(), "users", func(providers.Record) error { return nil })
	if err == nil || !strings.Contains(err.Error(), "rest users") || !strings.Contains(err.Error(), "already read") || hits > 5 {
		t.Errorf("next URL cycle: %d requests, %v", hits, err)
	}

	// Page paging whose pages bring only records already seen (the page
	// parameter honoured but the data repeating in a rotating window).
	hits = 0
	stale := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits++
		if hits > 20 { // a backstop so the test ends before the fix too
			http.Error(w, "too many requests", http.StatusBadRequest)
			return
		}
		switch r.URL.Query().Get("page") {
		case "1":
			fmt.Fprint(w, `{"data":[{"id":"1"},{"id":"2"},{"id":"3"}]}`)
		default:
			pages := []string{`[{"id":"2"},{"id":"3"}]`, `[{"id":"1"},{"id":"3"}]`, `[{"id":"1"},{"id":"2"}]`, `[{"id":"3"},{"id":"1"}]`}
			fmt.Fprintf(w, `{"data":%s}`, pages[hits%len(pages)])
		}
	}))
	defer stale.Close()
	m = minimal()
	m["resources"].(map[string]any)["users"].(map[string]any)["pagination"] = map[string]any{"style": "page", "per_page": 3}
	n := 0
	err = build(t, m, providers.Options{APIBase: stale.URL}).List(context.Background(), "users", func(providers.Record) error { n++; return nil })
	if err == nil || !strings.Contains(err.Error(), "rest users") || !strings.Contains(err.Error(), "no record not already seen") || hits > 6 {
		t.Errorf("stale pages: %d requests, %d records, %v", hits, n, err)
	}
}

// TestSameSecondEventsKeepListOrder: events of one second keep the API's
// order (opaque ids are not ordered: issue #12 item 3), whether the API
// lists oldest first or newest first.
func TestSameSecondEventsKeepListOrder(t *testing.T) {
	f, _ := newFake(t, restfake.Config{Style: restfake.Cursor})
	for _, newestFirst := range []bool{false, true} {
		// ids sort against the real order: the update's id is smaller.
		evs := []string{
			`{"id":"evt_zz","type":"user.created","created_at":"2026-11-20T10:00:00Z","data":{"object":{"id":"u1","name":"old"}}}`,
			`{"id":"evt_aa","type":"user.updated","created_at":"2026-11-20T10:00:00Z","data":{"object":{"id":"u1","name":"new"}}}`,
			`{"id":"evt_mm","type":"user.updated","created_at":"2026-11-20T10:00:01Z","data":{"object":{"id":"u2","name":"x"}}}`,
		}
		want := []string{"evt_zz", "evt_aa", "evt_mm"}
		if newestFirst {
			slices.Reverse(evs)
		}
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			fmt.Fprintf(w, `{"data":[%s],"next_cursor":null,"has_more":false}`, strings.Join(evs, ","))
		}))
		cfg := f.ConfigFor(srv.URL, "users", testKeyEnv)
		ec := cfg["events"].(map[string]any)
		ec["items_path"] = "data"
		ec["pagination"] = map[string]any{"style": "none"}
		p := providers.FeaturesOf(build(t, cfg, providers.Options{})).Events
		var got []string
		err := p.Events(context.Background(), providers.EventQuery{}, func(e providers.Event) error { got = append(got, e.ID); return nil })
		srv.Close()
		if err != nil || !slices.Equal(got, want) {
			t.Errorf("newest first %v: events %v, %v; want %v", newestFirst, got, err, want)
		}
	}
}

// TestQueryAuthKeepsNextURLBytes: with auth.query_param, an API-given next
// URL (maybe signed or opaque) reaches the server byte-identical, the key
// appended: not re-encoded ("%20" kept, not "+") nor reordered.
func TestQueryAuthKeepsNextURLBytes(t *testing.T) {
	var raws []string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		raws = append(raws, r.URL.RawQuery)
		if len(raws) == 1 {
			fmt.Fprint(w, `{"data":[{"id":"1"}],"next":"/users?z=a%20b&a=1&sig=x%2Fy&api_key=stale"}`)
			return
		}
		fmt.Fprint(w, `{"data":[{"id":"2"}],"next":null}`)
	}))
	defer srv.Close()
	m := minimal()
	m["auth"] = map[string]any{"env": testKeyEnv, "query_param": "api_key"}
	m["resources"].(map[string]any)["users"].(map[string]any)["pagination"] = map[string]any{"style": "next_url", "next_url_path": "next"}
	p := build(t, m, providers.Options{APIBase: srv.URL})
	if err := p.List(context.Background(), "users", func(providers.Record) error { return nil }); err != nil {
		t.Fatal(err)
	}
	if want := "z=a%20b&a=1&sig=x%2Fy&api_key=" + testKey; len(raws) != 2 || raws[1] != want {
		t.Errorf("next page query %q, want %q", raws, want)
	}
}
