package events_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/membrane-dev/membrane/runtime/engine"
	"github.com/membrane-dev/membrane/runtime/events"
	"github.com/membrane-dev/membrane/runtime/store/storetest"
)

func TestFullScanDiff(t *testing.T) {
	forEachStore(t, func(t *testing.T, open storetest.Opener) {
		a := newApp(t, 7, 2)
		e := newEnv(t, open, a, "contacts-scan")

		res := e.mustPoll()
		if !res.Baseline || !res.Complete || res.Pages != 4 || res.Records != 7 {
			t.Errorf("baseline poll = %+v", res)
		}
		e.wantChanges() // the baseline emits nothing
		if e.sub.Generation != 1 || !e.sub.Baselined {
			t.Errorf("after the baseline: generation %d, baselined %v", e.sub.Generation, e.sub.Baselined)
		}

		a.put("8", "New")
		a.put("2", "Renamed")
		a.remove("3")
		a.remove("5")
		a.archive("6")
		res = e.mustPoll()
		e.wantChanges("created 8", "updated 2", "deleted 3", "deleted 5", "deleted 6")
		if res.Created != 1 || res.Updated != 1 || res.Deleted != 3 || res.Baseline {
			t.Errorf("poll = %+v", res)
		}

		// Nothing changed: nothing is emitted, the archived record
		// listed again included.
		e.mustPoll()
		e.wantChanges()
		if e.sub.Generation != 3 {
			t.Errorf("generation = %d, want 3", e.sub.Generation)
		}
		// The archived record goes away for good: it was reported already.
		a.remove("6")
		e.mustPoll()
		e.wantChanges()
	})
}

func TestNoBaselineEmitsEverythingFirst(t *testing.T) {
	forEachStore(t, func(t *testing.T, open storetest.Opener) {
		a := newApp(t, 3, 2)
		e := newEnv(t, open, a, "contacts-scan-all")
		res := e.mustPoll()
		e.wantChanges("created 1", "created 2", "created 3")
		if res.Baseline || res.Created != 3 {
			t.Errorf("poll = %+v", res)
		}
	})
}

func TestIncremental(t *testing.T) {
	forEachStore(t, func(t *testing.T, open storetest.Opener) {
		a := newApp(t, 5, 2)
		e := newEnv(t, open, a, "contacts-since")
		e.mustPoll()
		e.wantChanges()
		if string(e.sub.State) != `{"cursor":"2026-01-01T00:00:05Z"}` {
			t.Errorf("state = %s", e.sub.State)
		}
		a.put("2", "Renamed")
		a.put("9", "New")
		a.archive("4")
		before := a.requests
		res := e.mustPoll()
		e.wantChanges("updated 2", "created 9", "deleted 4")
		if a.requests-before != 2 || res.Records != 3 {
			t.Errorf("requests = %d, records = %d: the cursor was not sent", a.requests-before, res.Records)
		}
		if string(e.sub.State) != `{"cursor":"2026-01-01T00:00:08Z"}` {
			t.Errorf("state = %s", e.sub.State)
		}
		e.mustPoll()
		e.wantChanges()
	})
}

// TestCursorBackwards: an API whose records go back in time (a restored
// backup) is reported; the kept cursor stays, and the changes found are
// enqueued.
func TestCursorBackwards(t *testing.T) {
	forEachStore(t, func(t *testing.T, open storetest.Opener) {
		a := newApp(t, 3, 10)
		e := newEnv(t, open, a, "contacts-since")
		e.mustPoll()
		kept := string(e.sub.State)
		a.set(func(a *app) {
			a.hook = func(w http.ResponseWriter, r *http.Request, _ int) bool {
				w.Header().Set("Content-Type", "application/json")
				fmt.Fprint(w, `{"data":[{"id":"2","name":"Restored","updated_at":"2025-06-01T00:00:00Z"}],"next":""}`)
				return true
			}
		})
		res, err := e.poll(context.Background())
		var cb *events.CursorBackwardsError
		if !errors.As(err, &cb) || !strings.Contains(err.Error(), "the cursor went backwards") {
			t.Fatalf("err = %v", err)
		}
		if res.CursorBackwards == "" || !res.Complete {
			t.Errorf("result = %+v", res)
		}
		e.wantChanges("updated 2")
		sub, _ := e.ts.Subscriptions().Get(context.Background(), e.sub.ID)
		if string(sub.State) != kept {
			t.Errorf("state = %s, want the kept %s", sub.State, kept)
		}
	})
}

