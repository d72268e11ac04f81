import { MembraneError, type MembraneClient, type Problem } from "./client.js";
import type { components } from "./openapi.js";

/** One event of the log: the envelope a webhook carries, and its cursor. */
export type EventItem = components["schemas"]["EventItem"];

export interface StreamEventsOptions {
  /** Start after this cursor (an item's cursor, or a page's next); the oldest kept event when absent. */
  after?: string;
  /** Admin tokens only: one tenant's events. */
  tenant?: string;
  /** Ends the stream. */
  signal?: AbortSignal;
}

/**
 * streamEvents reads GET /v1/events/stream (Server-Sent Events) and yields
 * each event as it is routed, with its cursor:
 *
 *   for await (const ev of streamEvents(membrane, { after })) { … }
 *
 * It ends when the server ends the stream (the token expired, or the
 * server is shutting down) or options.signal aborts; resume with the last
 * cursor as after. A refusal is thrown as a MembraneError.
 */
export async function* streamEvents(client: MembraneClient, options: StreamEventsOptions = {}): AsyncGenerator<EventItem> {
  const query: { after?: string; tenant?: string } = {};
  if (options.after !== undefined) query.after = options.after;
  if (options.tenant !== undefined) query.tenant = options.tenant;
  const { response, error } = await client.GET("/v1/events/stream", {
    params: { query },
    headers: { Accept: "text/event-stream" },
    parseAs: "stream",
    signal: options.signal,
  });
  if (!response.ok || !response.body) {
    throw new MembraneError(response.status, await problemOf(response, error));
  }
  const lines = response.body.pipeThrough(new TextDecoderStream()).getReader();
  let buf = "";
  let id = "";
  let data: string[] = [];
  try {
    for (;;) {
      const { value, done } = await lines.read();
      if (done) return;
      buf += value;
      let nl: number;
      while ((nl = buf.search(/\r\n|\r|\n/)) >= 0) {
        const line = buf.slice(0, nl);
        buf = buf.slice(nl + (buf.startsWith("\r\n", nl) ? 2 : 1));
        if (line === "") {
          // A blank line ends a message: one event, if it had data.
          if (data.length > 0) {
            yield { ...(JSON.parse(data.join("\n")) as Omit<EventItem, "cursor">), cursor: id };
          }
          data = [];
          continue;
        }
        if (line.startsWith(":")) continue; // a comment: the heartbeat
        const colon = line.indexOf(":");
        const field = colon < 0 ? line : line.slice(0, colon);
        let v = colon < 0 ? "" : line.slice(colon + 1);
        if (v.startsWith(" ")) v = v.slice(1);
        if (field === "id") id = v;
        else if (field === "data") data.push(v);
      }
    }
  } finally {
    await lines.cancel().catch(() => {});
  }
}

async function problemOf(response: Response, error: unknown): Promise<Problem | undefined> {
  // With parseAs "stream", openapi-fetch leaves an error's body unread.
  if (error && typeof error === "object" && "detail" in error) return error as Problem;
  try {
    return (await response.json()) as Problem;
  } catch {
    return undefined;
  }
}
