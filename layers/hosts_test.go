package layers_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/membrane-dev/membrane/layers"
	"github.com/membrane-dev/membrane/spec"
	"github.com/membrane-dev/membrane/spec/compile"
)

const hostsConnector = `kind: Connector
key: desk
baseUrl: https://api.desk.example
hosts: ["*.desk.example"]
parameters: {type: object, properties: {sandbox: {type: string}}}
`

func hostsWorkspace(t *testing.T, override string) (*spec.Workspace, string) {
	t.Helper()
	dir := t.TempDir()
	for name, text := range map[string]string{"connector.yaml": hostsConnector, "sandbox.yaml": override} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	ws, diags := loadUnchecked(dir)
	if len(diags) > 0 {
		t.Fatalf("load: %v", diags)
	}
	return ws, dir
}

// TestOverrideFileBaseURL: an override file may move a connector (a
// sandbox), and the host policy then follows the merged connector: a
// host written whole is where it says; one from a parameter keeps to
// the same rules as the connector's own, reported at the override file.
func TestOverrideFileBaseURL(t *testing.T) {
	ws, _ := hostsWorkspace(t, "kind: ConnectionOverride\nconnector: desk\nconnectorPatch:\n  baseUrl: http://127.0.0.1:12111/v1\n")
	if d := layers.Check(ws); len(d) > 0 {
		t.Fatalf("a sandbox URL: %v", d)
	}
	rc, d := layers.ResolveConnector(ws, "desk", ws.Overrides...)
	if d.HasErrors() {
		t.Fatal(d)
	}
	if u, err := rc.Compiled.BaseURL.EvalURL(context.Background(), nil); err != nil || u.String() != "http://127.0.0.1:12111/v1" {
		t.Errorf("sandbox base URL = %v, %v", u, err)
	}

	ws, dir := hostsWorkspace(t, "kind: ConnectionOverride\nconnector: desk\nconnectorPatch:\n  hosts: null\n  baseUrl: https://${ connection.parameters.sandbox }/v1\n")
	d = layers.Check(ws)
	if len(d) != 1 || d[0].Rule != "host-policy" || d[0].Pos.File != filepath.Join(dir, "sandbox.yaml") || d[0].Pos.Line != 5 || d[0].Pos.Col != 20 {
		t.Errorf("a host from a parameter without hosts: %v", d)
	}

	ws, _ = hostsWorkspace(t, "kind: ConnectionOverride\nconnector: desk\nconnectorPatch:\n  baseUrl: https://${ connection.parameters.sandbox }.desk.example/v1\n")
	if d := layers.Check(ws); len(d) > 0 {
		t.Fatalf("a subdomain: %v", d)
	}
	rc, _ = layers.ResolveConnector(ws, "desk", ws.Overrides...)
	vars := map[string]any{compile.VarConnection: map[string]any{"parameters": map[string]any{"sandbox": "evil.com/"}}}
	_, err := rc.Compiled.BaseURL.EvalURL(context.Background(), vars)
	var ue *compile.URLError
	if !errors.As(err, &ue) || ue.Layer != layers.Connection || !strings.Contains(ue.Pos.File, "sandbox.yaml") {
		t.Errorf("a parameter naming a host through an override file: %v", err)
	}
}

// TestOverrideFileServers: an override file may point a connector's
// servers at a sandbox as it may its base URL, merged by name, and a
// server it adds from a parameter keeps to the connector's hosts:.
func TestOverrideFileServers(t *testing.T) {
	ws, _ := hostsWorkspace(t, "kind: ConnectionOverride\nconnector: desk\nconnectorPatch:\n  servers: {upload: http://127.0.0.1:12112/up}\n")
	if d := layers.Check(ws); len(d) > 0 {
		t.Fatalf("a sandbox server: %v", d)
	}
	rc, d := layers.ResolveConnector(ws, "desk", ws.Overrides...)
	if d.HasErrors() {
		t.Fatal(d)
	}
	if u, err := rc.Compiled.Servers["upload"].EvalURL(context.Background(), nil); err != nil || u.String() != "http://127.0.0.1:12112/up" {
		t.Errorf("sandbox server = %v, %v", u, err)
	}

	ws, dir := hostsWorkspace(t, "kind: ConnectionOverride\nconnector: desk\nconnectorPatch:\n  servers:\n    upload: https://${ connection.parameters.sandbox }.evil.example/v1\n")
	d = layers.Check(ws)
	if len(d) != 1 || d[0].Rule != "host-policy" || d[0].Pos.File != filepath.Join(dir, "sandbox.yaml") || !strings.Contains(d[0].Message, "servers.upload") {
		t.Errorf("a server off the connector's hosts: %v", d)
	}
}
