package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"strings"
	"testing"
)

// TestVersionText: the release version set at link time wins, then the
// module version; the revision is told with its time and local changes.
func TestVersionText(t *testing.T) {
	vcs := []debug.BuildSetting{{Key: "vcs", Value: "git"}, {Key: "vcs.revision", Value: "0123456789abcdef"},
		{Key: "vcs.time", Value: "2026-11-30T10:00:00Z"}, {Key: "vcs.modified", Value: "true"}}
	for _, tc := range []struct {
		release string
		bi      *debug.BuildInfo
		want    string
	}{
		{"", nil, "membrane devel\n" + runtime.Version() + " "},
		{"", &debug.BuildInfo{GoVersion: "go1.27.3", Main: debug.Module{Version: "(devel)"}}, "membrane devel\ngo1.27.3 "},
		{"", &debug.BuildInfo{GoVersion: "go1.27.3", Main: debug.Module{Version: "v0.4.0"}}, "membrane v0.4.0\ngo1.27.3 "},
		{"v1.0.0", &debug.BuildInfo{GoVersion: "go1.27.3", Main: debug.Module{Version: "v0.4.0"}, Settings: vcs},
			"membrane v1.0.0\nrevision 0123456789abcdef (2026-11-30T10:00:00Z), with local changes\ngo1.27.3 "},
		{"", &debug.BuildInfo{GoVersion: "go1.27.3", Settings: vcs[:2]}, "membrane devel\nrevision 0123456789abcdef\ngo1.27.3 "},
	} {
		if got := versionText(tc.release, tc.bi); !strings.HasPrefix(got, tc.want) || !strings.HasSuffix(got, runtime.GOOS+"/"+runtime.GOARCH+"\n") {
			t.Errorf("versionText(%q, %+v) = %q, want it to start %q", tc.release, tc.bi, got, tc.want)
		}
	}
}

// TestVersionCommand: `membrane version` prints this binary's; a release
// built with -ldflags "-X main.version=…" prints that version.
func TestVersionCommand(t *testing.T) {
	code, out, _ := runCLI(t, "version")
	if code != 0 || !strings.HasPrefix(out, "membrane ") || !strings.Contains(out, runtime.Version()) {
		t.Errorf("membrane version: exit %d, %q", code, out)
	}
	if testing.Short() {
		t.Skip("builds the binary")
	}
	bin := filepath.Join(t.TempDir(), "membrane")
	build := exec.Command("go", "build", "-ldflags", "-X main.version=v9.8.7-test", "-o", bin, ".")
	build.Env = append(os.Environ(), "GOFLAGS=-buildvcs=false")
	if b, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, b)
	}
	b, err := exec.Command(bin, "version").Output()
	if err != nil || !strings.HasPrefix(string(b), "membrane v9.8.7-test\n") {
		t.Errorf("the release binary says %q (%v), want membrane v9.8.7-test", b, err)
	}
}
