package server

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net"
	"net/netip"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/membrane-dev/membrane/runtime/console"
	"github.com/membrane-dev/membrane/runtime/events/schedule"
	"github.com/membrane-dev/membrane/runtime/store"
	"github.com/membrane-dev/membrane/runtime/store/crypt"
	"github.com/membrane-dev/membrane/runtime/tenancy"
	"github.com/membrane-dev/membrane/spec"
)

// Config says what to serve and where. Zero fields take the workspace's
// membrane.yaml, then the defaults.
type Config struct {
	// Dir is the workspace directory: the specs and membrane.yaml.
	Dir string
	// Version is what the server reports itself as to MCP clients;
	// empty is "dev".
	Version string
	// Store is the store DSN. Empty takes membrane.yaml's storeEnv, then
	// its store, then SQLite in DataDir. A relative SQLite path is taken
	// from Dir.
	Store string
	// DataDir keeps what a development server generates (the SQLite
	// database, the development encryption key and workspace secret).
	// Default Dir/.membrane.
	DataDir string
	// Addr is where to listen: default ":8080", or "127.0.0.1:8080"
	// while the workspace secret is a generated development one.
	Addr string
	// PublicURL is the address users and OAuth providers reach this
	// server at (callbacks are under it). Empty takes membrane.yaml's
	// publicUrl, then http://localhost and the port of Addr.
	PublicURL string
	// AllowPrivate lets actions reach private and loopback addresses, on
	// top of what membrane.yaml's outbound opens.
	AllowPrivate bool
	// ShutdownTimeout bounds the wait for runs in flight at shutdown;
	// default 30 s.
	ShutdownTimeout time.Duration
	// ReadHeaderTimeout bounds the wait for a request's headers (default
	// 10 s), ReadBodyTimeout the wait for its body once the handler asks
	// for it (default 30 s), and IdleTimeout how long a kept-alive
	// connection waits for its next request (default 2 min). A client
	// slower than them is cut off: it cannot hold a connection open.
	ReadHeaderTimeout, ReadBodyTimeout, IdleTimeout time.Duration
	// LookupEnv reads the environment; nil is os.LookupEnv.
	LookupEnv func(string) (string, bool)
	// MaintainInterval is how often connections in the error state are
	// retried and tokens refreshed; default 15 s.
	MaintainInterval time.Duration
	// Spec is the workspace to serve, already loaded and checked (a
	// development server's reloader did); nil loads Dir. Its Config is
	// the membrane.yaml used.
	Spec *spec.Workspace
	// OpenConsole serves the console without a token, to loopback clients
	// only: a development server. Otherwise it takes an admin token.
	OpenConsole bool
	// Diagnostics feeds the console the development server's reloads;
	// nil under serve.
	Diagnostics console.Source
	// PollWorkers is how many polls of subscriptions run at once on this
	// server (default 16); PollLease how long a poll holds its
	// subscription's connection before another replica may take it over
	// (default 2 min; renewed while the poll runs, so it bounds how long a
	// dead replica's polls wait, not how long a poll may take).
	PollWorkers int
	PollLease   time.Duration
	// InboxLease is how long the webhook inbox worker holds the payloads
	// it claimed (default 1 min): after a crash, what it held waits this
	// long before it is processed again.
	InboxLease time.Duration
	// Poller runs the polls; nil is the connection service's.
	Poller schedule.Poller
	// DeliveryLease is how long a replica holds the deliveries it claimed
	// (default 2 min, raised to twice the longest destination timeout):
	// after a crash, what it held is sent again after this long.
	// DeliveryPoll is how often the deliverer looks for work made by
	// other replicas or come due (default 1 s); this replica's own wakes
	// it at once.
	DeliveryLease, DeliveryPoll time.Duration
	// MetricsAddr, when set, is where /metrics is served in the
	// Prometheus format: a listener of its own, without a token, for the
	// monitoring network only (see metrics.go for why). ":0" picks a port
	// (MetricsAddr on the Server says which).
	MetricsAddr string
	// DeliveryPruneInterval is how often delivery attempts and routed
	// events older than membrane.yaml's delivery.logRetention are deleted
	// (default 10 min).
	DeliveryPruneInterval time.Duration
}

