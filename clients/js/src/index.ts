/**
 * Eddy over WebSocket (docs/websocket.md) for browsers and Node: commands, pub/sub, the change
 * feed with automatic resume, consumer groups. JSON text frames; bytes that are not UTF-8 travel
 * as `{"$base64": ...}` and come back as `Uint8Array`.
 *
 * Browsers and Node ≥ 22 use the global `WebSocket`; on older Node the `ws` package is loaded
 * when present (or pass `WebSocket` in the options).
 */

/** A command argument: text (sent as UTF-8), bytes, or a number (sent as its text). */
export type Arg = string | number | Uint8Array;

/** A reply value, with its RESP3 type (docs/websocket.md, "Values"). */
export type Value =
  | string
  | number
  | boolean
  | null
  | Uint8Array
  | ResponseError
  | Value[]
  | { [key: string]: Value };

/** The server answered with an error line (`ERR ...`, `WRONGTYPE ...`). */
export class ResponseError extends Error {
  /** The first word of the line: `ERR`, `WRONGTYPE`, `NOAUTH`, ... */
  readonly code: string;
  constructor(message: string) {
    super(message);
    this.name = "ResponseError";
    this.code = message.split(" ", 1)[0];
  }
}

/** The connection closed (or could not open) before a reply came. */
export class ConnectionLostError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "ConnectionLostError";
  }
}

/**
 * The change feed cannot continue without a gap: the log's history changed (`reason` EPOCH) or
 * it no longer holds the next offset (`reason` TRIMMED, `earliest` is the oldest it holds).
 * Start again from a snapshot.
 */
export class CannotResumeError extends Error {
  readonly reason: "EPOCH" | "TRIMMED";
  readonly earliest?: number;
  constructor(message: string) {
    super(message);
    this.name = "CannotResumeError";
    this.reason = message.startsWith("ERR EPOCH ") ? "EPOCH" : "TRIMMED";
    const m = /earliest available offset is (\d+)/.exec(message);
    if (m) this.earliest = Number(m[1]);
  }
  static matches(message: string): boolean {
    return message.startsWith("ERR EPOCH ") || message.startsWith("ERR TRIMMED ");
  }
}

/** One record of the change log (docs/changes.md, "The event"). */
export interface Change {
  offset: number;
  ts: number;
  db: number;
  key: string | Uint8Array;
  type: string;
  event: string;
  change: string;
  origin: string;
  args: (string | Uint8Array)[];
  /** Present only with images, when known (a missing image never means an empty value). */
  old?: Value;
  new?: Value;
  tx: number;
  txN: number;
  client: number;
}

/** A pub/sub message (`pattern` for `pmessage`). */
export interface Message {
  kind: "message" | "pmessage" | "smessage";
  channel: string | Uint8Array;
  data: string | Uint8Array;
  pattern?: string | Uint8Array;
}

export interface PendingEntry {
  offset: number;
  consumer: string;
  idleMs: number;
  deliveries: number;
}

export interface SnapshotEntry {
  db: number;
  key: string | Uint8Array;
  type: string;
  value: string | Uint8Array;
  pttl: number;
}

export interface Snapshot {
  offset: number;
  epoch: string;
  entries: SnapshotEntry[];
}

/** `MATCH` / `EVENTS` / `TYPE` / `DB` of a change-feed command. */
export interface Filter {
  match?: string;
  events?: string[];
  types?: string[];
  db?: number;
}

export interface FollowOptions extends Filter {
  images?: "keys" | "new" | "old" | "both";
  /** The log's epoch the start offset belongs to (default: the current one). */
  epoch?: string;
  /** Reconnect and resume after a drop (default true); false: the feed fails instead. */
  resume?: boolean;
}

export interface ReconnectPolicy {
  /** First delay in ms (default 50), doubled up to `capMs` (default 2000). */
  firstMs?: number;
  capMs?: number;
  /** Tries per outage (default: unbounded). */
  attempts?: number;
}

