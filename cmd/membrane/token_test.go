package main

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/membrane-dev/membrane/runtime/tenancy"
)

const tokenTestSecret = "a-development-secret-of-at-least-32-bytes"

// runTokenCmd runs `membrane token args...` and returns stdout and the error.
func runTokenCmd(t *testing.T, args ...string) (string, error) {
	t.Helper()
	cmd := newTokenCmd()
	var out, errOut bytes.Buffer
	cmd.SetOut(&out)
	cmd.SetErr(&errOut)
	cmd.SetArgs(args)
	cmd.SilenceUsage = true
	cmd.SilenceErrors = true
	err := cmd.Execute()
	return out.String(), err
}

func tokenVerifier(t *testing.T, workspace string) *tenancy.Verifier {
	t.Helper()
	v, err := tenancy.NewVerifier(workspace, tenancy.Keys{HMACSecret: []byte(tokenTestSecret)})
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func TestTokenCmdMints(t *testing.T) {
	t.Setenv(defaultSecretEnv, tokenTestSecret)
	out, err := runTokenCmd(t, "--tenant", "acme", "--name", "Ada")
	if err != nil {
		t.Fatal(err)
	}
	if strings.Count(out, "\n") != 1 || strings.Count(out, ".") != 2 {
		t.Fatalf("stdout is not one token on one line: %q", out)
	}
	c, err := tokenVerifier(t, "default").Verify(strings.TrimSpace(out))
	if err != nil {
		t.Fatal(err)
	}
	if c.Tenant != "acme" || c.Admin || c.Name != "Ada" {
		t.Fatalf("claims %+v", c)
	}
	if d := time.Until(c.ExpiresAt); d < 59*time.Minute || d > time.Hour {
		t.Fatalf("expires in %v, want the 1h default", d)
	}
}

func TestTokenCmdOptions(t *testing.T) {
	t.Setenv("MY_SECRET", tokenTestSecret)
	out, err := runTokenCmd(t, "--tenant", "user@example.com", "--admin", "--ttl", "10m",
		"--secret-env", "MY_SECRET", "--workspace", "staging", "--alg", "hs512")
	if err != nil {
		t.Fatal(err)
	}
	tok := strings.TrimSpace(out)
	c, err := tokenVerifier(t, "staging").Verify(tok)
	if err != nil {
		t.Fatal(err)
	}
	if c.Tenant != "user@example.com" || !c.Admin {
		t.Fatalf("claims %+v", c)
	}
	if d := time.Until(c.ExpiresAt); d > 10*time.Minute {
		t.Fatalf("expires in %v, want 10m", d)
	}
	if _, err := tokenVerifier(t, "default").Verify(tok); err == nil {
		t.Fatal("a staging token verified against workspace default")
	}
}

func TestTokenCmdErrors(t *testing.T) {
	for _, tc := range []struct {
		name string
		env  map[string]string
		args []string
		want string
	}{
		{"secret unset", nil, []string{"--tenant", "acme"}, "MEMBRANE_WORKSPACE_SECRET is not set"},
		{"secret empty", map[string]string{defaultSecretEnv: ""}, []string{"--tenant", "acme"}, "is empty"},
		{"other variable unset", map[string]string{defaultSecretEnv: tokenTestSecret}, []string{"--tenant", "acme", "--secret-env", "NOPE_SECRET"}, "NOPE_SECRET is not set"},
		{"secret too short", map[string]string{defaultSecretEnv: "hunter2"}, []string{"--tenant", "acme"}, "at least 32"},
		{"no tenant", map[string]string{defaultSecretEnv: tokenTestSecret}, nil, "--tenant is required"},
		{"bad tenant", map[string]string{defaultSecretEnv: tokenTestSecret}, []string{"--tenant", "a/b"}, "not a valid tenant key"},
		{"bad ttl", map[string]string{defaultSecretEnv: tokenTestSecret}, []string{"--tenant", "acme", "--ttl", "-1h"}, "--ttl"},
		{"bad alg", map[string]string{defaultSecretEnv: tokenTestSecret}, []string{"--tenant", "acme", "--alg", "none"}, "--alg"},
		{"argument", map[string]string{defaultSecretEnv: tokenTestSecret}, []string{"--tenant", "acme", "extra"}, "unknown command"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Setenv(defaultSecretEnv, "") // restored after the test
			if _, set := tc.env[defaultSecretEnv]; !set {
				unsetenv(t, defaultSecretEnv)
			}
			for k, v := range tc.env {
				t.Setenv(k, v)
			}
			out, err := runTokenCmd(t, tc.args...)
			if err == nil {
				t.Fatalf("no error; stdout %q", out)
			}
			if out != "" {
				t.Errorf("stdout %q, want nothing", out)
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %q, want it to mention %q", err, tc.want)
			}
			if strings.Contains(err.Error(), "hunter2") {
				t.Errorf("error %q quotes the secret", err)
			}
			var ee *exitError
			if tc.name != "argument" && (!errors.As(err, &ee) || ee.code != exitUsage) {
				t.Errorf("error %v is not a usage error (exit %d)", err, exitUsage)
			}
		})
	}
}

