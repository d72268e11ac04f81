package delivery

import (
	"context"
	"errors"
	"net"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/membrane-dev/membrane/internal/testkit"
	"github.com/membrane-dev/membrane/runtime/store"
	"github.com/membrane-dev/membrane/runtime/store/storetest"
)

const natsURL = "nats://127.0.0.1:4222"

// jetStream connects to the test NATS server (JetStream enabled), or skips
// (fails in CI) without one.
func jetStream(t *testing.T) jetstream.JetStream {
	t.Helper()
	c, err := net.DialTimeout("tcp", "127.0.0.1:4222", 2*time.Second)
	if err != nil {
		testkit.SkipOrFail(t, "no NATS server at 127.0.0.1:4222", "scripts/install-test-deps.sh")
	}
	c.Close()
	nc, err := nats.Connect(natsURL)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	return js
}

// streamMsgs reads every message of a stream.
func streamMsgs(t *testing.T, s jetstream.Stream) []*jetstream.RawStreamMsg {
	t.Helper()
	info, err := s.Info(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	var out []*jetstream.RawStreamMsg
	for seq := info.State.FirstSeq; seq <= info.State.LastSeq && info.State.Msgs > 0; seq++ {
		m, err := s.GetMsg(t.Context(), seq)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, m)
	}
	return out
}

// Events reach a JetStream stream (made when missing, with a duplicates
// window) carrying Nats-Msg-Id = event id; a replay is de-duplicated by
// JetStream; a stream the user made for the subject is used as it is.
func TestNatsDestination(t *testing.T) {
	t.Parallel()
	js := jetStream(t)
	e := newEnv(t, storetest.SQLite(t))
	subject := "membrane.test." + randomHex(6)
	userSubject := "membrane.user." + randomHex(6)
	userStream := "USER_" + strings.ToUpper(randomHex(6))
	if _, err := js.CreateStream(e.ctx, jetstream.StreamConfig{Name: userStream, Subjects: []string{userSubject}}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx := context.Background()
		_ = js.DeleteStream(ctx, StreamName(subject))
		_ = js.DeleteStream(ctx, userStream)
	})
	made := e.dest(store.Destination{Name: "bus", Kind: store.DestinationNATS, URL: natsURL, Subject: subject, EventTypes: []string{"contact.*"}})
	e.dest(store.Destination{Name: "users", Kind: store.DestinationNATS, URL: natsURL, Subject: userSubject, EventTypes: []string{"deal.*"}})
	d, rec := e.start(e.st, nil)
	ids := e.enqueue("acme", "contact.created", 3)
	e.enqueue("acme", "deal.created", 1)
	for range 4 {
		if r := next(t, rec); !r.o.Delivered || r.a.Error != "" {
			t.Fatalf("recorded %+v", r)
		}
	}
	s, err := js.Stream(e.ctx, StreamName(subject))
	if err != nil {
		t.Fatalf("the stream delivery makes: %v", err)
	}
	if info, _ := s.Info(e.ctx); info.Config.Duplicates != NatsDuplicates {
		t.Fatalf("duplicates window %s", info.Config.Duplicates)
	}
	msgs := streamMsgs(t, s)
	if len(msgs) != 3 {
		t.Fatalf("%d messages", len(msgs))
	}
	for i, m := range msgs {
		id := m.Header.Get(jetstream.MsgIDHeader)
		if !slices.Contains(ids, id) || m.Header.Get(NatsHeaderType) != "contact.created" ||
			m.Header.Get(NatsHeaderTenant) != "acme" || !strings.Contains(string(m.Data), `"id":"`+id+`"`) {
			t.Fatalf("message %d: %v %s", i, m.Header, m.Data)
		}
	}
	// A replay publishes again; JetStream drops it as a duplicate.
	if n, err := e.st.Deliveries().Replay(e.ctx, store.ReplayFilter{EventID: ids[0], Destination: made.ID}); err != nil || n != 1 {
		t.Fatalf("replay: %d %v", n, err)
	}
	d.Kick()
	if r := next(t, rec); !r.o.Delivered || !strings.Contains(r.a.Excerpt, "duplicate") {
		t.Fatalf("replayed: %+v", r)
	}
	if msgs := streamMsgs(t, s); len(msgs) != 3 {
		t.Fatalf("after a replay: %d messages", len(msgs))
	}
	us, err := js.Stream(e.ctx, userStream)
	if err != nil {
		t.Fatal(err)
	}
	if msgs := streamMsgs(t, us); len(msgs) != 1 {
		t.Fatalf("the user's stream has %d messages", len(msgs))
	}
	if _, err := js.Stream(e.ctx, StreamName(userSubject)); !errors.Is(err, jetstream.ErrStreamNotFound) {
		t.Fatalf("a stream was made beside the user's: %v", err)
	}
	// The stream deleted under it: the attempt fails, the retry makes the
	// stream again.
	if err := js.DeleteStream(e.ctx, StreamName(subject)); err != nil {
		t.Fatal(err)
	}
	late := e.enqueue("acme", "contact.deleted", 1)[0]
	r := next(t, rec)
	if r.o.Delivered {
		t.Fatalf("published with its stream deleted: %+v", r)
	}
	e.clock.Advance(time.Minute)
	d.Kick()
	if r = next(t, rec); !r.o.Delivered || r.a.EventID != late {
		t.Fatalf("retried: %+v", r)
	}
	if s, err = js.Stream(e.ctx, StreamName(subject)); err != nil {
		t.Fatal(err)
	}
	if msgs := streamMsgs(t, s); len(msgs) != 1 || msgs[0].Header.Get(jetstream.MsgIDHeader) != late {
		t.Fatalf("the stream made again: %d messages", len(msgs))
	}
}

// A NATS server on a private address is refused like a webhook's.
func TestNatsPrivateAddressRefused(t *testing.T) {
	t.Parallel()
	jetStream(t)
	e := newEnv(t, storetest.SQLite(t))
	e.dest(store.Destination{Name: "bus", Kind: store.DestinationNATS, URL: natsURL, Subject: "membrane.never." + randomHex(4)})
	_, rec := e.start(e.st, func(c *Config) { c.AllowPrivate = nil })
	e.enqueue("acme", "contact.created", 1)
	if r := next(t, rec); r.o.Delivered || r.o.Next.IsZero() || !strings.Contains(r.a.Error, "refused to connect to 127.0.0.1") {
		t.Fatalf("recorded %+v", r)
	}
}
