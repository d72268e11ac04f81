package engine

import (
	"context"
	"fmt"
	"hash/maphash"
	"net/http"
	"net/url"
	"strings"

	"github.com/membrane-dev/membrane/spec"

	"github.com/membrane-dev/membrane/spec/compile"
)

// DefaultMaxPages stops a pagination that never ends.
const DefaultMaxPages = 100

// pageParams are what the engine adds to a request to ask for a page.
type pageParams struct {
	params map[string]any
	in     string
	url    string // link pagination: the next page's whole URL
	sent   string // the URL the page was asked at (before auth)
}

// runPaginated walks the pages of a list request. Each page's items are
// mapped (`record`) as they come and the page is dropped, so memory holds
// only the mapped records the action returns.
func (r *run) runPaginated(ctx context.Context) (any, error) {
	ca := r.plan.action
	records, err := r.paginate(ctx, ca.Request, ca.Pagination, ca.Record, r.vars)
	if err != nil {
		return nil, err
	}
	if ca.Output == nil {
		return records, nil
	}
	out, err := ca.Output.Eval(ctx, withVar(r.vars, compile.VarRecords, records))
	if err != nil {
		return nil, fromExpr(err)
	}
	return out, nil
}

func (r *run) paginate(ctx context.Context, cr *compile.Request, pg *compile.Pagination, record *compile.Mapping, vars map[string]any) ([]any, error) {
	maxPages := pg.Src.MaxPages
	if maxPages <= 0 {
		maxPages = DefaultMaxPages
	}
	records := []any{}
	err := r.walkPages(ctx, cr, pg, vars, walkLimit{pages: maxPages}, func(items []any, _ map[string]any) error {
		// One variables map serves the page's records, `record` set to each
		// in turn: an evaluation keeps nothing of the map it is given.
		var recVars map[string]any
		if record != nil && len(items) > 0 {
			recVars = withVar(vars, compile.VarRecord, nil)
		}
		for _, it := range items {
			if record != nil {
				recVars[compile.VarRecord] = it
				m, err := record.Eval(ctx, recVars)
				if err != nil {
					return fromExpr(err)
				}
				it = m
			}
			records = append(records, it)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return records, nil
}

// walkLimit is where a walk stops: after pages pages, quietly (an action
// returns what it has) or, with fail, with an error naming the limit (a
// poll must not take a partial list for the whole).
type walkLimit struct {
	pages int
	fail  bool
	// what names the setting that raises the limit, for the error.
	what string
}

// walkPages walks the pages of a list request and hands each page's items
// (and the page's variables, `response` included) to fn, which keeps what
// it needs: the walk itself holds one page at a time and, against loops,
// one hash per cursor or link it followed.
func (r *run) walkPages(ctx context.Context, cr *compile.Request, pg *compile.Pagination, vars map[string]any, limit walkLimit, fn func(items []any, rvars map[string]any) error) error {
	src := pg.Src
	number := int64(1)
	if src.StartPage != nil {
		number = int64(*src.StartPage)
	}
	var (
		offset  int64
		cursor  any
		nextURL string
		seed    = maphash.MakeSeed()
		seen    = map[uint64]struct{}{}
	)
	// visit reports whether a cursor or link was followed before.
	visit := func(key string) bool {
		h := maphash.String(seed, key)
		if _, ok := seen[h]; ok {
			return true
		}
		seen[h] = struct{}{}
		return false
	}
	for pageNo := 0; ; pageNo++ {
		if pageNo >= limit.pages {
			if !limit.fail {
				return nil
			}
			return &Error{Type: ErrUpstream, Message: fmt.Sprintf("pagination did not end after %d pages (%s): the API keeps giving a next page; check the pagination's hasMore and nextCursor, or raise the limit", limit.pages, limit.what)}
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		pp := &pageParams{params: map[string]any{}, in: src.In}
		if src.LimitParam != "" && src.PageSize > 0 {
			pp.params[src.LimitParam] = int64(src.PageSize)
		}
		switch src.Type {
		case spec.PageCursor:
			if cursor != nil {
				pp.params[src.Param] = cursor
			}
		case spec.PageOffset:
			pp.params[src.Param] = offset
		case spec.PageNumber:
			pp.params[src.Param] = number
		case spec.PageLink:
			pp.url = nextURL
		}
		page := map[string]any{"number": number, "offset": offset, "size": int64(src.PageSize), "cursor": cursor}
		pvars := withVar(vars, compile.VarPage, page)
		resp, err := r.call(ctx, cr, pvars, pp)
		if err != nil {
			return err
		}
		rvars := withVar(pvars, compile.VarResponse, resp)
		itemsV, err := pg.Items.Eval(ctx, rvars)
		if err != nil {
			return fromExpr(err)
		}
		items, ok := itemsV.([]any)
		if !ok && itemsV != nil {
			return &Error{Type: ErrUpstream, Message: fmt.Sprintf("%s: pagination items gave %T, not a list", src.Items.Pos, itemsV)}
		}
		if err := fn(items, rvars); err != nil {
			return err
		}
		if len(items) == 0 {
			return nil
		}
		if pg.HasMore != nil {
			more, err := pg.HasMore.Eval(ctx, rvars)
			if err != nil {
				return fromExpr(err)
			}
			if more != true {
				return nil
			}
		} else if src.PageSize > 0 && len(items) < src.PageSize && src.Type != spec.PageCursor && src.Type != spec.PageLink {
			return nil // a short page is the last
		}
		switch src.Type {
		case spec.PageCursor:
			next, err := pg.NextCursor.Eval(ctx, rvars)
			if err != nil {
				return fromExpr(err)
			}
			if next == nil || text(next) == "" {
				return nil
			}
			key := text(next)
			if visit(key) {
				return &Error{Type: ErrUpstream, Message: fmt.Sprintf("pagination loops: the API gave cursor %q twice", r.redact.String(key))}
			}
			cursor = next
		case spec.PageOffset:
			offset += int64(len(items))
		case spec.PageNumber:
			number++
		case spec.PageLink:
			next := ""
			if pg.NextCursor != nil {
				v, err := pg.NextCursor.Eval(ctx, rvars)
				if err != nil {
					return fromExpr(err)
				}
				next = text(v)
			} else {
				next = nextLink(resp)
			}
			if next == "" {
				return nil
			}
			// A link is a URI reference, relative to the page it came with
			// (RFC 8288 §3.2), not to the base URL.
			ref, err := url.Parse(next)
			if err != nil {
				return &Error{Type: ErrUpstream, Message: fmt.Sprintf("the next-page link %q is not a URL: %v", r.redact.String(next), err)}
			}
			cur, err := url.Parse(pp.sent)
			if err != nil {
				return &Error{Type: ErrUpstream, Message: err.Error()}
			}
			u := cur.ResolveReference(ref)
			if visit(u.String()) {
				return &Error{Type: ErrUpstream, Message: "pagination loops: the API linked the same page twice"}
			}
			nextURL = u.String()
		}
	}
}

// nextLink finds rel="next" in an RFC 8288 Link header.
func nextLink(resp map[string]any) string {
	h, _ := resp["headers"].(map[string]string)
	for _, part := range strings.Split(h[strings.ToLower(http.CanonicalHeaderKey("link"))], ",") {
		segs := strings.Split(part, ";")
		if len(segs) < 2 {
			continue
		}
		target := strings.Trim(strings.TrimSpace(segs[0]), "<>")
		for _, p := range segs[1:] {
			p = strings.TrimSpace(p)
			if strings.EqualFold(p, `rel="next"`) || strings.EqualFold(p, "rel=next") {
				return target
			}
		}
	}
	return ""
}
