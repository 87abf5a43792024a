package restfake_test

import (
	"encoding/json"
	"io"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/reconctl/reconctl/providers/rest/restfake"
)

const key = "k_123"

func get(t *testing.T, base, path string, hdr ...string) (int, http.Header, map[string]any, []any) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, base+path, nil)
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	var obj map[string]any
	var arr []any
	if strings.HasPrefix(string(b), "[") {
		_ = json.Unmarshal(b, &arr)
	} else if err := json.Unmarshal(b, &obj); err != nil {
		t.Fatalf("GET %s: not JSON: %s", path, b)
	}
	return resp.StatusCode, resp.Header, obj, arr
}

func ids(items []any) []string {
	var out []string
	for _, it := range items {
		out = append(out, it.(map[string]any)["id"].(string))
	}
	return out
}

func TestStyles(t *testing.T) {
	auth := []string{"Authorization", "Bearer " + key}
	for _, style := range []string{restfake.Cursor, restfake.Page, restfake.Offset, restfake.Link, restfake.None} {
		t.Run(style, func(t *testing.T) {
			f, srv := restfake.NewServer(restfake.Config{APIKey: key, Style: style, DefaultLimit: 4})
			defer srv.Close()
			all := f.Seed("users", 10, nil)
			if st, _, _, _ := get(t, srv.URL, "/users"); st != 401 {
				t.Errorf("no key: %d", st)
			}
			var walked []string
			path := "/users"
			for range 10 {
				st, h, body, _ := get(t, srv.URL, path, auth...)
				if st != 200 {
					t.Fatalf("GET %s: %d %v", path, st, body)
				}
				items := body["data"].([]any)
				walked = append(walked, ids(items)...)
				meta, _ := body["meta"].(map[string]any)
				next := ""
				switch style {
				case restfake.Cursor:
					if c, ok := meta["next_cursor"].(string); ok {
						next = "/users?cursor=" + c
					}
					if (next != "") != meta["has_more"].(bool) {
						t.Errorf("has_more %v with next %q", meta["has_more"], next)
					}
				case restfake.Page:
					if len(items) == 4 {
						next = "/users?page=" + map[float64]string{1: "2", 2: "3", 3: "4"}[meta["page"].(float64)]
					}
				case restfake.Offset:
					if len(items) == 4 {
						next = "/users?offset=" + map[float64]string{0: "4", 4: "8", 8: "12"}[meta["offset"].(float64)]
					}
				case restfake.Link:
					l := h.Get("Link")
					if !strings.Contains(l, `rel="first"`) || !strings.Contains(l, `rel="last"`) {
						t.Errorf("Link %q", l)
					}
					for part := range strings.SplitSeq(l, ", ") {
						if strings.HasSuffix(part, `rel="next"`) {
							next = part[1:strings.Index(part, ">")]
						}
					}
				}
				if next == "" {
					break
				}
				path = next
			}
			if !slices.Equal(walked, all) {
				t.Errorf("walked %v, want %v", walked, all)
			}
		})
	}
}

func TestObjectsAndEvents(t *testing.T) {
	f, srv := restfake.NewServer(restfake.Config{APIKey: key, AuthHeader: "X-Key", Style: restfake.None, BareArray: true, SoftDelete: true})
	defer srv.Close()
	h := []string{"X-Key", key}
	u := f.Create("users", map[string]any{"email": "A@example.com"})
	id := u["id"].(string)
	if id != "user_000001" || u["created_at"] == nil || u["updated_at"] != u["created_at"] {
		t.Errorf("object %v", u)
	}
	time.Sleep(2 * time.Millisecond)
	if _, err := f.Update("users", id, map[string]any{"name": "Ann"}); err != nil {
		t.Fatal(err)
	}
	if st, _, _, arr := get(t, srv.URL, "/users?email=a@example.com", h...); st != 200 || len(arr) != 1 {
		t.Errorf("bare array with email filter: %d %v", st, arr)
	}
	if st, _, obj, _ := get(t, srv.URL, "/users/"+id, h...); st != 200 || obj["name"] != "Ann" {
		t.Errorf("GET: %d %v", st, obj)
	}
	if err := f.Delete("users", id); err != nil {
		t.Fatal(err)
	}
	if st, _, obj, _ := get(t, srv.URL, "/users/"+id, h...); st != 200 || obj["deleted"] != true {
		t.Errorf("soft-deleted GET: %d %v", st, obj)
	}
	if st, _, _, arr := get(t, srv.URL, "/users", h...); st != 200 || len(arr) != 0 {
		t.Errorf("deleted listed: %v", arr)
	}
	f.Forbid("user_9")
	if st, _, _, _ := get(t, srv.URL, "/users/user_9", h...); st != 403 {
		t.Errorf("forbidden: %d", st)
	}
	if st, _, obj, _ := get(t, srv.URL, "/users/user_404", h...); st != 404 || obj["error"] != "not_found" {
		t.Errorf("missing: %d %v", st, obj)
	}
	_, _, _, evs := get(t, srv.URL, "/events", h...)
	var types []string
	for _, e := range evs {
		m := e.(map[string]any)
		types = append(types, m["type"].(string))
		if m["data"].(map[string]any)["object"].(map[string]any)["id"] != id {
			t.Errorf("event object %v", m)
		}
	}
	if !slices.Equal(types, []string{"user.created", "user.updated", "user.deleted"}) {
		t.Errorf("events %v", types)
	}
	_, _, _, evs = get(t, srv.URL, "/events?types=user.updated&types=user.deleted", h...)
	if len(evs) != 2 {
		t.Errorf("types filter: %d", len(evs))
	}
	_, _, _, evs = get(t, srv.URL, "/events?since="+time.Now().Add(time.Hour).UTC().Format(time.RFC3339), h...)
	if len(evs) != 0 {
		t.Errorf("since filter: %d", len(evs))
	}
	if len(f.Events()) != 3 {
		t.Errorf("stored events %v", f.Events())
	}
}

func TestLimits(t *testing.T) {
	f, srv := restfake.NewServer(restfake.Config{Style: restfake.Offset, MaxLimit: 50})
	defer srv.Close()
	f.Seed("users", 80, nil)
	// Over the maximum is silently capped, as real APIs do: no error, a short page.
	if st, _, obj, _ := get(t, srv.URL, "/users?limit=70"); st != 200 || len(obj["data"].([]any)) != 50 {
		t.Errorf("limit over max: %d %v", st, obj)
	}
	if st, _, _, _ := get(t, srv.URL, "/users?limit=0"); st != 400 {
		t.Errorf("limit 0: %d", st)
	}
	if st, _, _, _ := get(t, srv.URL, "/users?offset=-1"); st != 400 {
		t.Errorf("negative offset: %d", st)
	}
	if st, _, _, _ := get(t, srv.URL, "/a/b/c"); st != 404 {
		t.Errorf("unknown route: %d", st)
	}
}
