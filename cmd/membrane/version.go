package main

import (
	"fmt"
	"runtime"
	"runtime/debug"
	"strings"

	"github.com/spf13/cobra"
)

// version is the release's version, set when a release is built:
//
//	go build -ldflags "-X main.version=v1.2.0" ./cmd/membrane
//
// Empty, the module version the binary was built from is given (a `go
// install …@v1.2.0` sets it), else "devel".
var version string

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
			fmt.Fprint(cmd.OutOrStdout(), versionText(version, bi))
			return nil
		},
	}
}

// versionText describes a build: the release version, else the main
// module's; the VCS revision, its time and whether the tree had local
// changes; the Go version and platform. bi may be nil.
func versionText(release string, bi *debug.BuildInfo) string {
	v := release
	if v == "" && bi != nil && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
		v = bi.Main.Version
	}
	if v == "" {
		v = "devel"
	}
	var b strings.Builder
	fmt.Fprintf(&b, "membrane %s\n", v)
	goVersion := runtime.Version()
	if bi != nil {
		settings := map[string]string{}
		for _, s := range bi.Settings {
			settings[s.Key] = s.Value
		}
		if rev := settings["vcs.revision"]; rev != "" {
			fmt.Fprintf(&b, "revision %s", rev)
			if t := settings["vcs.time"]; t != "" {
				fmt.Fprintf(&b, " (%s)", t)
			}
			if settings["vcs.modified"] == "true" {
				b.WriteString(", with local changes")
			}
			b.WriteString("\n")
		}
		if bi.GoVersion != "" {
			goVersion = bi.GoVersion
		}
	}
	fmt.Fprintf(&b, "%s %s/%s\n", goVersion, runtime.GOOS, runtime.GOARCH)
	return b.String()
}
