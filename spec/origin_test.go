package spec_test

import (
	"testing"

	"github.com/membrane-dev/membrane/spec"
)

func TestParseOrigin(t *testing.T) {
	good := map[string]string{
		"https://app.example.com":      "https://app.example.com",
		"HTTPS://App.Example.COM":      "https://app.example.com",
		"https://app.example.com:443":  "https://app.example.com",
		"http://localhost:80":          "http://localhost",
		"http://127.0.0.1:3000":        "http://127.0.0.1:3000",
		"http://[::1]:8080":            "http://[::1]:8080",
		"http://[::1]":                 "http://[::1]",
		"https://app.example.com:8443": "https://app.example.com:8443",
	}
	for in, want := range good {
		if got, err := spec.ParseOrigin(in); err != nil || got != want {
			t.Errorf("ParseOrigin(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	for _, in := range []string{"", "app.example.com", "ftp://x.example", "https://", "https://x.example/",
		"https://x.example/a", "https://x.example?a", "https://x.example#a", "https://u:p@x.example",
		"https://x.example:0", "https://x.example:65536", "https://x.example:", "javascript:alert(1)"} {
		if got, err := spec.ParseOrigin(in); err == nil {
			t.Errorf("ParseOrigin(%q) = %q, want an error", in, got)
		}
	}
}
