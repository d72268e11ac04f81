// Package fastjson decodes and encodes the JSON of API bodies without
// reflection, on the engine's and the API's hot paths. Each function
// gives up (ok false) on anything out of the ordinary, and the caller
// then uses encoding/json, which gives the same value, bytes or error it
// always gave; the tests hold both to that.
package fastjson

import (
	"encoding/json"
	"math"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"unicode/utf8"
)

// Decode decodes a JSON body as the engine always has (a
// json.Decoder with UseNumber, then expr.Normalize with no schema) in one
// pass: numbers become int64 where integral and float64 otherwise as they
// are read, with no json.Number strings, no reflection and no second walk.
// It gives up (ok false) on anything out of the ordinary: invalid JSON,
// data after the value, deep nesting, a string with a surrogate escape or
// invalid UTF-8. The caller then decodes with encoding/json, which gives
// the same value or the same error it always gave.
func Decode(b []byte) (v any, ok bool) {
	d := decoders.Get().(*decoder)
	d.b, d.i = b, 0
	defer func() {
		clear(d.pairs[:cap(d.pairs)]) // drop references to the values
		d.b, d.pairs = nil, d.pairs[:0]
		decoders.Put(d)
	}()
	d.space()
	v, ok = d.value(0)
	if !ok {
		return nil, false
	}
	d.space()
	return v, d.i == len(d.b)
}

var decoders = sync.Pool{New: func() any { return &decoder{pairs: make([]pair, 0, 64)} }}

// maxDepth is where Decode leaves nesting to encoding/json, which
// has its own limit and error.
const maxDepth = 512

type decoder struct {
	b []byte
	i int
	// pairs is a stack of the members of the objects being read: an
	// object's map is made at its end, at its final size, instead of
	// growing member by member.
	pairs []pair
}

type pair struct {
	k string
	v any
}

func (d *decoder) space() {
	for d.i < len(d.b) {
		switch d.b[d.i] {
		case ' ', '\t', '\n', '\r':
			d.i++
		default:
			return
		}
	}
}

func (d *decoder) value(depth int) (any, bool) {
	if d.i >= len(d.b) || depth > maxDepth {
		return nil, false
	}
	switch c := d.b[d.i]; {
	case c == '{':
		return d.object(depth)
	case c == '[':
		return d.array(depth)
	case c == '"':
		s, ok := d.str()
		return s, ok
	case c == 't':
		return true, d.lit("true")
	case c == 'f':
		return false, d.lit("false")
	case c == 'n':
		return nil, d.lit("null")
	case c == '-' || ('0' <= c && c <= '9'):
		return d.number()
	}
	return nil, false
}

func (d *decoder) lit(s string) bool {
	if len(d.b)-d.i < len(s) || string(d.b[d.i:d.i+len(s)]) != s {
		return false
	}
	d.i += len(s)
	return true
}

func (d *decoder) object(depth int) (any, bool) {
	d.i++ // {
	d.space()
	if d.i < len(d.b) && d.b[d.i] == '}' {
		d.i++
		return map[string]any{}, true
	}
	base := len(d.pairs)
	defer func() { d.pairs = d.pairs[:base] }()
	for {
		if d.i >= len(d.b) || d.b[d.i] != '"' {
			return nil, false
		}
		k, ok := d.key()
		if !ok {
			return nil, false
		}
		d.space()
		if d.i >= len(d.b) || d.b[d.i] != ':' {
			return nil, false
		}
		d.i++
		d.space()
		v, ok := d.value(depth + 1)
		if !ok {
			return nil, false
		}
		d.pairs = append(d.pairs, pair{k, v})
		d.space()
		if d.i >= len(d.b) {
			return nil, false
		}
		switch d.b[d.i] {
		case ',':
			d.i++
			d.space()
		case '}':
			d.i++
			members := d.pairs[base:]
			m := make(map[string]any, len(members))
			for _, p := range members {
				m[p.k] = p.v // a repeated key keeps its last value, as encoding/json does
			}
			return m, true
		default:
			return nil, false
		}
	}
}

func (d *decoder) array(depth int) (any, bool) {
	d.i++ // [
	// [] decodes to an empty list, not nil.
	l := make([]any, 0)
	d.space()
	if d.i < len(d.b) && d.b[d.i] == ']' {
		d.i++
		return l, true
	}
	for {
		v, ok := d.value(depth + 1)
		if !ok {
			return nil, false
		}
		l = append(l, v)
		d.space()
		if d.i >= len(d.b) {
			return nil, false
		}
		switch d.b[d.i] {
		case ',':
			d.i++
			d.space()
		case ']':
			d.i++
			return l, true
		default:
			return nil, false
		}
	}
}

// str reads a string. Plain ASCII and valid UTF-8 are copied; the simple
// escapes and \u escapes outside the surrogate range are decoded here;
// anything else gives up.
func (d *decoder) str() (string, bool) {
	d.i++ // "
	start := d.i
	ascii := true
	for d.i < len(d.b) {
		c := d.b[d.i]
		switch {
		case c == '"':
			s := d.b[start:d.i]
			d.i++
			if !ascii && !utf8.Valid(s) {
				return "", false
			}
			return string(s), true
		case c == '\\':
			return d.escaped(start)
		case c < 0x20:
			return "", false
		case c >= 0x80:
			ascii = false
		}
		d.i++
	}
	return "", false
}

