// Starts oauth2-mock-server (a real OAuth2 authorization server, from npm)
// for the tests of runtime/oauth, and prints its base URL on stdout once it
// listens: that line is the ready signal.
//
// The mock issues tokens but checks little, so this launcher adds, through
// the server's own hooks, what a provider enforces and the tests rely on:
//   - client authentication (HTTP basic or client_id/client_secret in the
//     body), refused with invalid_client;
//   - PKCE on authorization_code (the mock verifies a code_verifier it is
//     given; here one is also required);
//   - refresh tokens that are single-use and revocable: a used, revoked or
//     unknown one gets invalid_grant, as with a provider that rotates them;
//   - a short token lifetime (TOKEN_TTL seconds, default 5), in expires_in
//     and in the JWT's exp;
//   - a unique jti, so two tokens minted in the same second differ.
//
// Control endpoints, for the tests only:
//   GET  /__control/stats   counts of requests to POST /token, by grant, and
//                           the client authentication each one used
//   POST /__control/next    {status?, body?, omit?}: changes the next token
//                           response (queue, one entry per response)
//   POST /__control/config  {ttl?, delayMs?}: lifetime, and a delay before
//                           each token request is handled
//   POST /__control/revoke  revokes every refresh token issued so far
//
// It exits when its stdin closes, so a test that dies leaves nothing behind.
import http from 'node:http';
import { randomUUID } from 'node:crypto';
import { OAuth2Issuer, OAuth2Service } from 'oauth2-mock-server';

const clientId = process.env.CLIENT_ID ?? 'membrane-test';
const clientSecret = process.env.CLIENT_SECRET ?? 'membrane-test-secret';
const cfg = {
  ttl: Number(process.env.TOKEN_TTL ?? 5),
  delayMs: Number(process.env.TOKEN_DELAY_MS ?? 0),
};

const issuer = new OAuth2Issuer();
await issuer.keys.generate('RS256');
const service = new OAuth2Service(issuer);

const stats = { tokenRequests: 0, grants: {}, clientAuth: [] };
const live = new Set(); // refresh tokens issued and not yet used or revoked
const next = []; // overrides of the next token responses

service.on('beforeTokenSigning', (token) => {
  token.payload.exp = token.payload.iat + cfg.ttl;
  token.payload.jti = randomUUID();
});

// Which way the client authenticated, or 'bad' when it did not.
function clientAuth(req) {
  const h = req.headers.authorization ?? '';
  if (h.startsWith('Basic ')) {
    const raw = Buffer.from(h.slice(6), 'base64').toString();
    const i = raw.indexOf(':');
    const id = decodeURIComponent(raw.slice(0, i).replace(/\+/g, ' '));
    const secret = decodeURIComponent(raw.slice(i + 1).replace(/\+/g, ' '));
    return id === clientId && secret === clientSecret ? 'basic' : 'bad';
  }
  const b = req.body ?? {};
  if (b.client_secret !== undefined) {
    return b.client_id === clientId && b.client_secret === clientSecret ? 'body' : 'bad';
  }
  return 'bad';
}

function refuse(resp, status, error, description) {
  resp.statusCode = status;
  resp.body = { error, error_description: description };
}

service.on('beforeResponse', (resp, req) => {
  const body = req.body ?? {};
  const grant = body.grant_type;
  stats.grants[grant] = (stats.grants[grant] ?? 0) + 1;
  const how = clientAuth(req);
  stats.clientAuth.push(how);
  const o = next.shift();
  if (o && o.status !== undefined && o.status >= 300) {
    // A failure stands in for the server's answer: nothing was issued and
    // the refresh token sent stays valid.
    resp.statusCode = o.status;
    resp.body = o.body ?? {};
    return;
  }
  if (how === 'bad') return refuse(resp, 401, 'invalid_client', 'client authentication failed');
  if (grant === 'authorization_code' && !body.code_verifier) {
    return refuse(resp, 400, 'invalid_request', 'PKCE is required: no code_verifier');
  }
  if (grant === 'refresh_token') {
    if (!live.has(body.refresh_token)) {
      return refuse(resp, 400, 'invalid_grant', 'the refresh token is invalid, used or revoked');
    }
    live.delete(body.refresh_token);
  }
  if (resp.statusCode === 200) {
    resp.body.expires_in = cfg.ttl;
    if (resp.body.refresh_token) live.add(resp.body.refresh_token);
  }
  if (o) {
    if (o.status !== undefined) resp.statusCode = o.status;
    if (o.body !== undefined) resp.body = o.body;
    for (const k of o.omit ?? []) delete resp.body[k];
  }
});

async function readJSON(req) {
  let s = '';
  for await (const chunk of req) s += chunk;
  return s ? JSON.parse(s) : {};
}

async function control(path, req, res) {
  const reply = (v) => {
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(JSON.stringify(v));
  };
  switch (`${req.method} ${path}`) {
    case 'GET /__control/stats':
      return reply({ ...stats, liveRefreshTokens: live.size });
    case 'POST /__control/next':
      next.push(await readJSON(req));
      return reply({ queued: next.length });
    case 'POST /__control/config':
      Object.assign(cfg, await readJSON(req));
      return reply(cfg);
    case 'POST /__control/revoke':
      live.clear();
      return reply({});
  }
  res.writeHead(404);
  res.end();
}

const handle = service.requestHandler;
const server = http.createServer(async (req, res) => {
  const path = new URL(req.url, 'http://localhost').pathname;
  if (path.startsWith('/__control/')) return control(path, req, res);
  if (req.method === 'POST' && path === '/token') {
    stats.tokenRequests++;
    if (cfg.delayMs > 0) await new Promise((r) => setTimeout(r, cfg.delayMs));
  }
  handle(req, res);
});

server.listen(0, '127.0.0.1', () => {
  issuer.url = `http://127.0.0.1:${server.address().port}`;
  process.stdout.write(issuer.url + '\n');
});

process.stdin.on('end', () => process.exit(0));
process.stdin.on('close', () => process.exit(0));
process.stdin.resume();