type WebSocketCtor = new (url: string) => WebSocket;

export interface ClientOptions {
  password?: string;
  username?: string;
  reconnect?: ReconnectPolicy;
  /** A WebSocket implementation (default: the global one, else the `ws` package). */
  WebSocket?: WebSocketCtor;
}

/** A start position: `earliest`, `latest`, an offset, `(<offset>` (after it), `@<unix-ms>`. */
export type Start = string | number;

// ---------------------------------------------------------------------------------------------
// Values
// ---------------------------------------------------------------------------------------------

function toBase64(b: Uint8Array): string {
  let s = "";
  for (let i = 0; i < b.length; i += 0x8000) {
    s += String.fromCharCode(...b.subarray(i, i + 0x8000));
  }
  return btoa(s);
}

function fromBase64(s: string): Uint8Array {
  const bin = atob(s);
  const out = new Uint8Array(bin.length);
  for (let i = 0; i < bin.length; i++) out[i] = bin.charCodeAt(i);
  return out;
}

function encodeArg(a: Arg): unknown {
  if (a instanceof Uint8Array) return { $base64: toBase64(a) };
  if (typeof a === "number") return String(a);
  if (typeof a === "string") return a;
  throw new TypeError(`cannot send ${typeof a} as a command argument`);
}

/** Decodes `$base64`, `$error` and `$map` (a map with keys that are not text). */
function decodeValue(v: unknown): Value {
  if (Array.isArray(v)) return v.map(decodeValue);
  if (v !== null && typeof v === "object") {
    const o = v as Record<string, unknown>;
    const keys = Object.keys(o);
    if (keys.length === 1) {
      if (keys[0] === "$base64") return fromBase64(String(o.$base64));
      if (keys[0] === "$error") return new ResponseError(String(o.$error));
      if (keys[0] === "$map") return (o.$map as unknown[]).map(decodeValue);
    }
    const out: { [key: string]: Value } = {};
    for (const k of keys) out[k] = decodeValue(o[k]);
    return out;
  }
  return v as Value;
}

function toChange(ev: Value): Change {
  let m = ev as { [key: string]: Value };
  if (Array.isArray(ev)) {
    m = {};
    for (let i = 0; i + 1 < ev.length; i += 2) m[String(ev[i])] = ev[i + 1];
  }
  const ch: Change = {
    offset: Number(m.offset),
    ts: Number(m.ts ?? 0),
    db: Number(m.db ?? 0),
    key: (m.key ?? "") as string | Uint8Array,
    type: String(m.type ?? ""),
    event: String(m.event ?? ""),
    change: String(m.change ?? ""),
    origin: String(m.origin ?? ""),
    args: (m.args ?? []) as (string | Uint8Array)[],
    tx: Number(m.tx ?? 0),
    txN: Number(m["tx-n"] ?? 0),
    client: typeof m.client === "number" ? m.client : 0,
  };
  if ("old" in m) ch.old = m.old;
  if ("new" in m) ch.new = m.new;
  return ch;
}

function toChanges(reply: Value): Change[] {
  return Array.isArray(reply) ? reply.map(toChange) : [];
}

export function filterArgs(f: Filter = {}): Arg[] {
  const out: Arg[] = [];
  if (f.match !== undefined) out.push("MATCH", f.match);
  if (f.events?.length) out.push("EVENTS", f.events.join(","));
  if (f.types?.length) out.push("TYPE", f.types.join(","));
  if (f.db !== undefined) out.push("DB", f.db);
  return out;
}

// ---------------------------------------------------------------------------------------------
// Connection
// ---------------------------------------------------------------------------------------------

let defaultCtor: Promise<WebSocketCtor> | undefined;

