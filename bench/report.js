// report.js -- turn the bench results (JSON lines of run-hub.sh and run-workers.sh) into docs/BENCHMARKS.md on stdout.
//
//   node bench/report.js bench/out/results-hub.jsonl bench/out/results-workers.jsonl
// A file that does not exist yet is skipped; its rows say "not measured".
'use strict';
const fs = require('fs');

const files = process.argv.slice(2);
const lines = files.filter((f) => fs.existsSync(f)).flatMap((f) => fs.readFileSync(f, 'utf8')
  .split('\n').filter((l) => l.trim()).map((l) => JSON.parse(l)));
const find = (mode, target) => lines.find((r) => r.mode === mode && (!target || r.target === target));
const m = find('machine') || {};
const idle = { hub: find('idle', 'hub'), ws: find('idle', 'ws') };
const bc = { hub: find('broadcast', 'hub'), ws: find('broadcast', 'ws') };
// The chat benchmark runs once per fsync setting; each beside its own baseline.
const chats = lines.filter((r) => r.mode === 'chat' && r.target === 'hub');
const pgFor = (c) => lines.find((r) => r.mode === 'pg-insert-commit' && r.fsync === c.fsync);

const num = (x, d = 0) => (x === undefined || x === null || x < 0 ? '—' : Number(x).toFixed(d));
const int = (x) => (x === undefined || x === null || x < 0 ? '—' : Math.round(x).toLocaleString('en-US'));
const ratio = (a, b) => (a > 0 && b > 0 ? a / b : undefined);
const verdict = (ok) => (ok === undefined ? 'not measured' : ok ? '**met**' : '**not met**');
const kib = (bytes) => (bytes > 0 ? (bytes / 1024).toFixed(2) + ' KiB' : '—');

function complete(r) {
  if (!r) return false;
  return !r.failed && !r.missing && !r.dropped && !r.trigger_errors;
}

function note(r) {
  if (!r) return '';
  const bits = [];
  if (r.failed) bits.push(`${r.failed} connections failed`);
  if (r.dropped) bits.push(`${r.dropped} dropped`);
  if (r.missing) bits.push(`${r.missing} deliveries missing`);
  if (r.trigger_errors) bits.push(`${r.trigger_errors} trigger errors`);
  if (r.errors) bits.push(`${r.errors} errors`);
  return bits.length ? ` (${bits.join(', ')})` : '';
}

const burstHub = bc.hub && bc.hub.burst_deliveries_per_s_median;
const burstWs = bc.ws && bc.ws.burst_deliveries_per_s_median;
const burstR = ratio(burstHub, burstWs);
const singleHub = bc.hub && bc.hub.single_ms_median;
const singleWs = bc.ws && bc.ws.single_ms_median;
const singleR = ratio(singleHub, singleWs);
const rssHub = idle.hub && idle.hub.rss_per_conn_bytes;
const rssWs = idle.ws && idle.ws.rss_per_conn_bytes;

const subsN = (bc.ws || bc.hub || {}).subscribers;
const idleN = (idle.ws || idle.hub || {}).connections;
const rows = [
  [`a burst of ${(bc.ws || {}).burst || 20} events back-to-back to ${int(subsN)} subscribers (deliveries/s)`,
    int(burstHub) + note(bc.hub), int(burstWs) + note(bc.ws),
    burstR ? burstR.toFixed(2) + '×' : '—', '≥ 3× ws',
    verdict(burstR === undefined ? undefined : burstR >= 3 && complete(bc.hub))],
  [`one event to ${int(subsN)} subscribers: last delivery (ms, median)`,
    num(singleHub, 1), num(singleWs, 1), singleR ? singleR.toFixed(2) + '×' : '—', '≤ 0.6× ws',
    verdict(singleR === undefined ? undefined : singleR <= 0.6 && complete(bc.hub))],
  ...chats.map((chat) => {
    const pg = pgFor(chat);
    const chatP99 = chat.delivery_ms.n > 0 ? chat.delivery_ms.p99 : undefined;
    const pgP99 = pg && pg.latency_ms.n > 0 ? pg.latency_ms.p99 : undefined;
    const chatR = ratio(chatP99, pgP99);
    return [`chat send → delivered to the other member, persisted, at ${int(chat.rate)} msg/s` +
      `${chat.fsync ? `, PostgreSQL fsync ${chat.fsync}` : ''}: p99 (ms)`,
    num(chatP99, 2) + note(chat) + (chat.delivered < chat.sent
      ? ` — ${int(chat.delivered)} of ${int(chat.sent)} delivered` : ''),
    `bare INSERT+COMMIT p99: ${num(pgP99, 2)}`,
    chatR ? chatR.toFixed(2) + '×' : '—', '≤ 10 ms and ≤ 3× INSERT+COMMIT',
    verdict(chatR === undefined ? undefined : chatP99 <= 10 && chatR <= 3 &&
      chat.delivered === chat.sent)];
  }),
  [`idle connections at ${int(idleN)}: RSS per connection (hub authenticated, ws not)`,
    kib(rssHub) + note(idle.hub), kib(rssWs) + note(idle.ws), '—', '≤ 4 KiB',
    verdict(rssHub === undefined || rssHub < 0 ? undefined : rssHub <= 4096 && complete(idle.hub))],
];

