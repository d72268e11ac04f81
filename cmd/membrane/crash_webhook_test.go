package main

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net/http"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

const upWebhookSecret = "whsec_up_5f4e3d2c1b0a9f8e"

// webhookSender pushes the app's changes the way apps do: each push is
// retried until it gets a 2xx; one that got no answer (the server died)
// waits for the server to serve again.
type webhookSender struct {
	ctx      context.Context // ends with the test
	n        *node
	client   *http.Client
	answered chan struct{} // one per push answered: a 2xx, or a refusal (refused says)
	retries  atomic.Int64
	mu       sync.Mutex
	refused  []string
}

func (s *webhookSender) send(target string, body []byte) {
	for attempt := 1; ; attempt++ {
		ctx, cancel := context.WithTimeout(s.ctx, crashWait)
		status, err := push(ctx, s.client, target, upWebhookSecret, "application/json", body, time.Time{})
		cancel()
		switch {
		case err == nil && status/100 == 2:
			s.answered <- struct{}{}
			return
		case s.ctx.Err() != nil:
			return
		case err == nil && status < 500:
			s.mu.Lock()
			s.refused = append(s.refused, fmt.Sprintf("%s: %d", target, status))
			s.mu.Unlock()
			s.answered <- struct{}{}
			return
		case attempt == 50:
			s.mu.Lock()
			s.refused = append(s.refused, fmt.Sprintf("%s: no 2xx after %d attempts: %d %v", target, attempt, status, err))
			s.mu.Unlock()
			s.answered <- struct{}{}
			return
		}
		s.retries.Add(1)
		var again <-chan time.Time
		if err == nil {
			// A 5xx: the server is up but failed; back off a little,
			// as apps do.
			again = time.After(time.Duration(attempt) * 10 * time.Millisecond)
		} else {
			// No answer: the server died; go on when the next one serves.
			again = time.After(crashWait)
		}
		select {
		case <-s.ctx.Done():
			return
		case <-s.n.serving():
			if err == nil {
				<-again
			}
		case <-again:
		}
	}
}

// TestWebhookIngressSurvivesKill9: the app pushes signed webhooks from
// several senders at once, to the subscription's own URL and to the
// connector's URL, while `membrane serve` is killed with SIGKILL and
// restarted. Pushes that got no answer are sent again. Once every push
// got a 2xx and the inbox is processed, each change the app pushed is in
// the outbox exactly once.
func TestWebhookIngressSurvivesKill9(t *testing.T) {
	seed := seedOf(t)
	rng := rand.New(rand.NewPCG(seed, 2))
	up := newUpstream(t, seed)
	n := newNode(t, crashWorkspace(t, up.URL))
	n.start()
	tok := tenantToken(t, crashWorkspaceKey, "acme")
	conn := n.connect(tok, "hooks", map[string]any{"webhookSecret": upWebhookSecret})
	sub := n.subscribe(tok, conn, "item-pushed")
	ownURL, _ := sub["webhookUrl"].(string)
	if ownURL == "" {
		t.Fatalf("the subscription has no webhookUrl: %v", sub)
	}
	sharedURL := n.url() + "/webhooks/up"

	// The pushes: 1 to 3 changes each.
	const changes = 240
	var pushes [][]upChange
	for made := 0; made < changes; {
		k := min(1+rng.IntN(3), changes-made)
		var cs []upChange
		for range k {
			cs = append(cs, up.change(""))
		}
		made += k
		pushes = append(pushes, cs)
	}
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	s := &webhookSender{ctx: ctx, n: n, answered: make(chan struct{}, len(pushes)),
		client: &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 8}}}
	work := make(chan []upChange)
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for cs := range work {
				target := ownURL
				if cs[0].Seq%2 == 0 {
					target = sharedURL
				}
				s.send(target, upPushBody("hooks", cs...))
			}
		})
	}
	go func() {
		for _, cs := range pushes {
			work <- cs
		}
		close(work)
	}()

	// Kill the server three times while pushes are in flight: after a
	// random number of answers in each quarter.
	got := 0
	for k := range 3 {
		at := (k+1)*len(pushes)/4 - rng.IntN(len(pushes)/8)
		for ; got < at; got++ {
			waitServed(t, n, "a push answered", s.answered)
		}
		n.kill()
		t.Logf("kill %d after %d answered pushes", k+1, got)
		n.start()
	}
	for ; got < len(pushes); got++ {
		waitServed(t, n, "a push answered", s.answered)
	}
	wg.Wait()
	for _, r := range s.refused {
		t.Errorf("push refused: %s", r)
	}
	n.waitInbox()
	n.stop()

	var feed []upChange
	for _, cs := range pushes {
		feed = append(feed, cs...)
	}
	got2 := changesOf(t, n.outbox("item-pushed."), conn, "item-pushed")
	t.Logf("%d pushes of %d changes, %d sent again; the outbox has %d changes", len(pushes), len(feed), s.retries.Load(), len(got2))
	checkFeed(t, feed, got2)
}
