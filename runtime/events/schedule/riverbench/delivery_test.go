package riverbench

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/riverqueue/river"
	"github.com/riverqueue/river/riverdriver/riverpgxv5"
	"github.com/riverqueue/river/rivermigrate"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/membrane-dev/membrane/runtime/delivery"
	"github.com/membrane-dev/membrane/runtime/store"
	"github.com/membrane-dev/membrane/runtime/store/crypt"
	"github.com/membrane-dev/membrane/runtime/store/storetest"
)

// deliveries is how many events one round delivers; senders how many
// requests are in flight on either side (a destination's default
// concurrency).
const (
	deliveries = 5_000
	senders    = 8
)

// deliverySecret signs the webhooks of both sides.
const deliverySecret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"

// hookReceiver is the user's backend: it counts the distinct webhook-ids
// answered 200 and closes done at want.
type hookReceiver struct {
	*httptest.Server
	mu   sync.Mutex
	seen map[string]int
	want int
	done chan struct{}
}

func newHookReceiver(b *testing.B) *hookReceiver {
	r := &hookReceiver{seen: map[string]int{}}
	r.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		io.Copy(io.Discard, req.Body)
		id := req.Header.Get("webhook-id")
		r.mu.Lock()
		r.seen[id]++
		if r.seen[id] == 1 && len(r.seen) == r.want {
			close(r.done)
		}
		r.mu.Unlock()
	}))
	b.Cleanup(r.Close)
	return r
}

// arm resets the receiver for a round of n events.
func (r *hookReceiver) arm(n int) <-chan struct{} {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.seen, r.want, r.done = map[string]int{}, n, make(chan struct{})
	return r.done
}

func (r *hookReceiver) duplicates() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	n := 0
	for _, k := range r.seen {
		n += k - 1
	}
	return n
}

// deliveryEvents are n record-change events of ~400 bytes.
func deliveryEvents(round, n int) []store.Event {
	out := make([]store.Event, n)
	for i := range out {
		out[i] = store.Event{
			ID: fmt.Sprintf("evt_r%d_%06d", round, i), Tenant: "acme", Type: "contact-changed.updated",
			Connector: "hubspot", ConnectionID: "conn_bench", CreatedAt: time.Now().UTC(),
			Payload: fmt.Appendf(nil, `{"record":{"id":"%06d","email":"person%d@example.com","firstName":"Ada","lastName":"Lovelace",`+
				`"company":"Analytical Engines Ltd","phone":"+44 20 7946 0000","lifecycleStage":"customer","owner":"owner_42",`+
				`"updatedAt":"2026-01-02T03:04:05Z","custom":{"favoriteColor":"teal","score":87}},"changed":["email","score"]}`, i, i),
		}
	}
	return out
}

// post sends one signed webhook, the way a delivery attempt does.
func post(ctx context.Context, client *http.Client, url string, key []byte, e *store.Event) error {
	body, err := delivery.Encode(e)
	if err != nil {
		return err
	}
	ts := strconv.FormatInt(time.Now().Unix(), 10)
	m := hmac.New(sha256.New, key)
	fmt.Fprintf(m, "%s.%s.", e.ID, ts)
	m.Write(body)
	req, err := http.NewRequestWithContext(ctx, "POST", url, bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("webhook-id", e.ID)
	req.Header.Set("webhook-timestamp", ts)
	req.Header.Set("webhook-signature", "v1,"+base64.StdEncoding.EncodeToString(m.Sum(nil)))
	resp, err := client.Do(req)
	if err != nil {
		return err
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("the backend answered %s", resp.Status)
	}
	return nil
}

func loopbackClient() *http.Client {
	return &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{
		DialContext: (&net.Dialer{}).DialContext, MaxIdleConnsPerHost: senders, MaxConnsPerHost: senders}}
}

// deliveryArgs is a delivery as a River job: the event to send (River
// keeps its arguments as JSON in the job row) and the destination.
type deliveryArgs struct {
	Event       store.Event `json:"event"`
	Destination string      `json:"destination"`
}

func (deliveryArgs) Kind() string { return "delivery" }

type deliveryWorker struct {
	river.WorkerDefaults[deliveryArgs]
	client *http.Client
	url    string
	key    []byte
}

func (w *deliveryWorker) Work(ctx context.Context, job *river.Job[deliveryArgs]) error {
	return post(ctx, w.client, w.url, w.key, &job.Args.Event)
}

// BenchmarkDeliveries drains 5,000 webhook deliveries to a local receiver
// on PostgreSQL, 8 in flight on each side, the same database and receiver:
//
//   - river: one River job per delivery, inserted beforehand
//     (InsertManyFast); the worker signs and POSTs the envelope, River
//     completes the job (its completer batches completions) and retries a
//     failure with its own backoff;
//   - store: the Deliverer on the store's Deliveries (Claim, send,
//     Record: one attempt row and the delivery's state per send), the
//     events routed beforehand.
//
// deliveries/s is the figure to compare; insert/s is the untimed set-up
// (River's InsertManyFast against the store's Enqueue and Route).
func BenchmarkDeliveries(b *testing.B) {
	dsn := storetest.PostgresDB(b)
	recv := newHookReceiver(b)
	b.Run("river", func(b *testing.B) { benchRiverDeliveries(b, dsn, recv) })
	b.Run("store", func(b *testing.B) { benchStoreDeliveries(b, dsn, recv) })
}