function webSocketCtor(given?: WebSocketCtor): Promise<WebSocketCtor> {
  if (given) return Promise.resolve(given);
  const g = (globalThis as { WebSocket?: WebSocketCtor }).WebSocket;
  if (g) return Promise.resolve(g);
  const name = "ws"; // not a static import: browsers and bundlers never load it
  defaultCtor ??= import(name).then(
    (m: { default: WebSocketCtor }) => m.default,
    () => {
      throw new Error("no WebSocket: use Node >= 22, install the `ws` package, or pass WebSocket");
    },
  );
  return defaultCtor;
}

type PushHandler = (push: Value[]) => void;

interface Pending {
  ok: (v: Value) => void;
  fail: (e: Error) => void;
}

/** One WebSocket: requests matched to replies by id; pushes to `onPush`. */
export class Connection {
  private nextId = 1;
  private pending = new Map<number, Pending>();
  private isClosed = false;
  /** Resolves when the socket has closed. */
  readonly closed: Promise<void>;

  private constructor(
    private ws: WebSocket,
    private onPush?: PushHandler,
  ) {
    let done!: () => void;
    this.closed = new Promise((r) => (done = r));
    ws.onmessage = (e: MessageEvent) => this.receive(e.data);
    ws.onclose = () => {
      this.isClosed = true;
      this.failAll(new ConnectionLostError("connection closed before the reply"));
      done();
    };
  }

  static async open(url: string, opts: ClientOptions = {}, onPush?: PushHandler): Promise<Connection> {
    const Ctor = await webSocketCtor(opts.WebSocket);
    const ws = new Ctor(url);
    await new Promise<void>((ok, fail) => {
      ws.onopen = () => ok();
      ws.onerror = () => fail(new ConnectionLostError(`cannot connect to ${url}`));
      ws.onclose = () => fail(new ConnectionLostError(`cannot connect to ${url}`));
    });
    ws.onerror = () => {};
    const conn = new Connection(ws, onPush);
    if (opts.password !== undefined) {
      try {
        await (opts.username !== undefined
          ? conn.call("AUTH", opts.username, opts.password)
          : conn.call("AUTH", opts.password));
      } catch (e) {
        conn.close();
        throw e;
      }
    }
    return conn;
  }

  get isOpen(): boolean {
    return !this.isClosed;
  }

  /** Sends one command and resolves with its reply (rejects with ResponseError). */
  call(...args: Arg[]): Promise<Value> {
    if (args.length === 0) return Promise.reject(new TypeError("a command needs its name"));
    if (this.isClosed) return Promise.reject(new ConnectionLostError("the connection is closed"));
    const id = this.nextId++;
    const p = new Promise<Value>((ok, fail) => this.pending.set(id, { ok, fail }));
    this.ws.send(JSON.stringify({ id, cmd: args.map(encodeArg) }));
    return p;
  }

  private receive(data: unknown): void {
    if (typeof data !== "string") {
      // `ws` hands text frames over as Buffer/ArrayBuffer unless told otherwise.
      data = new TextDecoder().decode(data as ArrayBuffer);
    }
    const m = JSON.parse(data as string) as { id?: number; reply?: unknown; error?: string; push?: unknown[] };
    if (m.push) {
      this.onPush?.(decodeValue(m.push) as Value[]);
      return;
    }
    const p = this.pending.get(m.id as number);
    if (!p) return;
    this.pending.delete(m.id as number);
    if (m.error !== undefined) p.fail(new ResponseError(m.error));
    else p.ok(decodeValue(m.reply));
  }

  private failAll(e: Error): void {
    const all = [...this.pending.values()];
    this.pending.clear();
    for (const p of all) p.fail(e);
  }

  close(): Promise<void> {
    this.ws.close();
    return this.closed;
  }

  /** Drops the connection as a network failure would (`ws`'s terminate; else a close). */
  abort(): void {
    const t = (this.ws as unknown as { terminate?: () => void }).terminate;
    if (t) t.call(this.ws);
    else this.ws.close();
  }
}

