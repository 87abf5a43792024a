package workos

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"

	"github.com/reconctl/reconctl/providers"
	"github.com/reconctl/reconctl/providers/httpx"
	"github.com/reconctl/reconctl/providers/pick"
)

// listPage is one list response: {"object":"list","data":[…],
// "list_metadata":{"before":…,"after":…}}.
type listPage struct {
	Data         *objectList `json:"data"`
	ListMetadata struct {
		Before *string `json:"before"`
		After  *string `json:"after"`
	} `json:"list_metadata"`
}

// objectList is a page's objects; keep, when set before decoding, keeps
// only those paths of each (ListPaths).
type objectList struct {
	objs []map[string]any
	keep *pick.Paths
	set  bool // the answer had a data array (or object) at all
}

// UnmarshalJSON keeps numbers as json.Number.
func (o *objectList) UnmarshalJSON(b []byte) error {
	list, err := httpx.DecodeObjectsKeeping(b, "workos list data", o.keep)
	o.objs, o.set = list, true
	return err
}

// ErrNoDirectory is returned when directory_users is used without a
// directory id.
var ErrNoDirectory = errors.New("workos directory_users needs a directory id: set `workos: {directory_id: directory_…}` in reconctl.yaml")

// List implements providers.Provider.
func (p *Provider) List(ctx context.Context, resource string, fn func(providers.Record) error) error {
	return p.list(ctx, resource, nil, fn)
}

// list lists resource, keeping only keep's paths of each object (all of
// it when nil).
func (p *Provider) list(ctx context.Context, resource string, keep *pick.Paths, fn func(providers.Record) error) error {
	ep, err := p.endpoint(resource)
	if err != nil {
		return err
	}
	ep.keep = keep
	q := url.Values{}
	if ep.dir {
		if p.directoryID == "" {
			return fmt.Errorf("listing workos %s: %w", resource, ErrNoDirectory)
		}
		q.Set("directory", p.directoryID)
	}
	return p.walk(ctx, ep, q, fn)
}

// ListPaths implements providers.PathLister: List, each object decoded
// with only paths (and the id and updated_at toRecord reads) kept.
func (p *Provider) ListPaths(ctx context.Context, resource string, paths [][]string, fn func(providers.Record) error) error {
	return p.list(ctx, resource, pick.Compile(paths, "id", "updated_at"), fn)
}

// FindByEmail implements providers.EmailFinder (users only, through the
// list's email filter).
func (p *Provider) FindByEmail(ctx context.Context, resource, email string) ([]providers.Record, error) {
	ep, err := p.endpoint(resource)
	if err != nil {
		return nil, err
	}
	if resource != Users {
		return nil, fmt.Errorf("workos can look up only %s by email, not %s", Users, resource)
	}
	var out []providers.Record
	err = p.walk(ctx, ep, url.Values{"email": {email}}, func(r providers.Record) error {
		out = append(out, r)
		return nil
	})
	return out, err
}

// walk follows list_metadata.after until it is null. Objects created while
// the walk runs sort before its cursor (lists are newest first), so they are
// not listed; none is listed twice.
func (p *Provider) walk(ctx context.Context, ep endpoint, filter url.Values, fn func(providers.Record) error) error {
	after := ""
	for page := 1; ; page++ {
		q := url.Values{}
		for k, v := range filter {
			q[k] = v
		}
		q.Set("limit", fmt.Sprint(pageSize))
		if after != "" {
			q.Set("after", after)
		}
		lp, err := p.fetchList(ctx, ep, q)
		if err != nil {
			if ctx.Err() != nil {
				return fmt.Errorf("listing workos %s: %w", ep.resource, context.Cause(ctx))
			}
			var ae *providers.AuthError
			if errors.As(err, &ae) {
				return err
			}
			where := "first page"
			if after != "" {
				where = "after=" + after
			}
			return fmt.Errorf("listing workos %s failed at page %d (%s): %w", ep.resource, page, where, err)
		}
		for _, obj := range lp.Data.objs {
			rec, err := toRecord(obj)
			if err != nil {
				return fmt.Errorf("listing workos %s: %w", ep.resource, err)
			}
			if err := ctx.Err(); err != nil {
				return fmt.Errorf("listing workos %s: %w", ep.resource, context.Cause(ctx))
			}
			if err := fn(rec); err != nil {
				return err
			}
		}
		next := lp.ListMetadata.After
		if next == nil || *next == "" || len(lp.Data.objs) == 0 {
			return nil
		}
		if *next == after {
			return fmt.Errorf("listing workos %s: the API repeated after=%s; stopping instead of looping", ep.resource, after)
		}
		after = *next
	}
}

func (p *Provider) fetchList(ctx context.Context, ep endpoint, q url.Values) (*listPage, error) {
	var lp listPage
	if ep.keep != nil {
		lp.Data = &objectList{keep: ep.keep}
	}
	if err := p.fetchInto(ctx, ep, q, &lp); err != nil {
		return nil, err
	}
	if lp.Data == nil || !lp.Data.set {
		return nil, errNotAList
	}
	return &lp, nil
}

// errNotAList: a 200 that is not a WorkOS list (a proxy page, a wrong API
// base) must not read as an empty listing.
var errNotAList = errors.New("the answer is not a WorkOS list (no data array); is the API base right?")

// fetchInto GETs a list page and decodes a 200 into v.
func (p *Provider) fetchInto(ctx context.Context, ep endpoint, q url.Values, v any) error {
	resp, body, err := p.get(ctx, ep, ep.path, q)
	if err != nil {
		return err
	}
	if resp.StatusCode != http.StatusOK {
		return p.apiError(resp, body)
	}
	if err := json.Unmarshal(body, v); err != nil {
		return fmt.Errorf("decoding workos list: %w", err)
	}
	return nil
}
