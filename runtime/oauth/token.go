package oauth

import (
	"fmt"
	"log/slog"
	"time"
)

// Token is a connection's OAuth2 token as stored. Its String, GoString and
// LogValue hide the token values, so printing or logging one leaks nothing.
type Token struct {
	AccessToken  string `json:"accessToken"`
	TokenType    string `json:"tokenType,omitempty"`
	RefreshToken string `json:"refreshToken,omitempty"`
	// Expiry is when the access token expires. Zero: the provider did not
	// say, and the token is used until the API answers 401.
	Expiry time.Time `json:"expiry,omitzero"`
	// IssuedAt is when the token was obtained; with Expiry it gives the
	// lifetime that the refresh margin is a share of.
	IssuedAt time.Time `json:"issuedAt,omitzero"`
	Scope    string    `json:"scope,omitempty"`
}

// DefaultRefreshMargin is the most a token is refreshed ahead of its expiry;
// a short-lived one is refreshed 10% of its lifetime ahead.
const DefaultRefreshMargin = 60 * time.Second

// dueAt is when the token should be refreshed; zero when never (no expiry).
func (t *Token) dueAt(maxMargin time.Duration) time.Time {
	if t.Expiry.IsZero() {
		return time.Time{}
	}
	margin := maxMargin
	if !t.IssuedAt.IsZero() {
		// A 5-minute token is refreshed 30 s ahead, not 60 s; one with a
		// 30-second lifetime 3 s ahead, rather than at every request.
		margin = min(margin, t.Expiry.Sub(t.IssuedAt)/10)
	}
	return t.Expiry.Add(-max(margin, 0))
}

// due reports whether the token should be refreshed at now.
func (t *Token) due(now time.Time, maxMargin time.Duration) bool {
	at := t.dueAt(maxMargin)
	return !at.IsZero() && !now.Before(at)
}

func (t *Token) clone() *Token {
	if t == nil {
		return nil
	}
	c := *t
	return &c
}

func (t Token) String() string {
	exp := "none"
	if !t.Expiry.IsZero() {
		exp = t.Expiry.UTC().Format(time.RFC3339)
	}
	return fmt.Sprintf("oauth.Token{access: %s, refresh: %s, expiry: %s}", hidden(t.AccessToken), hidden(t.RefreshToken), exp)
}

func (t Token) GoString() string { return t.String() }

func (t Token) LogValue() slog.Value {
	return slog.GroupValue(
		slog.String("access", hidden(t.AccessToken)),
		slog.String("refresh", hidden(t.RefreshToken)),
		slog.Time("expiry", t.Expiry),
	)
}

func hidden(s string) string {
	if s == "" {
		return "none"
	}
	return "[redacted]"
}
