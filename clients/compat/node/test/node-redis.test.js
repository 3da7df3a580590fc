// Unchanged node-redis code against Eddy, over RESP2 and RESP3: strings, lists with blocking
// pops, pub/sub, streams with consumer groups, a pipeline, a transaction with WATCH.

import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { createClient, WatchError } from "redis";

import { startServer } from "../../../testing/eddy_server.mjs";

let server;
before(async () => { server = await startServer(); });
after(async () => { await server?.stop(); });

/** Resolves once `cond()` is true, checking each 10 ms (fails the test after 10 s). */
async function until(cond, what) {
  const deadline = Date.now() + 10_000;
  while (!(await cond())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

for (const RESP of [2, 3]) {
  describe(`node-redis RESP${RESP}`, () => {
    let c;
    const open = async () => {
      const client = createClient({ url: `redis://127.0.0.1:${server.port}`, RESP });
      client.on("error", () => {});
      await client.connect();
      return client;
    };
    before(async () => { c = await open(); await c.flushDb(); });
    after(async () => { await c.quit(); });

    test("strings", async () => {
      assert.equal(await c.set("s:greeting", "hello", { EX: 60 }), "OK");
      assert.equal(await c.get("s:greeting"), "hello");
      const ttl = await c.ttl("s:greeting");
      assert.ok(ttl > 0 && ttl <= 60);
      assert.equal(await c.set("s:greeting", "again", { NX: true }), null);
      assert.equal(await c.incr("s:n"), 1);
      assert.equal(await c.incrBy("s:n", 41), 42);
      assert.equal(await c.mSet({ "s:a": "1", "s:b": "2" }), "OK");
      assert.deepEqual(await c.mGet(["s:a", "s:b", "s:none"]), ["1", "2", null]);
      assert.equal(await c.getDel("s:a"), "1");
      await assert.rejects(c.lPush("s:greeting", "x"), /WRONGTYPE/);
    });

    test("lists and blocking pops", async () => {
      assert.equal(await c.rPush("l:q", ["a", "b", "c"]), 3);
      assert.deepEqual(await c.lRange("l:q", 0, -1), ["a", "b", "c"]);
      assert.equal(await c.lPop("l:q"), "a");
      assert.deepEqual(await c.blPop("l:q", 1), { key: "l:q", element: "b" });
      assert.equal(await c.blPop("l:empty", 0.1), null);
      const worker = await open();
      const popped = worker.brPop("l:jobs", 10);
      await until(async () => (await c.info("clients")).includes("blocked_clients:1"), "a blocked client");
      await c.lPush("l:jobs", "job-1");
      assert.deepEqual(await popped, { key: "l:jobs", element: "job-1" });
      await worker.quit();
    });

    test("pub/sub", async (t) => {
      const sub = c.duplicate();
      sub.on("error", () => {});
      await sub.connect();
      t.after(() => sub.isOpen && sub.destroy());
      const got = [];
      let wake;
      const arrived = new Promise((r) => { wake = r; });
      const note = (m) => { got.push(m); if (got.length === 2) wake(); };
      await sub.subscribe("ps:news", (message, channel) => note(["message", channel, message]));
      await sub.pSubscribe("ps:order:*", (message, channel) => note(["pmessage", channel, message]));
      assert.equal(await c.publish("ps:news", "hello"), 1);
      assert.equal(await c.publish("ps:order:17", "paid"), 1);
      await arrived;
      assert.deepEqual(got, [["message", "ps:news", "hello"], ["pmessage", "ps:order:17", "paid"]]);
      assert.deepEqual({ ...(await c.pubSubNumSub("ps:news")) }, { "ps:news": 1 });
      await sub.unsubscribe("ps:news");
      assert.equal(await c.publish("ps:news", "unheard"), 0);
    });

    test("streams with consumer groups", async () => {
      const a = await c.xAdd("st:orders", "*", { id: "1", total: "42" });
      const b = await c.xAdd("st:orders", "*", { id: "2", total: "7" });
      assert.equal(await c.xLen("st:orders"), 2);
      await c.xGroupCreate("st:orders", "billing", "0");
      const got = await c.xReadGroup("billing", "w1", { key: "st:orders", id: ">" }, { COUNT: 10 });
      // node-redis parses the RESP2 reply; under RESP3 it hands back the map as sent.
      const messages = Array.isArray(got)
        ? got[0].messages.map((m) => [m.id, { ...m.message }])
        : got["st:orders"].map(([id, f]) => [id, { [f[0]]: f[1], [f[2]]: f[3] }]);
      assert.deepEqual(messages.map((m) => m[0]), [a, b]);
      assert.deepEqual(messages[0][1], { id: "1", total: "42" });
      assert.equal((await c.xPending("st:orders", "billing")).pending, 2);
      assert.equal(await c.xAck("st:orders", "billing", a), 1);
      assert.equal(await c.xAck("st:orders", "billing", a), 0);
      assert.equal((await c.xPending("st:orders", "billing")).pending, 1);
    });

    test("pipeline", async () => {
      const out = await c.multi().set("p:a", "1").incr("p:a").get("p:a")
        .rPush("p:l", ["x", "y"]).lRange("p:l", 0, -1).execAsPipeline();
      assert.deepEqual(out, ["OK", 2, "2", 2, ["x", "y"]]);
    });

    test("transaction with WATCH", async () => {
      assert.deepEqual(await c.multi().set("t:a", "1").incr("t:a").exec(), ["OK", 2]);
      const other = await open();
      await c.watch("t:a");
      await other.set("t:a", "100"); // breaks the WATCH
      await assert.rejects(c.multi().incr("t:a").exec(), WatchError);
      assert.equal(await c.get("t:a"), "100");
      await c.watch("t:a");
      assert.deepEqual(await c.multi().incr("t:a").exec(), [101]);
      await other.quit();
    });
  });
}
