package httpx

import "testing"

// FuzzDecodeObject: provider payloads never panic the decoder, and what it
// accepts is an object.
func FuzzDecodeObject(f *testing.F) {
	for _, s := range []string{`{"id":"cus_1","object":"customer","metadata":{"plan":"pro"}}`, `null`, `[]`, `{"a":1e999}`, `{"id":12}`, `{`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, raw []byte) {
		m, err := DecodeObject(raw, "fuzz object")
		if err == nil && m == nil {
			t.Fatal("nil object without an error")
		}
		if err == nil {
			_, _ = StringID(m, "fuzz object")
		}
	})
}
