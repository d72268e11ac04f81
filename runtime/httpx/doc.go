// Package httpx is the outbound HTTP layer every action request goes
// through: fasthttp underneath, with the context's deadline mapped onto the
// request timeout, retries with backoff and Retry-After, a per-connection
// rate limit, outbound safety checked at dial time, same-origin redirects
// and typed errors. It takes plain Go values; the runtime converts spec
// types (RetryPolicy, HTTPSettings, RateLimit) into Request fields.
//
// What Do returns:
//
//   - a *Response for any HTTP status, error nil: mapping statuses to errors
//     is the connector's error rules' job (StatusError helps callers without
//     rules). A retryable status (429, 5xx) comes back once retries are spent
//     or when the server's Retry-After is longer than the policy allows.
//   - an *Error (Kind network, timeout, too-large, refused-address, redirect,
//     rate-limited, canceled, invalid-request) when no usable response
//     arrived. It never holds request headers, body, path or query.
//
// When a retry is safe: a failure before the connection was established
// (connect refused or timed out, no free connection) and a 429 are retried
// for any method, since the server did not act on the request; a read
// timeout, a reset after sending and a 5xx only for idempotent methods (GET,
// HEAD, OPTIONS, PUT, DELETE), a request with an Idempotency-Key header, or
// a policy with NonIdempotent.
//
// Cancellation: fasthttp has no context. The deadline bounds each exchange
// (DoDeadline); when the context can be canceled, the exchange runs in a
// goroutine and Do returns as soon as the context is done, leaving the
// exchange to finish (within its timeouts) and release its buffers.
package httpx
