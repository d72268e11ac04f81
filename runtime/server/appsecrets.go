package server

import (
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"sync/atomic"

	"github.com/membrane-dev/membrane/spec"
)

// appSecrets gives each connector's app secrets by the names a webhook
// signature's secret reads them as (`app`): membrane.yaml's
// webhookSecrets, and the secret of its OAuth client as clientSecret. The
// variables are read at each use, as the OAuth clients' are; the names
// are those of the membrane.yaml served now.
type appSecrets struct {
	lookup func(string) (string, bool)
	wc     atomic.Pointer[spec.WorkspaceConfig]
}

func (a *appSecrets) set(wc *spec.WorkspaceConfig) { a.wc.Store(wc) }

// of gives a connector's app secrets that are set; a name whose variable
// is not set is left out, so a signature reading it refuses every push.
func (a *appSecrets) of(connector string) map[string]string {
	wc := a.wc.Load()
	if wc == nil {
		return nil
	}
	out := map[string]string{}
	if c, ok := wc.OAuthClients[connector]; ok && c.ClientSecretEnv != "" {
		if v, ok := a.lookup(c.ClientSecretEnv); ok && strings.TrimSpace(v) != "" {
			out[spec.AppClientSecret] = strings.TrimSpace(v)
		}
	}
	for name, env := range wc.WebhookSecrets[connector] {
		if v, ok := a.lookup(env); ok && strings.TrimSpace(v) != "" {
			out[name] = strings.TrimSpace(v)
		}
	}
	return out
}

// checkWebhookSecrets checks that every variable membrane.yaml's
// webhookSecrets names is set: the connector's app-wide webhooks would
// all be refused otherwise.
func (c *Config) checkWebhookSecrets(wc *spec.WorkspaceConfig) error {
	if wc == nil {
		return nil
	}
	var errs []error
	for _, connector := range slices.Sorted(maps.Keys(wc.WebhookSecrets)) {
		names := wc.WebhookSecrets[connector]
		for _, name := range slices.Sorted(maps.Keys(names)) {
			env := names[name]
			if v, ok := c.lookupEnv(env); !ok || strings.TrimSpace(v) == "" {
				errs = append(errs, fmt.Errorf("%s: webhookSecrets.%s.%s names %s, which is not set; export the %s app's secret there (its webhooks are refused until it is) and restart", wc.File, connector, name, env, connector))
			}
		}
	}
	return errors.Join(errs...)
}
