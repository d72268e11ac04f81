package server

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync/atomic"
	"time"

	"github.com/membrane-dev/membrane/runtime/delivery"
	"github.com/membrane-dev/membrane/runtime/store"
	"github.com/membrane-dev/membrane/spec"
)

// DefaultLogRetention is how long delivery attempts and the routed log
// are kept when membrane.yaml's delivery.logRetention does not say.
const DefaultLogRetention = 7 * 24 * time.Hour

// fileDestinations are membrane.yaml's destinations as the store keeps
// them: id file:NAME, source file, no stored secret (the runtime reads
// secretEnv at each delivery).
func fileDestinations(wc *spec.WorkspaceConfig) []store.Destination {
	if wc == nil || wc.Delivery == nil {
		return nil
	}
	out := make([]store.Destination, 0, len(wc.Delivery.Destinations))
	for _, d := range wc.Delivery.Destinations {
		sd := store.Destination{
			ID: spec.DestinationID(d.Name), Source: store.SourceFile, Name: d.Name, Kind: store.DestinationWebhook, URL: d.URL,
			EventTypes: d.Events, Connectors: d.Connectors, Tenants: d.Tenants,
			Concurrency: d.Concurrency, Timeout: d.Timeout.Duration, Status: store.DestinationActive,
		}
		if d.NATS != nil {
			sd.Kind, sd.URL, sd.Subject = store.DestinationNATS, d.NATS.URL, d.NATS.Subject
		}
		out = append(out, sd)
	}
	return out
}

// secretEnvs are the variables of membrane.yaml's webhook destinations,
// by destination name.
func secretEnvs(wc *spec.WorkspaceConfig) map[string]string {
	m := map[string]string{}
	if wc == nil || wc.Delivery == nil {
		return m
	}
	for _, d := range wc.Delivery.Destinations {
		if d.SecretEnv != "" {
			m[d.Name] = d.SecretEnv
		}
	}
	return m
}

// checkDeliverySecrets reports every webhook destination of membrane.yaml
// whose secretEnv is unset or does not hold a whsec_ secret, naming the
// variable and the destination, never the value.
func (c *Config) checkDeliverySecrets(wc *spec.WorkspaceConfig) error {
	if wc == nil || wc.Delivery == nil {
		return nil
	}
	var errs []error
	for _, d := range wc.Delivery.Destinations {
		if d.SecretEnv == "" {
			continue
		}
		if err := c.destinationSecret(wc.File, d.Name, d.SecretEnv); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// destinationSecret checks that env holds a signing secret.
func (c *Config) destinationSecret(file, name, env string) error {
	v, ok := c.lookupEnv(env)
	if !ok || strings.TrimSpace(v) == "" {
		return fmt.Errorf("%s: destination %q signs with the secret in %s, which is not set; export a secret there (make one with `echo whsec_$(openssl rand -base64 32)`) and give the same one to the backend that verifies it", file, name, env)
	}
	if _, err := delivery.SecretKey(v); err != nil {
		var se *delivery.SecretError
		reason := "is not a whsec_ secret"
		if errors.As(err, &se) {
			reason = se.Reason
		}
		return fmt.Errorf("%s: destination %q: the secret in %s %s; a secret is whsec_ and the base64 of at least 24 random bytes (make one with `echo whsec_$(openssl rand -base64 32)`)", file, name, env, reason)
	}
	return nil
}

// deliverySecrets gives the Deliverer a destination's live signing
// secrets: a file destination's from its secretEnv as membrane.yaml says
// now, an API one's as stored (the previous one too while its grace
// period runs).
type deliverySecrets struct {
	cfg  *Config
	envs atomic.Pointer[map[string]string]
	now  func() time.Time
}

func (s *deliverySecrets) set(wc *spec.WorkspaceConfig) {
	m := secretEnvs(wc)
	s.envs.Store(&m)
}

func (s *deliverySecrets) secrets(d *store.Destination) ([]string, error) {
	if d.Source == store.SourceFile {
		env, ok := (*s.envs.Load())[d.Name]
		if !ok {
			return nil, fmt.Errorf("destination %s has no secretEnv in membrane.yaml", d.ID)
		}
		v, ok := s.cfg.lookupEnv(env)
		if !ok || strings.TrimSpace(v) == "" {
			return nil, fmt.Errorf("%s (the secretEnv of destination %q in membrane.yaml) is not set; export the destination's whsec_ secret there and restart", env, d.Name)
		}
		return []string{strings.TrimSpace(v)}, nil
	}
	out := delivery.LiveSecrets(d, s.now())
	if len(out) == 0 {
		return nil, fmt.Errorf("destination %s has no stored secret; rotate it (POST /v1/destinations/%s/rotate-secret)", d.ID, d.ID)
	}
	return out, nil
}

// newDeliverer makes the deliverer with membrane.yaml's delivery settings
// and the server's.
func newDeliverer(cfg Config, st store.Store, wc *spec.WorkspaceConfig, secrets func(*store.Destination) ([]string, error),
	observe func(store.Attempt, store.Outcome), log *slog.Logger) (*delivery.Deliverer, error) {
	dc := delivery.Config{
		Store: st, Secrets: secrets, AllowPrivate: wc.DeliveryAllowPrivate(), Schedule: wc.DeliveryRetry(),
		Lease: cfg.DeliveryLease, Poll: cfg.DeliveryPoll, Logger: log.With("component", "delivery"), Observe: observe,
	}
	if wc != nil && wc.Delivery != nil {
		dc.DisableAfter = wc.Delivery.DisableAfter.Duration
	}
	return delivery.New(dc)
}

// syncDestinations makes the store's file destinations membrane.yaml's.
func syncDestinations(ctx context.Context, st store.Store, wc *spec.WorkspaceConfig) error {
	if err := st.Destinations().Sync(ctx, fileDestinations(wc)); err != nil {
		return fmt.Errorf("storing membrane.yaml's delivery destinations: %w", err)
	}
	return nil
}

// pruneDeliveries deletes, every `every`, the delivery attempts and the
// routed events (all of whose deliveries are finished) older than
// retention, until ctx ends.
func pruneDeliveries(ctx context.Context, st store.Store, retention, every time.Duration, now func() time.Time, log *slog.Logger) {
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		before := now().Add(-retention)
		a, err := st.Deliveries().PruneAttempts(ctx, before)
		if err != nil && ctx.Err() == nil {
			log.Warn("pruning delivery attempts", "error", err)
		}
		l, err := st.Deliveries().PruneLog(ctx, before)
		if err != nil && ctx.Err() == nil {
			log.Warn("pruning the delivery log", "error", err)
		}
		if a > 0 || l > 0 {
			log.Info("pruned the delivery log", "attempts", a, "events", l, "olderThan", before.UTC().Format(time.RFC3339))
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}
