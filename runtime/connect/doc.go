// Package connect is the connect page: where an app sends its customer (a
// tenant) to connect an account, through the provider's OAuth consent page
// or a form generated from the connector's JSON Schemas.
//
//	GET  /connect?token=<tenant JWT>&connector=<key>&returnUrl=<url>[&connectionId=<id>]
//	     verifies the token, moves it out of the URL into a signed session
//	     cookie and answers 303 to /connect.
//	GET  /connect            the page: a form (parameters, credentials) or a
//	                         button to continue to the provider.
//	POST /connect            the form, with the session's CSRF token: creates
//	                         (or re-authorises) the connection, or starts OAuth.
//	GET  /connect/authorize?link=<signed link>
//	     the link POST /v1/oauth/authorize answers with (link.go): starts
//	     the same session from it and answers 303 to /connect, whose button
//	     continues, once, to the consent URL the API call prepared.
//	GET  /connect/callback   the provider's redirect (state and code, or error).
//	GET  /connect/style.css  the page's only style sheet.
//
// The user ends on returnUrl with `connectionId=<id>`, or with
// `error=<code>&error_description=<text>`; without a returnUrl, on a page
// that says how it went. A returnUrl must be on an allowed origin, so the
// page is never an open redirect.
//
// Nothing here logs or renders a token, a JWT or a credential: secret fields
// are never echoed back into a form, and the API's refusal is shown only as
// the service words it (redacted).
package connect
