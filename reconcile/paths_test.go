package reconcile

import (
	"context"
	"encoding/json"
	"fmt"
	"reflect"
	"testing"

	"github.com/reconctl/reconctl/localstate"
	"github.com/reconctl/reconctl/providers"
	"github.com/reconctl/reconctl/providers/pick"
)

// pathProvider is memProvider with ListPaths: each record is re-decoded
// keeping only the paths asked for, as the file provider does.
type pathProvider struct {
	*memProvider
	asked     [][]string
	listCalls int
}

func (p *pathProvider) List(ctx context.Context, resource string, fn func(providers.Record) error) error {
	p.listCalls++
	return p.memProvider.List(ctx, resource, fn)
}

func (p *pathProvider) ListPaths(ctx context.Context, resource string, paths [][]string, fn func(providers.Record) error) error {
	p.asked = paths
	keep := pick.Compile(paths, "id")
	return p.memProvider.List(ctx, resource, func(r providers.Record) error {
		b, err := json.Marshal(r.Data)
		if err != nil {
			return err
		}
		data, _, err := keep.Object(b)
		if err != nil {
			return err
		}
		r.Data = data
		return fn(r)
	})
}

// The engine lists through ListPaths with the mapped paths, and the
// comparison is the one whole objects give: values, nulls, and a mapped
// path no record has (the absent-path guard still sees it absent).
func TestListPathsComparesLikeList(t *testing.T) {
	tbl := customersTable()
	tbl.Fields = append(tbl.Fields, localstate.Field{Column: "nick", Path: "metadata.nickname"})
	whole, s := fixture()
	s.cols = append(s.cols, "nick")
	_, want := compare(t, whole, s, tbl, ModeDiff)

	mp, s2 := fixture()
	s2.cols = append(s2.cols, "nick")
	pp := &pathProvider{memProvider: mp}
	_, got := compare(t, pp, s2, tbl, ModeDiff)
	if pp.listCalls != 0 || len(pp.asked) == 0 {
		t.Fatalf("List called %d times, ListPaths asked %v", pp.listCalls, pp.asked)
	}
	if w := [][]string{{"email"}, {"metadata", "plan"}, {"metadata", "vip"}, {"metadata", "nickname"}}; !reflect.DeepEqual(pp.asked, w) {
		t.Errorf("asked %v, want %v", pp.asked, w)
	}
	if fmt.Sprintf("%+v", got.Drift) != fmt.Sprintf("%+v", want.Drift) {
		t.Errorf("drift\n got %+v\nwant %+v", got.Drift, want.Drift)
	}
	gs, ws := got.Summaries()["customers"], want.Summaries()["customers"]
	if fmt.Sprintf("%+v", gs) != fmt.Sprintf("%+v", ws) || len(gs.AbsentPaths) != 1 || gs.AbsentPaths[0] != "metadata.nickname" {
		t.Errorf("summary\n got %+v\nwant %+v", gs, ws)
	}
}
