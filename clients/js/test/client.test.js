// The TypeScript client (compiled to dist/) against the real binary: commands, channels, the
// change feed resumed across a forced disconnect, the cannot-resume error, snapshot-then-follow,
// consumer groups.

import assert from "node:assert/strict";
import { after, before, test } from "node:test";

import { CannotResumeError, Client, ResponseError } from "../dist/index.js";
import { startServer } from "../../testing/eddy_server.mjs";

let server;
let c;
before(async () => {
  server = await startServer();
  c = await new Client(server.wsUrl).connect();
});
after(async () => {
  await c?.close();
  await server?.stop();
});

const bytes = (...b) => new Uint8Array(b);

/** The next `n` changes of a feed (fails if one does not come within 10 s). */
async function take(feed, n) {
  const out = [];
  while (out.length < n) {
    const ch = await feed.next(10_000);
    assert.ok(ch, `only ${out.length} of ${n} changes arrived`);
    out.push(ch);
  }
  return out;
}

async function until(cond) {
  while (!(await cond())) await new Promise((r) => setTimeout(r, 10));
}

test("commands: replies, binary values, errors, pipelining, EXEC", async () => {
  assert.equal(await c.execute("SET", "js:k", "v"), "OK");
  assert.equal(await c.execute("GET", "js:k"), "v");
  assert.equal(await c.execute("GET", "js:none"), null);
  assert.equal(await c.execute("EXPIRE", "js:k", 60), 1);
  await c.execute("HSET", "js:h", "a", "1");
  assert.deepEqual(await c.execute("HGETALL", "js:h"), { a: "1" });
  const bin = bytes(0, 255, 254, 10);
  await c.execute("SET", bytes(106, 115, 58, 0xff), bin);
  assert.deepEqual(await c.execute("GET", bytes(106, 115, 58, 0xff)), bin);
  await assert.rejects(c.execute("LPUSH", "js:k", "x"), (e) => e instanceof ResponseError && e.code === "WRONGTYPE");
  const replies = await Promise.all(Array.from({ length: 100 }, () => c.execute("INCR", "js:n")));
  assert.deepEqual(replies, Array.from({ length: 100 }, (_, i) => i + 1));
  await c.execute("MULTI");
  await c.execute("INCR", "js:tx");
  await c.execute("LPUSH", "js:k", "x");
  const [one, err] = await c.execute("EXEC");
  assert.equal(one, 1);
  assert.ok(err instanceof ResponseError && err.code === "WRONGTYPE");
});

test("password", async () => {
  const srv = await startServer(["--requirepass", "s3cret"]);
  try {
    const anon = await new Client(srv.wsUrl).connect();
    await assert.rejects(anon.execute("GET", "k"), /NOAUTH/);
    await anon.close();
    const ok = await new Client(srv.wsUrl, { password: "s3cret" }).connect();
    assert.equal(await ok.execute("PING"), "PONG");
    await ok.close();
  } finally {
    await srv.stop();
  }
});

test("channels and patterns, resubscribed after a dropped socket", async () => {
  const sub = await c.subscribe("js:news");
  await sub.psubscribe("js:order:*");
  assert.equal(await c.publish("js:news", "hello"), 1);
  assert.equal(await c.publish("js:order:17", "paid"), 1);
  assert.deepEqual(await sub.next(10_000), { kind: "message", channel: "js:news", data: "hello" });
  assert.deepEqual(await sub.next(10_000), {
    kind: "pmessage", pattern: "js:order:*", channel: "js:order:17", data: "paid",
  });
  sub.abortConnection();
  await until(() => sub.reconnects === 1);
  await until(async () => (await c.execute("PUBSUB", "NUMSUB", "js:news"))[1] === 1);
  assert.equal(await c.publish("js:news", "again"), 1);
  assert.equal((await sub.next(10_000)).data, "again");
  await sub.close();
  assert.equal(await sub.next(), undefined);
});

test("change feed: typed events, filters, images", async () => {
  const feed = await c.follow("latest", { match: "jsf:*", events: ["set", "del"], images: "new" });
  await c.execute("SET", "jsf:a", "paid");
  await c.execute("LPUSH", "jsf:l", "x"); // filtered out
  await c.execute("DEL", "jsf:a");
  const [set, del] = await take(feed, 2);
  assert.equal(set.key, "jsf:a");
  assert.equal(set.event, "set");
  assert.equal(set.change, "insert");
  assert.equal(set.type, "string");
  assert.equal(set.origin, "client");
  assert.equal(set.new, "paid");
  assert.deepEqual(set.args, ["SET", "jsf:a", "paid"]);
  assert.ok(!("old" in set));
  assert.equal(del.event, "del");
  assert.ok(del.offset > set.offset);
  await feed.close();
  const again = await c.follow(`(${set.offset - 1}`, { match: "jsf:*" });
  assert.equal((await take(again, 1))[0].offset, set.offset);
  await again.close();
});

