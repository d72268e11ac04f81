package reload

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/membrane-dev/membrane/internal/testkit"
	"github.com/membrane-dev/membrane/runtime/server"
	"github.com/membrane-dev/membrane/runtime/store/storetest"
	"github.com/membrane-dev/membrane/runtime/tenancy"
	"github.com/membrane-dev/membrane/spec"
)

// genWorkspace writes connectors × actions action files, one connector
// file each and one universal action per action key: connectors ×
// (actions+1) + actions files. Every action has an expression of its own.
func genWorkspace(t testing.TB, dir string, connectors, actions int) {
	t.Helper()
	for j := range actions {
		testkit.WriteFile(t, filepath.Join(dir, "universal", fmt.Sprintf("u%d.yaml", j)), fmt.Sprintf(`kind: UniversalAction
key: u%d
input:
  type: object
  required: [id]
  properties: {id: {type: string}, name: {type: string}}
output:
  type: object
  required: [id]
  properties: {id: {type: string}, name: {type: string}, version: {type: string}}
`, j))
	}
	for i := range connectors {
		testkit.WriteFile(t, filepath.Join(dir, "connectors", fmt.Sprintf("c%d", i), "connector.yaml"), connectorText(i))
		for j := range actions {
			testkit.WriteFile(t, actionPath(dir, i, j), actionText(i, j, "v0"))
		}
	}
}

func connectorText(i int) string {
	return fmt.Sprintf(`kind: Connector
key: c%d
name: Connector %d
baseUrl: http://127.0.0.1:9/c%d
auth:
  type: apiKey
  in: header
  name: X-Api-Key
  credentials:
    type: object
    required: [apiKey]
    properties:
      apiKey: {type: string, writeOnly: true}
`, i, i, i)
}

func actionPath(dir string, i, j int) string {
	return filepath.Join(dir, "connectors", fmt.Sprintf("c%d", i), "actions", fmt.Sprintf("a%d.yaml", j))
}

// actionText is an action whose name, and one expression, carry version.
func actionText(i, j int, version string) string {
	return fmt.Sprintf(`kind: Action
connector: c%d
key: a%d
name: %s
implements: u%d
request:
  method: POST
  path: /items/${ input.id }
  headers:
    X-Trace: ${ input.?name.orValue('') + '-c%d-a%d-%s' }
  body:
    name: ${ input.?name.orValue(null) }
output:
  id: ${ string(response.body.id) }
  name: ${ response.body.?name.orValue('') }
  version: %s
`, i, j, version, j, i, j, version, version)
}

// dev is a development server on loopback: runtime/server with a
// Reloader swapping into it, as `membrane dev` wires them.
type dev struct {
	*Reloader
	srv      *server.Server
	URL      string
	Out      *testkit.Buffer
	token    string
	statuses <-chan Status
}

func startDev(t testing.TB, dir string, opts Options) *dev {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	s, err := server.New(ctx, server.Config{Dir: dir, AllowPrivate: true}, storetest.Quiet())
	if err != nil {
		cancel()
		t.Fatalf("server.New: %v", err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	out := &testkit.Buffer{}
	opts.Dir, opts.Swap, opts.Out = dir, s.Swap, out
	r := New(opts)
	s.Handle("/dev/", r.Handler())
	d := &dev{Reloader: r, srv: s, URL: "http://" + ln.Addr().String(), Out: out, statuses: r.Subscribe(ctx)}
	secret, _, err := server.DevSecret(server.DataDir(dir))
	if err != nil {
		t.Fatal(err)
	}
	m, err := tenancy.NewMinter("default", secret)
	if err != nil {
		t.Fatal(err)
	}
	if d.token, err = m.Mint(tenancy.Claims{Tenant: "dev"}, time.Hour); err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	wg.Go(func() { _ = s.Serve(ctx, ln) })
	wg.Go(func() {
		if err := r.Run(ctx); err != nil {
			t.Errorf("Run: %v", err)
		}
	})
	t.Cleanup(func() {
		cancel()
		wg.Wait()
		s.Close()
	})
	d.waitFor(t, "the first load", func(st Status) bool { return st.Generation == 1 })
	return d
}

// waitFor waits, on the subscription, for a status that satisfies ok (a
// condition on the served workspace may be checked inside too).
func (d *dev) waitFor(t testing.TB, what string, ok func(Status) bool) Status {
	t.Helper()
	timeout := beforeTimeout(t)
	for {
		select {
		case st := <-d.statuses:
			if ok(st) {
				return st
			}
		case <-timeout:
			st := d.Status()
			t.Fatalf("waited until the test's timeout for %s; the status is generation %d, ok %v, diagnostics:\n%v\nterminal:\n%s", what, st.Generation, st.OK, st.Diagnostics, d.Out.String())
			return st
		}
	}
}

// served is the workspace the server serves now.
func (d *dev) served() *spec.Workspace { return d.srv.Workspace().Spec }

// get sends a GET with the tenant token and decodes the JSON answer.
func (d *dev) get(t testing.TB, path string, out any) int {
	t.Helper()
	req, err := http.NewRequest("GET", d.URL+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+d.token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("GET %s: %v", path, err)
	}
	defer resp.Body.Close()
	if out != nil {
		if err := json.NewDecoder(resp.Body).Decode(out); err != nil {
			t.Fatalf("GET %s: %v", path, err)
		}
	}
	return resp.StatusCode
}

// actionName is the name GET /v1/connectors/{c} gives action a{j}.
func (d *dev) actionName(t testing.TB, i, j int) string {
	var info struct {
		Actions []struct{ Key, Name string }
	}
	if code := d.get(t, fmt.Sprintf("/v1/connectors/c%d", i), &info); code != 200 {
		t.Fatalf("GET /v1/connectors/c%d: %d", i, code)
	}
	for _, a := range info.Actions {
		if a.Key == fmt.Sprintf("a%d", j) {
			return a.Name
		}
	}
	return ""
}

func hasDiag(st Status, file, rule string) bool {
	for _, d := range st.Diagnostics {
		if strings.HasSuffix(d.Pos.File, file) && d.Rule == rule {
			return true
		}
	}
	return false
}

// beforeTimeout fires a little before the test binary's -timeout (never
// without one): a wait that never ends still reports what it waited for
// and what it saw, with no wall-clock bound of its own to trip on a busy
// machine.
func beforeTimeout(t testing.TB) <-chan time.Time {
	if tt, ok := t.(interface{ Deadline() (time.Time, bool) }); ok {
		if dl, ok := tt.Deadline(); ok {
			return time.After(time.Until(dl) - 5*time.Second)
		}
	}
	return nil
}
