package stripefake

import (
	"net/http"
	"strings"
)

// SetListHook sets fn to run after each page of a list (GET /v1/<resource>,
// no id) is computed and before it is sent, outside the fake's lock: a test
// changes records "between pages" there, standing in for what happens at
// Stripe while a long listing runs (the client has not seen the page yet,
// and every later page shows the change). page counts from 1 per resource
// since the hook was set. nil removes it.
func (f *Fake) SetListHook(fn func(resource string, page int)) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.listHook, f.listPages = fn, map[string]int{}
}

// afterList runs the list hook for a list page answered 200.
func (f *Fake) afterList(r *http.Request, resp response) {
	if resp.Status != http.StatusOK {
		return
	}
	res, ok := strings.CutPrefix(strings.TrimSuffix(r.URL.Path, "/"), "/v1/")
	if !ok || strings.Contains(res, "/") {
		return
	}
	f.mu.Lock()
	fn := f.listHook
	var page int
	if fn != nil {
		f.listPages[res]++
		page = f.listPages[res]
	}
	f.mu.Unlock()
	if fn != nil {
		fn(res, page)
	}
}
