package ingress_test

import (
	"context"
	"encoding/hex"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/membrane-dev/membrane"
	"github.com/membrane-dev/membrane/runtime/connections"
	"github.com/membrane-dev/membrane/runtime/events"
	"github.com/membrane-dev/membrane/runtime/httpx"
	"github.com/membrane-dev/membrane/runtime/ingress"
	"github.com/membrane-dev/membrane/runtime/store"
	"github.com/membrane-dev/membrane/runtime/store/crypt"
	"github.com/membrane-dev/membrane/runtime/store/storetest"
)

// The child process of TestKill9DuringIngress: an ingress on the store
// and workspace the parent names, on a loopback port it writes to a file.
func TestIngressChildProcess(t *testing.T) {
	dir := os.Getenv("MEMBRANE_INGRESS_CHILD")
	if dir == "" {
		t.Skip("run by TestKill9DuringIngress")
	}
	key, _ := hex.DecodeString(os.Getenv("MEMBRANE_INGRESS_KEY"))
	keys, err := crypt.New(key)
	if err != nil {
		t.Fatal(err)
	}
	st, err := store.Open(context.Background(), "sqlite://"+filepath.Join(dir, "membrane.db"), store.WithKeyring(keys), store.WithLogger(storetest.Quiet()))
	if err != nil {
		t.Fatal(err)
	}
	client := httpx.New(httpx.Config{AllowPrivate: true})
	ws, _, err := membrane.Load(membrane.Options{HTTP: client}, filepath.Join(dir, "ws"))
	if err != nil {
		t.Fatal(err)
	}
	svc := connections.New(connections.Options{Store: st, Workspace: ws, HTTP: client})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	h := ingress.New(ingress.Options{Store: st, Webhooks: &events.Webhooks{Store: st, Conns: svc}, PublicURL: "http://" + ln.Addr().String()})
	tmp := filepath.Join(dir, "addr.tmp")
	os.WriteFile(tmp, []byte(ln.Addr().String()), 0o644)
	os.Rename(tmp, filepath.Join(dir, "addr"))
	http.Serve(ln, h) // until killed
}