// ---------------------------------------------------------------------------------------------
// Client
// ---------------------------------------------------------------------------------------------

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * A client: `execute` runs commands on one shared connection (reopened on the next call after a
 * drop; concurrent calls are pipelined). Subscriptions and feeds get connections of their own.
 */
export class Client {
  private conn?: Promise<Connection>;

  constructor(
    readonly url = "ws://127.0.0.1:8379/ws",
    readonly options: ClientOptions = {},
  ) {}

  /** Opens a new connection with this client's URL and credentials. */
  openConnection(onPush?: PushHandler): Promise<Connection> {
    return Connection.open(this.url, this.options, onPush);
  }

  private async commandConn(): Promise<Connection> {
    const p = this.conn;
    const current = p && (await p.catch(() => undefined));
    if (current?.isOpen) return current;
    // Concurrent callers that found the same dead connection share one new connection.
    if (this.conn === p) this.conn = this.openConnection();
    return this.conn as Promise<Connection>;
  }

  async connect(): Promise<this> {
    await this.commandConn();
    return this;
  }

  async close(): Promise<void> {
    const c = this.conn && (await this.conn.catch(() => undefined));
    this.conn = undefined;
    await c?.close();
  }

  /** Runs a command: `await c.execute("SET", "k", new Uint8Array([0, 255]))`. */
  async execute(...args: Arg[]): Promise<Value> {
    return (await this.commandConn()).call(...args);
  }

  /** The reconnect delays of one outage, in ms. */
  *delays(): Generator<number> {
    const p = this.options.reconnect ?? {};
    let d = p.firstMs ?? 50;
    for (let n = 0; p.attempts === undefined || n < p.attempts; n++) {
      yield n === 0 ? 0 : d;
      if (n > 0) d = Math.min(d * 2, p.capMs ?? 2000);
    }
  }

  async publish(channel: Arg, message: Arg): Promise<number> {
    return Number(await this.execute("PUBLISH", channel, message));
  }

  /** Subscribes to channels on a connection of its own; iterate it for messages. */
  async subscribe(...channels: string[]): Promise<Subscription> {
    const s = new Subscription(this);
    if (channels.length) await s.subscribe(...channels);
    return s;
  }

  async psubscribe(...patterns: string[]): Promise<Subscription> {
    const s = new Subscription(this);
    if (patterns.length) await s.psubscribe(...patterns);
    return s;
  }

  /** `CHANGES INFO`: `epoch`, `first-offset`, `last-offset`, `memory-bytes`. */
  async changesInfo(): Promise<{ [key: string]: Value }> {
    return (await this.execute("CHANGES", "INFO")) as { [key: string]: Value };
  }

  /**
   * Follows the change feed from `start`. After a drop the feed reconnects and continues after
   * the last event received, in the same log (EPOCH): nothing lost or repeated. When that is
   * impossible, reading it throws CannotResumeError.
   */
  async follow(start: Start = "latest", opts: FollowOptions = {}): Promise<Feed> {
    const feed = new Feed(this, String(start), opts);
    await feed.start();
    return feed;
  }

  /** `CHANGES SNAPSHOT`: every matching key's value as of one offset. */
  async snapshot(filter: Omit<Filter, "events"> = {}): Promise<Snapshot> {
    const conn = await this.commandConn();
    const info = (await conn.call("CHANGES", "INFO")) as { epoch: string };
    const [n, rows] = (await conn.call("CHANGES", "SNAPSHOT", ...filterArgs(filter))) as [number, Value[][]];
    const entries = rows.map(([db, key, type, value, pttl]) => ({
      db: Number(db),
      key: key as string | Uint8Array,
      type: String(type),
      value: value as string | Uint8Array,
      pttl: Number(pttl),
    }));
    return { offset: Number(n), epoch: String(info.epoch), entries };
  }

