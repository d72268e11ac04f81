package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"regexp"
	"runtime/debug"
	"time"

	"github.com/spf13/cobra"

	"github.com/membrane-dev/membrane/layers"
	"github.com/membrane-dev/membrane/runtime/conntest"
	"github.com/membrane-dev/membrane/spec"
	"github.com/membrane-dev/membrane/spec/diag"
)

func newTestCmd() *cobra.Command {
	var (
		format, run string
		verbose     bool
		record      bool
		parallel    int
	)
	cmd := &cobra.Command{
		Use:   "test [DIR]...",
		Short: "Run the ConnectorTest cases of a workspace offline",
		Long: "test loads the workspace under the given directories (the current one by\n" +
			"default) and runs every case of its ConnectorTest files in parallel, with\n" +
			"no network: each request goes to an in-process fake that checks it and\n" +
			"answers with the case's canned responses. It prints each failed case with\n" +
			"its mismatches, then a summary.\n\n" +
			"With --record it runs the selected cases against the real API instead\n" +
			"(credentials written env:NAME are read from the environment) and writes\n" +
			"the responses into the test files, secrets redacted.\n\n" +
			"Exit status: 0 when every case passes, 1 when one fails (or the workspace\n" +
			"has errors), 2 on bad usage or when a file cannot be read.",
		RunE: func(cmd *cobra.Command, args []string) error {
			if format != "text" && format != "junit" {
				return usageError("unknown --format %q; use text or junit", format)
			}
			var filter *regexp.Regexp
			if run != "" {
				re, err := regexp.Compile(run)
				if err != nil {
					return usageError("--run: %v", err)
				}
				filter = re
			}
			if len(args) == 0 {
				args = []string{"."}
			}
			if os.Getenv("GOGC") == "" {
				debug.SetGCPercent(400) // a short process: collect less often
			}
			start := time.Now()
			ws, diags := layers.Load(args...)
			if err := ioTrouble(diags); err != nil {
				return err
			}
			if diags.HasErrors() {
				_ = diag.Write(cmd.ErrOrStderr(), "text", diags)
				return &exitError{code: exitFail, msg: "the workspace has errors; fix them first ('membrane validate' lists them)"}
			}
			cases := conntest.Cases(ws, filter)
			if len(cases) == 0 {
				if len(ws.Tests) == 0 {
					return &exitError{code: exitFail, msg: "no ConnectorTest files here; write one (docs/testing.md) or add one with 'membrane new action'"}
				}
				return &exitError{code: exitFail, msg: fmt.Sprintf("no case matches --run %q", run)}
			}
			ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
			defer stop()
			if record {
				return recordCases(ctx, cmd, ws, cases)
			}
			r := conntest.New(ws, conntest.Options{Parallel: parallel})
			defer r.Close()
			results := r.Run(ctx, cases)
			elapsed := time.Since(start)
			var err error
			if format == "junit" {
				err = conntest.WriteJUnit(cmd.OutOrStdout(), results, elapsed)
			} else {
				err = conntest.WriteText(cmd.OutOrStdout(), results, verbose, elapsed)
			}
			if err != nil {
				return &exitError{code: exitUsage, msg: err.Error()}
			}
			if conntest.Summarize(results).Failed > 0 {
				return &exitError{code: exitFail}
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&format, "format", "text", "output format: text or junit (JUnit XML on stdout, for CI)")
	cmd.Flags().StringVar(&run, "run", "", "run only the cases whose CONNECTOR/ACTION/NAME matches this regular expression")
	cmd.Flags().BoolVarP(&verbose, "verbose", "v", false, "list passed cases too")
	cmd.Flags().BoolVar(&record, "record", false, "run the cases against the real API and write its responses into the test files")
	cmd.Flags().IntVar(&parallel, "parallel", 0, "cases run at once (default GOMAXPROCS)")
	return cmd
}

// recordCases records the cases' responses from the real API into their
// files.
func recordCases(ctx context.Context, cmd *cobra.Command, ws *spec.Workspace, cases []conntest.Case) error {
	rec, err := conntest.Record(ctx, ws, cases, conntest.RecordOptions{Getenv: os.LookupEnv})
	for _, f := range rec {
		fmt.Fprintf(cmd.OutOrStdout(), "recorded %s into %s\n", count(f.Responses, "response"), f.File)
	}
	if err != nil {
		return &exitError{code: exitFail, msg: err.Error()}
	}
	return nil
}

func count(n int, word string) string { return plural(n, word) }
