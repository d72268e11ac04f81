// Package web is what the server's HTML pages (the connect page and the
// console) share: values signed with HMAC-SHA256 and an expiry (session
// cookies, links), CSRF tokens for their forms, the security headers every
// response carries, and rendering a page from its templates.
//
// Each page keeps its deliberate differences as options, with the reason
// next to them where it sets them: the cookie's SameSite mode, the
// Referrer-Policy, and what the Content-Security-Policy allows. What is
// the same for both (how a value is signed and checked, the token's
// comparison in constant time, no caching, no framing, no sniffing) is
// written here once.
package web
