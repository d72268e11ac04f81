// Signs webhook requests with each vendor's own published code, for the
// tests of runtime/events/verify: they check that Membrane accepts what the
// vendor signs, and refuses it once changed.
//
// stdin: a JSON array of jobs
//   {scheme, secrets: [..], body, url, method, timestamp (Unix seconds), id, params, check}
// stdout: a JSON array, for each job the headers to send.
//
// With check set, the vendor's own verifier (where it publishes one) must
// accept what was signed, so a test cannot pass on a signer used wrongly.
import { createHmac } from "node:crypto";
import { readFileSync } from "node:fs";

// Each vendor's package is loaded when a job needs it: twilio and Bolt take
// seconds to load.
const githubMethods = () => import("@octokit/webhooks-methods");
const standardWebhooks = () => import("standardwebhooks");
// twilio's webhooks module is what its top-level validateRequest and
// getExpectedTwilioSignature are, without its REST client.
const twilioPkg = async () => (await import("twilio/lib/webhooks/webhooks.js")).default;
const hubspotPkg = async () => (await import("@hubspot/api-client")).default;
// Bolt's verify-request module is what @slack/bolt exports as verifySlackRequest.
const boltPkg = async () => (await import("@slack/bolt/dist/receivers/verify-request.js")).default;

const jobs = JSON.parse(readFileSync(0, "utf8"));

function must(ok, what) {
  if (!ok) throw new Error(`the vendor's verifier refuses what was signed: ${what}`);
}

async function signOne(j) {
  const [secret] = j.secrets;
  switch (j.scheme) {
    case "github": {
      const { sign: githubSign, verify: githubVerify } = await githubMethods();
      // @octokit/webhooks-methods is GitHub's own: "sha256=" + hex HMAC-SHA256 of the body.
      const sig = await githubSign(secret, j.body);
      if (j.check) must(await githubVerify(secret, j.body, sig), "github");
      return { "X-Hub-Signature-256": sig };
    }
    case "standardwebhooks": {
      const { Webhook } = await standardWebhooks();
      // One signature per secret, space-separated, as a sender rotating its secret sends them.
      const date = new Date(j.timestamp * 1000);
      const sigs = j.secrets.map((s) => new Webhook(s).sign(j.id, date, j.body));
      const headers = { "webhook-id": j.id, "webhook-timestamp": String(j.timestamp), "webhook-signature": sigs.join(" ") };
      if (j.check) {
        for (const s of j.secrets) new Webhook(s).verify(j.body, headers); // throws when refused
      }
      return headers;
    }
    case "twilio": {
      const twilio = await twilioPkg();
      const sig = twilio.getExpectedTwilioSignature(secret, j.url, j.params);
      if (j.check) must(twilio.validateRequest(secret, sig, j.url, j.params), "twilio");
      return { "X-Twilio-Signature": sig, "Content-Type": "application/x-www-form-urlencoded" };
    }
    case "hubspot": {
      // The v3 signature of HubSpot's own client: base64 HMAC-SHA256 of
      // method + URI + body + timestamp (milliseconds).
      const hubspot = await hubspotPkg();
      const ms = j.timestamp * 1000;
      const opts = { clientSecret: secret, requestBody: j.body, url: j.url, method: j.method, timestamp: ms, signatureVersion: "v3" };
      const sig = hubspot.Signature.getSignature(j.method, "v3", opts);
      if (j.check) must(hubspot.Signature.isValid({ ...opts, signature: sig }), "hubspot");
      return { "X-HubSpot-Signature-v3": sig, "X-HubSpot-Request-Timestamp": String(ms) };
    }
    case "slack": {
      // Slack publishes no signer, only verifiers: this is its documented
      // algorithm (v0= + hex HMAC-SHA256 of "v0:{timestamp}:{body}"), and
      // Bolt's own verifySlackRequest must accept it.
      const ts = String(j.timestamp);
      const sig = "v0=" + createHmac("sha256", secret).update(`v0:${ts}:${j.body}`).digest("hex");
      const headers = { "X-Slack-Signature": sig, "X-Slack-Request-Timestamp": ts };
      if (j.check) {
        const bolt = await boltPkg();
        bolt.verifySlackRequest({
          signingSecret: secret,
          body: j.body,
          headers: { "x-slack-signature": sig, "x-slack-request-timestamp": Number(ts) },
          nowMilliseconds: j.timestamp * 1000,
        });
      }
      return headers;
    }
    case "shopify": {
      // Shopify's documented algorithm (its own package needs a whole app
      // configuration to reach it): base64 HMAC-SHA256 of the raw body.
      const sig = createHmac("sha256", secret).update(j.body, "utf8").digest("base64");
      return { "X-Shopify-Hmac-Sha256": sig };
    }
  }
  throw new Error(`unknown scheme ${j.scheme}`);
}

const out = [];
for (const j of jobs) out.push(await signOne(j));
process.stdout.write(JSON.stringify(out));
