package server

import (
	"fmt"
	"slices"

	"github.com/membrane-dev/membrane/spec"
)

// oauthClients gives each connector the OAuth application the operator
// registered in membrane.yaml, read from the variables it names. The
// values are read at each use, so rotating a client secret needs only a
// restart of the environment, never an edit of the file.
func oauthClients(wc *spec.WorkspaceConfig, lookup func(string) (string, bool)) func(connector string) (string, string, bool) {
	return func(connector string) (string, string, bool) {
		if wc == nil {
			return "", "", false
		}
		c, ok := wc.OAuthClients[connector]
		if !ok {
			return "", "", false
		}
		id, _ := lookup(c.ClientIDEnv)
		secret, _ := lookup(c.ClientSecretEnv)
		if id == "" {
			return "", "", false
		}
		return id, secret, true
	}
}

// missingOAuthClients says, for each OAuth2 connector that needs the
// operator's OAuth application, what is missing to use it: the server
// starts anyway (other connectors work), and says so once.
func missingOAuthClients(ws *spec.Workspace, lookup func(string) (string, bool)) []string {
	var out []string
	for key, c := range ws.Connectors {
		if c.Auth == nil || c.Auth.Type != spec.AuthOAuth2 || c.Auth.Grant == spec.GrantClientCredentials {
			continue
		}
		var reg spec.OAuthClient
		ok := false
		if ws.Config != nil {
			reg, ok = ws.Config.OAuthClients[key]
		}
		if !ok {
			out = append(out, fmt.Sprintf("connector %s uses OAuth2 but membrane.yaml has no oauthClients.%s; users cannot connect it until you add {clientIdEnv, clientSecretEnv} there", key, key))
			continue
		}
		for _, env := range []string{reg.ClientIDEnv, reg.ClientSecretEnv} {
			if v, set := lookup(env); !set || v == "" {
				out = append(out, fmt.Sprintf("connector %s: %s is not set; users cannot connect it until it holds the OAuth client's value", key, env))
			}
		}
	}
	slices.Sort(out)
	return out
}