// DefaultAddr is where the server listens when neither the flag nor the
// config says.
const DefaultAddr = ":8080"

// DevAddr is where a server whose workspace secret is a generated
// development one listens unless told otherwise: this machine only. That
// secret is a file in the data directory, so whoever can read it can mint
// tokens for the server.
const DevAddr = "127.0.0.1:8080"

// PublicKeysEnv holds PEM public keys (RS256, ES256) that tenant tokens may
// be signed with, besides the workspace secret: for a backend that signs
// with a private key held elsewhere.
const PublicKeysEnv = "MEMBRANE_TOKEN_PUBLIC_KEYS"

// DataDir is the directory a development server keeps its state in.
func DataDir(workspaceDir string) string { return filepath.Join(workspaceDir, ".membrane") }

// devSecretFile is the workspace secret a development server generates
// when none is configured.
const devSecretFile = "workspace-secret"

// DevSecretPath is where a development server keeps the workspace secret
// it generated.
func DevSecretPath(dataDir string) string { return filepath.Join(dataDir, devSecretFile) }

func (c *Config) lookupEnv(name string) (string, bool) {
	if c.LookupEnv != nil {
		return c.LookupEnv(name)
	}
	return os.LookupEnv(name)
}

// storeDSN picks the store, says whether it is the embedded one, and
// makes the directory of its SQLite file.
func (c *Config) storeDSN(ws *spec.WorkspaceConfig) (string, bool, error) {
	dsn, path, embedded, err := c.resolveStore(ws)
	if err != nil {
		return "", false, err
	}
	if path != "" && !strings.ContainsAny(path, "?#") {
		if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
			return "", false, fmt.Errorf("creating the store's directory: %w", err)
		}
	}
	return dsn, embedded, nil
}

// resolveStore picks the store: its DSN, the path of its SQLite file (""
// for PostgreSQL) and whether it is the embedded one. It creates nothing.
func (c *Config) resolveStore(ws *spec.WorkspaceConfig) (dsn, path string, embedded bool, err error) {
	dsn = c.Store
	if dsn == "" && ws != nil && ws.StoreEnv != "" {
		v, ok := c.lookupEnv(ws.StoreEnv)
		if !ok || v == "" {
			return "", "", false, fmt.Errorf("%s: storeEnv names %s, which is not set; export the store DSN there or pass --store", ws.File, ws.StoreEnv)
		}
		dsn = v
	}
	if dsn == "" && ws != nil {
		dsn = ws.Store
	}
	inDir := true // a relative path is the workspace's
	if dsn == "" {
		// DataDir is already a path from the working directory (Dir/.membrane).
		dsn, inDir = "sqlite:"+filepath.Join(c.DataDir, "membrane.db"), false
	}
	if strings.HasPrefix(dsn, "postgres://") || strings.HasPrefix(dsn, "postgresql://") {
		return dsn, "", false, nil
	}
	// A relative SQLite path is the workspace's, whatever the working
	// directory of the process.
	path = strings.TrimPrefix(strings.TrimPrefix(dsn, "sqlite://"), "sqlite:")
	if inDir && path != dsn && path != "" && !filepath.IsAbs(path) {
		dsn = "sqlite:" + filepath.Join(c.Dir, path)
		path = filepath.Join(c.Dir, path)
	}
	return dsn, path, true, nil
}

// publicURL is where users and providers reach the server.
func (c *Config) publicURL(ws *spec.WorkspaceConfig) (string, error) {
	u := c.PublicURL
	if u == "" && ws != nil {
		u = ws.PublicURL
	}
	if u == "" {
		port := "8080"
		if i := strings.LastIndexByte(c.Addr, ':'); i >= 0 && c.Addr[i+1:] != "" {
			port = c.Addr[i+1:]
		}
		u = "http://localhost:" + port
	}
	pu, err := url.Parse(u)
	if err != nil || (pu.Scheme != "http" && pu.Scheme != "https") || pu.Host == "" {
		return "", fmt.Errorf("public URL %q is not an absolute http(s) URL; set publicUrl in membrane.yaml or pass --public-url", u)
	}
	return strings.TrimSuffix(u, "/"), nil
}

