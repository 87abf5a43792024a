package stripefake

import (
	"net"
	"net/http"
	"time"
)

// Listen serves the fake over HTTP on addr (e.g. "127.0.0.1:0" for a free
// loopback port) until stop is called. base is the API base to point a
// client at (http://HOST:PORT). Unlike NewServer it is for programs, not
// tests: `reconctl demo` runs its fake Stripe through it.
func (f *Fake) Listen(addr string) (base string, stop func(), err error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return "", nil, err
	}
	srv := &http.Server{Handler: f, ReadHeaderTimeout: 10 * time.Second}
	go srv.Serve(ln)
	return "http://" + ln.Addr().String(), func() { srv.Close() }, nil
}
