package main

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
)

// pollWorkspace writes a workspace whose connector lists orders from
// baseURL (a full scan) and has a webhook-only event too.
func pollWorkspace(t *testing.T, baseURL string) string {
	t.Helper()
	dir := t.TempDir()
	src := `kind: Connector
key: shop
baseUrl: ` + baseURL + `
auth: {type: apiKey, in: header, name: X-Key, value: "${ credentials.apiKey }"}
---
kind: Event
connector: shop
key: order-changed
polling:
  request: {path: /orders}
  items: ${ response.body.items }
  id: ${ record.id }
  updatedAt: ${ record.updated }
record:
  id: ${ record.id }
  total: ${ record.total }
---
kind: Event
connector: shop
key: order-pushed
webhook:
  records: ${ request.body.orders }
  id: ${ record.id }
`
	if err := os.WriteFile(filepath.Join(dir, "shop.yaml"), []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
	return dir
}

// orders serves GET /orders from a list the test changes.
type orders struct {
	mu    sync.Mutex
	items []map[string]any
	keys  []string
}

func (o *orders) set(items ...map[string]any) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.items = items
}

func (o *orders) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.keys = append(o.keys, r.Header.Get("X-Key"))
	if r.URL.Path != "/orders" {
		http.NotFound(w, r)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(map[string]any{"items": o.items})
}

func changeLines(t *testing.T, stdout string) []map[string]any {
	t.Helper()
	var out []map[string]any
	for _, line := range strings.Split(strings.TrimSpace(stdout), "\n") {
		if line == "" {
			continue
		}
		var m map[string]any
		if err := json.Unmarshal([]byte(line), &m); err != nil {
			t.Fatalf("not a JSON line: %q (%v)", line, err)
		}
		out = append(out, m)
	}
	return out
}

func TestPoll(t *testing.T) {
	up := &orders{}
	srv := httptest.NewServer(up)
	t.Cleanup(srv.Close)
	dir := pollWorkspace(t, srv.URL)
	state := filepath.Join(t.TempDir(), "state")
	const secret = "sk_poll_Secret123"
	args := []string{"poll", "order-changed", "--connector", "shop", "--dir", dir, "--credential", "apiKey=" + secret, "--allow-private", "--state", state}

	up.set(map[string]any{"id": "o1", "updated": "1", "total": 1}, map[string]any{"id": "o2", "updated": "1", "total": 2})
	r := runCmdLine(t, "", args...)
	if r.code != 0 || r.stdout != "" || !strings.Contains(r.stderr, "the baseline") {
		t.Fatalf("first poll: exit %d, stdout %q, stderr %q; want a silent baseline", r.code, r.stdout, r.stderr)
	}

	// o1 updated, o2 gone, o3 new: the next poll continues from the kept
	// record hashes.
	up.set(map[string]any{"id": "o1", "updated": "2", "total": 10}, map[string]any{"id": "o3", "updated": "1", "total": 3})
	r = runCmdLine(t, "", append(args, "-v")...)
	if r.code != 0 {
		t.Fatalf("second poll: exit %d: %s", r.code, r.stderr)
	}
	got := changeLines(t, r.stdout)
	want := []string{"updated o1", "created o3", "deleted o2"}
	if len(got) != len(want) {
		t.Fatalf("changes %v, want %v", r.stdout, want)
	}
	for i, c := range got {
		if c["change"].(string)+" "+c["recordId"].(string) != want[i] || c["type"] != "order-changed."+c["change"].(string) || c["connector"] != "shop" {
			t.Errorf("change %d: %v, want %s", i+1, c, want[i])
		}
	}
	if rec, _ := got[0]["record"].(map[string]any); rec["total"] != float64(10) {
		t.Errorf("updated record %v", got[0]["record"])
	}
	if strings.Contains(r.stdout+r.stderr, secret) {
		t.Errorf("the output shows the API key:\n%s\n%s", r.stdout, r.stderr)
	}
	if !strings.Contains(r.stderr, "> GET "+srv.URL+"/orders") || !strings.Contains(r.stderr, "1 created, 1 updated, 1 deleted") {
		t.Errorf("stderr lacks the request log or the summary:\n%s", r.stderr)
	}

	// Nothing changed: nothing printed.
	r = runCmdLine(t, "", args...)
	if r.code != 0 || r.stdout != "" {
		t.Errorf("third poll: exit %d, stdout %q", r.code, r.stdout)
	}

	// Without --state every run is a first poll; --baseline=false makes it
	// print what it lists.
	r = runCmdLine(t, "", "poll", "order-changed", "--connector", "shop", "--dir", dir, "--credential", "apiKey=k", "--allow-private", "--baseline=false")
	if got := changeLines(t, r.stdout); r.code != 0 || len(got) != 2 || got[0]["change"] != "created" {
		t.Errorf("--baseline=false: exit %d, stdout %q, stderr %q", r.code, r.stdout, r.stderr)
	}
	up.mu.Lock()
	if up.keys[0] != secret {
		t.Errorf("the API key sent was %q", up.keys[0])
	}
	up.mu.Unlock()
}

func TestPollRefuses(t *testing.T) {
	srv := httptest.NewServer(http.NotFoundHandler())
	t.Cleanup(srv.Close)
	dir := pollWorkspace(t, srv.URL)
	cases := []struct {
		name string
		args []string
		code int
		says string
	}{
		{"webhook-only event", []string{"order-pushed", "--credential", "apiKey=k"}, exitUsage, "does not poll"},
		{"unknown event", []string{"order-chaneged", "--credential", "apiKey=k"}, exitFail, `did you mean "order-changed"`},
		{"missing credential", []string{"order-changed"}, exitUsage, "--credential apiKey=VALUE"},
		{"the API answers 404", []string{"order-changed", "--credential", "apiKey=k", "--allow-private"}, exitFail, "404"},
		{"a private address without --allow-private", []string{"order-changed", "--credential", "apiKey=k"}, exitFail, "--allow-private"},
	}
	for _, c := range cases {
		r := runCmdLine(t, "", append([]string{"poll", "--connector", "shop", "--dir", dir}, c.args...)...)
		if r.code != c.code || !strings.Contains(r.stderr, c.says) || r.stdout != "" {
			t.Errorf("%s: exit %d, stdout %q, stderr %q; want exit %d saying %q", c.name, r.code, r.stdout, r.stderr, c.code, c.says)
		}
	}
}

// The README's ConnectorTest example passes against the README's own
// connector and events.
func TestReadmeTestCasesPass(t *testing.T) {
	readme, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	n := 0
	for _, b := range regexp.MustCompile("(?s)```yaml\n(.*?)```").FindAllStringSubmatch(string(readme), -1) {
		if strings.Contains(b[1], "kind:") {
			n++
			if err := os.WriteFile(filepath.Join(dir, strconv.Itoa(n)+".yaml"), []byte(b[1]), 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}
	r := runCmdLine(t, "", "test", "-v", dir)
	if r.code != 0 || !strings.Contains(r.stdout, "stripe/contact-changed/") {
		t.Errorf("membrane test of the README's examples: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
}
