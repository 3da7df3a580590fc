// Starts the real eddy-server for the Node test suites (clients/js, clients/compat/node), as
// clients/testing/eddy_server.py does for Python: a private temporary --dir, free ports, ready
// once the server has logged "Ready to accept connections" for RESP and HTTP. The binary is
// $EDDY_SERVER_BIN or target/debug/eddy-server of this repository. EDDY_TEST_SERVER=redis-server
// starts a real Redis instead (RESP only), which is how the compatibility tests are checked.

import { spawn } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";

const REPO = resolve(dirname(fileURLToPath(import.meta.url)), "..", "..");

// Servers still running when this process ends (however it ends short of SIGKILL) are killed.
const running = new Set();
process.on("exit", () => { for (const c of running) c.kill("SIGKILL"); });
for (const sig of ["SIGINT", "SIGTERM"]) {
  process.once(sig, () => process.exit(128 + (sig === "SIGINT" ? 2 : 15)));
}
const START_TIMEOUT_MS = 20_000;

export function serverBin() {
  return process.env.EDDY_SERVER_BIN || join(REPO, "target", "debug", "eddy-server");
}

export function freePort() {
  return new Promise((ok, fail) => {
    const s = createServer();
    s.on("error", fail);
    s.listen(0, "127.0.0.1", () => {
      const { port } = s.address();
      s.close(() => ok(port));
    });
  });
}

function startOnce(dir, port, httpPort, extra) {
  const reference = process.env.EDDY_TEST_SERVER === "redis-server";
  const args = reference
    ? ["--port", String(port), "--bind", "127.0.0.1", "--dir", dir, "--save", "", "--logfile", "", ...extra]
    : ["--port", String(port), "--bind", "127.0.0.1", "--http-port", String(httpPort),
      "--msgpack-port", "0", "--dir", dir, ...extra];
  const doors = reference ? 1 : 2;
  const env = { ...process.env, NO_COLOR: "1" };
  delete env.RUST_LOG;
  const child = spawn(reference ? "redis-server" : serverBin(), args, { cwd: dir, env, stdio: ["ignore", "pipe", "pipe"] });
  const log = [];
  running.add(child);
  child.on("exit", () => running.delete(child));
  return new Promise((ok) => {
    const ready = new Set();
    const timer = setTimeout(() => { child.kill("SIGKILL"); ok({ child: null, log }); },
      START_TIMEOUT_MS);
    for (const stream of [child.stdout, child.stderr]) {
      createInterface({ input: stream }).on("line", (line) => {
        log.push(line);
        const m = /Ready to accept connections ?(\w*)/.exec(line.replace(/\x1b\[[0-9;]*[A-Za-z]/g, ""));
        const door = m && (m[1] || "tcp");
        if (door === "tcp" || door === "http") ready.add(door);
        if (ready.size === doors) { clearTimeout(timer); ok({ child, log }); }
      });
    }
    child.on("exit", () => { clearTimeout(timer); ok({ child: null, log }); });
  });
}

/** Starts a server; `stop()` kills it and removes its directory. */
export async function startServer(extra = []) {
  const dir = mkdtempSync(join(tmpdir(), "eddy-client-test-"));
  let lastLog = [];
  for (let attempt = 0; attempt < 4; attempt++) {
    const port = await freePort();
    const httpPort = await freePort();
    const { child, log } = await startOnce(dir, port, httpPort, extra);
    lastLog = log;
    if (!child) continue; // e.g. a port taken meanwhile: try others
    child.stdout.resume();
    child.stderr.resume();
    // A server never keeps the test process alive (a failed test that did not stop it would
    // hang the run); it is killed when the process exits.
    child.unref();
    child.stdout.unref?.();
    child.stderr.unref?.();
    return {
      port,
      httpPort,
      wsUrl: `ws://127.0.0.1:${httpPort}/ws`,
      log,
      async stop() {
        if (child.exitCode === null) {
          child.ref(); // keep the process alive until the exit is seen
          const exited = new Promise((ok) => child.once("exit", ok));
          child.kill("SIGKILL");
          await exited;
        }
        rmSync(dir, { recursive: true, force: true });
      },
    };
  }
  rmSync(dir, { recursive: true, force: true });
  throw new Error(`eddy-server did not start:\n${lastLog.slice(-40).join("\n")}`);
}
