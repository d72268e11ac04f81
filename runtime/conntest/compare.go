package conntest

import (
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"strings"
)

// absent stands for a value that is not there, in a diff.
const absent = "(absent)"

// differ collects mismatches, one line each: "<what> <pointer>: want X, got Y".
type differ struct {
	what    string // "request 1 body", "output"
	partial bool
	lines   []string
}

func (d *differ) add(ptr, format string, args ...any) {
	head := d.what
	if ptr != "" {
		head += " " + ptr
	}
	d.lines = append(d.lines, head+": "+fmt.Sprintf(format, args...))
}

func (d *differ) mismatch(ptr string, want, got any) {
	d.add(ptr, "want %s, got %s", show(want), show(got))
}

// compare walks want and got, both plain JSON values (nil, bool, float64,
// string, map[string]any, []any). Exact: equal. Partial: every field want
// gives is in got (a null field in want means absent or null); lists have
// the same length and their items compare partially. In both, a null
// field in want means absent or null.
func (d *differ) compare(ptr string, want, got any) {
	switch w := want.(type) {
	case map[string]any:
		g, ok := got.(map[string]any)
		if !ok {
			d.mismatch(ptr, want, got)
			return
		}
		for _, k := range slices.Sorted(maps.Keys(w)) {
			gv, has := g[k]
			switch {
			case !has && w[k] == nil: // null means absent or null, exact or partial
			case !has:
				d.add(ptr+"/"+escape(k), "want %s, got %s", show(w[k]), absent)
			default:
				d.compare(ptr+"/"+escape(k), w[k], gv)
			}
		}
		if !d.partial {
			for _, k := range slices.Sorted(maps.Keys(g)) {
				if _, has := w[k]; !has {
					d.add(ptr+"/"+escape(k), "want %s, got %s", absent, show(g[k]))
				}
			}
		}
	case []any:
		g, ok := got.([]any)
		if !ok {
			d.mismatch(ptr, want, got)
			return
		}
		if len(g) != len(w) {
			d.add(ptr, "want %d items, got %d: %s", len(w), len(g), show(got))
			return
		}
		for i := range w {
			d.compare(fmt.Sprintf("%s/%d", ptr, i), w[i], g[i])
		}
	default:
		if want != got {
			d.mismatch(ptr, want, got)
		}
	}
}

// escape writes a key as a JSON pointer token.
func escape(k string) string {
	return strings.ReplaceAll(strings.ReplaceAll(k, "~", "~0"), "/", "~1")
}

// show renders a value for a diff line: JSON, cut when long.
func show(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Sprint(v)
	}
	const max = 120
	if len(b) > max {
		return string(b[:max]) + "…"
	}
	return string(b)
}

// plain turns any Go value (a spec value's Interface, an engine output)
// into the JSON shapes compare takes.
func plain(v any) any {
	switch t := v.(type) {
	case nil, bool, string, float64:
		return t
	case int64:
		return float64(t)
	case int:
		return float64(t)
	case map[string]any:
		m := make(map[string]any, len(t))
		for k, x := range t {
			m[k] = plain(x)
		}
		return m
	case []any:
		l := make([]any, len(t))
		for i, x := range t {
			l[i] = plain(x)
		}
		return l
	}
	// Anything else (json.Number, typed maps from the engine): through JSON.
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Sprint(v)
	}
	var out any
	if json.Unmarshal(b, &out) != nil {
		return string(b)
	}
	return out
}
