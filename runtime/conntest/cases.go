// Package conntest runs ConnectorTest files: each case runs its action
// through the runtime, offline, against an in-process fake upstream that
// checks the requests and answers with the case's canned responses. It
// also records those responses from the real API (Record).
package conntest

import (
	"cmp"
	"fmt"
	"regexp"
	"slices"

	"github.com/membrane-dev/membrane/spec"
	"github.com/membrane-dev/membrane/spec/diag"
)

// Case is one test case of a ConnectorTest document.
type Case struct {
	Test  *spec.ConnectorTest
	Index int // in Test.Cases
	// Name is CONNECTOR/ACTION/CASE (CONNECTOR/EVENT/CASE for a case that
	// polls or receives a webhook), what --run matches.
	Name string
	// Pos is where the case's name is written.
	Pos diag.Pos
}

// Spec is the case as written.
func (c Case) Spec() *spec.TestCase { return &c.Test.Cases[c.Index] }

// Action is the action the case runs, or the event of an event case.
func (c Case) Action() string {
	if c.Spec().IsEvent() {
		return c.Test.CaseEvent(c.Index)
	}
	return c.Test.CaseAction(c.Index)
}

// Cases lists the cases of a workspace whose name matches run (every case
// when run is nil), in file order.
func Cases(ws *spec.Workspace, run *regexp.Regexp) []Case {
	var out []Case
	for _, t := range ws.Tests {
		for i := range t.Cases {
			c := Case{Test: t, Index: i}
			c.Name = fmt.Sprintf("%s/%s/%s", t.Connector, c.Action(), t.Cases[i].Name)
			c.Pos = t.Source.Pos
			if n := t.CaseNode(i).Get("name"); n != nil {
				c.Pos = n.Pos
			}
			if run == nil || run.MatchString(c.Name) {
				out = append(out, c)
			}
		}
	}
	slices.SortStableFunc(out, func(a, b Case) int {
		return cmp.Or(cmp.Compare(a.Pos.File, b.Pos.File), cmp.Compare(a.Pos.Line, b.Pos.Line))
	})
	return out
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}
