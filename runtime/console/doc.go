// Package console is the developer console: a few plain HTML pages where an
// integration author browses the workspace and tries an action from a
// browser, without writing a client.
//
//	GET  /console?token=<admin JWT>   (serve) verifies the token, moves it into
//	                                  a signed cookie, 303 to /console/
//	GET  /console/                    connectors, their actions and events,
//	                                  the diagnostics and the tenants
//	GET  /console/connectors/{c}      a connector merged through its layers
//	GET  /console/connectors/{c}/actions/{a}[?tenant=&connection=]
//	                                  an action (explained), and a form made
//	                                  from its input schema
//	POST /console/connectors/{c}/actions/{a}
//	                                  runs it on a connection: the output and
//	                                  every request and response, redacted
//	GET  /console/connectors/{c}/events/{e}
//	GET  /console/diagnostics         the workspace's diagnostics
//	GET  /console/events              Server-Sent Events: a status each time
//	                                  the development server reloads
//	GET  /console/tenants[/{t}]       tenants; one tenant's connections and
//	                                  recent run logs
//	GET  /console/tenants/{t}/connect?connector=<c>
//	                                  mints a short-lived tenant token and
//	                                  sends the browser to the connect page
//	GET  /console/tenants/{t}/runs/{id}  one run log
//
// Every page works without JavaScript; console.js only listens to
// /console/events and, when the workspace changed, refetches the page and
// swaps in its regions marked data-live. The policy allows scripts from
// the console's own origin only, never inline.
//
// Under `membrane dev` the console is Open (no token; it must listen on
// loopback, and a request for any other host name is refused, against DNS
// rebinding). Under `membrane serve` it takes an admin token. Every POST
// carries the session's CSRF token, and the cookie is SameSite=Strict.
// No page shows a credential: run logs are redacted by the engine, and a
// secret input is never echoed back into the form.
package console
