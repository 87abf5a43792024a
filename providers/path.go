package providers

import "strconv"

// ValueAt returns the value at a field path (the segments of
// "items.data.0.price.id") in a provider object; ok is false when any step
// is absent (a missing key, an index past the end, a step into a scalar).
func ValueAt(data map[string]any, segs []string) (any, bool) {
	var cur any = data
	for _, s := range segs {
		switch x := cur.(type) {
		case map[string]any:
			v, ok := x[s]
			if !ok {
				return nil, false
			}
			cur = v
		case []any:
			i, err := strconv.Atoi(s)
			if err != nil || i < 0 || i >= len(x) {
				return nil, false
			}
			cur = x[i]
		default:
			return nil, false
		}
	}
	return cur, true
}
