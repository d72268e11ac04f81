package main

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/membrane-dev/membrane/runtime/store"
)

// crashWait bounds each wait of the reliability tests for what should
// take well under a second: a failure, not a slow machine, reaches it.
const crashWait = 45 * time.Second

// waitServed waits for a value on ch, which server n should bring
// about, failing the test after crashWait; when none comes, the server
// is sent SIGQUIT first, so that its goroutines are in the logs.
func waitServed[T any](t *testing.T, n *node, what string, ch <-chan T) T {
	t.Helper()
	select {
	case v := <-ch:
		return v
	case <-time.After(crashWait):
		if n != nil {
			n.quit()
		}
		t.Fatalf("waited %v for %s", crashWait, what)
	}
	var zero T
	return zero
}

// seedOf is the seed of a test's randomness: MEMBRANE_CRASH_SEED replays
// a failed run, else a new one, logged.
func seedOf(t *testing.T) uint64 {
	t.Helper()
	seed := uint64(time.Now().UnixNano())
	if s, ok := lookupSeed(); ok {
		seed = s
	}
	t.Logf("seed %d (MEMBRANE_CRASH_SEED=%d replays it)", seed, seed)
	return seed
}

// connect creates a connection of connector up for account through the
// API and returns its id.
func (n *node) connect(token, account string, params map[string]any) string {
	n.t.Helper()
	p := map[string]any{"account": account}
	for k, v := range params {
		p[k] = v
	}
	c := n.mustCall(token, "POST", "/v1/connections", map[string]any{
		"connector": "up", "parameters": p, "credentials": map[string]any{"apiKey": upAPIKey}}, 201)
	id, _ := c["id"].(string)
	if id == "" {
		n.t.Fatalf("the created connection has no id: %v", c)
	}
	return id
}

// subscribe subscribes a connection to an event through the API and
// returns the subscription as the API gives it.
func (n *node) subscribe(token, connection, event string) map[string]any {
	n.t.Helper()
	s := n.mustCall(token, "POST", "/v1/connections/"+connection+"/subscriptions", map[string]any{"event": event}, 201)
	if id, _ := s["id"].(string); id == "" {
		n.t.Fatalf("the created subscription has no id: %v", s)
	}
	return s
}

// outboxChange is one change entry of the outbox, as its payload says.
type outboxChange struct {
	ID         string `json:"id"`
	Type       string `json:"type"`
	Connection string `json:"connection"`
	Event      string `json:"event"`
	Change     string `json:"change"`
	RecordID   string `json:"recordId"`
	Record     *struct {
		ID      string `json:"id"`
		Version int    `json:"version"`
		Name    string `json:"name"`
	} `json:"record"`
}

// version is the record version the entry carries; 0 without a record.
func (c outboxChange) version() int {
	if c.Record == nil {
		return 0
	}
	return c.Record.Version
}

func (c outboxChange) String() string {
	return fmt.Sprintf("%s %s v%d (%s)", c.Change, c.RecordID, c.version(), c.ID)
}

// changesOf decodes the outbox entries of one connection's event.
func changesOf(t *testing.T, ds []store.Event, connection, event string) []outboxChange {
	t.Helper()
	var out []outboxChange
	for _, d := range ds {
		var c outboxChange
		if err := json.Unmarshal(d.Payload, &c); err != nil {
			t.Fatalf("outbox entry %s: %v: %s", d.ID, err, d.Payload)
		}
		if c.Connection != connection || c.Event != event {
			continue
		}
		if c.ID != d.ID || !strings.HasSuffix(d.Type, "."+c.Change) {
			t.Errorf("outbox entry %s (%s) says id %q, change %q", d.ID, d.Type, c.ID, c.Change)
		}
		out = append(out, c)
	}
	return out
}

// checkFeed checks that the changes detected from the app's change feed
// are its changes, each exactly once.
func checkFeed(t *testing.T, feed []upChange, got []outboxChange) {
	t.Helper()
	type key struct {
		id      string
		version int
	}
	// A record is deleted once: its deletion is known by its id, whether
	// or not the entry carries the record.
	keyOf := func(id, typ string, version int) key {
		if typ == "deleted" {
			return key{id, -1}
		}
		return key{id, version}
	}
	want := map[key]upChange{}
	for _, c := range feed {
		want[keyOf(c.ID, c.Type, c.Version)] = c
	}
	seen := map[key][]outboxChange{}
	for _, c := range got {
		k := keyOf(c.RecordID, c.Change, c.version())
		seen[k] = append(seen[k], c)
		w, ok := want[k]
		switch {
		case !ok:
			t.Errorf("invented: %v is no change of the app", c)
		case w.Type != c.Change:
			t.Errorf("%v: the app %s %s v%d", c, w.Type, w.ID, w.Version)
		}
	}
	missing := 0
	for _, c := range feed {
		switch cs := seen[keyOf(c.ID, c.Type, c.Version)]; len(cs) {
		case 0:
			if missing++; missing <= 10 {
				var app, out []string
				for _, o := range feed {
					if o.ID == c.ID {
						app = append(app, fmt.Sprintf("#%d %s v%d", o.Seq, o.Type, o.Version))
					}
				}
				for _, o := range got {
					if o.RecordID == c.ID {
						out = append(out, o.String())
					}
				}
				t.Errorf("lost: %s %s v%d (feed #%d); the app: %v; the outbox: %v", c.Type, c.ID, c.Version, c.Seq, app, out)
			}
		case 1:
		default:
			t.Errorf("%s %s v%d is in the outbox %d times: %v", c.Type, c.ID, c.Version, len(cs), cs)
		}
	}
	if missing > 0 {
		t.Errorf("%d of %d changes lost", missing, len(feed))
	}
}