func benchRiverDeliveries(b *testing.B, dsn string, recv *hookReceiver) {
	ctx := context.Background()
	pool, err := pgxpool.New(ctx, dsn)
	if err != nil {
		b.Fatal(err)
	}
	defer pool.Close()
	driver := riverpgxv5.New(pool)
	m, err := rivermigrate.New(driver, nil)
	if err != nil {
		b.Fatal(err)
	}
	if _, err := m.Migrate(ctx, rivermigrate.DirectionUp, nil); err != nil {
		b.Fatal(err)
	}
	key, _ := base64.StdEncoding.DecodeString(deliverySecret[len("whsec_"):])
	w := &deliveryWorker{client: loopbackClient(), url: recv.URL + "/hooks", key: key}
	var took, inserting time.Duration
	dups, round := 0, 0
	for b.Loop() {
		b.StopTimer()
		if _, err := pool.Exec(ctx, "DELETE FROM river_job"); err != nil {
			b.Fatal(err)
		}
		ws := river.NewWorkers()
		river.AddWorker(ws, w)
		client, err := river.NewClient(driver, &river.Config{
			Queues:        map[string]river.QueueConfig{river.QueueDefault: {MaxWorkers: senders}},
			Workers:       ws,
			FetchCooldown: time.Millisecond, // as eager as River allows
			Logger:        storetest.Quiet(),
		})
		if err != nil {
			b.Fatal(err)
		}
		events := deliveryEvents(round, deliveries)
		round++
		params := make([]river.InsertManyParams, len(events))
		for i := range events {
			params[i] = river.InsertManyParams{Args: deliveryArgs{Event: events[i], Destination: "dst_bench"}}
		}
		done := recv.arm(deliveries)
		t0 := time.Now()
		if _, err := client.InsertManyFast(ctx, params); err != nil {
			b.Fatal(err)
		}
		inserting += time.Since(t0)
		b.StartTimer()
		start := time.Now()
		if err := client.Start(ctx); err != nil {
			b.Fatal(err)
		}
		<-done
		took += time.Since(start)
		b.StopTimer()
		if err := client.Stop(ctx); err != nil {
			b.Fatal(err)
		}
		dups += recv.duplicates()
		b.StartTimer()
	}
	n := float64(deliveries * round)
	b.ReportMetric(n/took.Seconds(), "deliveries/s")
	b.ReportMetric(n/inserting.Seconds(), "insert/s")
	b.ReportMetric(float64(dups), "duplicates")
}

func benchStoreDeliveries(b *testing.B, dsn string, recv *hookReceiver) {
	ctx := context.Background()
	keys, err := crypt.New(crypt.Generate())
	if err != nil {
		b.Fatal(err)
	}
	st, err := store.Open(ctx, dsn, store.WithKeyring(keys), store.WithLogger(storetest.Quiet()))
	if err != nil {
		b.Fatal(err)
	}
	defer st.Close()
	dst, err := st.Destinations().Create(ctx, store.Destination{Name: "bench", Kind: "webhook", URL: recv.URL + "/hooks", Concurrency: senders})
	if err != nil {
		b.Fatal(err)
	}
	route := func(*store.Event) []string { return []string{dst.ID} }
	var took, inserting time.Duration
	dups, round := 0, 0
	for b.Loop() {
		b.StopTimer()
		events := deliveryEvents(1000+round, deliveries)
		round++
		done := recv.arm(deliveries)
		t0 := time.Now()
		for i := 0; i < len(events); i += 1000 {
			if err := st.Tenant("acme").Outbox().Enqueue(ctx, events[i:i+1000]...); err != nil {
				b.Fatal(err)
			}
		}
		for routed := 0; routed < deliveries; {
			got, err := st.Deliveries().Route(ctx, 1000, route)
			if err != nil {
				b.Fatal(err)
			}
			if len(got) == 0 {
				b.Fatalf("routed %d of %d", routed, deliveries)
			}
			routed += len(got)
		}
		inserting += time.Since(t0)
		d, err := delivery.New(delivery.Config{
			Store: st, Worker: "bench", Logger: storetest.Quiet(),
			Secrets:      func(*store.Destination) ([]string, error) { return []string{deliverySecret}, nil },
			AllowPrivate: []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")},
		})
		if err != nil {
			b.Fatal(err)
		}
		rctx, cancel := context.WithCancel(ctx)
		ran := make(chan error, 1)
		b.StartTimer()
		start := time.Now()
		go func() { ran <- d.Run(rctx) }()
		<-done
		took += time.Since(start)
		b.StopTimer()
		cancel()
		if err := <-ran; err != nil && !errors.Is(err, context.Canceled) {
			b.Fatal(err)
		}
		dups += recv.duplicates()
		b.StartTimer()
	}
	n := float64(deliveries * round)
	b.ReportMetric(n/took.Seconds(), "deliveries/s")
	b.ReportMetric(n/inserting.Seconds(), "insert/s")
	b.ReportMetric(float64(dups), "duplicates")
}
