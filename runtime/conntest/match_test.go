package conntest

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/membrane-dev/membrane/layers"
	"github.com/membrane-dev/membrane/spec"
)

// fanOut is a workspace whose actions send one request per item, eight
// at once.
const fanOut = `kind: Connector
key: crm
baseUrl: https://api.crm.invalid
auth: {type: none}
retry: {maxAttempts: 3, initialBackoff: 1s}
---
kind: Action
connector: crm
key: get-many
inputSchema: {type: object, required: [ids], properties: {ids: {type: array, items: {type: string}}}}
steps:
  - name: get
    forEach: ${ input.ids }
    concurrency: 8
    request: {path: "/contacts/${ item }"}
    output: ${ response.body.name }
output: {names: "${ steps.get.output }"}
---
kind: Action
connector: crm
key: tag-many
inputSchema: {type: object, required: [ids], properties: {ids: {type: array, items: {type: string}}}}
steps:
  - name: tag
    forEach: ${ input.ids }
    concurrency: 8
    request: {method: POST, path: /tags, body: {contact: "${ item }", tag: vip}}
    output: ${ response.body.id }
output: {tags: "${ steps.tag.output }"}
`

// fanOutCases are cases whose requests are listed in the items' order;
// the responses tell the items apart, so an answer crossed with another
// item's shows in the output.
const fanOutCases = `kind: ConnectorTest
connector: crm
cases:
  - name: eight gets at once
    action: get-many
    input: {ids: [a, b, c, d, e, f, g, h]}
    requests:
      - {method: GET, path: /contacts/a}
      - {method: GET, path: /contacts/b}
      - {method: GET, path: /contacts/c}
      - {method: GET, path: /contacts/d}
      - {method: GET, path: /contacts/e}
      - {method: GET, path: /contacts/f}
      - {method: GET, path: /contacts/g}
      - {method: GET, path: /contacts/h}
    responses:
      - {body: {name: A}}
      - {body: {name: B}}
      - {body: {name: C}}
      - {body: {name: D}}
      - {body: {name: E}}
      - {body: {name: F}}
      - {body: {name: G}}
      - {body: {name: H}}
    output: {names: [A, B, C, D, E, F, G, H]}
  - name: a retried item takes its responses in order
    action: get-many
    input: {ids: [a, b, c, d, e, f, g, h]}
    requests:
      - {method: GET, path: /contacts/c}
      - {method: GET, path: /contacts/a}
      - {method: GET, path: /contacts/b}
      - {method: GET, path: /contacts/c}
      - {method: GET, path: /contacts/d}
      - {method: GET, path: /contacts/e}
      - {method: GET, path: /contacts/f}
      - {method: GET, path: /contacts/g}
      - {method: GET, path: /contacts/h}
      - {method: GET, path: /contacts/c}
    responses:
      - {status: 503, body: busy}
      - {body: {name: A}}
      - {body: {name: B}}
      - {status: 500, body: oops}
      - {body: {name: D}}
      - {body: {name: E}}
      - {body: {name: F}}
      - {body: {name: G}}
      - {body: {name: H}}
      - {body: {name: C}}
    output: {names: [A, B, C, D, E, F, G, H]}
  - name: bodies tell the posts apart
    action: tag-many
    input: {ids: [a, b, c, d, e, f, g, h]}
    requests:
      - {method: POST, path: /tags, body: {contact: a, tag: vip}}
      - {method: POST, path: /tags, body: {contact: b, tag: vip}}
      - {method: POST, path: /tags, body: {contact: c, tag: vip}}
      - {method: POST, path: /tags, body: {contact: d, tag: vip}}
      - {method: POST, path: /tags, body: {contact: e}, match: partial}
      - {method: POST, path: /tags, body: {contact: f}, match: partial}
      - {method: POST, path: /tags, body: {contact: g}, match: partial}
      - {method: POST, path: /tags, body: {contact: h}, match: partial}
    responses:
      - {status: 201, body: {id: t_a}}
      - {status: 201, body: {id: t_b}}
      - {status: 201, body: {id: t_c}}
      - {status: 201, body: {id: t_d}}
      - {status: 201, body: {id: t_e}}
      - {status: 201, body: {id: t_f}}
      - {status: 201, body: {id: t_g}}
      - {status: 201, body: {id: t_h}}
    output: {tags: [t_a, t_b, t_c, t_d, t_e, t_f, t_g, t_h]}
`