  /** The current values, then every change after them (no gap, no duplicate). */
  async snapshotAndFollow(opts: FollowOptions = {}): Promise<{ snapshot: Snapshot; feed: Feed }> {
    const snapshot = await this.snapshot(opts);
    const feed = await this.follow(`(${snapshot.offset}`, { ...opts, epoch: snapshot.epoch });
    return { snapshot, feed };
  }

  /** A change-feed consumer group, run on the shared connection. */
  group(name: string): Group {
    return new Group(this, name);
  }
}

// ---------------------------------------------------------------------------------------------
// Subscriptions and feeds
// ---------------------------------------------------------------------------------------------

/**
 * What subscriptions and feeds share: a connection of their own, opened again after a drop
 * (`reopen`), and a queue read by async iteration or `next(timeoutMs)`. An error that ends the
 * stream is thrown by the reader, and again on every later read.
 */
abstract class Stream<T> implements AsyncIterable<T> {
  protected conn?: Connection;
  private items: T[] = [];
  private waiters: (() => void)[] = [];
  private ended = false;
  private error?: Error;
  protected closing = false;
  /** How many times the stream has reconnected. */
  reconnects = 0;

  constructor(protected client: Client) {}

  protected abstract onPush(push: Value[]): void;
  protected abstract reopen(): Promise<void>;
  protected resumable(): boolean {
    return true;
  }

  protected put(item: T): void {
    this.items.push(item);
    this.wake();
  }

  protected fail(e: Error): void {
    this.error ??= e;
    this.wake();
  }

  private wake(): void {
    const w = this.waiters;
    this.waiters = [];
    for (const f of w) f();
  }

  protected watch(conn: Connection): void {
    conn.closed.then(() => this.afterDrop(conn));
  }

  private async afterDrop(conn: Connection): Promise<void> {
    if (this.closing || conn !== this.conn) return;
    if (!this.resumable()) return this.fail(new ConnectionLostError("the connection closed"));
    for (const d of this.client.delays()) {
      await sleep(d);
      if (this.closing) return;
      try {
        await this.reopen();
        this.reconnects++;
        return;
      } catch (e) {
        if (!(e instanceof ConnectionLostError)) return this.fail(e as Error);
      }
    }
    this.fail(new ConnectionLostError("could not reconnect"));
  }

  /** The next item; undefined after `timeoutMs` or once closed. */
  async next(timeoutMs?: number): Promise<T | undefined> {
    const deadline = timeoutMs === undefined ? Infinity : Date.now() + timeoutMs;
    for (;;) {
      if (this.items.length) return this.items.shift();
      if (this.error) throw this.error;
      if (this.ended) return undefined;
      const left = deadline - Date.now();
      if (left <= 0) return undefined;
      let timer: ReturnType<typeof setTimeout> | undefined;
      await new Promise<void>((r) => {
        this.waiters.push(r);
        if (left !== Infinity) timer = setTimeout(r, left);
      });
      clearTimeout(timer);
    }
  }

  async *[Symbol.asyncIterator](): AsyncIterator<T> {
    for (;;) {
      const item = await this.next();
      if (item === undefined) return;
      yield item;
    }
  }

  async close(): Promise<void> {
    this.closing = true;
    this.ended = true;
    this.wake();
    await this.conn?.close();
  }

  /** Drops the socket as a network failure would (for tests). */
  abortConnection(): void {
    this.conn?.abort();
  }
}

/**
 * Pub/sub channels and patterns. After a drop it reconnects and subscribes again (messages
 * published meanwhile are lost: pub/sub is at-most-once; the change feed is not).
 */
export class Subscription extends Stream<Message> {
  private channels = new Set<string>();
  private patterns = new Set<string>();

  protected onPush(p: Value[]): void {
    const kind = p[0];
    if ((kind === "message" || kind === "smessage") && p.length >= 3) {
      this.put({ kind, channel: p[1] as string, data: p[2] as string });
    } else if (kind === "pmessage" && p.length >= 4) {
      this.put({ kind, pattern: p[1] as string, channel: p[2] as string, data: p[3] as string });
    }
  }

