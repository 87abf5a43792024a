package reconcile

import (
	"context"
	"reflect"
	"testing"

	"github.com/reconctl/reconctl/localstate"
)

// batchStore is a memStore with an indexed key and GetMany (counted, as
// are single Gets); the row gone is deleted (by "the app") after the scan.
type batchStore struct {
	*memStore
	gone           string
	gets, batches  int
	keysPerBatches []int
}

func (s *batchStore) Scan(ctx context.Context, t *localstate.Table, cols []string, fn func(localstate.Row) error) error {
	err := s.memStore.Scan(ctx, t, cols, fn)
	delete(s.rows, s.gone)
	return err
}

func (s *batchStore) Get(ctx context.Context, t *localstate.Table, cols []string, key string) (localstate.Row, bool, error) {
	s.gets++
	return s.memStore.Get(ctx, t, cols, key)
}

func (s *batchStore) Features() localstate.Features {
	return localstate.Features{
		KeyIndexed: func(context.Context, *localstate.Table) bool { return true },
		GetMany: func(ctx context.Context, t *localstate.Table, cols []string, keys []string, fn func(string, localstate.Row) error) error {
			s.batches++
			s.keysPerBatches = append(s.keysPerBatches, len(keys))
			for _, k := range keys {
				if row, ok, _ := s.memStore.Get(ctx, t, cols, k); ok {
					if err := fn(k, row); err != nil {
						return err
					}
				}
			}
			return nil
		},
	}
}

// TestChangedReadInBatches: the field-by-field pass reads the changed
// records' local rows with the store's GetMany (one call for all of them,
// no single Get), and reports what the single-Get path reports, the row
// deleted since the scan included.
func TestChangedReadInBatches(t *testing.T) {
	for _, mode := range []Mode{ModeDiff, ModeResync, ModeResyncForce} {
		p, s := fixture()
		_, want := compare(t, p, &vanishStore{memStore: s, gone: "cus_3"}, customersTable(), mode)
		p, s = fixture()
		bs := &batchStore{memStore: s, gone: "cus_3"}
		_, got := compare(t, p, bs, customersTable(), mode)
		if bs.gets != 0 || bs.batches != 1 {
			t.Errorf("mode %d: %d Gets and %d GetMany calls (keys %v); want the candidates read in one GetMany", mode, bs.gets, bs.batches, bs.keysPerBatches)
		}
		if !reflect.DeepEqual(got.Drift, want.Drift) {
			t.Errorf("mode %d: drift with GetMany\n%+v\nwith Get\n%+v", mode, got.Drift, want.Drift)
		}
		if !reflect.DeepEqual(got.Summaries(), want.Summaries()) {
			t.Errorf("mode %d: summaries differ: %+v vs %+v", mode, got.Summaries()["customers"], want.Summaries()["customers"])
		}
	}
}
