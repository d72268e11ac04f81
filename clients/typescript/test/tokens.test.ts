import assert from "node:assert/strict";
import { test } from "node:test";
import { decodeJwt, decodeProtectedHeader, jwtVerify } from "jose";
import { mintTenantToken, tenantTokenMinter, validTenantKey } from "../src/index.js";

const secret = "a-workspace-secret-of-at-least-32-bytes!!";

test("a token carries the claims Membrane checks, signed HS256 with the secret's bytes", async () => {
  const before = Math.floor(Date.now() / 1000);
  const tok = await mintTenantToken({ workspace: "acme-app", secret, tenant: "customer-42", ttlSeconds: 900 });
  const { payload, protectedHeader } = await jwtVerify(tok, new TextEncoder().encode(secret), {
    issuer: "acme-app",
    subject: "customer-42",
    algorithms: ["HS256"],
  });
  assert.deepEqual(protectedHeader, { alg: "HS256", typ: "JWT" });
  assert.ok(payload.iat! >= before && payload.iat! <= Math.floor(Date.now() / 1000));
  assert.equal(payload.exp! - payload.iat!, 900);
  assert.match(payload.jti!, /^[A-Za-z0-9_-]{22}$/);
  // Like the Go minter: no isAdmin or name unless they say something.
  assert.deepEqual(Object.keys(payload).sort(), ["exp", "iat", "iss", "jti", "sub"]);
});

test("admin, name, HS512 and a default lifetime of an hour", async () => {
  const mint = tenantTokenMinter({ workspace: "acme-app", secret, algorithm: "HS512" });
  const a = await mint({ tenant: "ops", admin: true, name: "Ops team" });
  const b = await mint({ tenant: "ops", admin: true, name: "Ops team" });
  assert.equal(decodeProtectedHeader(a).alg, "HS512");
  const p = decodeJwt(a);
  assert.equal(p.isAdmin, true);
  assert.equal(p.name, "Ops team");
  assert.equal(p.exp! - p.iat!, 3600);
  assert.notEqual(decodeJwt(b).jti, p.jti, "two tokens minted in one second must differ");
});

test("tenant keys are held to Membrane's alphabet", () => {
  for (const ok of ["acme", "a", "customer-42", "a_b.c:d@e-f", "9".repeat(128)]) {
    assert.ok(validTenantKey(ok), ok);
  }
  for (const bad of ["", "_workspace", "-a", "a b", "a/b", "a?b", "é", "9".repeat(129)]) {
    assert.ok(!validTenantKey(bad), bad);
  }
});

test("bad options are refused, every problem named, the secret never", async () => {
  const short = "too-short-secret";
  assert.throws(
    () => tenantTokenMinter({ workspace: "", secret: short }),
    (err: Error) => {
      assert.ok(err instanceof TypeError);
      assert.match(err.message, /workspace .* is empty/);
      assert.match(err.message, /the secret has 16 bytes; at least 32/);
      assert.ok(!err.message.includes(short), "the error holds the secret");
      return true;
    },
  );
  assert.throws(() => tenantTokenMinter({ workspace: "w", secret, algorithm: "RS256" as "HS256" }), /"RS256" does not go with a secret/);
  const mint = tenantTokenMinter({ workspace: "w", secret });
  await assert.rejects(mint({ tenant: "a b", ttlSeconds: 0 }), (err: Error) => {
    assert.match(err.message, /"a b" is not a valid tenant key/);
    assert.match(err.message, /ttlSeconds 0 is not a whole number of seconds of at least 1/);
    return true;
  });
  await assert.rejects(mint({ tenant: "_workspace" }), /not a valid tenant key/);
});
