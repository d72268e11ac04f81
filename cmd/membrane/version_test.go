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
// module version; the revision is told with its time and local changes,
// as the toolchain recorded them, else as the release stamped them.
func TestVersionText(t *testing.T) {
	vcs := []debug.BuildSetting{{Key: "vcs", Value: "git"}, {Key: "vcs.revision", Value: "0123456789abcdef"},
		{Key: "vcs.time", Value: "2026-11-30T10:00:00Z"}, {Key: "vcs.modified", Value: "true"}}
	stamped := stamp{"v1.1.0", "fedcba9876543210", "2026-12-01T09:00:00Z"}
	for _, tc := range []struct {
		stamp stamp
		bi    *debug.BuildInfo
		want  string
	}{
		{stamp{}, nil, "membrane devel\n" + runtime.Version() + " "},
		{stamp{}, &debug.BuildInfo{GoVersion: "go1.27.3", Main: debug.Module{Version: "(devel)"}}, "membrane devel\ngo1.27.3 "},
		{stamp{}, &debug.BuildInfo{GoVersion: "go1.27.3", Main: debug.Module{Version: "v0.4.0"}}, "membrane v0.4.0\ngo1.27.3 "},
		{stamp{version: "v1.0.0"}, &debug.BuildInfo{GoVersion: "go1.27.3", Main: debug.Module{Version: "v0.4.0"}, Settings: vcs},
			"membrane v1.0.0\nrevision 0123456789abcdef (2026-11-30T10:00:00Z), with local changes\ngo1.27.3 "},
		{stamp{}, &debug.BuildInfo{GoVersion: "go1.27.3", Settings: vcs[:2]}, "membrane devel\nrevision 0123456789abcdef\ngo1.27.3 "},
		// A release built without VCS information (-buildvcs=false, or
		// outside the repository): the stamped revision and time.
		{stamped, &debug.BuildInfo{GoVersion: "go1.27.3", Main: debug.Module{Version: "(devel)"}},
			"membrane v1.1.0\nrevision fedcba9876543210 (2026-12-01T09:00:00Z)\ngo1.27.3 "},
		{stamp{commit: "fedcba9876543210"}, nil, "membrane devel\nrevision fedcba9876543210\n" + runtime.Version() + " "},
		// What the toolchain recorded comes first: it also knows of local changes.
		{stamped, &debug.BuildInfo{GoVersion: "go1.27.3", Settings: vcs},
			"membrane v1.1.0\nrevision 0123456789abcdef (2026-11-30T10:00:00Z), with local changes\ngo1.27.3 "},
	} {
		if got := versionText(tc.stamp, tc.bi); !strings.HasPrefix(got, tc.want) || !strings.HasSuffix(got, runtime.GOOS+"/"+runtime.GOARCH+"\n") {
			t.Errorf("versionText(%+v, %+v) = %q, want it to start %q", tc.stamp, tc.bi, got, tc.want)
		}
	}
}

// TestVersionCommand: `membrane version` prints this binary's; a release
// built with the -ldflags .goreleaser.yaml gives ("-X main.version=…
// -X main.commit=… -X main.date=…") and no VCS information prints that
// version and revision.
func TestVersionCommand(t *testing.T) {
	code, out, _ := runCLI(t, "version")
	if code != 0 || !strings.HasPrefix(out, "membrane ") || !strings.Contains(out, runtime.Version()) {
		t.Errorf("membrane version: exit %d, %q", code, out)
	}
	if testing.Short() {
		t.Skip("builds the binary")
	}
	bin := filepath.Join(t.TempDir(), "membrane")
	build := exec.Command("go", "build", "-ldflags",
		"-X main.version=v9.9.9-test -X main.commit=0123456789abcdef0123456789abcdef01234567 -X main.date=2026-12-01T09:00:00Z",
		"-o", bin, ".")
	build.Env = append(os.Environ(), "GOFLAGS=-buildvcs=false")
	if b, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, b)
	}
	b, err := exec.Command(bin, "version").Output()
	want := "membrane v9.9.9-test\nrevision 0123456789abcdef0123456789abcdef01234567 (2026-12-01T09:00:00Z)\n"
	if err != nil || !strings.HasPrefix(string(b), want) {
		t.Errorf("the release binary says %q (%v), want it to start %q", b, err, want)
	}
}
