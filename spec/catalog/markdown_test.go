package catalog

import (
	"strings"
	"testing"
)

func TestSplice(t *testing.T) {
	prose := "Write `" + BeginMarker + "` and `" + EndMarker + "` around it.\n"
	doc := "# Title\n" + prose + "\n" + BeginMarker + "\nold\n" + EndMarker + "\nTail\n"
	got, err := Splice([]byte(doc), "new block\n")
	if err != nil {
		t.Fatal(err)
	}
	want := "# Title\n" + prose + "\n" + BeginMarker + "\n\nnew block\n\n" + EndMarker + "\nTail\n"
	if string(got) != want {
		t.Errorf("Splice =\n%s\nwant\n%s", got, want)
	}
	for name, bad := range map[string]string{
		"no block":     prose,
		"two begins":   BeginMarker + "\n" + BeginMarker + "\n" + EndMarker + "\n",
		"end first":    EndMarker + "\n" + BeginMarker + "\n",
		"only a begin": BeginMarker + "\n",
	} {
		_, err := Splice([]byte(bad), "x")
		if err == nil || !strings.Contains(err.Error(), "membrane catalog") {
			t.Errorf("%s: error %v, want one naming the markers", name, err)
		}
	}
}
