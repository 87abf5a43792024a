package main

import (
	"bytes"
	"fmt"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/rogpeppe/go-internal/testscript"
	"gopkg.in/yaml.v3"

	"github.com/reconctl/reconctl/providers/clerk/clerkfake"
	"github.com/reconctl/reconctl/providers/fakefault"
	"github.com/reconctl/reconctl/providers/rest/restfake"
	"github.com/reconctl/reconctl/providers/workos/workosfake"
)

// Script commands for the WorkOS, Clerk and generic REST fakes (see
// testdata/script/provider_*.txtar). They live beside scriptcmds_test.go
// and register into the same scriptCmds map.
func init() {
	scriptCmds["workosfake"] = cmdWorkOSFake
	scriptCmds["clerkfake"] = cmdClerkFake
	scriptCmds["restfake"] = cmdRESTFake
	scriptCmds["fakefaults"] = cmdFakeFaults
	scriptCmds["fakestats"] = cmdFakeStats
}

// The keys the fakes accept. Keys start with sk_ (WorkOS, Clerk): the
// providers' scrubbing and the "never in output" checks look for that shape.
// Clerk's is a live key so the provider paces at its production default
// (20 req/s), not the development one (5 req/s).
const (
	workosFakeKey = "sk_test_workos_reconctl_fake"
	clerkFakeKey  = "sk_live_clerk_reconctl_fake"
	restFakeKey   = "rest_reconctl_fake_key"
)

// faultable is what fakefaults and fakestats need of a fake.
type faultable interface {
	SetFaults(fakefault.Faults)
	Stats() fakefault.Stats
	ResetStats()
}

// runningFakes remembers each script's latest fake per kind (scripts run in
// parallel, so it is keyed by script).
var runningFakes = struct {
	sync.Mutex
	m map[*testscript.TestScript]map[string]faultable
}{m: map[*testscript.TestScript]map[string]faultable{}}

func rememberFake(ts *testscript.TestScript, kind string, f faultable) {
	runningFakes.Lock()
	defer runningFakes.Unlock()
	if runningFakes.m[ts] == nil {
		runningFakes.m[ts] = map[string]faultable{}
		ts.Defer(func() {
			runningFakes.Lock()
			defer runningFakes.Unlock()
			delete(runningFakes.m, ts)
		})
	}
	runningFakes.m[ts][kind] = f
}

func fakeOf(ts *testscript.TestScript, kind string) faultable {
	runningFakes.Lock()
	defer runningFakes.Unlock()
	f := runningFakes.m[ts][kind]
	if f == nil {
		ts.Fatalf("no %s fake is running in this script (start one with %sfake first)", kind, kind)
	}
	return f
}

// workosfake SCENARIO.json: starts the fake WorkOS API played from a
// scenario (workosfake.Scenario) for the rest of the script and sets
// WORKOS_API_BASE and WORKOS_API_KEY.
func cmdWorkOSFake(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 1 {
		ts.Fatalf("usage: workosfake SCENARIO.json")
	}
	sc, err := workosfake.LoadScenario(ts.MkAbs(args[0]))
	ts.Check(err)
	f, srv := workosfake.NewServer(workosfake.Config{APIKey: workosFakeKey})
	ts.Defer(srv.Close)
	ts.Check(f.Play(sc, time.Now()))
	f.ResetStats()
	rememberFake(ts, "workos", f)
	ts.Setenv("WORKOS_API_BASE", srv.URL)
	ts.Setenv("WORKOS_API_KEY", workosFakeKey)
}

// clerkfake SCENARIO.json: starts the fake Clerk Backend API played from a
// scenario (clerkfake.Scenario) for the rest of the script and sets
// CLERK_API_BASE and CLERK_SECRET_KEY (an sk_live_ key).
func cmdClerkFake(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 1 {
		ts.Fatalf("usage: clerkfake SCENARIO.json")
	}
	sc, err := clerkfake.LoadScenario(ts.MkAbs(args[0]))
	ts.Check(err)
	f, srv := clerkfake.NewServer(clerkfake.Config{APIKey: clerkFakeKey})
	ts.Defer(srv.Close)
	ts.Check(f.Play(sc, time.Now()))
	f.ResetStats()
	rememberFake(ts, "clerk", f)
	ts.Setenv("CLERK_API_BASE", srv.URL)
	ts.Setenv("CLERK_SECRET_KEY", clerkFakeKey)
}

