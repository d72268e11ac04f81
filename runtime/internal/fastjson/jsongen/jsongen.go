// Package jsongen makes random JSON-like values (what a decoded JSON
// document holds: maps, lists, strings, bools, int64, float64 and nil)
// for the tests that check a fast path against encoding/json or the JSON
// Schema validator.
package jsongen

import (
	"fmt"
	"math/rand/v2"
	"strings"
)

// Value returns a random JSON-like value, nested a few levels at most,
// with strings that need escaping and numbers at the edges of int64.
func Value(rnd *rand.Rand) any { return value(rnd, 0) }

func value(rnd *rand.Rand, depth int) any {
	n := 8
	if depth > 3 {
		n = 6
	}
	switch rnd.IntN(n) {
	case 0:
		return nil
	case 1:
		return rnd.IntN(2) == 0
	case 2:
		return rnd.Int64() >> rnd.IntN(64)
	case 3:
		return rnd.NormFloat64() * float64(rnd.IntN(1e6))
	case 4:
		runes := []rune{'a', 'é', '"', '\\', '\n', '<', 0x2028, '😀', 0x01}
		var sb strings.Builder
		for range rnd.IntN(8) {
			sb.WriteRune(runes[rnd.IntN(len(runes))])
		}
		return sb.String()
	case 5:
		return fmt.Sprint(rnd.IntN(100))
	case 6:
		l := make([]any, rnd.IntN(4))
		for i := range l {
			l[i] = value(rnd, depth+1)
		}
		return l
	default:
		m := map[string]any{}
		for range rnd.IntN(4) {
			m[fmt.Sprint(rnd.IntN(10))] = value(rnd, depth+1)
		}
		return m
	}
}
