// Package oauth connects and keeps alive OAuth2 connections: the
// authorization code grant with PKCE behind a signed, single-use state; the
// client credentials grant; and an engine.Authenticator that refreshes a
// connection's token before it expires, once per connection at a time
// across goroutines and (through TokenStore.WithLock) across replicas.
//
// Token requests are made here, over runtime/httpx, rather than through
// golang.org/x/oauth2: every request then passes the same outbound safety
// checks as the API calls, and this package decides exactly how many token
// requests are sent (x/oauth2's auto-detected client auth may send two), how
// an error response is read (invalid_grant disconnects; 5xx is retryable)
// and that a response body, which holds the tokens, never reaches an error.
package oauth