const out = [];
const p = (s = '') => out.push(s);
p('# Benchmarks');
p();
p('The hub\'s performance targets (DESIGN §8), measured by the project\'s own tools in');
p('`bench/` on one machine, each beside a peer measured in the same run. The targets');
p('are ratios because absolute times drift from run to run on a shared machine.');
p('This file is written by `bench/run-hub.sh`; edit `bench/report.js`, not the file.');
p();
p(`Run of ${m.date || '—'} on ${m.cpu || '—'}, ${m.cores || '—'} cores, ${m.mem_gib || '—'} GiB,`);
p(`Linux ${m.kernel || '—'}; Node ${m.node || '—'} with ws ${m.ws || '—'}; PostgreSQL ${m.pg || '—'};`);
p(`descriptor limit ${m.nofile || '—'} per process. Server and load generator share the machine`);
const mEnd = find('machine-end') || {};
const la = (v) => (v ? v.join(' / ') : '—');
p(`(load average 1/5/15 min at the start ${la(m.loadavg)}, at the end ${la(mEnd.loadavg)}: other`);
p('work on a shared machine shows here, and in the absolute figures, more than in the ratios).');
if (m.quick) {
  p();
  p('**This is a `--quick` run (small counts): it checks the pipeline, not the targets.**');
}
p();
p('## The hub beside Node\'s `ws`');
p();
p('| What | EPOS Hub | peer | hub / peer | target | |');
p('|---|---|---|---|---|---|');
for (const r of rows) p('| ' + r.join(' | ') + ' |');
p();
p('## Details');
p();
if (bc.ws || bc.hub) {
  p('| Broadcast | subscribers | connect (s) | single event (ms) | burst (ms) | burst deliveries/s | load generator CPU (s) |');
  p('|---|---|---|---|---|---|---|');
  for (const t of ['hub', 'ws']) {
    const r = bc[t];
    if (!r) continue;
    p(`| ${t} (${r.trigger}) | ${int(r.ready)} | ${num(r.connect_s, 2)} | ${r.single_ms.join(', ')} | ` +
      `${r.burst_ms.join(', ')} | ${r.burst_deliveries_per_s.map(int).join(', ')} | ${num(r.loadgen_cpu_s, 2)} |`);
  }
  p();
}
if (idle.ws || idle.hub) {
  p('| Idle | connections ready | connect (s) | server RSS before (KiB) | after (KiB) | per connection |');
  p('|---|---|---|---|---|---|');
  for (const t of ['hub', 'ws']) {
    const r = idle[t];
    if (!r) continue;
    p(`| ${t}${r.auth ? ' (authenticated)' : ''} | ${int(r.ready)} | ${num(r.connect_s, 2)} | ` +
      `${int(r.rss_before_kib)} | ${int(r.rss_after_kib)} | ${int(r.rss_per_conn_bytes)} B |`);
  }
  p();
}
if (chats.length) {
  p('| Latency (ms) | n | p50 | p90 | p99 | max |');
  p('|---|---|---|---|---|---|');
  const l = (name, d) => d && p(`| ${name} | ${int(d.n)} | ${num(d.p50, 3)} | ${num(d.p90, 3)} | ${num(d.p99, 3)} | ${num(d.max, 3)} |`);
  for (const chat of chats) {
    const pg = pgFor(chat);
    const f = chat.fsync ? `, fsync ${chat.fsync}` : '';
    l(`hub chat delivery (${chat.pairs} pairs, ${int(chat.achieved_rate)} msg/s sent${f})`, chat.delivery_ms);
    l(`hub chat ack to the sender${f}`, chat.ack_ms);
    if (pg) l(`bare INSERT+COMMIT (${pg.connections} connections, ${int(pg.achieved_rate)}/s${f})`, pg.latency_ms);
  }
  p();
}
p('## How each figure is measured');
p();
p('- **Load generator** (`bench/loadgen.c`): one process, one thread, epoll, its own');
p('  minimal RFC 6455 client (masked frames, fragmented and 16/64-bit-length server');
p('  frames, ping → pong). Connections are spread over source addresses 127.0.0.1–127.0.0.8');
p('  (bind before connect) and opened at most 256 at a time, 5,000 per second. A hub frame');
p('  may hold several `\\n`-separated messages; each counts. It prints one JSON line of results.');
p('- **Peer**: `bench/ws-peer.js`, Node\'s `ws` with every message relayed to every client,');
p('  installed from npm by `npm ci --prefix bench`. Each measurement starts a fresh server process.');
p('- **Broadcast**: subscribers connect (the hub\'s authenticate with a token each and wait for');
p('  `hello`; they are teachers of one org, so each is subscribed to `org:<id>`). An event is');
p('  triggered for the hub by `POST /api/publish` to the org with the API key (so it is');
p('  committed in PostgreSQL and fanned out through Redis before anyone gets it), for `ws` by a');
p('  publisher connection sending a frame of the same shape and size. The clock starts when the');
p('  trigger is written and stops at the last subscriber\'s delivery. Two warm-up bursts, then seven');
p('  single events (median reported), then five bursts of 20 triggers written back to back:');
p('  deliveries/s = all deliveries of the burst / (last delivery − first trigger), median of five.');
p('- **Chat**: pairs of members of a direct chat; messages `{"op":"send",…}` paced at the target');
p('  aggregate rate over the pairs (each side in turn), for 10 s; the first second is warm-up.');
p('  Delivery latency is send → the `chat.message` event at the other member (the hub commits the');
p('  message before publishing it); ack latency is send → `ack` at the sender.');
p('- **Baseline** (`bench/pgbase.c`): the same rate of single-statement `INSERT`s (autocommit,');
p('  so each is its own transaction and COMMIT) into a table shaped like `chat_messages`, over');
p('  4 connections, against the same PostgreSQL right after the chat run.');
p('  Both run twice: with `fsync = on` (durable commits, as in production; on this virtual disk a');
p('  flush takes from 0.2 to 3 ms) and with `fsync = off` (the development stack\'s setting).');
p('- **Idle RSS**: the server\'s `VmRSS` (from `/proc/<pid>/status`) before connecting and 2 s after');
p('  the last connection is ready (hub: authenticated, `hello` received), divided by the connections.');
p('- The database is the private one of `scripts/stack` under `bench/out/var` (Redis without');
p('  persistence; PostgreSQL `fsync = on` except for the second chat run), recreated each run with');
p('  `eposctl migrate` and `bench/hub-data.sql` (bench users, sessions, chat pairs in bulk); tokens');
p('  are minted by `bench/mktokens` with the hub\'s `token_secret`.');
p();
p('## Reproduce');
p();
p('```sh');
p('bench/run-all.sh            # every figure of this file, about seven minutes; rewrites it');
p('bench/run-hub.sh            # the hub beside ws only, about four minutes');
p('bench/run-hub.sh --quick    # small counts, a smoke run of the pipeline');
p('bench/run-hub.sh --ws-only  # the peer only');
p('```');
p();
p('Raw results: `bench/out/results-hub.jsonl`; logs: `bench/out/log/`. The load generator alone:');
p('`build-bench/loadgen --help`.');
p();
p('## The worker beside BullMQ and nodemailer');
p();
const mw = find('machine-workers') || {};
const mwEnd = find('machine-workers-end') || {};
const qE = find('queue', 'epos-worker');
const qB = find('queue', 'bullmq');
const eE = find('email', 'epos-worker');
const eN = find('email', 'nodemailer');
if (mw.date) {
  p(`Run of ${mw.date} (\`bench/run-workers.sh\`), BullMQ ${mw.bullmq}, nodemailer ${mw.nodemailer};`);
  p(`load average at the start ${la(mw.loadavg)}, at the end ${la(mwEnd.loadavg)}.`);
  if (mw.quick) p('**A `--quick` run (small counts): it checks the pipeline, not the targets.**');
  p();
}
const qR = ratio(qE && qE.jobs_per_s, qB && qB.jobs_per_s);
const eR = ratio(eE && eE.mails_per_s, eN && eN.mails_per_s);
p('| What | epos-worker | peer | worker / peer | target | |');
p('|---|---|---|---|---|---|');
p(`| no-op jobs through one worker process (jobs/s; ${int((qE || qB || {}).total)} jobs) | ` +
  `${int(qE && qE.jobs_per_s)} | BullMQ: ${int(qB && qB.jobs_per_s)} | ${qR ? qR.toFixed(2) + '×' : '—'} | ` +
  `≥ 2× BullMQ and ≥ 20,000/s | ${verdict(qR === undefined ? undefined : qR >= 2 && qE.jobs_per_s >= 20000 && qE.complete)} |`);
