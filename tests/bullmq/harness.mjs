// What the BullMQ scripts share: the server's port from argv[2] as an ioredis connection, and a
// watchdog so that a hung server fails the run (printing what was seen) instead of hanging it.
export function connectionFromArgs(script) {
  const port = Number(process.argv[2]);
  if (!port) {
    console.error(`usage: node ${script} <port>`);
    process.exit(2);
  }
  // Workers need maxRetriesPerRequest: null (BullMQ refuses blocking connections without it).
  return { host: '127.0.0.1', port, maxRetriesPerRequest: null };
}

// Gives up after `ms` with `TIMEOUT <json of seen()>`; returns the function that disarms it.
export function watchdog(seen, ms = 30000) {
  const t = setTimeout(() => {
    console.log('TIMEOUT ' + JSON.stringify(seen()));
    process.exit(1);
  }, ms);
  return () => clearTimeout(t);
}
