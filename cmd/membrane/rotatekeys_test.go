package main

import (
	"context"
	"path/filepath"
	"strings"
	"testing"

	"github.com/membrane-dev/membrane/runtime/server"
	"github.com/membrane-dev/membrane/runtime/store"
	"github.com/membrane-dev/membrane/runtime/store/crypt"
	"github.com/membrane-dev/membrane/runtime/store/storetest"
)

// The documented rotation: deploy the new key with the old one as _OLD,
// run rotate-keys, then the old key can go.
func TestRotateKeys(t *testing.T) {
	ctx := context.Background()
	dsn := "sqlite:" + filepath.Join(t.TempDir(), "m.db")
	oldKey, newKey := crypt.EncodeKey(crypt.Generate()), crypt.EncodeKey(crypt.Generate())
	t.Setenv(crypt.EnvKey, oldKey)
	t.Setenv(crypt.EnvKey+"_OLD", "")

	st, err := server.OpenStore(ctx, server.Config{Dir: t.TempDir(), Store: dsn}, storetest.Quiet())
	if err != nil {
		t.Fatal(err)
	}
	c, err := st.Tenant("acme").Connections().Create(ctx, store.Connection{Connector: "notes", Credentials: map[string]any{"apiKey": "k_secret"}})
	if err != nil {
		t.Fatal(err)
	}
	st.Close()

	t.Setenv(crypt.EnvKey, newKey)
	t.Setenv(crypt.EnvKey+"_OLD", oldKey)
	r := runCmdLine(t, "", "rotate-keys", "--dir", t.TempDir(), "--store", dsn)
	if r.code != exitOK || !strings.Contains(r.stdout, "re-sealed 1 connections") {
		t.Fatalf("rotate-keys: exit %d\n%s\n%s", r.code, r.stdout, r.stderr)
	}
	if strings.Contains(r.stdout+r.stderr, newKey) || strings.Contains(r.stdout+r.stderr, oldKey) {
		t.Fatal("rotate-keys printed a key")
	}

	// The old key is gone: everything still opens.
	t.Setenv(crypt.EnvKey+"_OLD", "")
	st, err = server.OpenStore(ctx, server.Config{Dir: t.TempDir(), Store: dsn}, storetest.Quiet())
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	got, err := st.Tenant("acme").Connections().Get(ctx, c.ID)
	if err != nil || got.Credentials["apiKey"] != "k_secret" {
		t.Fatalf("after rotation: %v %+v", err, got)
	}
}