// TestTokenCmdNoSecretFlag makes sure the secret cannot be passed as a
// flag, where it would land in shell history.
func TestTokenCmdNoSecretFlag(t *testing.T) {
	for _, name := range []string{"secret", "key", "workspace-secret"} {
		if newTokenCmd().Flags().Lookup(name) != nil {
			t.Errorf("flag --%s exists", name)
		}
	}
}

// unsetenv removes name for the rest of the test. t.Setenv first records
// the old value so that it is restored afterwards.
func unsetenv(t *testing.T, name string) {
	t.Helper()
	t.Setenv(name, "")
	if err := os.Unsetenv(name); err != nil {
		t.Fatal(err)
	}
}

// A token minted in a workspace carries its membrane.yaml key as issuer
// and is signed with the secret its secretEnv names.
func TestTokenUsesWorkspaceConfig(t *testing.T) {
	dir := t.TempDir()
	cfg := "kind: Workspace\nkey: acme-integrations\nsecretEnv: ACME_TOKEN_SECRET\n"
	if err := os.WriteFile(filepath.Join(dir, "membrane.yaml"), []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	secret := "0123456789abcdef0123456789abcdef-acme"
	t.Setenv("ACME_TOKEN_SECRET", secret)
	cmd := newTokenCmd()
	var out strings.Builder
	cmd.SetOut(&out)
	cmd.SetArgs([]string{"--tenant", "t1", "--dir", dir})
	if err := cmd.Execute(); err != nil {
		t.Fatal(err)
	}
	v, err := tenancy.NewVerifier("acme-integrations", tenancy.Keys{HMACSecret: []byte(secret)})
	if err != nil {
		t.Fatal(err)
	}
	claims, err := v.Verify(strings.TrimSpace(out.String()))
	if err != nil {
		t.Fatalf("the workspace's verifier refuses the token: %v", err)
	}
	if claims.Tenant != "t1" {
		t.Errorf("tenant = %q", claims.Tenant)
	}
}

// TestTokenHelpDefaults: each flag states its default once.
func TestTokenHelpDefaults(t *testing.T) {
	_, out, _ := runCLI(t, "token", "--help")
	for _, line := range strings.Split(out, "\n") {
		if strings.Count(line, "(default") > 1 {
			t.Errorf("two defaults: %s", strings.TrimSpace(line))
		}
	}
	for _, want := range []string{"else MEMBRANE_WORKSPACE_SECRET)", "DIR/membrane.yaml, else default)"} {
		if !strings.Contains(out, want) {
			t.Errorf("token --help lacks %q:\n%s", want, out)
		}
	}
}

// TestTokenDefaultsFromWorkspace: without flags or membrane.yaml the token
// is for workspace default, signed with MEMBRANE_WORKSPACE_SECRET; with a
// membrane.yaml, for its key with its secretEnv.
func TestTokenDefaultsFromWorkspace(t *testing.T) {
	t.Setenv(defaultSecretEnv, tokenTestSecret)
	t.Setenv("OTHER_SECRET", strings.Repeat("o", 40))
	out, err := runTokenCmd(t, "--tenant", "acme", "--dir", t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tokenVerifier(t, "default").Verify(strings.TrimSpace(out)); err != nil {
		t.Errorf("no membrane.yaml: %v", err)
	}
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "membrane.yaml"), []byte("kind: Workspace\nkey: staging\nsecretEnv: OTHER_SECRET\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	out, err = runTokenCmd(t, "--tenant", "acme", "--dir", dir)
	if err != nil {
		t.Fatal(err)
	}
	v, _ := tenancy.NewVerifier("staging", tenancy.Keys{HMACSecret: []byte(strings.Repeat("o", 40))})
	if _, err := v.Verify(strings.TrimSpace(out)); err != nil {
		t.Errorf("membrane.yaml's key and secretEnv: %v", err)
	}
}
