// Package diag holds the diagnostics every stage of Membrane reports: a
// position in a spec file, a severity, a stable rule name and a message that
// says what is wrong and what to do.
package diag

import (
	"cmp"
	"fmt"
	"slices"
	"strconv"
	"strings"
)

// Pos is a place in a spec file. Line and Col are 1-based; zero means unknown.
type Pos struct {
	File string `json:"file"`
	Line int    `json:"line,omitempty"`
	Col  int    `json:"column,omitempty"`
}

func (p Pos) String() string {
	switch {
	case p.Line == 0:
		return p.File
	case p.Col == 0:
		return fmt.Sprintf("%s:%d", p.File, p.Line)
	}
	return fmt.Sprintf("%s:%d:%d", p.File, p.Line, p.Col)
}

// Severity orders diagnostics: only errors fail a run (warnings do with --strict).
type Severity int

const (
	Error Severity = iota
	Warning
)

func (s Severity) String() string {
	if s == Warning {
		return "warning"
	}
	return "error"
}

// MarshalText makes a severity read as a word in JSON.
func (s Severity) MarshalText() ([]byte, error) { return []byte(s.String()), nil }

// Diagnostic is one problem found in a workspace.
type Diagnostic struct {
	Pos      Pos      `json:"pos"`
	Severity Severity `json:"severity"`
	// Rule is a stable, short name of the check that failed, e.g. "yaml-syntax".
	Rule    string `json:"rule"`
	Message string `json:"message"`
}

// String writes the diagnostic on one line, as `membrane validate` prints
// it. Control characters (a newline in a YAML key, in a file name) are
// escaped as in a Go string, so that one diagnostic is always one line.
func (d Diagnostic) String() string {
	return oneLine(fmt.Sprintf("%s: %s: %s [%s]", d.Pos, d.Severity, d.Message, d.Rule))
}

// oneLine escapes the control characters of s: \n, \r, \t and \xNN
// (\u2028 and \u2029, which some terminals and editors break lines at, too).
func oneLine(s string) string {
	if !strings.ContainsFunc(s, isBreaking) {
		return s
	}
	var b strings.Builder
	for _, r := range s {
		if !isBreaking(r) {
			b.WriteRune(r)
			continue
		}
		q := strconv.QuoteRune(r) // '\n', '\x01', '\u2028'
		b.WriteString(q[1 : len(q)-1])
	}
	return b.String()
}

func isBreaking(r rune) bool {
	return r < 0x20 || r == 0x7f || r == 0x85 || r == 0x2028 || r == 0x2029
}

// List collects diagnostics; stages append to it and never stop at the first.
type List []Diagnostic

// Errorf appends an error at pos.
func (l *List) Errorf(pos Pos, rule, format string, args ...any) {
	*l = append(*l, Diagnostic{Pos: pos, Severity: Error, Rule: rule, Message: fmt.Sprintf(format, args...)})
}

// Warnf appends a warning at pos.
func (l *List) Warnf(pos Pos, rule, format string, args ...any) {
	*l = append(*l, Diagnostic{Pos: pos, Severity: Warning, Rule: rule, Message: fmt.Sprintf(format, args...)})
}

// HasErrors reports whether any diagnostic is an error.
func (l List) HasErrors() bool {
	return slices.ContainsFunc(l, func(d Diagnostic) bool { return d.Severity == Error })
}

// Count returns the number of errors and warnings.
func (l List) Count() (errors, warnings int) {
	for _, d := range l {
		if d.Severity == Error {
			errors++
		} else {
			warnings++
		}
	}
	return errors, warnings
}

// Sort orders diagnostics by file, line, column, then rule and message, and
// drops exact duplicates (two checks can see the same problem).
func (l *List) Sort() {
	slices.SortStableFunc(*l, func(a, b Diagnostic) int {
		return cmp.Or(
			strings.Compare(a.Pos.File, b.Pos.File),
			cmp.Compare(a.Pos.Line, b.Pos.Line),
			cmp.Compare(a.Pos.Col, b.Pos.Col),
			strings.Compare(a.Rule, b.Rule),
			strings.Compare(a.Message, b.Message),
		)
	})
	*l = slices.Compact(*l)
}

// Err returns the list as an error when it holds any error, else nil.
func (l List) Err() error {
	if !l.HasErrors() {
		return nil
	}
	return ListError(l)
}

// ListError is a List used as an error.
type ListError List

func (e ListError) Error() string {
	var b strings.Builder
	for i, d := range e {
		if d.Severity != Error {
			continue
		}
		if b.Len() > 0 {
			b.WriteByte('\n')
		}
		b.WriteString(d.String())
		if i >= 20 {
			fmt.Fprintf(&b, "\n… and more")
			break
		}
	}
	return b.String()
}
