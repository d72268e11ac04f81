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
	maxPages := DefaultMaxPages
	if ca.Pagination.MaxPages != nil {
		n, err := ca.Pagination.MaxPages.Eval(ctx, r.vars)
		if err != nil {
			return nil, fromExpr(err)
		}
		maxPages = n
	}
	records, end, err := r.paginate(ctx, ca.Request, ca.Pagination, ca.Record, r.vars, walkLimit{pages: maxPages})
	if err != nil {
		return nil, err
	}
	r.pagination = end
	if ca.Output == nil {
		return records, nil
	}
	vars := withVar(r.vars, compile.VarRecords, records)
	vars[compile.VarPagination] = end.vars()
	out, err := ca.Output.Eval(ctx, vars)
	if err != nil {
		return nil, fromExpr(err)
	}
	return out, nil
}

// PageInfo says how a paginated action's walk ended: Truncated when it
// stopped at maxPages while the API had more, NextCursor then being what
// resumes it (the cursor, offset, page number or link of the next page).
type PageInfo struct {
	Pages      int  `json:"pages"`
	Truncated  bool `json:"truncated"`
	NextCursor any  `json:"nextCursor,omitempty"`
}

func (p *PageInfo) vars() map[string]any {
	return map[string]any{"pages": int64(p.Pages), "truncated": p.Truncated, "nextCursor": p.NextCursor}
}

func (r *run) paginate(ctx context.Context, cr *compile.Request, pg *compile.Pagination, record *compile.Mapping, vars map[string]any, limit walkLimit) ([]any, *PageInfo, error) {
	records := []any{}
	end, err := r.walkPages(ctx, cr, pg, vars, limit, func(items []any, _ map[string]any) error {
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
		return nil, nil, err
	}
	return records, end, nil
}

// walkLimit is where a walk stops: after pages pages, quietly (an action
// returns what it has, and says it is truncated) or, with fail, with an
// error naming the limit (a poll must not take a partial list for the
// whole).
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
//
// An empty page ends the walk only when the API says nothing more is
// there: a cursor or link walk goes on while hasMore is true (without
// hasMore, while a next cursor or link is given), as some APIs answer an
// empty page with a cursor when filtering hid a whole page.
func (r *run) walkPages(ctx context.Context, cr *compile.Request, pg *compile.Pagination, vars map[string]any, limit walkLimit, fn func(items []any, rvars map[string]any) error) (*PageInfo, error) {
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
	pageSize := 0
	if pg.PageSize != nil {
		n, err := pg.PageSize.Eval(ctx, vars)
		if err != nil {
			return nil, fromExpr(err)
		}
		pageSize = n
	}
	if pg.StartCursor != nil && src.Type == spec.PageCursor {
		c, err := pg.StartCursor.Eval(ctx, vars)
		if err != nil {
			return nil, fromExpr(err)
		}
		if c != nil && text(c) != "" {
			cursor = c
		}
	}
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
			// The walk only comes here when the API said there is more.
			if !limit.fail {
				end := &PageInfo{Pages: pageNo, Truncated: true}
				switch src.Type {
				case spec.PageCursor:
					end.NextCursor = cursor
				case spec.PageOffset:
					end.NextCursor = offset
				case spec.PageNumber:
					end.NextCursor = number
				case spec.PageLink:
					end.NextCursor = nextURL
				}
				return end, nil
			}
			return nil, &Error{Type: ErrUpstream, Message: fmt.Sprintf("pagination did not end after %d pages (%s): the API keeps giving a next page; check the pagination's hasMore and nextCursor, or raise the limit", limit.pages, limit.what)}
		}
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		done := &PageInfo{Pages: pageNo + 1}
		pp := &pageParams{params: map[string]any{}, in: src.In}
		if src.LimitParam != "" && pageSize > 0 {
			pp.params[src.LimitParam] = int64(pageSize)
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
		page := map[string]any{"number": number, "offset": offset, "size": int64(pageSize), "cursor": cursor}
		pvars := withVar(vars, compile.VarPage, page)
		resp, err := r.call(ctx, cr, pvars, pp)
		if err != nil {
			return nil, err
		}
		rvars := withVar(pvars, compile.VarResponse, resp)
		itemsV, err := pg.Items.Eval(ctx, rvars)
		if err != nil {
			return nil, fromExpr(err)
		}
		items, ok := itemsV.([]any)
		if !ok {
			return nil, &Error{Type: ErrUpstream, Status: intOf(resp["status"]), Message: itemsNotAList(src.Items, itemsV)}
		}
		if err := fn(items, rvars); err != nil {
			return nil, err
		}
		more := true // unless something below says otherwise
		if pg.HasMore != nil {
			v, err := pg.HasMore.Eval(ctx, rvars)
			if err != nil {
				return nil, fromExpr(err)
			}
			more = v == true
		} else if len(items) == 0 && src.Type != spec.PageCursor && src.Type != spec.PageLink {
			more = false // an empty page is the last
		} else if pageSize > 0 && len(items) < pageSize && src.Type != spec.PageCursor && src.Type != spec.PageLink {
			more = false // a short page is the last
		}
		if len(items) == 0 && src.Type == spec.PageOffset {
			more = false // nothing to move the offset by
		}
		if !more {
			return done, nil
		}
		switch src.Type {
		case spec.PageCursor:
			next, err := pg.NextCursor.Eval(ctx, rvars)
			if err != nil {
				return nil, fromExpr(err)
			}
			if next == nil || text(next) == "" {
				return done, nil
			}
			key := text(next)
			if visit(key) {
				return nil, &Error{Type: ErrUpstream, Message: fmt.Sprintf("pagination loops: the API gave cursor %q twice", r.redact.String(key))}
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
					return nil, fromExpr(err)
				}
				next = text(v)
			} else {
				next = nextLink(resp)
			}
			if next == "" {
				return done, nil
			}
			// A link is a URI reference, relative to the page it came with
			// (RFC 8288 §3.2), not to the base URL.
			ref, err := url.Parse(next)
			if err != nil {
				return nil, &Error{Type: ErrUpstream, Message: fmt.Sprintf("the next-page link %q is not a URL: %v", r.redact.String(next), err)}
			}
			cur, err := url.Parse(pp.sent)
			if err != nil {
				return nil, &Error{Type: ErrUpstream, Message: err.Error()}
			}
			u := cur.ResolveReference(ref)
			if visit(u.String()) {
				return nil, &Error{Type: ErrUpstream, Message: "pagination loops: the API linked the same page twice"}
			}
			nextURL = u.String()
		}
	}
}

func intOf(v any) int {
	n, _ := v.(int64)
	return int(n)
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

// itemsNotAList says what a pagination items expression gave instead of a
// list, and how to write it for an API that sends an empty page that way.
// Null is not taken for an empty page: a misspelt field would end every
// walk after one page, silently.
func itemsNotAList(t spec.Template, v any) string {
	x := strings.TrimSpace(t.Source)
	if inner, ok := strings.CutPrefix(x, "${"); ok && strings.HasSuffix(inner, "}") {
		x = strings.TrimSpace(strings.TrimSuffix(inner, "}"))
	}
	if v != nil {
		return fmt.Sprintf("%s: pagination items gave %s, not a list; point it at the page's list of records", t.Pos, describeValue(v))
	}
	return fmt.Sprintf("%s: pagination items gave null, not a list. Check the field's name; if the API sends null for an empty page, write ${ %s == null ? [] : %s }, and if it leaves the field out, ${ <map>.?<field>.orValue([]) }", t.Pos, x, x)
}
