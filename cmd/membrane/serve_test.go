package main

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/membrane-dev/membrane/internal/testkit"
	"github.com/membrane-dev/membrane/runtime/server"
	"github.com/membrane-dev/membrane/runtime/store"
	"github.com/membrane-dev/membrane/runtime/store/storetest"
	"github.com/membrane-dev/membrane/runtime/tenancy"
)

// A development server on SQLite generates the workspace secret when none
// is set; `membrane token --dir` then mints tokens it accepts.
func TestTokenUsesTheDevelopmentSecret(t *testing.T) {
	dir := t.TempDir()
	unset := "MEMBRANE_TEST_UNSET_SECRET"
	if _, err := runTokenCmd(t, "--tenant", "acme", "--dir", dir, "--secret-env", unset); err == nil || !strings.Contains(err.Error(), unset+" is not set") {
		t.Fatalf("no secret anywhere: %v", err)
	}
	secret, created, err := server.DevSecret(server.DataDir(dir))
	if err != nil || !created {
		t.Fatalf("dev secret: %v %v", created, err)
	}
	tok, err := runTokenCmd(t, "--tenant", "acme", "--dir", dir, "--secret-env", unset)
	if err != nil {
		t.Fatal(err)
	}
	v, err := tenancy.NewVerifier("default", tenancy.Keys{HMACSecret: secret})
	if err != nil {
		t.Fatal(err)
	}
	if c, err := v.Verify(strings.TrimSpace(tok)); err != nil || c.Tenant != "acme" {
		t.Fatalf("the server would refuse the token: %v %+v", err, c)
	}
}

// explain --tenant --connection shows the overrides stored through the
// API as a layer of their own.
func TestExplainStoredConnection(t *testing.T) {
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
	doc := "kind: ConnectionOverride\ntenant: acme\nconnection: " + c.ID + "\nconnector: notes\nactions:\n  create-note:\n    request:\n      body:\n        pinned: true\n"
	if _, err := st.Tenant("acme").Overrides().Put(ctx, store.Override{Connector: "notes", ConnectionID: c.ID, Doc: []byte(doc)}); err != nil {
		t.Fatal(err)
	}
	st.Close()

	r := runCmdLine(t, "", "explain", "create-note", "--dir", notesDir, "--store", dsn, "--tenant", "acme", "--connection", c.ID)
	if r.code != exitOK || !strings.Contains(r.stdout, "pinned: true") || !strings.Contains(r.stdout, "stored override notes/"+c.ID+" rev 1") {
		t.Fatalf("exit %d\nstdout:\n%s\nstderr:\n%s", r.code, r.stdout, r.stderr)
	}
	// It only reads: the development key's warning is for the commands
	// that seal secrets with it.
	if strings.Contains(r.stderr, "INSECURE") || strings.Contains(r.stderr, "development key") {
		t.Errorf("explain warned of the development key:\n%s", r.stderr)
	}
	r = runCmdLine(t, "", "explain", "create-note", "--dir", notesDir, "--store", dsn, "--tenant", "initech", "--connection", c.ID)
	wantFailure(t, r, exitFail, `tenant "initech" has no connection`)
}

// explain on a workspace with no store says so, and creates none.
func TestExplainCreatesNoStore(t *testing.T) {
	dir := t.TempDir()
	for _, name := range []string{"connector.yaml", "actions/create-note.yaml", "actions/get-note.yaml"} {
		b, err := os.ReadFile(filepath.Join(notesDir, name))
		if err != nil {
			t.Fatal(err)
		}
		testkit.WriteFile(t, filepath.Join(dir, name), string(b))
	}
	r := runCmdLine(t, "", "explain", "create-note", "--dir", dir, "--tenant", "acme", "--connection", "conn_1")
	wantFailure(t, r, exitFail, "no store at "+filepath.Join(dir, ".membrane", "membrane.db"), "nothing is stored for this workspace yet")
	if _, err := os.Stat(filepath.Join(dir, ".membrane")); err == nil {
		t.Errorf("explain made %s", filepath.Join(dir, ".membrane"))
	}
}
