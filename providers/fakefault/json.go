package fakefault

import (
	"bytes"
	"encoding/json"
	"fmt"
)

// The fakes store objects as rendered JSON and decode them with numbers as
// json.Number, so nothing served ever aliases a caller's maps. fake names
// the fake in panics ("workosfake: cannot encode: …"): a value that cannot
// round-trip is a bug in the test that passed it.

// Render is v as compact JSON without HTML escaping or a final newline.
func Render(fake string, v any) []byte {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		panic(fmt.Sprintf("%s: cannot encode: %v", fake, err))
	}
	return bytes.TrimRight(buf.Bytes(), "\n")
}

// Decode is a stored object decoded afresh, numbers as json.Number.
func Decode(fake string, raw []byte) map[string]any {
	var m map[string]any
	d := json.NewDecoder(bytes.NewReader(raw))
	d.UseNumber()
	if err := d.Decode(&m); err != nil {
		panic(fmt.Sprintf("%s: cannot decode stored object: %v", fake, err))
	}
	return m
}

// Normalize turns caller values (ints, structs, nested maps) into the JSON
// model the fakes store; nil becomes an empty map.
func Normalize(fake string, v map[string]any) map[string]any {
	if v == nil {
		return map[string]any{}
	}
	return Decode(fake, Render(fake, v))
}
