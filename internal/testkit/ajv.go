package testkit

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
)

// ajvDir is schemas/testdata/ajv, where its install.sh puts the
// third-party validators.
func ajvDir() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "..", "..", "schemas", "testdata", "ajv")
}

// Ajv runs a script of schemas/testdata/ajv (strict.mjs, sarif.mjs) on
// node with args and stdin, and returns what it printed and whether it
// exited 0. The script holds Membrane's JSON to third-party validators:
// ajv in its default strict mode, and the SARIF 2.1.0 schema.
func Ajv(t testing.TB, stdin string, script string, args ...string) (stdout, stderr string, ok bool) {
	t.Helper()
	const install = "schemas/testdata/ajv/install.sh"
	dir := ajvDir()
	node, err := exec.LookPath("node")
	if err != nil {
		SkipOrFail(t, "node is not on PATH", install)
	}
	if _, err := os.Stat(filepath.Join(dir, "node_modules", "ajv", "package.json")); err != nil {
		SkipOrFail(t, "ajv is not installed", install)
	}
	cmd := exec.Command(node, append([]string{filepath.Join(dir, script)}, args...)...)
	cmd.Stdin = strings.NewReader(stdin)
	var out, errOut strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &errOut
	err = cmd.Run()
	var exit *exec.ExitError
	if err != nil && !errors.As(err, &exit) {
		t.Fatalf("node %s: %v", script, err)
	}
	return out.String(), errOut.String(), err == nil
}
