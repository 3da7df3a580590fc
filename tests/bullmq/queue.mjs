// Unchanged BullMQ against a Redis-protocol server on 127.0.0.1:<port> (argv[2]).
//
// A producer adds jobs, a worker processes them: three that succeed, one that always throws
// (attempts 3, fixed backoff) and must land in the failed set, and one delayed job. QueueEvents
// (blocking XREAD on the queue's event stream) records every event; the script waits on those
// events, never on a timer, and prints one line `RESULT <json>` for tests/bullmq.rs to assert on.
import { Queue, Worker, QueueEvents } from 'bullmq';
import { connectionFromArgs, watchdog } from './harness.mjs';

const connection = connectionFromArgs('queue.mjs');
const name = `eddy-${process.pid}`;
const DELAY_MS = 300;
const BACKOFF_MS = 50;

const events = [];
const disarm = watchdog(() => ({ events }));

const queueEvents = new QueueEvents(name, { connection, lastEventId: '0-0' });
const queue = new Queue(name, { connection });
await queueEvents.waitUntilReady();
await queue.waitUntilReady();

// Resolves once the four good jobs have completed and the failing job has failed for good
// (its `failed` and `retries-exhausted` events, which one script emits in that order).
let completedLeft = 4;
let failedSeen = false;
let exhaustedSeen = false;
let resolveDone;
const done = new Promise((r) => (resolveDone = r));

for (const ev of ['added', 'waiting', 'active', 'delayed', 'completed', 'failed', 'retries-exhausted']) {
  queueEvents.on(ev, (args) => {
    const e = { event: ev, jobId: args.jobId };
    if (ev === 'failed') e.failedReason = args.failedReason;
    if (ev === 'completed') e.returnvalue = args.returnvalue;
    events.push(e);
    if (ev === 'completed') completedLeft -= 1;
    if (ev === 'failed') failedSeen = true;
    if (ev === 'retries-exhausted') exhaustedSeen = true;
    if (completedLeft === 0 && failedSeen && exhaustedSeen) resolveDone();
  });
}

const worker = new Worker(
  name,
  async (job) => {
    if (job.name === 'bad') {
      throw new Error(`always fails (attempt ${job.attemptsMade + 1})`);
    }
    return { doubled: job.data.n * 2 };
  },
  { connection, concurrency: 1 },
);
await worker.waitUntilReady();

const ok = await queue.addBulk([1, 2, 3].map((n) => ({ name: 'ok', data: { n } })));
const bad = await queue.add('bad', { n: 0 }, { attempts: 3, backoff: { type: 'fixed', delay: BACKOFF_MS } });
const delayed = await queue.add('late', { n: 21 }, { delay: DELAY_MS });

await done;
disarm();

const badJob = await queue.getJob(bad.id);
const lateJob = await queue.getJob(delayed.id);
const counts = await queue.getJobCounts('completed', 'failed', 'waiting', 'delayed', 'active');
const failedIds = (await queue.getFailed()).map((j) => j.id);
const completedIds = (await queue.getCompleted()).map((j) => j.id).sort();

const result = {
  counts,
  okIds: ok.map((j) => j.id),
  bad: {
    id: bad.id,
    attemptsMade: badJob.attemptsMade,
    failedReason: badJob.failedReason,
    stacktraceLen: badJob.stacktrace.length,
    state: await badJob.getState(),
  },
  late: {
    id: delayed.id,
    returnvalue: lateJob.returnvalue,
    // How long after it was added the delayed job started: at least DELAY_MS.
    waitedEnough: lateJob.processedOn - lateJob.timestamp >= DELAY_MS,
    state: await lateJob.getState(),
  },
  failedIds,
  completedIds,
  badEvents: events.filter((e) => e.jobId === bad.id).map((e) => e.event),
  lateEvents: events.filter((e) => e.jobId === delayed.id).map((e) => e.event),
  okEvents: events.filter((e) => e.jobId === ok[0].id).map((e) => e.event),
  badFailedReasons: events.filter((e) => e.jobId === bad.id && e.event === 'failed').map((e) => e.failedReason),
};

await worker.close();
await queueEvents.close();
await queue.obliterate({ force: true });
await queue.close();
console.log('RESULT ' + JSON.stringify(result));
