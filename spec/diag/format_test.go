package diag

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
)

var sample = List{
	{Pos: Pos{File: "a,b:c.yaml", Line: 3, Col: 7}, Severity: Error, Rule: "expression", Message: "100% wrong\nsecond line"},
	{Pos: Pos{File: "x.yaml"}, Severity: Warning, Rule: "io", Message: "cannot read"},
}

func TestText(t *testing.T) {
	var b bytes.Buffer
	if err := Write(&b, "text", sample); err != nil {
		t.Fatal(err)
	}
	// One diagnostic, one line: the newline in the message is escaped.
	want := "a,b:c.yaml:3:7: error: 100% wrong\\nsecond line [expression]\nx.yaml: warning: cannot read [io]\n"
	if b.String() != want {
		t.Errorf("got %q", b.String())
	}
}

// TestTextOneLine: a message or a file name holding a line break (a YAML
// key "a\nb", a file named so) never splits a diagnostic over two lines.
func TestTextOneLine(t *testing.T) {
	l := List{{Pos: Pos{File: "dir\r/x.yaml", Line: 1, Col: 1}, Rule: "unknown-field", Message: "property 'a\nb\u2028c\x01' is not allowed"}}
	var b bytes.Buffer
	if err := Write(&b, "text", l); err != nil {
		t.Fatal(err)
	}
	want := `dir\r/x.yaml:1:1: error: property 'a\nb\u2028c\x01' is not allowed [unknown-field]` + "\n"
	if b.String() != want {
		t.Errorf("got  %q\nwant %q", b.String(), want)
	}
	if got := l.Err().Error(); strings.Count(got, "\n") > 0 {
		t.Errorf("the error spans lines: %q", got)
	}
}

// TestSARIFURIs: artifact locations are URIs: a relative path is
// percent-encoded, an absolute one is a file: URI, and a file with no name
// has no location.
func TestSARIFURIs(t *testing.T) {
	files := map[string]string{
		"my specs/a.yaml":   "my%20specs/a.yaml",
		"x/50%#?.yaml":      "x/50%25%23%3F.yaml",
		"a:b.yaml":          "./a:b.yaml",
		"/abs/my dir/x.yml": "file:///abs/my%20dir/x.yml",
		"C:/work/s p.yaml":  "file:///C:/work/s%20p.yaml",
		"é.yaml":            "%C3%A9.yaml",
	}
	var l List
	for f := range files {
		l = append(l, Diagnostic{Pos: Pos{File: f, Line: 1}, Rule: "r", Message: "m"})
	}
	l = append(l, Diagnostic{Rule: "r", Message: "nowhere"})
	var b bytes.Buffer
	if err := Write(&b, "sarif", l); err != nil {
		t.Fatal(err)
	}
	var log struct {
		Runs []struct {
			Results []struct {
				Message   struct{ Text string }
				Locations []struct {
					PhysicalLocation struct {
						ArtifactLocation struct{ URI string }
					}
				}
			}
		}
	}
	if err := json.Unmarshal(b.Bytes(), &log); err != nil {
		t.Fatal(err)
	}
	for i, r := range log.Runs[0].Results {
		if i == len(l)-1 {
			if len(r.Locations) != 0 {
				t.Errorf("a diagnostic with no file has locations %v", r.Locations)
			}
			continue
		}
		got, want := r.Locations[0].PhysicalLocation.ArtifactLocation.URI, files[l[i].Pos.File]
		if got != want {
			t.Errorf("%q: uri %q, want %q", l[i].Pos.File, got, want)
		}
	}
}

// TestGitHub: workflow commands escape what GitHub would misread: % and
// newlines in the message, and also , and : in properties.
func TestGitHub(t *testing.T) {
	var b bytes.Buffer
	if err := Write(&b, "github", sample); err != nil {
		t.Fatal(err)
	}
	want := "::error file=a%2Cb%3Ac.yaml,line=3,col=7,title=membrane expression::100%25 wrong%0Asecond line\n" +
		"::warning file=x.yaml,title=membrane io::cannot read\n"
	if b.String() != want {
		t.Errorf("got  %q\nwant %q", b.String(), want)
	}
}

func TestEmptyLists(t *testing.T) {
	for _, f := range []string{"json", "sarif"} {
		var b bytes.Buffer
		if err := Write(&b, f, nil); err != nil {
			t.Fatal(err)
		}
		var v map[string]any
		if err := json.Unmarshal(b.Bytes(), &v); err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		if strings.Contains(b.String(), "null") {
			t.Errorf("%s writes null for an empty list:\n%s", f, b.String())
		}
	}
	var b bytes.Buffer
	if err := Write(&b, "text", nil); err != nil || b.Len() != 0 {
		t.Errorf("text of nothing: %q, %v", b.String(), err)
	}
	if err := Write(&b, "xml", nil); err == nil {
		t.Error("Write accepted format xml")
	}
}

func TestSortDropsDuplicates(t *testing.T) {
	l := List{sample[1], sample[0], sample[1]}
	l.Sort()
	if len(l) != 2 || l[0].Pos.File != "a,b:c.yaml" {
		t.Errorf("sorted: %v", l)
	}
	if e, w := l.Count(); e != 1 || w != 1 {
		t.Errorf("Count = %d, %d", e, w)
	}
	if l.Err() == nil || (List{sample[1]}).Err() != nil {
		t.Error("Err: only errors make an error")
	}
}
