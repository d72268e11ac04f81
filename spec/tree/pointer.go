package tree

import (
	"strconv"
	"strings"
)

var pointerEscaper = strings.NewReplacer("~", "~0", "/", "~1")

// EscapePointer escapes one JSON Pointer (RFC 6901) reference token.
func EscapePointer(token string) string { return pointerEscaper.Replace(token) }

// Pointer builds a JSON Pointer from reference tokens.
func Pointer(tokens ...string) string {
	var b strings.Builder
	for _, t := range tokens {
		b.WriteByte('/')
		b.WriteString(EscapePointer(t))
	}
	return b.String()
}

// Lookup returns the node at a JSON Pointer below v, or nil.
func (v *Value) Lookup(ptr string) *Value {
	if ptr == "" {
		return v
	}
	if !strings.HasPrefix(ptr, "/") {
		return nil
	}
	cur := v
	for _, tok := range strings.Split(ptr[1:], "/") {
		tok = strings.NewReplacer("~1", "/", "~0", "~").Replace(tok)
		switch {
		case cur == nil:
			return nil
		case cur.Kind == Map:
			cur = cur.Get(tok)
		case cur.Kind == List:
			i, err := strconv.Atoi(tok)
			if err != nil || i < 0 || i >= len(cur.Items) {
				return nil
			}
			cur = cur.Items[i]
		default:
			return nil
		}
	}
	return cur
}