// TestBadRecordsAreSkippedAndNamed: a record without an id, or whose
// mapped record does not fit the schema, is counted and named; the
// others go through.
func TestBadRecordsAreSkippedAndNamed(t *testing.T) {
	forEachStore(t, func(t *testing.T, open storetest.Opener) {
		a := newApp(t, 2, 10)
		e := newEnv(t, open, a, "contacts-scan")
		e.mustPoll()
		a.set(func(a *app) {
			a.order = append(a.order, "noid", "badname")
			a.contacts["noid"] = &contact{Name: "No id", UpdatedAt: a.tick()}
			a.contacts["badname"] = &contact{ID: "bad", Name: 42, UpdatedAt: a.tick()}
		})
		a.put("3", "Fine")
		res := e.mustPoll()
		e.wantChanges("created 3")
		if res.Skipped != 2 || len(res.Errors) != 2 {
			t.Fatalf("result = %+v", res)
		}
		if got := res.Errors[0].String(); !strings.Contains(got, "record 2 of page 1") || !strings.Contains(got, "has no id") || !strings.Contains(got, "polling.id at") {
			t.Errorf("error 0 = %s", got)
		}
		if got := res.Errors[1]; got.ID != "bad" || got.Pointer != "/name" || !strings.Contains(got.Message, "record schema") {
			t.Errorf("error 1 = %+v", got)
		}
		// Not reported again, nor deleted, while it does not change.
		res = e.mustPoll()
		e.wantChanges()
		if res.Skipped != 1 {
			t.Errorf("skipped = %d, want 1 (the record without an id)", res.Skipped)
		}
	})
}

// TestFailedScanReportsNoDeletion: a scan that ends early (a pagination
// loop, a 500, an HTML page) did not list every record: it reports no
// deletion and leaves the generation as it was.
func TestFailedScanReportsNoDeletion(t *testing.T) {
	for name, hook := range map[string]func(w http.ResponseWriter, r *http.Request, page int) bool{
		"loop": nil,
		"html": func(w http.ResponseWriter, r *http.Request, page int) bool {
			if page == 2 {
				w.Header().Set("Content-Type", "text/html")
				fmt.Fprint(w, "<html>Gateway maintenance</html>")
				return true
			}
			return false
		},
		"500": func(w http.ResponseWriter, r *http.Request, page int) bool {
			if page == 2 {
				http.Error(w, `{"error":"down"}`, 500)
				return true
			}
			return false
		},
	} {
		t.Run(name, func(t *testing.T) {
			a := newApp(t, 6, 2)
			e := newEnv(t, open(t), a, "contacts-scan")
			e.mustPoll()
			a.set(func(a *app) {
				a.hook = hook
				if hook == nil {
					a.next = map[int]string{3: "2"} // page 3 links back to page 2
				}
			})
			_, err := e.poll(context.Background())
			var ee *engine.Error
			if !errors.As(err, &ee) || ee.Type != engine.ErrUpstream {
				t.Fatalf("err = %v", err)
			}
			if name == "loop" && !strings.Contains(ee.Message, "pagination loops") {
				t.Errorf("err = %v", err)
			}
			e.wantChanges()
			sub, _ := e.ts.Subscriptions().Get(context.Background(), e.sub.ID)
			if sub.Generation != 1 {
				t.Errorf("generation = %d, want 1", sub.Generation)
			}
			a.set(func(a *app) { a.hook, a.next = nil, nil })
			e.mustPoll()
			e.wantChanges()
		})
	}
}

func open(t *testing.T) storetest.Opener { return storetest.SQLite(t)(t) }

// TestCrashBetweenPagesThenRepoll: a poll stopped after a page (the
// process killed, here its context cancelled) committed that page's
// changes with their record hashes; the next poll gives every other
// change, and none twice.
func TestCrashBetweenPagesThenRepoll(t *testing.T) {
	for _, event := range []string{"contacts-scan", "contacts-since"} {
		t.Run(event, func(t *testing.T) {
			forEachStore(t, func(t *testing.T, open storetest.Opener) {
				a := newApp(t, 10, 3)
				e := newEnv(t, open, a, event)
				e.mustPoll()
				want := []string{"created 11", "created 12", "updated 1", "updated 4", "updated 7", "created 13", "updated 10"}
				a.put("11", "n")
				a.put("12", "n")
				a.put("1", "u")
				a.put("4", "u")
				a.put("7", "u")
				a.put("13", "n")
				a.put("10", "u")
				if event == "contacts-scan" {
					a.remove("5")
					want = append(want, "deleted 5")
				}
				ctx, cancel := context.WithCancel(context.Background())
				defer cancel()
				a.set(func(a *app) {
					a.hook = func(w http.ResponseWriter, r *http.Request, page int) bool {
						if page < 3 {
							return false
						}
						cancel() // the crash, after two pages were committed
						http.Error(w, "gone", http.StatusServiceUnavailable)
						return true
					}
				})
				res, err := e.poll(ctx)
				if err == nil || res.Complete {
					t.Fatalf("the cancelled poll: %v, %+v", err, res)
				}
				first := e.changes()
				if len(first) == 0 {
					t.Fatalf("the first pages enqueued nothing")
				}
				a.set(func(a *app) { a.hook = nil })
				e.mustPoll()
				second := e.changes()
				got := append(first, second...)
				if strings.Join(sorted(got), ",") != strings.Join(sorted(want), ",") {
					t.Errorf("changes = %q then %q, want each of %q once", first, second, want)
				}
				e.mustPoll()
				e.wantChanges()
			})
		})
	}
}

func sorted(s []string) []string {
	out := append([]string(nil), s...)
	for i := range out {
		for j := i + 1; j < len(out); j++ {
			if out[j] < out[i] {
				out[i], out[j] = out[j], out[i]
			}
		}
	}
	return out
}
