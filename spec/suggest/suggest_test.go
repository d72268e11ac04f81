package suggest

import "testing"

func TestEditDistance(t *testing.T) {
	for _, tc := range []struct {
		a, b string
		want int
	}{
		{"", "", 0}, {"abc", "abc", 0}, {"", "abc", 3}, {"kitten", "sitting", 3},
		{"brust", "burst", 1}, {"ab", "ba", 1}, {"ca", "abc", 3}, {"héllo", "hello", 1},
	} {
		if got := editDistance(tc.a, tc.b); got != tc.want {
			t.Errorf("editDistance(%q, %q) = %d, want %d", tc.a, tc.b, got, tc.want)
		}
	}
}

func TestClosest(t *testing.T) {
	for _, tc := range []struct {
		word       string
		candidates []string
		want       string
	}{
		{"emial", []string{"email", "name"}, "email"},
		{"BaseUrl", []string{"baseUrl"}, "baseUrl"},
		{"email", []string{"email"}, ""}, // the word itself is no suggestion
		{"zzz", []string{"email", "name"}, ""},
		{"x", nil, ""},
	} {
		if got := Closest(tc.word, tc.candidates); got != tc.want {
			t.Errorf("Closest(%q, %q) = %q, want %q", tc.word, tc.candidates, got, tc.want)
		}
	}
}

func TestDidYouMean(t *testing.T) {
	kinds := []string{"Connector", "UniversalAction", "Action"}
	if got := DidYouMean("Conector", kinds); got != `; did you mean "Connector"?` {
		t.Errorf("DidYouMean = %q", got)
	}
	if got := DidYouMean("zzz", kinds); got != "" {
		t.Errorf("DidYouMean(zzz) = %q, want none", got)
	}
}
