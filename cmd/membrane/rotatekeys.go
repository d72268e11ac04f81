package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"

	"github.com/spf13/cobra"

	"github.com/membrane-dev/membrane/runtime/server"
	"github.com/membrane-dev/membrane/runtime/store/crypt"
)

func newRotateKeysCmd() *cobra.Command {
	var cfg server.Config
	cmd := &cobra.Command{
		Use:   "rotate-keys [--dir DIR] [--store DSN]",
		Short: "Re-seal every stored secret with the current encryption key",
		Long: "rotate-keys re-encrypts the credentials, tokens and OAuth states in the\n" +
			"store with the key in " + crypt.EnvKey + ", reading values sealed before\n" +
			"with the old key in " + crypt.EnvKey + "_OLD. Rotate in three steps:\n\n" +
			"  1. deploy every replica with the new key in " + crypt.EnvKey + " and the\n" +
			"     old one in " + crypt.EnvKey + "_OLD (they read both, seal with the new);\n" +
			"  2. run membrane rotate-keys once;\n" +
			"  3. remove " + crypt.EnvKey + "_OLD.\n\n" +
			"It is safe to run twice, and alongside a serving replica.",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
			defer stop()
			log, _ := newLogger(cmd.ErrOrStderr(), "text", "warn")
			st, err := server.OpenStore(ctx, cfg, log)
			if err != nil {
				return &exitError{code: exitFail, msg: err.Error()}
			}
			defer st.Close()
			res, err := st.RotateKeys(ctx)
			if err != nil {
				return &exitError{code: exitFail, msg: err.Error()}
			}
			fmt.Fprintf(cmd.OutOrStdout(), "re-sealed %d connections and %d OAuth states with key %s\n",
				res.Connections, res.States, currentKeyID())
			return nil
		},
	}
	cmd.Flags().StringVar(&cfg.Dir, "dir", ".", "workspace directory (its membrane.yaml names the store)")
	cmd.Flags().StringVar(&cfg.Store, "store", "", "store DSN (default: membrane.yaml's, else DIR/.membrane/membrane.db)")
	return cmd
}

// currentKeyID names the key values are now sealed with, never the key.
func currentKeyID() string {
	k, err := crypt.FromEnv()
	if err != nil || k == nil {
		return "(the development key)"
	}
	return k.CurrentID()
}
