package providertest

import (
	"fmt"
	"net/http"
	"net/url"
	"os"
	"regexp"
	"sort"
	"strings"
	"sync"
	"testing"

	"gopkg.in/yaml.v3"
)

// Contract tests run our real provider clients against Prism serving a
// provider's own OpenAPI document (see .ci/prism.sh). Prism answers 422 to a
// request that breaks the spec (a value out of range, a wrong type, a
// missing required parameter) and generates responses from the schemas; it
// does not object to a parameter the spec never mentions, or to an array
// sent in another encoding than the spec's, so Spec checks those itself.

// Call is one request a contract test's client sent, and Prism's verdict.
type Call struct {
	Method     string
	URL        *url.URL
	Status     int
	Violations string // Prism's sl-violations header
}

// Recorder is an http.RoundTripper that records every call.
type Recorder struct {
	mu    sync.Mutex
	calls []Call
}

// RoundTrip implements http.RoundTripper.
func (r *Recorder) RoundTrip(req *http.Request) (*http.Response, error) {
	resp, err := http.DefaultTransport.RoundTrip(req)
	c := Call{Method: req.Method, URL: req.URL}
	if err == nil {
		c.Status, c.Violations = resp.StatusCode, resp.Header.Get("sl-violations")
	}
	r.mu.Lock()
	r.calls = append(r.calls, c)
	r.mu.Unlock()
	return resp, err
}

// Calls returns the calls so far.
func (r *Recorder) Calls() []Call {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]Call(nil), r.calls...)
}

// PrismAddr returns the mock's address from env, or skips the test saying
// how to run it.
func PrismAddr(t *testing.T, env string) (addr, spec string) {
	t.Helper()
	addr, spec = os.Getenv(env), os.Getenv(env+"_SPEC")
	if addr == "" || spec == "" {
		t.Skipf("Prism contract test skipped: %s and %s_SPEC are not set; run `eval \"$(bash .ci/prism.sh)\"` first (it installs Prism from npm, serves the providers' OpenAPI specs from ../shared/contracts and prints the exports)", env, env)
	}
	return addr, spec
}

// CheckCalls fails t for every call Prism rejected or flagged, and every
// call Spec finds outside the spec. It returns how many calls it checked.
func CheckCalls(t *testing.T, spec *Spec, calls []Call) int {
	t.Helper()
	for _, c := range calls {
		line := c.Method + " " + c.URL.RequestURI()
		if c.Status == 0 {
			// A transport error (Prism slow under load, a timeout): no
			// verdict on the request, which the client retried; the
			// operation's own error, if any, fails the test.
			t.Logf("no answer from Prism to %s (retried by the client)", line)
			if err := spec.Check(c.Method, c.URL); err != nil {
				t.Errorf("%s: %v", line, err)
			}
			continue
		}
		if c.Status >= 400 {
			t.Errorf("Prism rejected %s: HTTP %d %s", line, c.Status, c.Violations)
			continue
		}
		if c.Violations != "" {
			t.Errorf("Prism flagged %s: %s", line, c.Violations)
		}
		if err := spec.Check(c.Method, c.URL); err != nil {
			t.Errorf("%s: %v", line, err)
		}
	}
	return len(calls)
}

// Spec is the operations of an OpenAPI document: for each method and path
// template the query parameters it declares.
type Spec struct {
	ops []operation
}

type operation struct {
	method, path string
	re           *regexp.Regexp
	literal      int // literal segments: the most specific template wins
	query        map[string]queryParam
}

type queryParam struct {
	array, noExplode bool
}

// LoadSpec reads an OpenAPI 3 document (YAML or JSON).
func LoadSpec(path string) (*Spec, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var doc map[string]any
	if err := yaml.Unmarshal(raw, &doc); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	comps, _ := doc["components"].(map[string]any)
	refParams, _ := comps["parameters"].(map[string]any)
	resolve := func(p any) map[string]any {
		m, _ := p.(map[string]any)
		if ref, ok := m["$ref"].(string); ok {
			m, _ = refParams[strings.TrimPrefix(ref, "#/components/parameters/")].(map[string]any)
		}
		return m
	}
	paths, _ := doc["paths"].(map[string]any)
	s := &Spec{}
	for tmpl, item := range paths {
		pi, _ := item.(map[string]any)
		common, _ := pi["parameters"].([]any)
		var re strings.Builder
		re.WriteString("^")
		lit := 0
		for i, seg := range strings.Split(strings.TrimPrefix(tmpl, "/"), "/") {
			if i > 0 || strings.HasPrefix(tmpl, "/") {
				re.WriteString("/")
			}
			if strings.HasPrefix(seg, "{") && strings.HasSuffix(seg, "}") {
				re.WriteString("[^/]+")
			} else {
				re.WriteString(regexp.QuoteMeta(seg))
				lit++
			}
		}
		re.WriteString("$")
		rx := regexp.MustCompile(re.String())
		for method, o := range pi {
			om, ok := o.(map[string]any)
			if !ok || method == "parameters" {
				continue
			}
			op := operation{method: strings.ToUpper(method), path: tmpl, re: rx, literal: lit, query: map[string]queryParam{}}
			params, _ := om["parameters"].([]any)
			for _, p := range append(append([]any(nil), common...), params...) {
				m := resolve(p)
				if m == nil || m["in"] != "query" {
					continue
				}
				name, _ := m["name"].(string)
				schema, _ := m["schema"].(map[string]any)
				qp := queryParam{array: schema["type"] == "array"}
				style, _ := m["style"].(string)
				explode, hasExplode := m["explode"].(bool)
				// form style explodes by default (OpenAPI 3 §4.8.12.4).
				qp.noExplode = (style == "" || style == "form") && hasExplode && !explode
				op.query[name] = qp
			}
			s.ops = append(s.ops, op)
		}
	}
	sort.Slice(s.ops, func(i, j int) bool { return s.ops[i].literal > s.ops[j].literal })
	return s, nil
}

// Check reports a request the spec does not describe: an unknown path, a
// query parameter the operation does not declare, a repeated parameter
// that is not an array, or an array the spec wants comma-separated
// (form, explode: false) sent as repeated keys.
func (s *Spec) Check(method string, u *url.URL) error {
	var op *operation
	for i := range s.ops {
		if s.ops[i].method == method && s.ops[i].re.MatchString(u.Path) {
			op = &s.ops[i]
			break
		}
	}
	if op == nil {
		return fmt.Errorf("the spec has no operation %s %s", method, u.Path)
	}
	for name, vals := range u.Query() {
		qp, ok := op.query[name]
		if !ok {
			return fmt.Errorf("query parameter %q is not in the spec's %s %s", name, op.method, op.path)
		}
		if len(vals) > 1 && (!qp.array || qp.noExplode) {
			return fmt.Errorf("query parameter %q is sent %d times, but %s %s takes it once (comma-separated when a list)", name, len(vals), op.method, op.path)
		}
	}
	return nil
}