test("change feed: resumes after a forced disconnect, nothing lost or repeated", async () => {
  const feed = await c.follow("latest", { match: "jsr:*" });
  for (let i = 0; i < 5; i++) await c.execute("SET", `jsr:${i}`, i);
  const before = await take(feed, 5);
  feed.abortConnection(); // the socket dies, the server does not
  for (let i = 5; i < 20; i++) await c.execute("SET", `jsr:${i}`, i);
  const after = await take(feed, 15);
  assert.ok(feed.reconnects >= 1);
  assert.deepEqual([...before, ...after].map((ch) => ch.key), Array.from({ length: 20 }, (_, i) => `jsr:${i}`));
  assert.equal(await feed.next(200), undefined);
  await feed.close();
});

test("change feed: resumes after the server kills the connection", async () => {
  const feed = await c.follow("latest", { match: "jsk:*" });
  await c.execute("SET", "jsk:1", "a");
  await take(feed, 1);
  // The feed's connection: the one whose last command was CHANGES SUBSCRIBE (earlier tests'
  // closed feeds may take a moment to leave the list).
  let subs;
  await until(async () => {
    subs = (await c.execute("CLIENT", "LIST")).split("\n").filter((l) => l.includes("cmd=changes|subscribe"));
    return subs.length === 1;
  });
  const id = /id=(\d+)/.exec(subs[0])[1];
  assert.equal(await c.execute("CLIENT", "KILL", "ID", id), 1);
  await c.execute("SET", "jsk:2", "b");
  const [two] = await take(feed, 1);
  assert.equal(two.key, "jsk:2");
  assert.equal(feed.reconnects, 1);
  await feed.close();
});

test("change feed: the server refusing to resume is an error", async () => {
  await assert.rejects(c.follow("earliest", { epoch: "0000not-this-log" }),
    (e) => e instanceof CannotResumeError && e.reason === "EPOCH");
  const feed = await c.follow("latest", { match: "jse:*" });
  feed.epoch = "0000not-this-log"; // as if the log had been replaced while away
  feed.abortConnection();
  await assert.rejects(feed.next(10_000), (e) => e instanceof CannotResumeError && e.reason === "EPOCH");
  await assert.rejects(feed.next(10), CannotResumeError); // stays failed
  await feed.close();
});

test("snapshot, then follow", async () => {
  await c.execute("SET", "jss:1", "one");
  await c.execute("SET", "jss:2", "two", "EX", 100);
  const { snapshot, feed } = await c.snapshotAndFollow({ match: "jss:*", images: "new" });
  const rows = Object.fromEntries(snapshot.entries.map((e) => [e.key, e]));
  assert.equal(rows["jss:1"].value, "one");
  assert.equal(rows["jss:1"].pttl, -1);
  assert.ok(rows["jss:2"].pttl > 0);
  await c.execute("SET", "jss:1", "uno");
  const [ch] = await take(feed, 1);
  assert.equal(ch.new, "uno");
  assert.ok(ch.offset > snapshot.offset);
  await feed.close();
});

test("consumer groups: read, pending, ack, claim, blocking read", async () => {
  const g = c.group("js-billing");
  assert.equal(await g.create("latest", { match: "jsg:*" }), true);
  assert.equal(await g.create("latest", { existOk: true }), false);
  for (let i = 0; i < 3; i++) await c.execute("SET", `jsg:${i}`, i);
  const first = await g.read("w1", { count: 2 });
  assert.deepEqual(first.map((ch) => ch.key), ["jsg:0", "jsg:1"]);
  const rest = await g.read("w2");
  assert.deepEqual(rest.map((ch) => ch.key), ["jsg:2"]);
  assert.deepEqual((await g.pending()).map((p) => [p.offset, p.consumer, p.deliveries]), [
    [first[0].offset, "w1", 1], [first[1].offset, "w1", 1], [rest[0].offset, "w2", 1]]);
  assert.equal(await g.ack(first[0]), 1);
  assert.equal(await g.ack(first[0].offset), 0);
  const claimed = await g.claim("w2", 0, first[1].offset);
  assert.deepEqual(claimed.map((ch) => ch.offset), [first[1].offset]);
  const p = (await g.pending()).find((e) => e.offset === first[1].offset);
  assert.equal(p.consumer, "w2");
  assert.equal(p.deliveries, 2);
  assert.equal(await g.ack(...claimed, rest[0]), 2);
  assert.deepEqual(await g.pending(), []);

  const worker = await new Client(server.wsUrl).connect();
  const reading = worker.group("js-billing").read("w3", { block: 10_000 });
  await until(async () => (await c.execute("INFO", "clients")).includes("blocked_clients:1"));
  await c.execute("SET", "jsg:late", "x");
  assert.deepEqual((await reading).map((ch) => ch.key), ["jsg:late"]);
  await worker.close();
  assert.equal((await g.info()).pending, 1);
  assert.equal(await g.destroy(), true);
});

test("the command connection is reopened once after a drop, for concurrent callers", async () => {
  const own = await new Client(server.wsUrl).connect();
  const first = await own.execute("CLIENT", "ID");
  assert.equal(await c.execute("CLIENT", "KILL", "ID", first), 1);
  await until(async () => !(await own.conn).isOpen); // the client has seen the close
  const ids = await Promise.all(Array.from({ length: 5 }, () => own.execute("CLIENT", "ID")));
  assert.equal(new Set(ids).size, 1);
  assert.notEqual(ids[0], first);
  await own.close();
});
