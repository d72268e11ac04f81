package spec

import "github.com/membrane-dev/membrane/spec/suggest"

// closest returns the candidate nearest to word when it is near enough to be
// a likely typo, or "".
func closest(word string, candidates []string) string { return suggest.Closest(word, candidates) }

// didYouMean formats a suggestion to end a message with.
func didYouMean(word string, candidates []string) string {
	if c := closest(word, candidates); c != "" {
		return "; did you mean " + quote(c) + "?"
	}
	return ""
}

func quote(s string) string { return `"` + s + `"` }

// Suggest ends a message with the candidate nearest to word ("; did you
// mean …?"), or returns "" when none is close.
func Suggest(word string, candidates []string) string { return didYouMean(word, candidates) }
