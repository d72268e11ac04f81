package main

import (
	"fmt"
	"runtime"
	"runtime/debug"
	"strings"

	"github.com/spf13/cobra"
)

// The release's version, source revision and that revision's commit time
// (RFC 3339), set when a release is built (.goreleaser.yaml sets all three):
//
//	go build -ldflags "-X main.version=v1.2.0 -X main.commit=$(git rev-parse HEAD)" ./cmd/membrane
//
// An empty version gives the module version the binary was built from (a
// `go install …@v1.2.0` sets it), else "devel". The revision the Go
// toolchain recorded in the binary, when it recorded one, is given before
// commit and date.
var version, commit, date string

func newVersionCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "Print the version, the source revision and the Go version",
		Long: "version prints the version of this binary, the version control revision\n" +
			"it was built from (when the build recorded one) and the Go toolchain that\n" +
			"built it: what to give in a bug report.",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			bi, _ := debug.ReadBuildInfo()
			fmt.Fprint(cmd.OutOrStdout(), versionText(stamp{version, commit, date}, bi))
			return nil
		},
	}
}

// stamp is what a release build sets at link time.
type stamp struct{ version, commit, date string }

// versionText describes a build: the release version, else the main
// module's; the VCS revision, its time and whether the tree had local
// changes (as the toolchain recorded them, else as stamped); the Go version
// and platform. bi may be nil.
func versionText(s stamp, bi *debug.BuildInfo) string {
	v := s.version
	if v == "" && bi != nil && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
		v = bi.Main.Version
	}
	if v == "" {
		v = "devel"
	}
	var b strings.Builder
	fmt.Fprintf(&b, "membrane %s\n", v)
	goVersion := runtime.Version()
	settings := map[string]string{}
	if bi != nil {
		for _, bs := range bi.Settings {
			settings[bs.Key] = bs.Value
		}
		if bi.GoVersion != "" {
			goVersion = bi.GoVersion
		}
	}
	rev, at, modified := settings["vcs.revision"], settings["vcs.time"], settings["vcs.modified"] == "true"
	if rev == "" {
		rev, at = s.commit, s.date
	}
	if rev != "" {
		fmt.Fprintf(&b, "revision %s", rev)
		if at != "" {
			fmt.Fprintf(&b, " (%s)", at)
		}
		if modified {
			b.WriteString(", with local changes")
		}
		b.WriteString("\n")
	}
	fmt.Fprintf(&b, "%s %s/%s\n", goVersion, runtime.GOOS, runtime.GOARCH)
	return b.String()
}