func loadFanOut(t testing.TB, tests string) *spec.Workspace {
	t.Helper()
	dir := t.TempDir()
	for name, text := range map[string]string{"crm.yaml": fanOut, "tests.yaml": tests} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	ws, diags := layers.Load(dir)
	if diags.HasErrors() {
		t.Fatalf("load: %v", diags)
	}
	return ws
}

// gate holds the first n requests of a case until all n have arrived,
// then lets them be answered one at a time, in the reverse of their
// listed order (by request line and body), each after the one before
// has its answer; later requests pass.
type gate struct {
	n       int
	mu      sync.Mutex
	arrived []*held
	next    int
}

type held struct {
	key  string
	turn chan struct{}
}

func (g *gate) arrive(r sentRequest) func() {
	g.mu.Lock()
	if len(g.arrived) == g.n {
		g.mu.Unlock()
		return func() {}
	}
	h := &held{key: r.Line() + " " + string(r.Body), turn: make(chan struct{})}
	g.arrived = append(g.arrived, h)
	if len(g.arrived) == g.n {
		slices.SortFunc(g.arrived, func(a, b *held) int { return strings.Compare(b.key, a.key) })
		close(g.arrived[0].turn)
	}
	g.mu.Unlock()
	<-h.turn
	return func() {
		g.mu.Lock()
		defer g.mu.Unlock()
		if g.next++; g.next < g.n {
			close(g.arrived[g.next].turn)
		}
	}
}

// TestConcurrentArrivalOrder makes eight concurrent requests arrive in
// the reverse of the order the case lists them: each still gets its own
// response. Matched by arrival order, every one would be crossed.
func TestConcurrentArrivalOrder(t *testing.T) {
	ws := loadFanOut(t, fanOutCases)
	r := New(ws, Options{Parallel: 1})
	defer r.Close()
	for _, c := range Cases(ws, nil) {
		g := &gate{n: 8}
		r.arrive = g.arrive
		res := r.Run(context.Background(), []Case{c})
		if !res[0].Passed() {
			t.Errorf("%s:\n%s", c.Name, strings.Join(res[0].Failures, "\n"))
		}
		if g.next != 8 {
			t.Errorf("%s: %d requests went through the gate, want 8", c.Name, g.next)
		}
	}
}

// TestConcurrentHundredTimes runs the fan-out cases a hundred times each,
// several at once, in whatever order the requests arrive: every run
// passes.
func TestConcurrentHundredTimes(t *testing.T) {
	ws := loadFanOut(t, fanOutCases)
	r := New(ws, Options{Parallel: 4})
	defer r.Close()
	var cases []Case
	for range 100 {
		cases = append(cases, Cases(ws, nil)...)
	}
	failed := 0
	for _, res := range r.Run(context.Background(), cases) {
		if !res.Passed() {
			if failed++; failed <= 3 {
				t.Errorf("%s:\n%s", res.Case.Name, strings.Join(res.Failures, "\n"))
			}
		}
	}
	if failed > 0 {
		t.Errorf("%d of %d runs failed", failed, len(cases))
	}
}

