// Command membrane validates, runs and serves Membrane workspaces:
// connectors, universal actions and connection overrides written as YAML.
package main

import (
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/spf13/cobra"
)

// exitError ends the process with a code; the message, if any, has been
// printed or is printed by main.
type exitError struct {
	code int
	msg  string
}

func (e *exitError) Error() string { return e.msg }

// Exit codes shared by every command.
const (
	exitOK    = 0
	exitFail  = 1 // the input has errors, or the run failed
	exitUsage = 2 // bad flags or arguments, or I/O trouble
)

func main() {
	os.Exit(run(os.Args[1:]))
}

func run(args []string) int {
	return execute(args, os.Stdin, os.Stdout, os.Stderr)
}

// execute runs the command line args with the given standard streams and
// returns the exit code; tests call it to capture what a command prints.
func execute(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	root := newRootCmd()
	root.SetArgs(args)
	root.SetIn(stdin)
	root.SetOut(stdout)
	root.SetErr(stderr)
	err := root.Execute()
	if err == nil {
		return exitOK
	}
	var ee *exitError
	if errors.As(err, &ee) {
		if ee.msg != "" {
			fmt.Fprintln(stderr, "membrane:", ee.msg)
		}
		return ee.code
	}
	fmt.Fprintln(stderr, "membrane:", err)
	return exitUsage
}

func newRootCmd() *cobra.Command {
	root := &cobra.Command{
		Use:   "membrane",
		Short: "Membrane connects your software to other apps",
		Long: "Membrane runs connectors, universal actions and connection overrides\n" +
			"written as YAML in your repository: it validates them, runs them\n" +
			"locally and serves them in production.",
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.SetFlagErrorFunc(func(c *cobra.Command, err error) error {
		return &exitError{code: exitUsage, msg: err.Error() + "\nRun '" + c.CommandPath() + " --help' for usage."}
	})
	root.AddCommand(newValidateCmd(), newCatalogCmd(), newSchemaCmd(), newRunCmd(), newPollCmd(), newExplainCmd(), newTokenCmd(), newServeCmd(), newDevCmd(), newRotateKeysCmd(), newEventsCmd(), newTestCmd(), newInitCmd(), newNewCmd(), newVersionCmd())
	return root
}

// usageError reports bad arguments with exit code 2.
func usageError(format string, args ...any) error {
	return &exitError{code: exitUsage, msg: fmt.Sprintf(format, args...)}
}
