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
	want := "a,b:c.yaml:3:7: error: 100% wrong\nsecond line [expression]\nx.yaml: warning: cannot read [io]\n"
	if b.String() != want {
		t.Errorf("got %q", b.String())
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