// TestUnmatchedReports checks what a report says of a request that
// matches none of the case's.
func TestUnmatchedReports(t *testing.T) {
	ws := loadFanOut(t, `kind: ConnectorTest
connector: crm
action: get-many
cases:
  - name: two equally close
    input: {ids: [a]}
    requests:
      - {path: /contacts/x}
      - {path: /contacts/y}
    responses:
      - {body: {name: X}}
      - {body: {name: Y}}
    output: {names: [X]}
  - name: a repeat with one response
    input: {ids: [a, a]}
    requests:
      - {path: /contacts/a}
    responses:
      - {body: {name: A}}
    output: {names: [A, A]}
  - name: one closest is answered and its difference shown
    action: tag-many
    input: {ids: [a]}
    requests:
      - {method: POST, path: /tags, body: {contact: a, tag: gold}}
      - {method: DELETE, path: /tags/t_1}
    responses:
      - {status: 201, body: {id: t_a}}
      - {status: 204}
    output: {tags: [t_a]}
`)
	r := New(ws, Options{})
	defer r.Close()
	want := [][]string{{
		`GET /contacts/a (request sent 1) matches none of the requests the case lists that are not yet taken; the closest, equally, are request 1 (line 8), request 2 (line 9):`,
		`  request 1 path: want "/contacts/x", got "/contacts/a"`,
		`  request 2 path: want "/contacts/y", got "/contacts/a"`,
		`the action stopped there: 2 exchanges of the case were never used`,
	}, {
		`request 2 was not expected: GET /contacts/a; the case gives 1 response, add a response (and a request to check it) or fix the action (it repeats request 1, line 17, which an earlier request took: list a request and a response for each time it is sent)`,
	}, {
		`request 1 body /tag: want "gold", got "vip"`,
		`request 2 was never sent: want DELETE /tags/t_1; the action sent 1 request`,
	}}
	for i, res := range r.Run(context.Background(), Cases(ws, nil)) {
		if !slices.Equal(res.Failures, want[i]) {
			t.Errorf("%s:\n%s\nwant:\n%s", res.Case.Name, strings.Join(res.Failures, "\n"), strings.Join(want[i], "\n"))
		}
	}
}

// bigFanOut is a case of n posts told apart by their bodies, listed in
// the reverse of the items' order.
func bigFanOut(n int) string {
	var b strings.Builder
	b.WriteString("kind: ConnectorTest\nconnector: crm\ncases:\n  - name: many posts\n    action: tag-many\n    input: {ids: [")
	for i := range n {
		if i > 0 {
			b.WriteString(", ")
		}
		fmt.Fprintf(&b, "i%d", i)
	}
	b.WriteString("]}\n    requests:\n")
	for i := n - 1; i >= 0; i-- {
		fmt.Fprintf(&b, "      - {method: POST, path: /tags, body: {contact: i%d, tag: vip}}\n", i)
	}
	b.WriteString("    responses:\n")
	for i := n - 1; i >= 0; i-- {
		fmt.Fprintf(&b, "      - {status: 201, body: {id: t%d}}\n", i)
	}
	b.WriteString("    output: {tags: [")
	for i := range n {
		if i > 0 {
			b.WriteString(", ")
		}
		fmt.Fprintf(&b, "t%d", i)
	}
	b.WriteString("]}\n")
	return b.String()
}

// BenchmarkMatchMany runs a case of 1,000 concurrent posts matched by
// body: the cost of matching by request.
func BenchmarkMatchMany(b *testing.B) {
	ws := loadFanOut(b, bigFanOut(1000))
	r := New(ws, Options{})
	defer r.Close()
	cases := Cases(ws, nil)
	for b.Loop() {
		if res := r.Run(context.Background(), cases); !res[0].Passed() {
			b.Fatal(res[0].Failures)
		}
	}
}

// TestSameAgreesWithDiffer holds matching's quick verdict to the report's
// diff: same finds two values equal exactly when compare finds nothing.
func TestSameAgreesWithDiffer(t *testing.T) {
	vals := []any{
		nil, "a", "1", 1.0, true,
		map[string]any{}, map[string]any{"a": "x"}, map[string]any{"a": nil}, map[string]any{"a": "x", "b": 2.0},
		map[string]any{"a": map[string]any{"c": []any{1.0, "x"}}}, map[string]any{"a": map[string]any{"c": []any{1.0}}},
		[]any{}, []any{"x"}, []any{map[string]any{"a": "x"}}, []any{map[string]any{"a": "x", "b": 2.0}},
	}
	for _, partial := range []bool{false, true} {
		for _, w := range vals {
			for _, g := range vals {
				d := &differ{partial: partial}
				d.compare("", w, g)
				if got := same(w, g, partial); got != (len(d.lines) == 0) {
					t.Errorf("partial %v: same(%s, %s) = %v, compare says %q", partial, show(w), show(g), got, d.lines)
				}
			}
		}
	}
}
