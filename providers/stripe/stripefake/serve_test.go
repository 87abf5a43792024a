package stripefake_test

import (
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/reconctl/reconctl/providers/stripe/stripefake"
)

// TestListen: the fake serves itself on a loopback port (as `reconctl demo`
// runs it) until stopped.
func TestListen(t *testing.T) {
	f := stripefake.New(stripefake.Config{APIKey: key})
	f.CreateCustomer(map[string]any{"email": "a@example.com"})
	base, stop, err := f.Listen("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(base, "http://127.0.0.1:") {
		t.Fatalf("base %q, want http://127.0.0.1:PORT", base)
	}
	get := func() (*http.Response, error) {
		req, _ := http.NewRequest("GET", base+"/v1/customers", nil)
		req.Header.Set("Authorization", "Bearer "+key)
		return http.DefaultClient.Do(req)
	}
	resp, err := get()
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !strings.Contains(string(body), "a@example.com") {
		t.Fatalf("GET /v1/customers: %d %s", resp.StatusCode, body)
	}
	stop()
	http.DefaultClient.CloseIdleConnections()
	if resp, err := get(); err == nil {
		resp.Body.Close()
		t.Fatalf("after stop the fake still answers: %d", resp.StatusCode)
	}
	if _, _, err := f.Listen("256.0.0.1:0"); err == nil {
		t.Fatal("Listen on a bad address: no error")
	}
}
