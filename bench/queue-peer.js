// queue-peer.js -- the queue benchmark: BullMQ (the peer), the epos stream preload, and the drain timer.
//
//   node queue-peer.js preload-epos PORT TOTAL [KIND [PAYLOAD [UID0]]]
//        XADD TOTAL jobs of KIND (noop) to epos:jobs:KIND; in PAYLOAD ({}) "%i" becomes
//        the job's number and "%u" UID0 + that number (a user id per job)
//   node queue-peer.js watch-epos PORT TOTAL [KIND]     time the drain of epos:jobs:KIND (JSON line)
//   node queue-peer.js bullmq PORT TOTAL CONCURRENCY    preload BullMQ, run one worker process, time it
//   node queue-peer.js bullmq-worker PORT CONCURRENCY   (the worker process the line above starts)
//
// Both queues are timed the same way: the length of the queue is sampled every
// 10 ms while one worker process drains TOTAL jobs; the rate is the jobs done
// between the moments 90 % and 10 % of them were left, over that time (so
// neither start-up nor the tail counts).
'use strict';
const { spawn } = require('child_process');
const IORedis = require('ioredis');

const [mode, portArg, a3, a4, a5, a6] = process.argv.slice(2);
const port = Number(portArg);
const connection = { host: '127.0.0.1', port, maxRetriesPerRequest: null };
const QNAME = 'bench-noop';

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const now = () => Number(process.hrtime.bigint()) / 1e6;

async function timeDrain(total, remaining, timeoutMs = 300000) {
  let t90 = 0, t10 = 0, tStart = 0, tEnd = 0;
  const deadline = now() + timeoutMs;
  for (;;) {
    const left = await remaining();
    const t = now();
    if (!tStart && left < total) tStart = t;
    if (!t90 && left <= 0.9 * total) t90 = t;
    if (!t10 && left <= 0.1 * total) t10 = t;
    if (left <= 0) { tEnd = t; break; }
    if (t > deadline) break;
    await sleep(10);
  }
  const rate = t10 > t90 ? (0.8 * total) / ((t10 - t90) / 1000) : -1;
  return { total, jobs_per_s: Math.round(rate), drain_s: tEnd && tStart ? (tEnd - tStart) / 1000 : -1,
    complete: tEnd > 0 };
}

// The entry format of core/queue.c's enqueue: id, kind, payload, attempt.
async function preloadEpos(total, kind = 'noop', payload = '{}', uid0 = 0) {
  const r = new IORedis(connection);
  for (let i = 0; i < total; i += 1000) {
    const p = r.pipeline();
    for (let j = i; j < Math.min(total, i + 1000); j++) {
      const body = payload.replace(/%i/g, String(j)).replace(/%u/g, String(uid0 + j));
      p.xadd('epos:jobs:' + kind, '*', 'id', `bench:${kind}:${j}`, 'kind', kind, 'payload', body,
        'attempt', '1');
    }
    await p.exec();
  }
  await r.quit();
}

async function watchEpos(total, kind = 'noop') {
  const r = new IORedis(connection);
  const res = await timeDrain(total, () => r.xlen('epos:jobs:' + kind));
  console.log(JSON.stringify({ mode: kind === 'noop' ? 'queue' : 'jobs', kind, target: 'epos-worker',
    ...res }));
  await r.quit();
}

async function bullmq(total, concurrency) {
  const { Queue } = require('bullmq');
  const q = new Queue(QNAME, { connection });
  await q.obliterate({ force: true }).catch(() => {});
  for (let i = 0; i < total; i += 1000) {
    const jobs = [];
    for (let j = i; j < Math.min(total, i + 1000); j++)
      jobs.push({ name: 'noop', data: {}, opts: { removeOnComplete: true, removeOnFail: true } });
    await q.addBulk(jobs);
  }
  const child = spawn(process.execPath, [__filename, 'bullmq-worker', String(port), String(concurrency)],
    { stdio: 'inherit' });
  const res = await timeDrain(total, () => q.count());
  child.kill('SIGTERM');
  console.log(JSON.stringify({ mode: 'queue', target: 'bullmq', concurrency, ...res }));
  await q.close();
}

function bullmqWorker(concurrency) {
  const { Worker } = require('bullmq');
  const w = new Worker(QNAME, async () => {}, { connection, concurrency });
  const stop = () => w.close().then(() => process.exit(0));
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
}

const run = {
  'preload-epos': () => preloadEpos(Number(a3), a4, a5, Number(a6 || 0)),
  'watch-epos': () => watchEpos(Number(a3), a4),
  bullmq: () => bullmq(Number(a3), Number(a4 || 64)),
  'bullmq-worker': () => bullmqWorker(Number(a3 || 64)),
}[mode];
if (!run || !port) {
  console.error('usage: node queue-peer.js preload-epos|watch-epos|bullmq|bullmq-worker PORT ...');
  process.exit(2);
}
Promise.resolve(run()).catch((e) => { console.error(e); process.exit(1); });