p(`| email into Postfix's \`smtp-sink\` from one worker process (mails/s; ${int((eE || eN || {}).count)} mails) | ` +
  `${int(eE && eE.mails_per_s)} | nodemailer pooled: ${int(eN && eN.mails_per_s)} | ${eR ? eR.toFixed(2) + '×' : '—'} | ` +
  `≥ 2× nodemailer | ${verdict(eR === undefined ? undefined : eR >= 2 && !eE.failed)} |`);
const dl = find('deadline');
const secs = (ms) => (ms === undefined || ms < 0 ? '—' : (ms / 1000).toFixed(2) + ' s');
p(`| 18:00 pass for ${int(dl ? dl.groups : 5000)} groups: reminders enqueued / last delivered live, after the deadline | ` +
  `${dl ? secs(dl.runs_finished_ms) + ' / ' + secs(dl.last_delivered_ms) +
    (dl.delivered < dl.groups ? ` (${int(dl.delivered)} of ${int(dl.groups)} delivered)` : '') : '—'} | — | — | ` +
  `enqueued ≤ 1 s, delivered live ≤ 5 s | ${verdict(dl ? dl.runs_finished_ms >= 0 && dl.runs_finished_ms <= 1000 &&
    dl.last_delivered_ms >= 0 && dl.last_delivered_ms <= 5000 && dl.delivered >= dl.groups : undefined)} |`);