// restfake STYLE SCENARIO.json [CONFIG.yaml]: starts a generic REST fake
// with pagination STYLE (cursor, page, offset, link, none) played from a
// scenario (restfake.Scenario) for the rest of the script, sets
// REST_API_BASE and EXAMPLE_API_KEY, and writes the matching rest: section
// (restfake.ConfigFor for resource users, key from EXAMPLE_API_KEY) to
// $WORK/rest.yaml. With CONFIG.yaml, the section also replaces (or is
// added as) that file's top-level rest: key, so the script's config reads
// this fake.
func cmdRESTFake(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) < 2 || len(args) > 3 {
		ts.Fatalf("usage: restfake STYLE SCENARIO.json [CONFIG.yaml]")
	}
	sc, err := restfake.LoadScenario(ts.MkAbs(args[1]))
	ts.Check(err)
	f, srv := restfake.NewServer(sc.Config(args[0], restFakeKey))
	ts.Defer(srv.Close)
	ts.Check(f.Play(sc, time.Now()))
	f.ResetStats()
	rememberFake(ts, "rest", f)
	ts.Setenv("REST_API_BASE", srv.URL)
	ts.Setenv("EXAMPLE_API_KEY", restFakeKey)

	section := f.ConfigFor(srv.URL, "users", "EXAMPLE_API_KEY")
	out, err := encodeYAML(map[string]any{"rest": section})
	ts.Check(err)
	ts.Check(os.WriteFile(ts.MkAbs("rest.yaml"), out, 0o644))
	if len(args) == 3 {
		ts.Check(setYAMLKey(ts.MkAbs(args[2]), "rest", section))
	}
}

// setYAMLKey sets the top-level key of the YAML mapping in path to v,
// keeping the other keys (and their comments) as they are.
func setYAMLKey(path, key string, v any) error {
	data, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	if doc.Kind != yaml.DocumentNode || len(doc.Content) != 1 || doc.Content[0].Kind != yaml.MappingNode {
		return fmt.Errorf("%s: not a YAML mapping", path)
	}
	m := doc.Content[0]
	var val yaml.Node
	if err := val.Encode(v); err != nil {
		return err
	}
	replaced := false
	for i := 0; i+1 < len(m.Content); i += 2 {
		if m.Content[i].Value == key {
			m.Content[i+1] = &val
			replaced = true
		}
	}
	if !replaced {
		m.Content = append(m.Content, &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: key}, &val)
	}
	out, err := encodeYAML(&doc)
	if err != nil {
		return err
	}
	return os.WriteFile(path, out, 0o644)
}

// encodeYAML renders v as YAML indented by two spaces, as configs are written.
func encodeYAML(v any) ([]byte, error) {
	var buf bytes.Buffer
	enc := yaml.NewEncoder(&buf)
	enc.SetIndent(2)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	if err := enc.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// fakefaults KIND off | KIND Field=N...: replaces the faults injected by the
// script's running KIND fake (workos, clerk, rest) and restarts their
// counting. Fields are fakefault.Faults' (RateLimitEvery=3,
// ServerErrorEvery=5, ServerErrorStatus=503, RetryAfter=1, TruncateEvery=4,
// Latency=20ms).
func cmdFakeFaults(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) < 2 {
		ts.Fatalf("usage: fakefaults KIND off | KIND Field=N...")
	}
	f := fakeOf(ts, args[0])
	var fl fakefault.Faults
	if !(len(args) == 2 && args[1] == "off") {
		for _, a := range args[1:] {
			k, v, ok := strings.Cut(a, "=")
			if !ok {
				ts.Fatalf("fakefaults: %q is not Field=N", a)
			}
			if k == "Latency" {
				d, err := time.ParseDuration(v)
				ts.Check(err)
				fl.Latency = d
				continue
			}
			n, err := strconv.Atoi(v)
			ts.Check(err)
			switch k {
			case "RateLimitEvery":
				fl.RateLimitEvery = n
			case "RetryAfter":
				fl.RetryAfter = n
			case "ServerErrorEvery":
				fl.ServerErrorEvery = n
			case "ServerErrorStatus":
				fl.ServerErrorStatus = n
			case "TruncateEvery":
				fl.TruncateEvery = n
			default:
				ts.Fatalf("fakefaults: unknown field %q", k)
			}
		}
	}
	f.SetFaults(fl)
	f.ResetStats()
}

// fakestats KIND: prints what the script's running KIND fake served since it
// started (or since the last fakefaults) as one line of key=value pairs.
func cmdFakeStats(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 1 {
		ts.Fatalf("usage: fakestats KIND")
	}
	s := fakeOf(ts, args[0]).Stats()
	fmt.Fprintf(ts.Stdout(), "requests=%d rate_limited=%d server_errors=%d truncated=%d unauthorized=%d forbidden=%d\n",
		s.Requests, s.RateLimited, s.ServerErrors, s.Truncated, s.Unauthorized, s.Forbidden)
}
