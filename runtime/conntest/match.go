package conntest

import (
	"fmt"
	"net/url"
	"slices"
	"strings"
	"sync"

	"github.com/membrane-dev/membrane/spec"
)

// exchanges is one case's side of the fake: its canned exchanges — the
// i-th request the case lists with the i-th response — and the requests
// it received, each with the exchange that answered it.
//
// A request takes the first exchange, in listed order, not yet taken
// whose request matches it by method, path, query and body (those the
// case gives); one whose headers match too comes before one whose
// headers differ, which the report then names. So requests sent at once
// (a concurrent forEach) each find their own response whatever order
// they arrive in, and the same request sent again (a retry, the next
// poll) takes the next exchange listed for it. A response beyond the
// listed requests checks nothing and answers any request, in order: it
// is taken only once every exchange listed before it is; a case that
// lists no requests is answered in arrival order.
//
// A request that matches nothing takes the one exchange left that is
// closest to it, if one is closer than all others, and the report shows
// how they differ; otherwise it is answered 501 and the report names it
// and the closest exchanges.
type exchanges struct {
	want      []spec.TestRequest
	keys      []wantKey // per listed request, what matching compares
	responses []canned
	// arrive, when set, sees each request before it is matched, and done
	// once it is answered: tests use it to choose the order of arrival.
	arrive func(r sentRequest) (done func())

	mu   sync.Mutex
	sent []sentRequest
	took []int  // per request sent: the exchange that answered it, or -1
	used []bool // per exchange: taken
}

func newExchanges(want []spec.TestRequest, responses []spec.TestResponse) *exchanges {
	x := &exchanges{want: want, responses: cannedResponses(responses), keys: make([]wantKey, len(want))}
	for i := range want {
		w := &want[i]
		k := &x.keys[i]
		k.partial = w.Match == spec.MatchPartial
		if w.Query != nil {
			k.query = textTree(w.Query)
		}
		if w.Body != nil {
			k.body = plain(w.Body.Interface())
			k.formBody = textTree(w.Body)
		}
	}
	return x
}

// relativeTo reads the listed requests' paths as relative to the base
// URL's path (base https://api.x.com/crm/v3 and path /contacts give
// /crm/v3/contacts). A path that already starts with the base path, or
// with the path of one of the connector's servers (keep), is taken as
// written, so a test that writes the whole path still passes, and one of
// a request to a server writes that server's path.
func (x *exchanges) relativeTo(basePath string, keep ...string) {
	basePath = strings.TrimSuffix(basePath, "/")
	if basePath == "" {
		return
	}
	prefixes := append(slices.Clip(keep), basePath)
	kept := func(p string) bool {
		for _, k := range prefixes {
			if k = strings.TrimSuffix(k, "/"); k != "" && (p == k || strings.HasPrefix(p, k+"/")) {
				return true
			}
		}
		return false
	}
	want := slices.Clone(x.want)
	for i := range want {
		p := want[i].Path
		if p == "" || kept(p) {
			continue
		}
		if !strings.HasPrefix(p, "/") {
			p = "/" + p
		}
		want[i].Path = basePath + p
	}
	x.want = want
}

// wantKey is a listed request's query and body as matching compares
// them, computed once.
type wantKey struct {
	partial        bool
	query          any // nil: not checked
	body, formBody any // nil: not checked; formBody for a form sent
}

// incoming is a request sent, its query and body decoded once for
// matching.
type incoming struct {
	sentRequest
	query any
	body  any
	form  bool
}

func decode(r sentRequest) *incoming {
	in := &incoming{sentRequest: r}
	q, _ := url.ParseQuery(r.Query)
	in.query = formTree(q)
	in.body, in.form = decodeBody(r)
	return in
}

// matchesKey reports whether the i-th listed request has the method,
// path, query and body of a request sent, as checkRequest's partKey
// would find no difference, without writing any.
func (x *exchanges) matchesKey(i int, in *incoming) bool {
	w, k := &x.want[i], &x.keys[i]
	if w.Method != "" && !strings.EqualFold(w.Method, in.Method) || w.Path != "" && w.Path != in.Path {
		return false
	}
	if w.Query != nil && !same(k.query, in.query, k.partial) {
		return false
	}
	if w.Body != nil {
		want := k.body
		if in.form {
			want = k.formBody
		}
		if !same(want, in.body, k.partial) {
			return false
		}
	}
	return true
}

// same is differ.compare's verdict: whether got equals want (exact) or
// contains it (partial).
func same(want, got any, partial bool) bool {
	switch w := want.(type) {
	case map[string]any:
		g, ok := got.(map[string]any)
		if !ok {
			return false
		}
		for k, wv := range w {
			gv, has := g[k]
			switch {
			case !has && wv == nil: // null means absent or null, exact or partial
			case !has:
				return false
			case !same(wv, gv, partial):
				return false
			}
		}
		if !partial {
			for k := range g {
				if _, has := w[k]; !has {
					return false
				}
			}
		}
		return true
	case []any:
		g, ok := got.([]any)
		if !ok || len(g) != len(w) {
			return false
		}
		for i := range w {
			if !same(w[i], g[i], partial) {
				return false
			}
		}
		return true
	}
	return want == got
}

// size is the number of exchanges: a listed request without a response
// is one (answered with a report of the missing response), and so is a
// response without a listed request.
func (x *exchanges) size() int { return max(len(x.want), len(x.responses)) }

