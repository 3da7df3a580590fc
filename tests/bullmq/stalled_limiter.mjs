// Unchanged BullMQ against a Redis-protocol server on 127.0.0.1:<port> (argv[2]): recovery of a
// stalled job (its lock, a `SET ... PX` key, expires and another worker's stalled-job checker
// moves it back to wait) and the worker rate limiter (`limiter: {max, duration}`, a counter key
// with a PEXPIRE'd window that holds jobs back until it expires). Waits on events, never on a
// timer, and prints one line `RESULT <json>` for tests/bullmq.rs to assert on.
import { Queue, Worker, QueueEvents } from 'bullmq';
import { connectionFromArgs, watchdog } from './harness.mjs';

const connection = connectionFromArgs('stalled_limiter.mjs');
const name = `eddy-stall-${process.pid}`;
const LOCK_MS = 300;
const LIMIT = { max: 2, duration: 400 };

const events = [];
const disarm = watchdog(() => ({ events }));

const queueEvents = new QueueEvents(name, { connection, lastEventId: '0-0' });
const queue = new Queue(name, { connection });
await queueEvents.waitUntilReady();
for (const ev of ['added', 'waiting', 'active', 'stalled', 'completed', 'failed']) {
  queueEvents.on(ev, (args) => events.push(ev + (args.prev ? `<${args.prev}` : '')));
}

// A worker without a processor takes the job and then never renews its lock nor finishes it,
// as a crashed worker would.
const crashed = new Worker(name, null, { connection, lockDuration: LOCK_MS });
const job = await queue.add('s', { x: 1 });
const taken = await crashed.getNextJob('crashed-token');
const takenAt = Date.now();
const completed = new Promise((r) => queueEvents.on('completed', (a) => a.jobId === job.id && r()));
const rescuer = new Worker(name, async (j) => `rescued after ${j.attemptsStarted} starts`, {
  connection,
  stalledInterval: 200,
  maxStalledCount: 1,
});
await completed;
const recoveredAfterMs = Date.now() - takenAt;
const stalledJob = await queue.getJob(job.id);
await rescuer.close();
await crashed.close();

// The rate limiter: six jobs, at most two per window.
const rlName = `${name}-rl`;
const rlQueue = new Queue(rlName, { connection });
const starts = [];
let limited;
const allStarted = new Promise((r) => {
  limited = new Worker(
    rlName,
    async () => {
      starts.push(Date.now());
      if (starts.length === 6) r();
    },
    { connection, limiter: LIMIT },
  );
});
const addedAt = Date.now();
await rlQueue.addBulk([1, 2, 3, 4, 5, 6].map((n) => ({ name: 'r', data: { n } })));
await allStarted;
await limited.close();
disarm();

const result = {
  stalled: {
    takenId: taken.id,
    jobId: job.id,
    // The lock had to expire before anyone could take the job again.
    recoveredAfterLock: recoveredAfterMs >= LOCK_MS,
    returnvalue: stalledJob.returnvalue,
    attemptsStarted: stalledJob.attemptsStarted,
    state: await stalledJob.getState(),
    events,
  },
  limiter: {
    // Start of each job relative to the moment before the jobs were added (so before the
    // first window opened).
    offsets: starts.map((t) => t - addedAt),
    ...LIMIT,
  },
};
await rlQueue.obliterate({ force: true });
await rlQueue.close();
await queueEvents.close();
await queue.obliterate({ force: true });
await queue.close();
console.log('RESULT ' + JSON.stringify(result));
