package server

import "github.com/membrane-dev/membrane/spec"

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