  /** A new connection with the current channels and patterns subscribed, then watched. */
  protected async reopen(): Promise<void> {
    const conn = await this.client.openConnection((p) => this.onPush(p));
    try {
      if (this.channels.size) await conn.call("SUBSCRIBE", ...this.channels);
      if (this.patterns.size) await conn.call("PSUBSCRIBE", ...this.patterns);
    } catch (e) {
      conn.close();
      throw e;
    }
    this.conn = conn;
    this.watch(conn);
  }

  private async call(...args: Arg[]): Promise<void> {
    if (!this.conn?.isOpen) await this.reopen();
    await (this.conn as Connection).call(...args);
  }

  async subscribe(...channels: string[]): Promise<void> {
    await this.call("SUBSCRIBE", ...channels);
    channels.forEach((c) => this.channels.add(c));
  }

  async psubscribe(...patterns: string[]): Promise<void> {
    await this.call("PSUBSCRIBE", ...patterns);
    patterns.forEach((p) => this.patterns.add(p));
  }

  /** Leaves the channels (all without arguments). */
  async unsubscribe(...channels: string[]): Promise<void> {
    await this.call("UNSUBSCRIBE", ...channels);
    if (channels.length) channels.forEach((c) => this.channels.delete(c));
    else this.channels.clear();
  }

  async punsubscribe(...patterns: string[]): Promise<void> {
    await this.call("PUNSUBSCRIBE", ...patterns);
    if (patterns.length) patterns.forEach((p) => this.patterns.delete(p));
    else this.patterns.clear();
  }
}

/**
 * A change-feed subscription (`CHANGES SUBSCRIBE`) that survives disconnects: it remembers the
 * epoch and the next offset due, and subscribes again from there with EPOCH.
 */
export class Feed extends Stream<Change> {
  /** The epoch of the log followed. */
  epoch?: string;
  /** The offset of the last event received. */
  lastOffset?: number;
  /** The first offset not yet received (known once subscribed). */
  nextOffset?: number;
  private args: Arg[];

  constructor(
    client: Client,
    private start_: string,
    private opts: FollowOptions,
  ) {
    super(client);
    this.epoch = opts.epoch;
    this.args = filterArgs(opts);
    if (opts.images) this.args.push("IMAGES", opts.images);
  }

  protected resumable(): boolean {
    return this.opts.resume !== false;
  }

  protected onPush(p: Value[]): void {
    if (p[0] === "changes") {
      const ch = toChange(p[1]);
      if (this.nextOffset !== undefined && ch.offset < this.nextOffset) return; // seen already
      this.lastOffset = ch.offset;
      this.nextOffset = ch.offset + 1;
      this.put(ch);
    } else if (p[0] === "changes-error") {
      this.closing = true;
      this.fail(new CannotResumeError(String(p[1])));
    }
  }

  protected async reopen(): Promise<void> {
    const conn = await this.client.openConnection((p) => this.onPush(p));
    let reply: Value;
    try {
      if (this.epoch === undefined) {
        this.epoch = String(((await conn.call("CHANGES", "INFO")) as { epoch: string }).epoch);
      }
      const start = this.nextOffset === undefined ? this.start_ : String(this.nextOffset);
      reply = await conn.call("CHANGES", "SUBSCRIBE", start, ...this.args, "EPOCH", this.epoch);
    } catch (e) {
      conn.close();
      if (e instanceof ResponseError && CannotResumeError.matches(e.message)) {
        throw new CannotResumeError(e.message);
      }
      throw e;
    }
    this.nextOffset ??= Number((reply as Value[])[2]);
    this.conn = conn;
    this.watch(conn);
  }

  /** Subscribes (rejecting at once if the start position is refused). */
  async start(): Promise<void> {
    await this.reopen();
  }
}

