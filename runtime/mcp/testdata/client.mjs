// Drives Membrane's MCP server with the official TypeScript SDK's client,
// for the Go tests (runtime/mcp, cmd/membrane). Each step prints one JSON
// line on stdout; the test reads them, and on {"step":"waiting"} changes
// what the tools are (a connection, a file), then waits for "changed".
//
//   MCP_TRANSPORT=http  MCP_URL=http://127.0.0.1:PORT/v1/mcp MCP_TOKEN=…
//   MCP_TRANSPORT=stdio MCP_COMMAND=/path/membrane MCP_ARGS='["mcp", …]'
//   MCP_CALL='{"name":…,"ok":{…},"error":{…}}' the calls to make
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StdioClientTransport } from "@modelcontextprotocol/sdk/client/stdio.js";
import { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js";
import { ToolListChangedNotificationSchema } from "@modelcontextprotocol/sdk/types.js";

const out = (v) => process.stdout.write(JSON.stringify(v) + "\n");
const env = process.env;

let transport;
if (env.MCP_TRANSPORT === "stdio") {
  transport = new StdioClientTransport({
    command: env.MCP_COMMAND,
    args: JSON.parse(env.MCP_ARGS),
    env: { ...process.env },
    stderr: "inherit",
  });
} else {
  transport = new StreamableHTTPClientTransport(new URL(env.MCP_URL), {
    requestInit: { headers: { Authorization: `Bearer ${env.MCP_TOKEN}` } },
  });
}

const client = new Client({ name: "membrane-ts-test", version: "1.0.0" });
let changed;
const listChanged = new Promise((resolve) => (changed = resolve));
client.setNotificationHandler(ToolListChangedNotificationSchema, () => changed());

try {
  await client.connect(transport);
  const { tools } = await client.listTools();
  out({ step: "tools", tools });
  const call = JSON.parse(env.MCP_CALL);
  out({ step: "ok", result: await client.callTool({ name: call.name, arguments: call.ok }) });
  out({ step: "error", result: await client.callTool({ name: call.name, arguments: call.error }) });
  out({ step: "waiting" });
  await listChanged;
  const after = await client.listTools();
  out({ step: "changed", tools: after.tools });
  await client.close();
} catch (e) {
  out({ step: "failed", error: String(e && e.stack ? e.stack : e) });
  process.exitCode = 1;
  await client.close().catch(() => {});
}
