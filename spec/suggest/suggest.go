// Package suggest finds the word a typo most likely meant, for "did you
// mean …?" hints in every diagnostic.
package suggest

import "strings"

// Closest returns the candidate nearest to word when it is near enough to be
// a likely typo, or "".
func Closest(word string, candidates []string) string {
	best, bestDist := "", 0
	lw := strings.ToLower(word)
	for _, c := range candidates {
		if c == word {
			continue // the word itself is no suggestion
		}
		if strings.ToLower(c) == lw {
			return c
		}
		d := editDistance(lw, strings.ToLower(c))
		if best == "" || d < bestDist {
			best, bestDist = c, d
		}
	}
	if best == "" || bestDist > max(1, min(3, len(word)/3)) {
		return ""
	}
	return best
}

// editDistance is the optimal string alignment distance between a and b:
// the Levenshtein distance where swapping two adjacent letters ("brust" for
// "burst") is one edit, as typos go.
func editDistance(a, b string) int {
	ra, rb := []rune(a), []rune(b)
	// d[i][j] is the distance between ra[:i] and rb[:j]; three rows suffice.
	prev2 := make([]int, len(rb)+1)
	prev := make([]int, len(rb)+1)
	cur := make([]int, len(rb)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(ra); i++ {
		cur[0] = i
		for j := 1; j <= len(rb); j++ {
			cost := 1
			if ra[i-1] == rb[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
			if i > 1 && j > 1 && ra[i-1] == rb[j-2] && ra[i-2] == rb[j-1] {
				cur[j] = min(cur[j], prev2[j-2]+1)
			}
		}
		prev2, prev, cur = prev, cur, prev2
	}
	return prev[len(rb)]
}

// DidYouMean ends a message with the candidate nearest to word ("; did you
// mean "x"?"), or returns "" when none is close.
func DidYouMean(word string, candidates []string) string {
	if c := Closest(word, candidates); c != "" {
		return `; did you mean "` + c + `"?`
	}
	return ""
}
