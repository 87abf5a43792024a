package pick

import (
	"bytes"
	"encoding/json"
	"fmt"
	"testing"
	"time"
)

// BenchmarkPickRecord: one export record of testdata/bench/gen's shape
// decoded keeping the four mapped paths, next to the baseline measured in
// the same run: the whole record decoded by encoding/json with UseNumber
// (what the providers did). Reports ns/record of each and pick/json.
//
//	go test -run '^$' -bench PickRecord ./providers/pick/
func BenchmarkPickRecord(b *testing.B) {
	recs := make([][]byte, 1000)
	for i := range recs {
		recs[i] = fmt.Appendf(nil, `{"id":"cus_%08d","object":"customer","email":"user%d@example.com","name":"User %d","balance":%d,"created":%d,"metadata":{"plan":%q}}`,
			i, i, i, i%1000, 1700000000+i, []string{"free", "pro", "team"}[i%3])
	}
	keep := Compile([][]string{{"email"}, {"name"}, {"metadata", "plan"}, {"balance"}}, "id", "updated_at", "updated")
	var pickT, jsonT time.Duration
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		t0 := time.Now()
		for _, r := range recs {
			if _, _, err := keep.Object(r); err != nil {
				b.Fatal(err)
			}
		}
		t1 := time.Now()
		for _, r := range recs {
			d := json.NewDecoder(bytes.NewReader(r))
			d.UseNumber()
			var v any
			if err := d.Decode(&v); err != nil {
				b.Fatal(err)
			}
		}
		pickT, jsonT = pickT+t1.Sub(t0), jsonT+time.Since(t1)
	}
	n := float64(b.N * len(recs))
	b.ReportMetric(float64(pickT.Nanoseconds())/n, "pick-ns/record")
	b.ReportMetric(float64(jsonT.Nanoseconds())/n, "json-ns/record")
	b.ReportMetric(pickT.Seconds()/jsonT.Seconds(), "pick/json")
}
