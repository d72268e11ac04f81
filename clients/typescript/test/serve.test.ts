// Runs against a real `membrane serve`: `go test ./clients/typescript`
// starts one (see serve_test.go) and sets these variables.
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { importPKCS8 } from "jose";
import {
  createMembraneClient,
  MembraneError,
  ok,
  streamEvents,
  tenantTokenMinter,
  type EventItem,
} from "../src/index.js";

const v = (name: string) => process.env[name] ?? "";
const url = v("MEMBRANE_URL");
const workspace = v("MEMBRANE_WORKSPACE");
const secret = v("MEMBRANE_WORKSPACE_SECRET");
const apiKey = v("MEMBRANE_TEST_API_KEY");
const email = v("MEMBRANE_TEST_EMAIL");
const es256 = v("MEMBRANE_TEST_ES256_KEY");
const skip = url ? false : "no MEMBRANE_URL: run go test ./clients/typescript, which starts membrane serve";

describe("against membrane serve", { skip, timeout: 60_000 }, () => {
  const mint = tenantTokenMinter({ workspace, secret });
  const tenant = "acme";
  const membrane = createMembraneClient({ baseUrl: url, token: () => mint({ tenant, ttlSeconds: 300 }) });
  let connectionId = "";

  test("a backend creates a connection, runs an action and reads the events", async () => {
    // Create a connection with the user's API key: Membrane proves it with
    // the connector's test request before it saves anything.
    const conn = ok(await membrane.POST("/v1/connections", { body: { connector: "crm", credentials: { apiKey } } }));
    assert.match(conn.id, /^conn_/);
    assert.equal(conn.connector, "crm");
    assert.equal(conn.tenant, tenant);
    assert.equal(conn.state, "connected");
    connectionId = conn.id;

    const run = ok(
      await membrane.POST("/v1/connections/{id}/actions/{action}/run", {
        params: { path: { id: conn.id, action: "create-contact" } },
        body: { input: { email, name: "Ada Lovelace" } },
      }),
    );
    assert.match(run.runId, /\S/);
    assert.deepEqual(run.output, { id: "c_1", email });

    // The event log: connection.created is routed in the background, so
    // wait on the stream, which wakes when it is; then the pull has it too.
    const stop = new AbortController();
    let created: EventItem | undefined;
    for await (const ev of streamEvents(membrane, { signal: stop.signal })) {
      if (ev.type === "connection.created" && ev.connection === conn.id) {
        created = ev;
        break;
      }
    }
    stop.abort();
    assert.ok(created, "the stream ended without connection.created");
    assert.equal(created.tenant, tenant);
    assert.equal(created.connector, "crm");
    const page = ok(await membrane.GET("/v1/events", { params: { query: { limit: 100 } } }));
    const pulled = page.items.find((e) => e.id === created!.id);
    assert.deepEqual(pulled, created, "the pulled event differs from the streamed one");
    assert.equal(page.next, page.items.at(-1)!.cursor);
    // Reading on from next finds nothing new.
    const after = ok(await membrane.GET("/v1/events", { params: { query: { after: page.next } } }));
    assert.deepEqual(after.items, []);
  });

  test("a refusal is a typed problem: credentials, input, missing connection", async () => {
    const bad = await membrane.POST("/v1/connections", {
      body: { connector: "crm", credentials: { apiKey: "wrong-key-0123456789" } },
    });
    assert.equal(bad.response.status, 422);
    assert.equal(bad.error?.type, "https://membrane.dev/problems/credentials-refused");

    const invalid = await membrane.POST("/v1/connections/{id}/actions/{action}/run", {
      params: { path: { id: connectionId, action: "create-contact" } },
      body: { input: { name: "no email" } },
    });
    assert.equal(invalid.response.status, 422);
    assert.ok(
      invalid.error?.errors?.some((e) => e.pointer === "/input/email" || e.pointer === "/input"),
      JSON.stringify(invalid.error),
    );

    await assert.rejects(
      async () => ok(await membrane.GET("/v1/connections/{id}", { params: { path: { id: "conn_nope" } } })),
      (err: unknown) => {
        assert.ok(err instanceof MembraneError);
        assert.equal(err.status, 404);
        assert.match(err.message, /^membrane: 404 /);
        return true;
      },
    );
    // The wrong key never reaches an error's text.
    assert.ok(!JSON.stringify(bad.error).includes("wrong-key-0123456789"));
  });

  test("tokens: another workspace's are refused, an admin token administers", async () => {
    const other = createMembraneClient({
      baseUrl: url,
      token: await tenantTokenMinter({ workspace: "another-workspace", secret })({ tenant }),
    });
    const refused = await other.GET("/v1/connections");
    assert.equal(refused.response.status, 401);
    assert.equal(refused.response.headers.get("WWW-Authenticate")?.startsWith("Bearer"), true);

    const tenantOnly = await membrane.GET("/v1/tenants");
    assert.equal(tenantOnly.response.status, 403);
    const admin = createMembraneClient({ baseUrl: url + "/", token: await mint({ tenant: "ops", admin: true }) });
    const tenants = ok(await admin.GET("/v1/tenants"));
    assert.ok(tenants.items.some((t) => t.key === tenant), JSON.stringify(tenants));
  });

  test("an ES256 token signed with a private key the server has the public key of", { skip: !es256 && "no MEMBRANE_TEST_ES256_KEY" }, async () => {
    const privateKey = await importPKCS8(es256, "ES256");
    const es = tenantTokenMinter({ workspace, privateKey, algorithm: "ES256" });
    const client = createMembraneClient({ baseUrl: url, token: () => es({ tenant }) });
    const list = ok(await client.GET("/v1/connections"));
    assert.deepEqual(
      list.items.map((c) => c.id),
      [connectionId],
    );
  });
});