// secretEnv names the variable that holds the workspace secret.
func secretEnv(ws *spec.WorkspaceConfig) string {
	if ws != nil && ws.SecretEnv != "" {
		return ws.SecretEnv
	}
	return spec.DefaultSecretEnv
}

// listen picks the address to listen on: Addr, else DevAddr while the
// secret is a generated development one (saying so, and how to serve
// other machines), else DefaultAddr.
func (c *Config) listen(ws *spec.WorkspaceConfig, devSecret bool, warn func(string)) {
	env := secretEnv(ws)
	switch {
	case c.Addr == "" && devSecret:
		c.Addr = DevAddr
		warn(fmt.Sprintf("listening on %s only: the workspace secret is a generated development one. "+
			"To serve other machines, set %s to a secret of your own (`openssl rand -base64 48`) and pass --addr :8080.", DevAddr, env))
	case c.Addr == "":
		c.Addr = DefaultAddr
	case devSecret && !loopback(c.Addr):
		warn(fmt.Sprintf("listening on %s with a generated DEVELOPMENT workspace secret: whoever reads %s can mint tokens for this server. Set %s in production.",
			c.Addr, DevSecretPath(c.DataDir), env))
	}
}

// loopback reports an address that only this machine reaches.
func loopback(addr string) bool {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return false
	}
	if host == "localhost" {
		return true
	}
	ip, err := netip.ParseAddr(host)
	return err == nil && ip.IsLoopback()
}

// keys reads what tenant tokens are verified with: the workspace secret
// from its variable, and public keys from PublicKeysEnv. A server on the
// embedded store with no secret configured generates one into DataDir,
// loudly (devSecret is then true); one on PostgreSQL refuses to start,
// since replicas must share the secret.
func (c *Config) keys(ws *spec.WorkspaceConfig, embedded bool, warn func(string)) (k tenancy.Keys, devSecret bool, err error) {
	env := secretEnv(ws)
	if pem, ok := c.lookupEnv(PublicKeysEnv); ok && pem != "" {
		k.PublicKeysPEM = []byte(pem)
	}
	if v, ok := c.lookupEnv(env); ok && v != "" {
		if len(v) < tenancy.MinSecretLen {
			return k, false, fmt.Errorf("%s holds %d bytes; the workspace secret needs at least %d (make one with `openssl rand -base64 48`)", env, len(v), tenancy.MinSecretLen)
		}
		k.HMACSecret = []byte(v)
		return k, false, nil
	}
	if len(k.PublicKeysPEM) > 0 {
		return k, false, nil
	}
	if !embedded {
		return k, false, fmt.Errorf("%s is not set: replicas sharing a store must share the workspace secret (make one with `openssl rand -base64 48`)", env)
	}
	secret, created, err := DevSecret(c.DataDir)
	if err != nil {
		return k, false, err
	}
	if created {
		warn(fmt.Sprintf("%s is not set: generated a DEVELOPMENT workspace secret into %s. Tokens minted with `membrane token --dir %s` work against this server only; set %s in production.",
			env, DevSecretPath(c.DataDir), c.Dir, env))
	}
	k.HMACSecret = secret
	return k, true, nil
}

// DevSecret returns the development workspace secret kept in dataDir,
// creating it when missing (created is then true).
func DevSecret(dataDir string) (secret []byte, created bool, err error) {
	path := DevSecretPath(dataDir)
	b, err := os.ReadFile(path)
	if err == nil {
		s := strings.TrimSpace(string(b))
		if len(s) < tenancy.MinSecretLen {
			return nil, false, fmt.Errorf("%s is shorter than %d bytes; delete it to have a new one generated", path, tenancy.MinSecretLen)
		}
		return []byte(s), false, nil
	}
	if !errors.Is(err, os.ErrNotExist) {
		return nil, false, fmt.Errorf("reading the development workspace secret: %w", err)
	}
	if err := os.MkdirAll(dataDir, 0o700); err != nil {
		return nil, false, fmt.Errorf("creating %s: %w", dataDir, err)
	}
	s := randomSecret()
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if errors.Is(err, os.ErrExist) {
		// Another process made it first: use theirs.
		return DevSecret(dataDir)
	}
	if err != nil {
		return nil, false, fmt.Errorf("writing the development workspace secret: %w", err)
	}
	if _, err := f.WriteString(s + "\n"); err != nil {
		f.Close()
		return nil, false, fmt.Errorf("writing the development workspace secret: %w", err)
	}
	if err := f.Close(); err != nil {
		return nil, false, err
	}
	return []byte(s), true, nil
}

