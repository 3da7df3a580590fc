// The compiled client in a real browser (headless Chromium, its native WebSocket, no `ws`):
// binary values, the change feed resumed after the socket is closed under it, pub/sub. Skipped
// (and said so) when `chromium` is not installed.

import assert from "node:assert/strict";
import { spawn, spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { createServer } from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";

import { startServer } from "../../testing/eddy_server.mjs";

const hasChromium = spawnSync("chromium", ["--version"], { stdio: "ignore" }).status === 0;

// Runs in the page; its report is POSTed back to /result.
const PAGE_SCRIPT = `
import { Client } from "/index.js";
const out = [];
try {
  const c = await new Client(WS_URL).connect();
  await c.execute("SET", "br:k", new Uint8Array([0, 255]));
  const v = await c.execute("GET", "br:k");
  out.push("bytes " + (v instanceof Uint8Array) + " " + Array.from(v));
  const feed = await c.follow("latest", { match: "br:*", images: "new" });
  await c.execute("SET", "br:x", "hello");
  const a = await feed.next(5000);
  out.push("change " + a.key + " " + a.event + " " + a.new);
  feed.abortConnection();
  await c.execute("SET", "br:y", "again");
  const b = await feed.next(5000);
  out.push("resumed " + b.key + " " + (b.offset > a.offset) + " " + feed.reconnects);
  const sub = await c.subscribe("br:news");
  await c.publish("br:news", "hi");
  out.push("message " + (await sub.next(5000)).data);
} catch (e) {
  out.push("ERROR " + e);
}
await fetch("/result", { method: "POST", body: out.join("\\n") });
`;

test("in headless Chromium", { skip: hasChromium ? false : "chromium not installed" }, async () => {
  const eddy = await startServer();
  let report;
  const reported = new Promise((r) => (report = r));
  const http = createServer((req, res) => {
    if (req.url === "/result") {
      let body = "";
      req.on("data", (d) => (body += d));
      req.on("end", () => { res.end(); report(body); });
    } else if (req.url === "/index.js") {
      res.writeHead(200, { "content-type": "text/javascript" });
      res.end(readFileSync(new URL("../dist/index.js", import.meta.url)));
    } else {
      res.writeHead(200, { "content-type": "text/html" });
      const script = PAGE_SCRIPT.replace("WS_URL", JSON.stringify(eddy.wsUrl));
      res.end(`<!doctype html><script type="module">${script}</script>`);
    }
  });
  await new Promise((r) => http.listen(0, "127.0.0.1", r));
  const profile = mkdtempSync(join(tmpdir(), "eddy-chromium-"));
  const browser = spawn("chromium", ["--headless", "--no-sandbox", "--disable-gpu",
    `--user-data-dir=${profile}`, "--remote-debugging-port=0",
    `http://127.0.0.1:${http.address().port}/`], { stdio: "ignore", detached: true });
  let timer;
  try {
    const got = await Promise.race([reported,
      new Promise((r) => (timer = setTimeout(() => r("TIMEOUT: no report from the page"), 30_000)))]);
    assert.equal(got, [
      "bytes true 0,255",
      "change br:x set hello",
      "resumed br:y true 1",
      "message hi",
    ].join("\n"));
  } finally {
    clearTimeout(timer);
    // `chromium` is a wrapper script: kill its whole process group, the browser included.
    const exited = new Promise((r) => browser.once("exit", r));
    try { process.kill(-browser.pid, "SIGKILL"); } catch { browser.kill("SIGKILL"); }
    await exited;
    http.close();
    await eddy.stop();
    rmSync(profile, { recursive: true, force: true, maxRetries: 20, retryDelay: 50 });
  }
});
