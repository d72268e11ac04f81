// Package oauth connects and keeps alive OAuth2 connections: the
// authorization code grant with PKCE behind a signed, single-use state; the
// client credentials grant; and an engine.Authenticator that refreshes a
// connection's token before it expires, once per connection at a time
// across goroutines and (through TokenStore.WithLock) across replicas.
//
// The grants' wire format is golang.org/x/oauth2's (and its
// clientcredentials package), driven so that this package still decides
// what matters here: every token request goes over runtime/httpx (an
// *http.Client whose transport is the guarded outbound client, so it passes
// the same safety checks as the API calls); the client authentication is
// the connector's clientAuth, never auto-detected (which may send a second
// request with the secret the other way); a code or refresh token is never
// resent after a failure the server may have seen; invalid_grant on a
// refresh disconnects the connection and 5xx is retryable; and a response
// body, which holds the tokens, never reaches an error. When to refresh,
// who refreshes, and keeping a rotated refresh token are this package's
// own (authenticator.go, manager.go).
package oauth