// checkScan checks what full scans detected against the app's history.
// A scan sees states, not changes: a record changed twice between two
// scans is seen once, so the intermediate version may be missing. But
// none is invented, none comes twice, a record is created at most once
// and deleted at most once (and only when gone), and the last state of
// each record is there.
func checkScan(t *testing.T, feed []upChange, live map[string]upRecord, got []outboxChange) {
	t.Helper()
	versions := map[string]map[int]bool{}
	deleted := map[string]bool{}
	for _, c := range feed {
		if versions[c.ID] == nil {
			versions[c.ID] = map[int]bool{}
		}
		if c.Type == "deleted" {
			deleted[c.ID] = true
		} else {
			versions[c.ID][c.Version] = true
		}
	}
	type key struct {
		id      string
		version int
	}
	seen := map[key]int{}
	created, deletions, emitted := map[string]int{}, map[string]int{}, map[string]bool{}
	for _, c := range got {
		switch c.Change {
		case "created", "updated":
			if !versions[c.RecordID][c.version()] {
				t.Errorf("invented: %v: the app never had this version", c)
			}
			if seen[key{c.RecordID, c.version()}]++; seen[key{c.RecordID, c.version()}] == 2 {
				t.Errorf("twice: %v", c)
			}
			if c.Change == "created" {
				created[c.RecordID]++
			}
			emitted[c.RecordID] = true
		case "deleted":
			deletions[c.RecordID]++
			if !deleted[c.RecordID] {
				t.Errorf("invented: %v: the app did not delete it", c)
			}
		default:
			t.Errorf("unknown change: %v", c)
		}
	}
	for id, k := range created {
		if k > 1 {
			t.Errorf("%s created %d times", id, k)
		}
	}
	for id, k := range deletions {
		if k > 1 {
			t.Errorf("%s deleted %d times", id, k)
		}
		if !emitted[id] {
			t.Errorf("%s deleted without ever being seen", id)
		}
	}
	for id := range emitted {
		if deleted[id] && deletions[id] != 1 {
			t.Errorf("%s was deleted by the app, and its deletion is in the outbox %d times", id, deletions[id])
		}
	}
	var ids []string
	for id := range live {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	for _, id := range ids {
		if seen[key{id, live[id].Version}] != 1 {
			t.Errorf("the last state of %s (v%d) is in the outbox %d times", id, live[id].Version, seen[key{id, live[id].Version}])
		}
	}
}

// TestPollingSurvivesKill9: `membrane serve` polls an app that keeps
// changing its records, and is killed with SIGKILL mid-poll several times
// (waiting on a page, or just after the last page while it commits), then
// restarted on the same store. Once it has caught up, the outbox holds
// every change of the app's feed exactly once, and what full scans saw
// without a duplicate or an invention.
func TestPollingSurvivesKill9(t *testing.T) {
	seed := seedOf(t)
	rng := rand.New(rand.NewPCG(seed, 1))
	up := newUpstream(t, seed)
	for range 12 {
		up.change("created")
	}
	n := newNode(t, crashWorkspace(t, up.URL))
	n.start()
	tok := tenantToken(t, crashWorkspaceKey, "acme")
	feedConn := n.connect(tok, "feed", nil)
	scanConn := n.connect(tok, "scan", nil)
	n.subscribe(tok, feedConn, "item-changes")
	n.subscribe(tok, scanConn, "item-scan")

	// The app changes records while it answers polls: 0 to 2 changes
	// before each answer, so some land between the pages of one poll.
	up.setMutate(true, 3000)
	const kills = 5
	for i := range kills {
		path := []string{"/changes", "/records"}[rng.IntN(2)]
		after := rng.IntN(3) == 0 // just after a page, while the poll goes on or commits
		laterPage := rng.IntN(2) == 0
		h := up.hold(after, func(r upRequest) bool {
			return r.Path == path && r.Query.Has("after") == laterPage
		})
		req := waitServed(t, n, fmt.Sprintf("a poll of %s (kill %d)", path, i+1), h.arrived)
		n.kill()
		close(h.release)
		t.Logf("kill %d: %s, request #%d %s?%s", i+1, map[bool]string{true: "after", false: "during"}[after], req.N, req.Path, req.Query.Encode())
		n.start()
	}

	// Let it catch up: no more changes; the feed's cursor is stored past
	// the last change, and full scans ran to the end after it.
	up.setMutate(false, 0)
	feed := up.feed()
	last := fmt.Sprint(feed[len(feed)-1].Seq)
	waitServed(t, n, "the feed's cursor past the last change", up.next(func(r upRequest) bool {
		return r.Path == "/changes" && r.Query.Get("since") == last
	}))
	for i := range 3 { // the third scan starts only when the second has ended
		waitServed(t, n, fmt.Sprintf("full scan %d after the last change", i+1), up.next(func(r upRequest) bool {
			return r.Path == "/records" && !r.Query.Has("after")
		}))
	}
	n.stop()

	ds := n.outbox("item-changes.", "item-scan.")
	fc := changesOf(t, ds, feedConn, "item-changes")
	sc := changesOf(t, ds, scanConn, "item-scan")
	t.Logf("the app made %d changes (%d records live); the outbox has %d feed changes and %d scan changes; %d requests reached the app",
		len(feed), len(up.live()), len(fc), len(sc), len(up.requests()))
	checkFeed(t, feed, fc)
	checkScan(t, feed, up.live(), sc)
}

func lookupSeed() (uint64, bool) {
	s, ok := os.LookupEnv("MEMBRANE_CRASH_SEED")
	if !ok {
		return 0, false
	}
	v, err := strconv.ParseUint(s, 10, 64)
	return v, err == nil
}
