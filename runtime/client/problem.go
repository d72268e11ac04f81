package client

import (
	"fmt"
	"strings"
)

func (d Diagnostic) String() string {
	return fmt.Sprintf("%s:%d:%d: %s: %s [%s]", d.Pos.File, d.Pos.Line, d.Pos.Column, d.Severity, d.Message, d.Rule)
}

const problemBase = "https://membrane.dev/problems/"

// Kind is the problem type's slug ("not-found", "run-invalid-input"), or
// the title in lower case for the 401 and 403 of about:blank.
func (p *Problem) Kind() string {
	if s, ok := strings.CutPrefix(p.Type, problemBase); ok {
		return s
	}
	return strings.ToLower(p.Title)
}

// Error reads like "422 run-invalid-input: … (/input/email: …)".
func (p *Problem) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "membrane: %d %s: %s", p.Status, p.Kind(), p.Detail)
	for _, e := range p.Errors {
		where := e.Pointer
		if e.Parameter != "" {
			where = e.Parameter
		}
		fmt.Fprintf(&b, "\n  %s: %s", where, e.Detail)
	}
	for _, d := range p.Diagnostics {
		b.WriteString("\n  " + d.String())
	}
	if p.Cause != nil {
		fmt.Fprintf(&b, "\n  %s: %s", p.Cause.Type, p.Cause.Message)
	}
	if p.RunID != "" {
		b.WriteString("\n  run log: " + p.RunID)
	}
	return b.String()
}
