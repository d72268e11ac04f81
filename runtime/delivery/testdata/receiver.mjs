// A webhook receiver that checks every delivery with Standard Webhooks' own
// verifier (the standardwebhooks npm package), for the tests of
// runtime/delivery: Membrane's signatures must pass the vendor's code, not
// only Membrane's.
//
// argv[2]: a JSON array of secrets ("whsec_…"). A delivery is accepted
// (204) only when the verifier accepts it with EACH secret on its own, so
// a delivery signed during a rotation proves both signatures. Otherwise
// 401 with the verifier's reason as the body.
//
// stdout: first line "listening <port>", then one JSON line per request:
// {id, ok, reason, body}.
import { createServer } from "node:http";
import { Webhook } from "standardwebhooks";

const secrets = JSON.parse(process.argv[2]);
const hooks = secrets.map((s) => new Webhook(s));

const server = createServer((req, res) => {
  const chunks = [];
  req.on("data", (c) => chunks.push(c));
  req.on("end", () => {
    const body = Buffer.concat(chunks).toString("utf8");
    const headers = {
      "webhook-id": req.headers["webhook-id"] ?? "",
      "webhook-timestamp": req.headers["webhook-timestamp"] ?? "",
      "webhook-signature": req.headers["webhook-signature"] ?? "",
    };
    let ok = true;
    let reason = "";
    hooks.forEach((h, i) => {
      try {
        h.verify(body, headers); // throws when refused
      } catch (e) {
        ok = false;
        reason += `secret ${i}: ${e.message}; `;
      }
    });
    process.stdout.write(JSON.stringify({ id: headers["webhook-id"], ok, reason, body }) + "\n");
    res.writeHead(ok ? 204 : 401, { "content-type": "text/plain" });
    res.end(ok ? "" : reason);
  });
});
server.listen(0, "127.0.0.1", () => {
  process.stdout.write(`listening ${server.address().port}\n`);
});
