package reconcile

import (
	"context"
	"strings"
	"testing"

	"github.com/reconctl/reconctl/localstate"
)

func TestIgnore(t *testing.T) {
	p, s := fixture()
	// cus_3 differs in plan; make it differ in email too, then ignore only the plan field
	s.rows["cus_3"]["email"] = "other@x"
	rules, err := ReadIgnoreFile(strings.NewReader("# baseline\ncustomers/cus_gone\ncustomers/*/plan  # plans are managed elsewhere\n\ncustomers/cus_4??\n"), ".reconctlignore")
	if err != nil {
		t.Fatal(err)
	}
	e, res := compare(t, p, s, customersTable(), ModeDiff)
	res.Ignore(rules)
	ids := map[string]Drift{}
	for _, d := range res.Drift {
		ids[d.ID] = d
	}
	if _, ok := ids["cus_gone"]; ok {
		t.Error("cus_gone not ignored")
	}
	if _, ok := ids["cus_403"]; ok {
		t.Error("cus_403 not ignored by glob")
	}
	d := ids["cus_3"]
	if len(d.Fields) != 1 || d.Fields[0].Name != "email" {
		t.Errorf("cus_3 fields = %+v", d.Fields)
	}
	sum := res.Summaries()["customers"]
	if sum.Ignored != 2 || sum.MissingRemote != 2 || sum.Unresolved != 4 {
		t.Errorf("summary = %+v", sum)
	}
	if err := e.Apply(context.Background(), res); err != nil {
		t.Fatal(err)
	}
	for _, c := range s.applied {
		if c.Key == "cus_gone" {
			t.Error("ignored deletion applied")
		}
		if c.Key == "cus_3" {
			if _, ok := c.Values["plan"]; ok {
				t.Error("ignored field written")
			}
		}
	}
	if s.rows["cus_3"]["email"] != "c@x" || s.rows["cus_3"]["plan"] != "free" {
		t.Errorf("cus_3 = %+v", s.rows["cus_3"])
	}
	// a baseline written from drift ignores exactly that drift
	_, res = compare(t, p, s, customersTable(), ModeDiff)
	base, err := ReadIgnoreFile(strings.NewReader(Baseline(res.Drift)), "baseline")
	if err != nil {
		t.Fatal(err)
	}
	res.Ignore(base)
	if len(res.Drift) != 0 {
		t.Errorf("after baseline: %+v", res.Drift)
	}
	if _, err := ParseIgnoreRule("customers", "x"); err == nil {
		t.Error("bad pattern accepted")
	}
	_ = localstate.OpCreate
}

func FuzzIgnoreFile(f *testing.F) {
	f.Add("customers/cus_1\ncustomers/*/phone # x\n")
	f.Add("[\n")
	f.Fuzz(func(t *testing.T, text string) {
		rules, err := ReadIgnoreFile(strings.NewReader(text), "fuzz")
		if err == nil {
			_ = ignores(rules, "customers", "cus_1", "phone")
		}
	})
}

// TestBaselineEscapesIDs: ids with glob characters, slashes, # or spaces are
// written so that the baseline reads back and ignores exactly those records.
func TestBaselineEscapesIDs(t *testing.T) {
	odd := []string{"cus_*", "a?b", "x/y", "p#q", "sp #ace", "[abc]", `back\slash`, " lead", "trail ", "*"}
	var drift []Drift
	for _, id := range odd {
		drift = append(drift, Drift{Resource: "customers", ID: id, Kind: KindMissingLocal})
	}
	drift = append(drift, Drift{Resource: "customers", ID: "e/*x", Kind: KindChanged, Fields: []FieldDiff{{Name: "meta/a*"}}})
	drift = append(drift, Drift{Resource: "customers", ID: "line\ncustomers/*", Kind: KindMissingLocal})
	text := Baseline(drift)
	rules, err := ReadIgnoreFile(strings.NewReader(text), "baseline")
	if err != nil {
		t.Fatalf("the baseline does not read back: %v\n%s", err, text)
	}
	for _, id := range odd {
		if !ignores(rules, "customers", id, "") {
			t.Errorf("%q is not ignored by its own baseline:\n%s", id, text)
		}
	}
	if !ignores(rules, "customers", "e/*x", "meta/a*") || ignores(rules, "customers", "e/*x", "") || ignores(rules, "customers", "e/*x", "meta/ab") {
		t.Errorf("the field pattern of e/*x does not round-trip:\n%s", text)
	}
	for _, other := range []string{"cus_1", "aXb", "x", "y", "p", "a", "b", "c", "sp", "lead", "trail", "backslash", "e/ax", "line", "anything"} {
		if ignores(rules, "customers", other, "") {
			t.Errorf("the baseline hides %q, which it does not name:\n%s", other, text)
		}
	}
}
