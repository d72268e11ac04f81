package expr

import (
	"fmt"
	"strings"
)

// Parsed is a template split into literal text and CEL expressions.
type Parsed struct {
	Source string
	// Parts alternate freely between text and expressions; adjacent text
	// parts are merged, and empty text is dropped.
	Parts []Part
	one   [1]Part // backs Parts for the common one-part template
}

// Part is one piece of a template.
type Part struct {
	// Expr says whether Text is CEL source (what is inside `${ … }`, spaces
	// kept) or literal text (with `$${` already turned into `${`).
	Expr bool
	Text string
	// Offset is the byte offset of Text's first byte in the source; for an
	// expression, just after `${`. For text it is where the text starts,
	// escapes included.
	Offset int
}

// ParseError is a template that cannot be split into parts.
type ParseError struct {
	Offset  int // byte offset into the template source
	Message string
}

func (e *ParseError) Error() string {
	return fmt.Sprintf("offset %d: %s", e.Offset, e.Message)
}

// IsLiteral reports whether the template has no expressions.
func (p *Parsed) IsLiteral() bool {
	for _, pt := range p.Parts {
		if pt.Expr {
			return false
		}
	}
	return true
}

// IsSingle reports whether the template is exactly one `${ … }`, whose
// typed value is the template's value.
func (p *Parsed) IsSingle() bool { return len(p.Parts) == 1 && p.Parts[0].Expr }

// String writes the template back as source: Parse(p.String()) gives the
// same parts.
func (p *Parsed) String() string {
	var b strings.Builder
	for _, pt := range p.Parts {
		if pt.Expr {
			b.WriteString("${")
			b.WriteString(pt.Text)
			b.WriteString("}")
		} else {
			b.WriteString(strings.ReplaceAll(pt.Text, "${", "$${"))
		}
	}
	return b.String()
}

// Parse splits a template into text and `${ … }` expressions. It knows
// enough of CEL's lexical syntax (string literals of every kind, comments,
// braces of map literals) to find the `}` that closes each expression.
func Parse(src string) (*Parsed, error) {
	p := &Parsed{Source: src}
	if !strings.Contains(src, "${") {
		if src != "" {
			p.one[0] = Part{Text: src}
			p.Parts = p.one[:]
		}
		return p, nil
	}
	var text strings.Builder
	textStart := 0
	flush := func() {
		if text.Len() > 0 {
			p.Parts = append(p.Parts, Part{Text: text.String(), Offset: textStart})
			text.Reset()
		}
	}
	i := 0
	for i < len(src) {
		j := strings.IndexByte(src[i:], '$')
		if j < 0 {
			if text.Len() == 0 {
				textStart = i
			}
			text.WriteString(src[i:])
			break
		}
		if j > 0 {
			if text.Len() == 0 {
				textStart = i
			}
			text.WriteString(src[i : i+j])
			i += j
		}
		switch {
		case strings.HasPrefix(src[i:], "$${"):
			if text.Len() == 0 {
				textStart = i
			}
			text.WriteString("${")
			i += 3
		case strings.HasPrefix(src[i:], "${"):
			start := i + 2
			end, err := scanExpr(src, start)
			if err != nil {
				err.Offset = i
				return nil, err
			}
			if strings.TrimSpace(src[start:end]) == "" {
				return nil, &ParseError{Offset: i, Message: "empty expression: write a CEL expression inside ${ }"}
			}
			flush()
			p.Parts = append(p.Parts, Part{Expr: true, Text: src[start:end], Offset: start})
			i = end + 1
		default:
			if text.Len() == 0 {
				textStart = i
			}
			text.WriteByte('$')
			i++
		}
	}
	flush()
	return p, nil
}

// scanExpr returns the index of the `}` that closes the expression starting
// at src[start:]. It follows CEL's lexer: braces nest, quotes and backticks
// open literals in which braces do not count, `//` starts a comment.
func scanExpr(src string, start int) (int, *ParseError) {
	depth := 0
	for i := start; i < len(src); i++ {
		switch c := src[i]; c {
		case '{':
			depth++
		case '}':
			if depth == 0 {
				return i, nil
			}
			depth--
		case '/':
			if i+1 < len(src) && src[i+1] == '/' {
				nl := strings.IndexByte(src[i:], '\n')
				if nl < 0 {
					return 0, &ParseError{Message: `unterminated "${": a "//" comment runs to the end of the line and hides the closing "}"`}
				}
				i += nl
			}
		case '`':
			end := strings.IndexAny(src[i+1:], "`\n")
			if end < 0 {
				return 0, &ParseError{Message: fmt.Sprintf("unterminated \"${\": the quoted identifier at offset %d is never closed", i)}
			}
			i += 1 + end
		case '\'', '"':
			end, ok := scanString(src, start, i)
			if !ok {
				return 0, &ParseError{Message: fmt.Sprintf("unterminated \"${\": the string literal at offset %d is never closed", i)}
			}
			i = end
		}
	}
	return 0, &ParseError{Message: `unterminated "${": no "}" closes this expression`}
}

// scanString returns the index of the last byte of the string literal whose
// opening quote is at q. Strings that are not triple-quoted end at a newline
// (CEL rejects the newline; its parser then says so precisely).
func scanString(src string, exprStart, q int) (int, bool) {
	quote := src[q]
	raw := isRawPrefix(src[exprStart:q])
	triple := q+2 < len(src) && src[q+1] == quote && src[q+2] == quote
	i := q + 1
	if triple {
		i = q + 3
	}
	for ; i < len(src); i++ {
		c := src[i]
		switch {
		case c == '\\' && !raw:
			i++ // the escaped byte never ends the string
		case c == '\n' && !triple:
			return i, true
		case c == quote:
			if !triple {
				return i, true
			}
			if i+2 < len(src) && src[i+1] == quote && src[i+2] == quote {
				return i + 2, true
			}
		}
	}
	return 0, false
}

// isRawPrefix reports whether the identifier characters just before a
// quote make it a raw string: r, R and their combinations with b or B.
// CEL's lexer is greedy, so `bar'x'` is the identifier bar and a plain
// string, not a raw one.
func isRawPrefix(before string) bool {
	j := len(before)
	for j > 0 && isIdentByte(before[j-1]) {
		j--
	}
	switch strings.ToLower(before[j:]) {
	case "r", "rb", "br":
		return true
	}
	return false
}

func isIdentByte(c byte) bool {
	return c == '_' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9'
}