p();
p('- **Queue** (`bench/queue-peer.js`): the jobs are loaded first (epos: `XADD` to');
p('  `epos:jobs:noop` in the queue\'s entry format; BullMQ: `addBulk` with `removeOnComplete`),');
p('  then one worker process drains them: `epos-worker` with its default concurrency (64) and');
p('  its `noop` job kind, or a Node process running a BullMQ `Worker` with an empty processor and');
p('  concurrency 64. The queue length (`XLEN`, `Queue.count()`) is sampled every 10 ms; the rate');
p('  is the jobs done between 90 % and 10 % left, over that time. Redis is flushed in between.');
p('- **Email**: both into `/usr/sbin/smtp-sink` (Debian\'s postfix). The worker runs `email.notify`');
p('  jobs (loaded first, one per user with an address, urgent) through its whole path: the');
p('  preparation in PostgreSQL (log row, preferences), its mailer\'s reused SMTP sessions, the');
p('  recorded result; the rate is timed as the queue\'s (90 % → 10 % of the jobs left). The peer');
p('  (`bench/mail-peer.js`) is nodemailer\'s pooled transport with as many connections as the worker');
p('  has SMTP sessions, up to 50 mails each, every mail queued at once, timed from 10 % to 90 % of');
p(`  the mails accepted. Sessions: ${(eE || eN || {}).sessions || (eN || {}).connections || '—'}.`);
p();
p('- **18:00 pass** (`bench/run-deadline.sh`, `bench/deadline-data.sql`): 50 orgs of 100 groups, each');
p('  group with one bound teacher and one child nobody marked; the orgs\' deadline is set 45 s ahead');
p('  (UTC, today a workday). One hub runs, every teacher is connected and authenticated by the load');
p('  generator (watch mode, wall-clock stamps), then one `epos-worker` starts and its scheduler runs');
p('  the pass. Enqueued: the latest `reminder_runs.finished_at` (`clock_timestamp()` at the end of');
p('  the pass\'s transaction, which holds the events and the outbox rows of the mails); delivered: the');
p('  last reminder received by a teacher\'s connection; both minus the deadline.');
if (dl) {
  p(`  This run: ${int(dl.teachers_ready)} teachers connected, ${int(dl.reminders_committed)} reminders in ` +
    `${int(dl.runs)} org runs; the events were stamped ${secs(dl.committed_ms)} after the deadline, the ` +
    `first was delivered ${secs(dl.first_delivered_ms)} after it.`);
}
p();
p('Reproduce: `bench/run-workers.sh` (about a minute) and `bench/run-deadline.sh` (about a minute;');
p('both take `--quick`). Each rewrites this file from the last results of all three scripts.');
process.stdout.write(out.join('\n') + '\n');
