package httpx

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"strings"

	"github.com/reconctl/reconctl/providers"
	"github.com/reconctl/reconctl/providers/pick"
)

// Client-side helpers the HTTP providers share: sending a GET and reading
// its body, decoding one JSON object, classifying a GET by id, and keeping
// keys out of error messages.

// Get sends one GET to target through c with the headers every provider
// sends (Accept: application/json, User-Agent: reconctl), then those set
// adds (credentials, provider headers; they may override the defaults), and
// returns the response with its whole body. A cancelled ctx reports its own
// cause; other transport errors lose url.Error's wrapping, which repeats
// the URL (query, emails included).
func Get(ctx context.Context, c *http.Client, target string, set func(http.Header)) (*http.Response, []byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, target, nil)
	if err != nil {
		return nil, nil, err
	}
	req.Header.Set("Accept", "application/json")
	req.Header.Set("User-Agent", "reconctl")
	if set != nil {
		set(req.Header)
	}
	resp, err := c.Do(req)
	if err != nil {
		if ctx.Err() != nil {
			return nil, nil, context.Cause(ctx)
		}
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		return nil, nil, err
	}
	defer resp.Body.Close()
	var buf bytes.Buffer
	if _, err := buf.ReadFrom(resp.Body); err != nil {
		return nil, nil, err
	}
	return resp, buf.Bytes(), nil
}

// DecodeObject decodes one JSON object with numbers kept as json.Number.
// what names it in errors ("decoding <what>: …"); JSON null is an error.
func DecodeObject(raw []byte, what string) (map[string]any, error) {
	d := json.NewDecoder(bytes.NewReader(raw))
	d.UseNumber()
	var m map[string]any
	if err := d.Decode(&m); err != nil {
		return nil, fmt.Errorf("decoding %s: %w", what, err)
	}
	if m == nil {
		return nil, fmt.Errorf("decoding %s: null", what)
	}
	return m, nil
}

// DecodeObjects decodes a JSON list of objects (a list page's data) with
// numbers kept as json.Number; what names it in errors ("decoding <what>: …").
func DecodeObjects(raw []byte, what string) ([]map[string]any, error) {
	d := json.NewDecoder(bytes.NewReader(raw))
	d.UseNumber()
	var list []map[string]any
	if err := d.Decode(&list); err != nil {
		return nil, fmt.Errorf("decoding %s: %w", what, err)
	}
	return list, nil
}

// DecodeObjectsKeeping is DecodeObjects keeping only keep's paths of each
// object (providers/pick; nil keeps everything): a list page's objects as a
// PathLister lists them. Input pick refuses is decoded by DecodeObjects, so
// errors read the same.
func DecodeObjectsKeeping(raw []byte, what string, keep *pick.Paths) ([]map[string]any, error) {
	if keep != nil {
		if list, err := keep.Objects(raw); err == nil {
			return list, nil
		}
	}
	return DecodeObjects(raw, what)
}

// StringID is obj's "id" when it is a non-empty string; otherwise the error
// "<what> without an id".
func StringID(obj map[string]any, what string) (string, error) {
	id, _ := obj["id"].(string)
	if id == "" {
		return "", errors.New(what + " without an id")
	}
	return id, nil
}

// GetStatus classifies the status of a GET by id the way every provider
// does: 200 is present, 403 inaccessible (the key may not read this
// object), and deleted is whatever gone says of the status; ok is false for
// anything else, which the caller reports as its own API error. gone holds
// the provider's own rule, because a bare 404 also comes from a wrong API
// base or a proxy and must not make objects look deleted where the
// provider can tell the two apart.
func GetStatus(status int, gone func(status int) bool) (st providers.RemoteStatus, ok bool) {
	switch {
	case status == http.StatusOK:
		return providers.StatusPresent, true
	case status == http.StatusForbidden:
		return providers.StatusInaccessible, true
	case gone != nil && gone(status):
		return providers.StatusDeleted, true
	}
	return "", false
}

// Scrub replaces every non-empty secret in s, then everything keyLike
// matches (when not nil), with "[key]".
func Scrub(s string, keyLike *regexp.Regexp, secrets ...string) string {
	for _, k := range secrets {
		if k != "" {
			s = strings.ReplaceAll(s, k, "[key]")
		}
	}
	if keyLike != nil {
		s = keyLike.ReplaceAllString(s, "[key]")
	}
	return s
}

// GetRecord finishes a Get by id from the answer to its GET: a status
// GetStatus classifies (with gone) other than present is returned as is,
// one it does not classify as apiErr's error; a 200's body is decoded
// (DecodeObject, naming it what) and made a record by toRecord. Callers
// prefix errors with what they were getting.
func GetRecord(resp *http.Response, body []byte, gone func(status int) bool, apiErr func(*http.Response, []byte) error,
	what string, toRecord func(map[string]any) (providers.Record, error)) (providers.Record, providers.RemoteStatus, error) {
	switch st, ok := GetStatus(resp.StatusCode, gone); {
	case !ok:
		return providers.Record{}, "", apiErr(resp, body)
	case st != providers.StatusPresent:
		return providers.Record{}, st, nil
	}
	obj, err := DecodeObject(body, what)
	if err != nil {
		return providers.Record{}, "", err
	}
	rec, err := toRecord(obj)
	if err != nil {
		return providers.Record{}, "", err
	}
	return rec, providers.StatusPresent, nil
}

// ErrorText is how the providers' API errors read: "<name> answered HTTP
// <status>[ <code>][: <message>][ (<refKind> <ref>)]", each part only when
// not empty (refKind names the reference: "request", "trace").
func ErrorText(name string, status int, code, message, refKind, ref string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s answered HTTP %d", name, status)
	if code != "" {
		b.WriteString(" " + code)
	}
	if message != "" {
		b.WriteString(": " + message)
	}
	if ref != "" {
		b.WriteString(" (" + refKind + " " + ref + ")")
	}
	return b.String()
}
