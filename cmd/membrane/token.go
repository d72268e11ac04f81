package main

import (
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/membrane-dev/membrane/runtime/server"
	"github.com/membrane-dev/membrane/runtime/tenancy"
	"github.com/membrane-dev/membrane/spec"
)

// defaultSecretEnv is where `membrane token` (and the server) find the
// workspace secret.
const defaultSecretEnv = spec.DefaultSecretEnv

func newTokenCmd() *cobra.Command {
	var (
		tenant, name, secretEnv, workspace, alg, dir string
		admin                                        bool
		ttl                                          time.Duration
	)
	cmd := &cobra.Command{
		Use:   "token --tenant KEY",
		Short: "Mint a tenant token for development",
		Long: "token prints a JWT for one tenant, signed with the workspace secret,\n" +
			"for trying the API with curl or the SDK:\n\n" +
			"  curl -H \"Authorization: Bearer $(membrane token --tenant acme)\" ...\n\n" +
			"The secret is read from an environment variable (--secret-env, default\n" +
			defaultSecretEnv + "), never from a flag, so it stays out of shell\n" +
			"history and process listings. In production your backend mints tokens\n" +
			"itself with the same secret.\n\n" +
			"Exit status: 0 with the token alone on stdout, 2 on bad usage or when\n" +
			"the secret is missing.",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if tenant == "" {
				return usageError("--tenant is required")
			}
			if !tenancy.ValidTenantKey(tenant) {
				return usageError("--tenant %q is not a valid tenant key: letters, digits and _ . : @ -, starting with a letter or digit, at most %d characters", tenant, tenancy.MaxTenantKeyLen)
			}
			if ttl <= 0 {
				return usageError("--ttl must be positive, like 15m or 24h")
			}
			if err := fromWorkspaceConfig(cmd, dir, &workspace, &secretEnv); err != nil {
				return err
			}
			// The defaults when neither the flags nor membrane.yaml say; the
			// flags' own defaults are empty so that help shows one default.
			if workspace == "" && !cmd.Flags().Changed("workspace") {
				workspace = "default"
			}
			if secretEnv == "" && !cmd.Flags().Changed("secret-env") {
				secretEnv = defaultSecretEnv
			}
			var opts []tenancy.MinterOption
			switch strings.ToUpper(alg) {
			case "HS256":
			case "HS512":
				opts = append(opts, tenancy.WithHS512())
			default:
				return usageError("unknown --alg %q; use HS256 or HS512", alg)
			}
			secret, err := readSecret(secretEnv)
			if err != nil {
				// A development server on SQLite generated a secret into the
				// workspace's data directory when none was set.
				dev := server.DevSecretPath(server.DataDir(dir))
				if _, statErr := os.Stat(dev); statErr != nil {
					return err
				}
				if secret, _, err = server.DevSecret(server.DataDir(dir)); err != nil {
					return usageError("%v", err)
				}
				fmt.Fprintf(cmd.ErrOrStderr(), "membrane: %s is not set; using the development secret in %s\n", secretEnv, dev)
			}
			m, err := tenancy.NewMinter(workspace, secret, opts...)
			if err != nil {
				return usageError("%s: %v", secretEnv, strings.TrimPrefix(err.Error(), "tenancy: "))
			}
			tok, err := m.Mint(tenancy.Claims{Tenant: tenant, Admin: admin, Name: name}, ttl)
			if err != nil {
				return &exitError{code: exitFail, msg: err.Error()}
			}
			fmt.Fprintln(cmd.OutOrStdout(), tok)
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&tenant, "tenant", "", "tenant key the token is for (required)")
	f.BoolVar(&admin, "admin", false, "make an admin token (isAdmin: true)")
	f.StringVar(&name, "name", "", "display name to put in the token")
	f.DurationVar(&ttl, "ttl", time.Hour, "lifetime of the token")
	f.StringVar(&secretEnv, "secret-env", "", "environment variable holding the workspace secret (default: DIR/membrane.yaml's secretEnv, else "+defaultSecretEnv+")")
	f.StringVar(&workspace, "workspace", "", "workspace key, the token's issuer (default: the key in DIR/membrane.yaml, else default)")
	f.StringVar(&dir, "dir", ".", "workspace directory whose membrane.yaml gives the key and secretEnv")
	f.StringVar(&alg, "alg", "HS256", "signing algorithm: HS256 or HS512")
	return cmd
}

// readSecret reads the workspace secret from the environment variable
// name. The secret never appears in an error message.
func readSecret(name string) ([]byte, error) {
	if name == "" {
		return nil, usageError("--secret-env is empty; name the environment variable that holds the workspace secret")
	}
	v, ok := os.LookupEnv(name)
	switch {
	case !ok:
		return nil, usageError("environment variable %s is not set; export the workspace secret (at least %d random bytes, e.g. from 'openssl rand -base64 48') there, or name another variable with --secret-env", name, tenancy.MinSecretLen)
	case v == "":
		return nil, usageError("environment variable %s is empty; it must hold the workspace secret", name)
	}
	return []byte(v), nil
}

// fromWorkspaceConfig takes the workspace key and secret variable from
// DIR/membrane.yaml where the flags leave them unset, so a token minted in
// a workspace is one its server accepts.
func fromWorkspaceConfig(cmd *cobra.Command, dir string, workspace, secretEnv *string) error {
	c, err := server.ReadWorkspaceConfig(dir)
	if err != nil {
		return usageError("%v", err)
	}
	if c == nil {
		return nil
	}
	if !cmd.Flags().Changed("workspace") {
		*workspace = c.Key
	}
	if !cmd.Flags().Changed("secret-env") && c.SecretEnv != "" {
		*secretEnv = c.SecretEnv
	}
	return nil
}