// ReadWorkspaceConfig reads dir/membrane.yaml alone, without the specs:
// for commands that need the workspace key or the store, not the
// connectors. It returns nil, nil when the file does not exist.
func ReadWorkspaceConfig(dir string) (*spec.WorkspaceConfig, error) {
	path := filepath.Join(dir, "membrane.yaml")
	data, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("cannot read %s: %w", path, err)
	}
	els, diags := spec.LoadFile(path, data)
	if diags.HasErrors() {
		return nil, fmt.Errorf("%s has errors; run 'membrane validate':\n%w", path, diags.Err())
	}
	for _, el := range els {
		if c, ok := el.(*spec.WorkspaceConfig); ok {
			return c, nil
		}
	}
	return nil, nil
}

// OpenStore opens (and migrates) the store a server with cfg would use,
// for operator commands such as key rotation.
func OpenStore(ctx context.Context, cfg Config, log *slog.Logger) (store.Store, error) {
	cfg.defaults()
	wc, err := ReadWorkspaceConfig(cfg.Dir)
	if err != nil {
		return nil, err
	}
	dsn, _, err := cfg.storeDSN(wc)
	if err != nil {
		return nil, err
	}
	return openStore(ctx, dsn, log)
}

// OpenStoreToRead opens the store a server with cfg would use, for a
// command that only reads it (explain): it creates no store, directory or
// development key, and leaves the development key's warning to the
// commands that seal secrets with it (dev, serve).
func OpenStoreToRead(ctx context.Context, cfg Config, log *slog.Logger) (store.Store, error) {
	cfg.defaults()
	wc, err := ReadWorkspaceConfig(cfg.Dir)
	if err != nil {
		return nil, err
	}
	dsn, path, embedded, err := cfg.resolveStore(wc)
	if err != nil {
		return nil, err
	}
	if !embedded {
		return openStore(ctx, dsn, log) // PostgreSQL: the keys are the environment's
	}
	file, _, _ := strings.Cut(path, "?")
	if _, err := os.Stat(file); err != nil {
		return nil, fmt.Errorf("no store at %s: nothing is stored for this workspace yet (membrane dev and serve keep it there), or pass --store", file)
	}
	keys, err := crypt.FromEnv()
	if err != nil {
		return nil, err
	}
	if keys == nil {
		if keys, err = crypt.ReadDevKeyring(filepath.Dir(file)); err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				return nil, fmt.Errorf("%s is not set and %s holds no development key: set it to the key the server seals secrets with", crypt.EnvKey, filepath.Dir(file))
			}
			return nil, err
		}
	}
	return store.Open(ctx, dsn, store.WithKeyring(keys), store.WithLogger(log))
}

func (c *Config) defaults() {
	if c.Dir == "" {
		c.Dir = "."
	}
	if c.DataDir == "" {
		c.DataDir = DataDir(c.Dir)
	}
	if c.ShutdownTimeout <= 0 {
		c.ShutdownTimeout = 30 * time.Second
	}
	if c.ReadHeaderTimeout <= 0 {
		c.ReadHeaderTimeout = 10 * time.Second
	}
	if c.ReadBodyTimeout <= 0 {
		c.ReadBodyTimeout = 30 * time.Second
	}
	if c.IdleTimeout <= 0 {
		c.IdleTimeout = 2 * time.Minute
	}
	if c.DeliveryPruneInterval <= 0 {
		c.DeliveryPruneInterval = 10 * time.Minute
	}
}

// openStore opens the store at dsn. A development encryption key, if one
// is needed, lives beside the SQLite file it seals (the store's default).
func openStore(ctx context.Context, dsn string, log *slog.Logger, opts ...store.Option) (store.Store, error) {
	return store.Open(ctx, dsn, append([]store.Option{store.WithLogger(log)}, opts...)...)
}
