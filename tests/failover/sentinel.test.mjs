// sentinel.test.mjs -- Redis through Sentinel: one master, one replica, three sentinels; two hubs
// and two workers find the master through them. kill -9 of the master under chat and job load:
// delivery resumes after the promotion, nothing acked is lost or doubled, every job's effect is
// applied exactly once, every client gets every message of its chat (resume fills the gaps).
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { PG_CONNINFO, psql, startHub, startWorker, until } from "../integration/lib/harness.mjs";
import { MASTER_NAME, redisCli, startSentinels } from "./lib/sentinel.mjs";
import { chatAccount, chatPairs, startChatLoad } from "./lib/chatload.mjs";

let set;
const procs = [];

before(async () => {
  set = await startSentinels();
});

after(async () => {
  for (const p of procs.splice(0)) await p.stop({ expectCode: null }).catch(() => {});
  await set?.stop();
});

const FAST = { EPOS_JOB_CLAIM_IDLE_MS: "1000", EPOS_JOB_BACKOFF_MS: "50" };
const viaSentinels = () => ({ EPOS_REDIS_SENTINELS: set.sentinelList, EPOS_REDIS_MASTER_NAME: MASTER_NAME,
  // Nothing listens at redis_host:redis_port: only the sentinels can say where Redis is.
  EPOS_REDIS_PORT: String(set.ports.master + 50) });

async function enqueue(n) {
  const rows = await psql("INSERT INTO outbox (kind, payload) SELECT 'test.mark', '{}'::jsonb " +
    "FROM generate_series(1, $1::int) RETURNING id", [n]);
  return rows.map((r) => `ob:${r.id}`);
}

test("kill -9 of the Redis master under chat and job load: the hubs and workers follow the promotion", async (t) => {
  const env = viaSentinels();
  const hubs = [await startHub({ env: { ...env, EPOS_INSTANCE: "hub-a" } }),
    await startHub({ env: { ...env, EPOS_INSTANCE: "hub-b" } })];
  const workers = [await startWorker({ env: { ...env, ...FAST, EPOS_INSTANCE: "worker-a" } }),
    await startWorker({ env: { ...env, ...FAST, EPOS_INSTANCE: "worker-b" } })];
  procs.push(...hubs, ...workers);
  // Both sides talk to the master the sentinels named.
  const names = await redisCli(set.ports.master, "CLIENT", "LIST");
  for (const p of [...hubs, ...workers]) assert.match(names, new RegExp(`name=epos-${p.pid}-cmd`), p.output());

  const pairs = await chatPairs(hubs[0].url, 6);
  const load = startChatLoad(pairs, hubs, "sentinel");
  t.after(() => load.abort());
  // Job load: a batch every 100 ms through the outbox.
  const jobs = [];
  let jobsOn = true;
  const jobLoad = (async () => {
    while (jobsOn) {
      jobs.push(...await enqueue(20));
      await new Promise((r) => setTimeout(r, 100));
    }
  })();
  await load.moreAcks(100, "acks before the kill");
  await until(async () => (await psql("SELECT count(*)::int AS n FROM job_effects WHERE job_id = ANY($1::text[])",
    [jobs]))[0].n >= 100, { what: "jobs done before the kill" });

  const old = await set.masterAddr();
  set.master.expectExit = true;
  set.master.proc.kill("SIGKILL");
  const atKill = load.acked();
  await until(async () => { const a = await set.masterAddr(); return a && a !== old && a; },
    { what: "the sentinels promoting the replica", timeoutMs: 60000, intervalMs: 200 });
  t.diagnostic(`master ${old} killed at ${atKill} acks; promoted ${await set.masterAddr()}`);
  // Delivery resumes: the hubs' and workers' connections are on the new master.
  await until(async () => {
    const list = await redisCli(set.ports.replica, "CLIENT", "LIST");
    return [...hubs, ...workers].every((p) => list.includes(`name=epos-${p.pid}-cmd`));
  }, { what: "every process on the new master", timeoutMs: 30000 });
  await load.moreAcks(100, "acks after the promotion");
  jobsOn = false;
  await jobLoad;

  const acc = await chatAccount(load, { conninfo: PG_CONNINFO });
  const effects = await until(async () => {
    const rows = await psql("SELECT job_id FROM job_effects WHERE job_id = ANY($1::text[])", [jobs]);
    return rows.length === jobs.length && rows;
  }, { what: "every job's effect", timeoutMs: 60000 }).catch(async () =>
    psql("SELECT job_id FROM job_effects WHERE job_id = ANY($1::text[])", [jobs]));
  const once = new Set(effects.map((r) => r.job_id)).size;
  await until(async () => (await psql("SELECT count(*)::int AS n FROM outbox WHERE 'ob:' || id = ANY($1::text[]) " +
    "AND done_at IS NULL", [jobs]))[0].n === 0, { what: "every outbox row done", timeoutMs: 30000 });
  for (const w of workers) {
    for (const l of w.output().split("\n").filter((x) => /master|relay/.test(x))) t.diagnostic(l);
  }
  const line = `sentinel failover: acked ${acc.acked} delivered ${acc.delivered} lost ${acc.lost} ` +
    `doubled ${acc.doubled} jobs ${jobs.length} once ${once}`;
  t.diagnostic(`${line} (live ${acc.live}, by resume ${acc.resumed})`);
  console.log(line);
  assert.equal(acc.lost, 0, "every acked message is stored");
  assert.equal(acc.doubled, 0, "none stored or delivered twice");
  assert.equal(acc.delivered, acc.acked, "every client got every message of its chat");
  assert.equal(once, jobs.length, "every job's effect applied, once each");
  assert.equal(effects.length, jobs.length);
  for (const p of [...hubs, ...workers]) assert.match(p.output(), /the master epos moved from/);
  for (const p of procs.splice(0)) await p.stop();
});