// key reads an object key. The keys of API responses repeat (every record
// of a page has the same ones): short plain ones come from keyCache.
func (d *decoder) key() (string, bool) {
	start := d.i + 1
	for j := start; j < len(d.b) && j-start <= maxCachedKey; j++ {
		c := d.b[j]
		if c == '"' {
			d.i = j + 1
			return cachedKey(d.b[start:j]), true
		}
		if c == '\\' || c < 0x20 || c >= 0x80 {
			break
		}
	}
	return d.str()
}

// keyCache holds recently decoded object keys, by a hash of their bytes;
// a slot holds the last key that hashed to it. Lookups and stores are
// atomic, so decoders share it without a lock.
var keyCache [1024]atomic.Pointer[string]

const maxCachedKey = 32

func cachedKey(b []byte) string {
	h := uint32(2166136261) // FNV-1a
	for _, c := range b {
		h = (h ^ uint32(c)) * 16777619
	}
	slot := &keyCache[h%uint32(len(keyCache))]
	if p := slot.Load(); p != nil && *p == string(b) {
		return *p
	}
	s := string(b)
	slot.Store(&s)
	return s
}

// escaped finishes a string that has escapes, from its start.
func (d *decoder) escaped(start int) (string, bool) {
	out := make([]byte, 0, d.i-start+16)
	out = append(out, d.b[start:d.i]...)
	for d.i < len(d.b) {
		c := d.b[d.i]
		switch {
		case c == '"':
			d.i++
			if !utf8.Valid(out) {
				return "", false
			}
			return string(out), true
		case c < 0x20:
			return "", false
		case c != '\\':
			out = append(out, c)
			d.i++
			continue
		}
		if d.i+1 >= len(d.b) {
			return "", false
		}
		e := d.b[d.i+1]
		d.i += 2
		switch e {
		case '"', '\\', '/':
			out = append(out, e)
		case 'b':
			out = append(out, '\b')
		case 'f':
			out = append(out, '\f')
		case 'n':
			out = append(out, '\n')
		case 'r':
			out = append(out, '\r')
		case 't':
			out = append(out, '\t')
		case 'u':
			if d.i+4 > len(d.b) {
				return "", false
			}
			r, err := strconv.ParseUint(string(d.b[d.i:d.i+4]), 16, 32)
			if err != nil || (0xD800 <= r && r < 0xE000) {
				return "", false // surrogates: encoding/json's rules apply
			}
			out = utf8.AppendRune(out, rune(r))
			d.i += 4
		default:
			return "", false
		}
	}
	return "", false
}

// number reads a JSON number and converts it as expr.Normalize converts a
// json.Number: int64 when ParseInt takes it, else the float64 of it
// (int64 when integral and in range), else the json.Number itself.
func (d *decoder) number() (any, bool) {
	start := d.i
	neg := d.b[d.i] == '-'
	if neg {
		d.i++
	}
	digits := func() int {
		n := 0
		for d.i < len(d.b) && '0' <= d.b[d.i] && d.b[d.i] <= '9' {
			d.i++
			n++
		}
		return n
	}
	if d.i >= len(d.b) {
		return nil, false
	}
	if d.b[d.i] == '0' {
		d.i++
	} else if digits() == 0 {
		return nil, false
	}
	if d.i < len(d.b) && d.b[d.i] == '.' {
		d.i++
		if digits() == 0 {
			return nil, false
		}
	}
	if d.i < len(d.b) && (d.b[d.i] == 'e' || d.b[d.i] == 'E') {
		d.i++
		if d.i < len(d.b) && (d.b[d.i] == '+' || d.b[d.i] == '-') {
			d.i++
		}
		if digits() == 0 {
			return nil, false
		}
	}
	if n := d.i - start; n <= 18 && !neg || n <= 19 && neg {
		// An integer of at most 18 digits: what ParseInt gives, without
		// the string.
		var i int64
		plain := true
		for _, c := range d.b[start:d.i] {
			if c == '-' {
				continue
			}
			if c < '0' || c > '9' {
				plain = false
				break
			}
			i = i*10 + int64(c-'0')
		}
		if plain {
			if neg {
				i = -i
			}
			return i, true
		}
	}
	s := string(d.b[start:d.i])
	if !isFloatSyntax(s) {
		if i, err := strconv.ParseInt(s, 10, 64); err == nil {
			return i, true
		}
	}
	// ParseInt fails on a fraction or an exponent: what is left of
	// Normalize's rules is ParseFloat, then integral → int64.
	if f, err := strconv.ParseFloat(s, 64); err == nil {
		if f == math.Trunc(f) && f >= -(1<<63) && f < 1<<63 {
			return int64(f), true
		}
		return f, true
	}
	return json.Number(s), true // out of float64's range: kept as text
}

func isFloatSyntax(s string) bool { return strings.ContainsAny(s, ".eE") }