// answer records a request and returns the exchange it took (-1 when it
// matches none) and its canned response, nil when that exchange has no
// response.
func (x *exchanges) answer(r sentRequest) (*canned, int) {
	if x.arrive != nil {
		done := x.arrive(r)
		defer done()
	}
	x.mu.Lock()
	defer x.mu.Unlock()
	for len(x.used) < x.size() {
		x.used = append(x.used, false)
	}
	i := x.pick(decode(r))
	x.sent = append(x.sent, r)
	x.took = append(x.took, i)
	if i < 0 {
		return nil, -1
	}
	x.used[i] = true
	if i < len(x.responses) {
		return &x.responses[i], i
	}
	return nil, i
}

// pick chooses the exchange a request takes; x.mu is held.
func (x *exchanges) pick(in *incoming) int {
	loose := -1 // the first whose method, path, query and body match
	for i := range x.size() {
		if x.used[i] {
			continue
		}
		if i >= len(x.want) {
			// A response without a listed request, taken in order: only
			// when every exchange before it is taken.
			if !slices.Contains(x.used[:i], false) && loose < 0 {
				return i
			}
			break
		}
		if !x.matchesKey(i, in) {
			continue
		}
		if len(checkRequest(i+1, &x.want[i], in.sentRequest, partHeaders)) == 0 {
			return i
		}
		if loose < 0 {
			loose = i
		}
	}
	if loose >= 0 {
		return loose
	}
	if best := x.closest(in.sentRequest); len(best) == 1 {
		return best[0].i
	}
	return -1
}

// candidate is an exchange not yet taken, and how a request differs from it.
type candidate struct {
	i     int
	score int
	lines []string
}

// closest lists the exchanges not yet taken that are closest to a
// request, up to three equally close; x.mu is held.
func (x *exchanges) closest(r sentRequest) []candidate {
	var cands []candidate
	for i := range x.want {
		if x.used[i] {
			continue
		}
		lines := checkRequest(i+1, &x.want[i], r, partAll)
		score := len(lines)
		for _, l := range lines {
			// Another method or path is farther than any field.
			if strings.HasPrefix(l, fmt.Sprintf("request %d method:", i+1)) || strings.HasPrefix(l, fmt.Sprintf("request %d path:", i+1)) {
				score += 10
			}
		}
		cands = append(cands, candidate{i, score, lines})
	}
	if len(cands) == 0 {
		return nil
	}
	slices.SortStableFunc(cands, func(a, b candidate) int { return a.score - b.score })
	n := 1
	for n < len(cands) && n < 3 && cands[n].score == cands[0].score {
		n++
	}
	return cands[:n]
}

func (x *exchanges) requests() []sentRequest {
	x.mu.Lock()
	defer x.mu.Unlock()
	return slices.Clone(x.sent)
}

// report lists how the requests sent differ from those the case lists
// and the responses it gives, who being what sent them ("the action");
// unexpected is set when a request was answered 501: it matched no
// exchange, or its exchange has no response.
func (x *exchanges) report(who string) (lines []string, unexpected bool) {
	x.mu.Lock()
	defer x.mu.Unlock()
	for len(x.used) < x.size() {
		x.used = append(x.used, false)
	}
	for k, s := range x.sent {
		i := x.took[k]
		switch {
		case i < 0:
			unexpected = true
			lines = append(lines, x.unmatched(k, s, who)...)
		case i < len(x.want):
			lines = append(lines, checkRequest(i+1, &x.want[i], s, partAll)...)
			if i >= len(x.responses) {
				unexpected = true
				lines = append(lines, fmt.Sprintf("request %d has no response: %s; add one under responses: (or run membrane test --record)", i+1, s.Line()))
			}
		}
	}
	var unsent []string
	for i := range x.size() {
		switch {
		case x.used[i]:
		case i < len(x.want):
			unsent = append(unsent, fmt.Sprintf("request %d was never sent: want %s; %s sent %s", i+1, describe(&x.want[i]), who, count(len(x.sent), "request")))
		default:
			unsent = append(unsent, fmt.Sprintf("response %d was never requested: %s sent %s; remove it or fix %s", i+1, who, count(len(x.sent), "request"), who))
		}
	}
	if unexpected && len(unsent) > 0 {
		// What was not sent after a 501 is its consequence, not news.
		return append(lines, fmt.Sprintf("%s stopped there: %s of the case were never used", who, count(len(unsent), "exchange"))), true
	}
	return append(lines, unsent...), unexpected
}

// unmatched explains why the k-th request sent (0-based) found no
// exchange, naming the closest of the requests listed and left unused;
// x.mu is held.
func (x *exchanges) unmatched(k int, s sentRequest, who string) []string {
	best := x.closest(s)
	if len(best) == 0 {
		line := fmt.Sprintf("request %d was not expected: %s; the case gives %s, add a response (and a request to check it) or fix %s", k+1, s.Line(), count(len(x.responses), "response"), who)
		for i := range x.want {
			if len(checkRequest(i+1, &x.want[i], s, partKey)) == 0 {
				line += fmt.Sprintf(" (it repeats request %d, line %d, which an earlier request took: list a request and a response for each time it is sent)", i+1, x.want[i].Pos.Line)
				break
			}
		}
		return []string{line}
	}
	names := make([]string, len(best))
	for j, c := range best {
		names[j] = fmt.Sprintf("request %d (line %d)", c.i+1, x.want[c.i].Pos.Line)
	}
	closest := "the closest is " + names[0]
	if len(best) > 1 {
		closest = "the closest, equally, are " + strings.Join(names, ", ")
	}
	lines := []string{fmt.Sprintf("%s (request sent %d) matches none of the requests the case lists that are not yet taken; %s:", s.Line(), k+1, closest)}
	for _, c := range best {
		for _, l := range c.lines {
			lines = append(lines, "  "+l)
		}
	}
	return lines
}
