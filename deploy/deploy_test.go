// Package deploy holds the Kubernetes manifest and its shape test; the
// image is built by the Dockerfile at the repository root.
package deploy

import (
	"os"
	"slices"
	"strconv"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"

	"github.com/reconctl/reconctl/commands"
)

type envVar struct {
	Name      string `yaml:"name"`
	Value     string `yaml:"value"`
	ValueFrom *struct {
		SecretKeyRef *struct {
			Name string `yaml:"name"`
			Key  string `yaml:"key"`
		} `yaml:"secretKeyRef"`
	} `yaml:"valueFrom"`
}

type cronJob struct {
	APIVersion string `yaml:"apiVersion"`
	Kind       string `yaml:"kind"`
	Spec       struct {
		Schedule          string `yaml:"schedule"`
		ConcurrencyPolicy string `yaml:"concurrencyPolicy"`
		JobTemplate       struct {
			Spec struct {
				CompletionMode string `yaml:"completionMode"`
				Completions    int    `yaml:"completions"`
				Parallelism    int    `yaml:"parallelism"`
				BackoffLimit   *int   `yaml:"backoffLimit"`
				Template       struct {
					Spec struct {
						RestartPolicy   string `yaml:"restartPolicy"`
						SecurityContext struct {
							RunAsNonRoot bool `yaml:"runAsNonRoot"`
							RunAsUser    int  `yaml:"runAsUser"`
						} `yaml:"securityContext"`
						Containers []struct {
							Name  string   `yaml:"name"`
							Image string   `yaml:"image"`
							Args  []string `yaml:"args"`
							Env   []envVar `yaml:"env"`
						} `yaml:"containers"`
					} `yaml:"spec"`
				} `yaml:"template"`
			} `yaml:"spec"`
		} `yaml:"jobTemplate"`
	} `yaml:"spec"`
}

// The manifest is an Indexed CronJob running `reconctl diff --due` with as
// many shards as completions, secrets from a Secret, the journal on the
// app's database server, as non-root; every flag it passes exists.
func TestCronJobShape(t *testing.T) {
	b, err := os.ReadFile("kubernetes/cronjob.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var cj cronJob
	dec := yaml.NewDecoder(strings.NewReader(string(b)))
	dec.KnownFields(false)
	if err := dec.Decode(&cj); err != nil {
		t.Fatal(err)
	}
	if cj.APIVersion != "batch/v1" || cj.Kind != "CronJob" || cj.Spec.Schedule == "" || cj.Spec.ConcurrencyPolicy != "Forbid" {
		t.Errorf("not a batch/v1 CronJob with a schedule and concurrencyPolicy Forbid: %+v", cj)
	}
	js := cj.Spec.JobTemplate.Spec
	if js.CompletionMode != "Indexed" || js.Completions < 1 || js.Parallelism != js.Completions {
		t.Errorf("job: completionMode %q, completions %d, parallelism %d; want Indexed with parallelism = completions", js.CompletionMode, js.Completions, js.Parallelism)
	}
	if js.BackoffLimit == nil || *js.BackoffLimit != 0 {
		t.Error("backoffLimit must be 0: exit 2 (drift) is a finding, not a failure to retry")
	}
	ps := js.Template.Spec
	if ps.RestartPolicy != "Never" || !ps.SecurityContext.RunAsNonRoot || ps.SecurityContext.RunAsUser == 0 {
		t.Errorf("pod: restartPolicy %q, runAsNonRoot %v, runAsUser %d", ps.RestartPolicy, ps.SecurityContext.RunAsNonRoot, ps.SecurityContext.RunAsUser)
	}
	if len(ps.Containers) != 1 {
		t.Fatalf("want one container, got %d", len(ps.Containers))
	}
	c := ps.Containers[0]
	if c.Image == "" || len(c.Args) < 2 || c.Args[0] != "diff" || !slices.Contains(c.Args, "--due") {
		t.Errorf("container runs %v (image %q), want reconctl diff --due", c.Args, c.Image)
	}
	i := slices.Index(c.Args, "--shards")
	if i < 0 || i+1 >= len(c.Args) {
		t.Fatalf("args %v lack --shards N", c.Args)
	}
	if n, err := strconv.Atoi(c.Args[i+1]); err != nil || n != js.Completions {
		t.Errorf("--shards %s, completions %d: every index must be a shard", c.Args[i+1], js.Completions)
	}
	// Every flag passed exists on `reconctl diff`.
	flags := map[string]bool{}
	for _, cmd := range commands.New(commands.IO{}).Commands {
		if cmd.Name == "diff" {
			for _, f := range cmd.Flags {
				for _, n := range f.Names() {
					flags[n] = true
				}
			}
		}
	}
	for _, a := range c.Args[1:] {
		if name, ok := strings.CutPrefix(a, "--"); ok && !flags[strings.SplitN(name, "=", 2)[0]] {
			t.Errorf("reconctl diff has no flag --%s", name)
		}
	}
	state := ""
	for _, e := range c.Env {
		secretish := strings.Contains(e.Name, "KEY") || strings.Contains(e.Name, "PASSWORD") || strings.Contains(e.Name, "TOKEN") || strings.Contains(e.Name, "SECRET")
		if secretish && (e.Value != "" || e.ValueFrom == nil || e.ValueFrom.SecretKeyRef == nil || e.ValueFrom.SecretKeyRef.Name == "") {
			t.Errorf("env %s must come from a Secret (secretKeyRef), not a value", e.Name)
		}
		if e.Name == "RECONCTL_STATE" {
			state = e.Value
		}
	}
	if !strings.HasPrefix(state, "postgres://") && !strings.HasPrefix(state, "mysql://") {
		t.Errorf("RECONCTL_STATE = %q: the state and its journal belong on the app's database server", state)
	}
	if strings.Contains(strings.SplitN(strings.TrimPrefix(state, "postgres://"), "@", 2)[0], ":") {
		t.Errorf("RECONCTL_STATE %q carries a password: use PGPASSWORD from the Secret", state)
	}
}

// The Dockerfile builds a static binary and runs it as non-root on a
// minimal base.
func TestDockerfileShape(t *testing.T) {
	b, err := os.ReadFile("../Dockerfile")
	if err != nil {
		t.Fatal(err)
	}
	var froms []string
	user := ""
	static := false
	for _, line := range strings.Split(string(b), "\n") {
		f := strings.Fields(line)
		if len(f) < 2 || strings.HasPrefix(f[0], "#") {
			continue
		}
		switch strings.ToUpper(f[0]) {
		case "FROM":
			froms = append(froms, f[1])
		case "USER":
			user = f[1]
		case "RUN":
			if strings.Contains(line, "CGO_ENABLED=0") && strings.Contains(line, "go build") {
				static = true
			}
		}
	}
	if !static {
		t.Error("no CGO_ENABLED=0 go build: the binary must be static")
	}
	if len(froms) < 2 {
		t.Fatalf("want a multi-stage build, got FROM %v", froms)
	}
	final := froms[len(froms)-1]
	if !strings.Contains(final, "distroless/static") && final != "scratch" {
		t.Errorf("final base %q is not minimal (distroless/static or scratch)", final)
	}
	for _, f := range froms {
		if strings.HasSuffix(f, ":latest") || !strings.Contains(f, ":") {
			t.Errorf("base %q is not pinned to a tag", f)
		}
	}
	if user == "" || strings.HasPrefix(user, "0") || user == "root" {
		t.Errorf("USER %q: the image must run as non-root", user)
	}
}
