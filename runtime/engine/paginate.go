package engine

import (
	"context"
	"fmt"
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
	src := pg.Src
	maxPages := src.MaxPages
	if maxPages <= 0 {
		maxPages = DefaultMaxPages
	}
	number := int64(1)
	if src.StartPage != nil {
		number = int64(*src.StartPage)
	}
	var (
		offset  int64
		cursor  any
		nextURL string
		records = []any{}
		seen    = map[string]bool{}
	)
	for pageNo := 0; pageNo < maxPages; pageNo++ {
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
			return nil, err
		}
		rvars := withVar(pvars, compile.VarResponse, resp)
		itemsV, err := pg.Items.Eval(ctx, rvars)
		if err != nil {
			return nil, fromExpr(err)
		}
		items, ok := itemsV.([]any)
		if !ok && itemsV != nil {
			return nil, &Error{Type: ErrUpstream, Message: fmt.Sprintf("%s: pagination items gave %T, not a list", src.Items.Pos, itemsV)}
		}
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
					return nil, fromExpr(err)
				}
				it = m
			}
			records = append(records, it)
		}
		if len(items) == 0 {
			break
		}
		if pg.HasMore != nil {
			more, err := pg.HasMore.Eval(ctx, rvars)
			if err != nil {
				return nil, fromExpr(err)
			}
			if more != true {
				break
			}
		} else if src.PageSize > 0 && len(items) < src.PageSize && src.Type != spec.PageCursor && src.Type != spec.PageLink {
			break // a short page is the last
		}
		switch src.Type {
		case spec.PageCursor:
			next, err := pg.NextCursor.Eval(ctx, rvars)
			if err != nil {
				return nil, fromExpr(err)
			}
			if next == nil || text(next) == "" {
				return records, nil
			}
			key := text(next)
			if seen[key] {
				return nil, &Error{Type: ErrUpstream, Message: fmt.Sprintf("pagination loops: the API gave cursor %q twice", r.redact.String(key))}
			}
			seen[key] = true
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
				return records, nil
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
			if seen[u.String()] {
				return nil, &Error{Type: ErrUpstream, Message: "pagination loops: the API linked the same page twice"}
			}
			seen[u.String()] = true
			nextURL = u.String()
		}
	}
	return records, nil
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