// ---------------------------------------------------------------------------------------------
// Consumer groups
// ---------------------------------------------------------------------------------------------

export interface GroupCreateOptions extends Filter {
  maxDeliveries?: number;
  deadLetter?: string;
  /** Resolve false instead of failing when the group exists. */
  existOk?: boolean;
}

/**
 * A consumer group of the change feed (at-least-once, with acks). Its commands run on the
 * client's shared connection: a blocking `read` holds back the client's other commands, so give
 * each blocking worker a Client of its own.
 */
export class Group {
  constructor(
    readonly client: Client,
    readonly name: string,
  ) {}

  async create(start: Start = "latest", opts: GroupCreateOptions = {}): Promise<boolean> {
    const args: Arg[] = ["CHANGES", "GROUP", "CREATE", this.name, String(start), ...filterArgs(opts)];
    if (opts.maxDeliveries !== undefined) args.push("MAXDELIVERIES", opts.maxDeliveries);
    if (opts.deadLetter !== undefined) args.push("DEADLETTER", opts.deadLetter);
    try {
      await this.client.execute(...args);
      return true;
    } catch (e) {
      if (opts.existOk && e instanceof ResponseError && e.code === "BUSYGROUP") return false;
      throw e;
    }
  }

  async destroy(): Promise<boolean> {
    return Boolean(await this.client.execute("CHANGES", "GROUP", "DESTROY", this.name));
  }

  async seek(start: Start): Promise<void> {
    await this.client.execute("CHANGES", "GROUP", "SEEK", this.name, String(start));
  }

  /** This group's entry of `CHANGES GROUP LIST` (undefined if it does not exist). */
  async info(): Promise<{ [key: string]: Value } | undefined> {
    const list = (await this.client.execute("CHANGES", "GROUP", "LIST")) as { [key: string]: Value }[];
    return list.find((g) => g.name === this.name);
  }

  /** The next events for `consumer` (now pending for it); `block` waits up to that many ms. */
  async read(
    consumer: string,
    opts: { count?: number; block?: number; images?: FollowOptions["images"] } = {},
  ): Promise<Change[]> {
    const args: Arg[] = ["CHANGES", "GROUP", "READ", this.name, consumer];
    if (opts.count !== undefined) args.push("COUNT", opts.count);
    if (opts.block !== undefined) args.push("BLOCK", opts.block);
    if (opts.images) args.push("IMAGES", opts.images);
    return toChanges(await this.client.execute(...args));
  }

  /** Acknowledges events (by offset or Change); resolves how many were pending. */
  async ack(...offsets: (number | Change)[]): Promise<number> {
    if (!offsets.length) return 0;
    const offs = offsets.map((o) => (typeof o === "number" ? o : o.offset));
    return Number(await this.client.execute("CHANGES", "ACK", this.name, ...offs));
  }

  async pending(opts: { idle?: number; count?: number; consumer?: string } = {}): Promise<PendingEntry[]> {
    const args: Arg[] = ["CHANGES", "PENDING", this.name];
    if (opts.idle !== undefined) args.push("IDLE", opts.idle);
    if (opts.count !== undefined) args.push("COUNT", opts.count);
    if (opts.consumer !== undefined) args.push(opts.consumer);
    const rows = ((await this.client.execute(...args)) ?? []) as Value[][];
    return rows.map(([offset, consumer, idle, deliveries]) => ({
      offset: Number(offset),
      consumer: String(consumer),
      idleMs: Number(idle),
      deliveries: Number(deliveries),
    }));
  }

  /** Re-delivers entries idle at least `minIdleMs` to `consumer`. */
  async claim(consumer: string, minIdleMs: number, ...offsets: number[]): Promise<Change[]> {
    return toChanges(await this.client.execute("CHANGES", "CLAIM", this.name, consumer, minIdleMs, ...offsets));
  }
}