// kill -9 of a server taking webhooks, then a restart: every push the
// app sent (retrying those that got no 2xx, as apps do) is one change in
// the outbox, exactly once.
func TestKill9DuringIngress(t *testing.T) {
	if testing.Short() {
		t.Skip("starts processes")
	}
	dir := t.TempDir()
	app := newFakeApp(t)
	for name, text := range map[string]string{
		"connectors/acme/connector.yaml":             connectorYAML,
		"connectors/acme/actions/get-contact.yaml":   actionYAML,
		"connectors/acme/events/contact-pushed.yaml": pushedYAML,
		"connectors/acme/events/portal-changed.yaml": portalYAML,
	} {
		path := filepath.Join(dir, "ws", name)
		os.MkdirAll(filepath.Dir(path), 0o755)
		os.WriteFile(path, []byte(strings.ReplaceAll(text, "{{API}}", app.srv.URL)), 0o644)
	}
	key := crypt.Generate()
	keys, _ := crypt.New(key)
	open := func() store.Store {
		st, err := store.Open(context.Background(), "sqlite://"+filepath.Join(dir, "membrane.db"), store.WithKeyring(keys), store.WithLogger(storetest.Quiet()))
		if err != nil {
			t.Fatal(err)
		}
		return st
	}
	client := httpx.New(httpx.Config{AllowPrivate: true})
	ws, _, err := membrane.Load(membrane.Options{HTTP: client}, filepath.Join(dir, "ws"))
	if err != nil {
		t.Fatal(err)
	}
	st := open()
	svc := connections.New(connections.Options{Store: st, Workspace: ws, HTTP: client})
	c, err := svc.Create(t.Context(), "acme", connections.CreateRequest{Connector: "acme", Parameters: map[string]any{"portal": "p1"},
		Credentials: map[string]any{"apiKey": apiKey}})
	if err != nil {
		t.Fatal(err)
	}
	sub, err := st.Tenant("acme").Subscriptions().Create(t.Context(), store.Subscription{ConnectionID: c.ID, Event: "contact-pushed"})
	if err != nil {
		t.Fatal(err)
	}
	life := &events.Lifecycle{Store: st, Conns: svc, PublicURL: "http://127.0.0.1"}
	if err := life.Subscribe(t.Context(), sub); err != nil {
		t.Fatal(err)
	}
	st.Close()

	start := func() (*exec.Cmd, string) {
		os.Remove(filepath.Join(dir, "addr"))
		cmd := exec.Command(os.Args[0], "-test.run=^TestIngressChildProcess$")
		cmd.Env = append(os.Environ(), "MEMBRANE_INGRESS_CHILD="+dir, "MEMBRANE_INGRESS_KEY="+hex.EncodeToString(key))
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		deadline := time.Now().Add(30 * time.Second)
		for time.Now().Before(deadline) {
			if b, err := os.ReadFile(filepath.Join(dir, "addr")); err == nil {
				return cmd, string(b)
			}
			time.Sleep(20 * time.Millisecond)
		}
		cmd.Process.Kill()
		t.Fatal("the child server did not start")
		return nil, ""
	}

	const n = 1500
	acked := make([]bool, n)
	var mu sync.Mutex
	ackedCount := 0
	send := func(addr string, ids []int, killAt int, kill func()) {
		work := make(chan int)
		var wg sync.WaitGroup
		hc := &http.Client{Timeout: 5 * time.Second}
		for range 16 {
			wg.Go(func() {
				for i := range work {
					body := fmt.Sprintf(`{"events":[{"id":%d,"email":"c%d@example.com","updatedAt":"2026-01-01T00:00:00Z"}]}`, i, i)
					resp, err := hc.Do(slackSigned("http://"+addr+"/webhooks/s/"+sub.WebhookToken, app.secret, body, time.Now()))
					if err != nil {
						continue
					}
					resp.Body.Close()
					if resp.StatusCode == 200 {
						mu.Lock()
						acked[i] = true
						ackedCount++
						if ackedCount == killAt {
							kill()
						}
						mu.Unlock()
					}
				}
			})
		}
		for _, i := range ids {
			work <- i
		}
		close(work)
		wg.Wait()
	}

	cmd, addr := start()
	all := make([]int, n)
	for i := range all {
		all[i] = i
	}
	var once sync.Once
	send(addr, all, n/3, func() { once.Do(func() { cmd.Process.Kill() }) })
	cmd.Wait()
	var missing []int
	for i, ok := range acked {
		if !ok {
			missing = append(missing, i)
		}
	}
	if len(missing) == 0 {
		t.Fatal("the server was killed after every push was answered; nothing was tested")
	}
	t.Logf("killed after %d of %d pushes were answered; the app retries %d", n-len(missing), n, len(missing))

	cmd, addr = start()
	send(addr, missing, -1, func() {})
	cmd.Process.Kill()
	cmd.Wait()
	for i, ok := range acked {
		if !ok {
			t.Fatalf("push %d never got a 2xx after the restart", i)
		}
	}

	st = open()
	defer st.Close()
	svc = connections.New(connections.Options{Store: st, Workspace: ws, HTTP: client})
	w := &events.InboxWorker{Webhooks: &events.Webhooks{Store: st, Conns: svc}, Batch: 500}
	for {
		got, err := w.ProcessOnce(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		if got == 0 {
			break
		}
	}
	seen := map[string]int{}
	for {
		ds, err := st.Deliveries().Route(t.Context(), 1000, func(*store.Event) []string { return nil })
		if err != nil {
			t.Fatal(err)
		}
		if len(ds) == 0 {
			break
		}
		for _, p := range changes(ds) {
			seen[p.RecordID]++
		}
	}
	if len(seen) != n {
		t.Errorf("the outbox has changes of %d records; want %d", len(seen), n)
	}
	for i := range n {
		if k := seen[strconv.Itoa(i)]; k != 1 {
			t.Errorf("record %d: %d changes; want exactly 1", i, k)
		}
	}
	if w.Stats.Failed.Load() != 0 || w.Stats.SkippedRecords.Load() != 0 {
		t.Errorf("worker: %d failed, %d records skipped", w.Stats.Failed.Load(), w.Stats.SkippedRecords.Load())
	}
}
