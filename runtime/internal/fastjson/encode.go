package fastjson

import (
	"encoding/json"
	"math"
	"slices"
	"strconv"
)

// Encode writes a JSON-like value (maps of string to any, lists,
// strings, bools, int64, float64, nil) exactly as json.Marshal does (keys
// sorted, HTML characters escaped, floats in its format) without its
// reflection. For any other Go type, a NaN or an infinity, or deep
// nesting, it gives up (ok false) and the caller uses json.Marshal.
func Encode(v any) ([]byte, bool) {
	return appendValue(make([]byte, 0, 256), v, 0)
}

// Append appends v as Encode writes it, for a value nested depth levels
// deep in what the caller writes; ok is false where Encode gives up.
func Append(b []byte, v any, depth int) ([]byte, bool) { return appendValue(b, v, depth) }

func appendValue(b []byte, v any, depth int) ([]byte, bool) {
	if depth > maxDepth {
		return nil, false
	}
	switch x := v.(type) {
	case nil:
		return append(b, "null"...), true
	case bool:
		return strconv.AppendBool(b, x), true
	case string:
		return AppendString(b, x), true
	case int64:
		return strconv.AppendInt(b, x, 10), true
	case float64:
		return appendFloat(b, x)
	case []any:
		if x == nil {
			return append(b, "null"...), true
		}
		b = append(b, '[')
		for i, e := range x {
			if i > 0 {
				b = append(b, ',')
			}
			var ok bool
			if b, ok = appendValue(b, e, depth+1); !ok {
				return nil, false
			}
		}
		return append(b, ']'), true
	case map[string]any:
		if x == nil {
			return append(b, "null"...), true
		}
		var arr [16]string
		keys := arr[:0]
		for k := range x {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		b = append(b, '{')
		for i, k := range keys {
			if i > 0 {
				b = append(b, ',')
			}
			b = AppendString(b, k)
			b = append(b, ':')
			var ok bool
			if b, ok = appendValue(b, x[k], depth+1); !ok {
				return nil, false
			}
		}
		return append(b, '}'), true
	}
	return nil, false
}

// AppendString writes plain text as it is and leaves anything
// json.Marshal escapes (quotes, backslashes, control and HTML characters,
// non-ASCII for its U+2028, U+2029 and invalid UTF-8 rules) to it.
func AppendString(b []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c >= 0x80 || c == '"' || c == '\\' || c == '<' || c == '>' || c == '&' {
			q, _ := json.Marshal(s) // a string always marshals
			return append(b, q...)
		}
	}
	b = append(b, '"')
	b = append(b, s...)
	return append(b, '"')
}

// appendFloat is encoding/json's float64 format.
func appendFloat(b []byte, f float64) ([]byte, bool) {
	if math.IsInf(f, 0) || math.IsNaN(f) {
		return nil, false // json.Marshal's error
	}
	format := byte('f')
	if abs := math.Abs(f); abs != 0 && (abs < 1e-6 || abs >= 1e21) {
		format = 'e'
	}
	b = strconv.AppendFloat(b, f, format, -1, 64)
	if format == 'e' {
		// clean up e-09 to e-9
		if n := len(b); n >= 4 && b[n-4] == 'e' && b[n-3] == '-' && b[n-2] == '0' {
			b[n-2] = b[n-1]
			b = b[:n-1]
		}
	}
	return b, true
}
