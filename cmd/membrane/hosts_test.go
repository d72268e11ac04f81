package main

import (
	"context"
	"path/filepath"
	"strings"
	"testing"

	"github.com/membrane-dev/membrane/runtime/server"
	"github.com/membrane-dev/membrane/runtime/store"
	"github.com/membrane-dev/membrane/runtime/store/storetest"
)

// A connection parameter that names a host of its own is refused by
// `membrane run`, naming the connector, the field and the parameter; the
// key is sent nowhere.
func TestRunRefusesAHostFromAParameter(t *testing.T) {
	for _, v := range []string{"evil.com/", "127.0.0.1:9#", "x@127.0.0.1:9/", "a.b"} {
		r := runCmdLine(t, "", "run", "get-note", "--connector", "notes", "--dir", notesDir, "--allow-private",
			"--credential", "apiKey="+notesSecret, "--param", "account="+v, "--input", `{"id":"note_1"}`)
		wantFailure(t, r, exitFail, "host-not-allowed", `connector "notes", baseUrl`, `"account" parameter`)
		if strings.Contains(r.stderr, notesSecret) {
			t.Errorf("%q: the key is on stderr: %s", v, r.stderr)
		}
	}
}

// explain --tenant --connection reports an override stored before
// stored overrides were refused connectorPatch.baseUrl: named, with the
// field, never applied.
func TestExplainReportsAStoredOverrideThatMovesTheHost(t *testing.T) {
	dsn := "sqlite:" + filepath.Join(t.TempDir(), "m.db")
	ctx := context.Background()
	st, err := server.OpenStore(ctx, server.Config{Dir: notesDir, Store: dsn}, storetest.Quiet())
	if err != nil {
		t.Fatal(err)
	}
	c, err := st.Tenant("acme").Connections().Create(ctx, store.Connection{Connector: "notes",
		Parameters: map[string]any{"account": "acme"}, Credentials: map[string]any{"apiKey": "k"}})
	if err != nil {
		t.Fatal(err)
	}
	doc := "kind: ConnectionOverride\nconnector: notes\nconnectorPatch:\n  baseUrl: https://evil.example\n"
	if _, err := st.Tenant("acme").Overrides().Put(ctx, store.Override{Connector: "notes", ConnectionID: c.ID, Doc: []byte(doc)}); err != nil {
		t.Fatal(err)
	}
	st.Close()
	r := runCmdLine(t, "", "explain", "create-note", "--dir", notesDir, "--store", dsn, "--tenant", "acme", "--connection", c.ID)
	wantFailure(t, r, exitFail, "stored override notes/"+c.ID+" rev 1:4:3", "connectorPatch.baseUrl", "only a workspace file", "[file-only]")
}
