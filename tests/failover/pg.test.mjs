// pg.test.mjs -- PostgreSQL failover: a primary and a synchronous streaming standby; two hubs and
// a worker with a multi-host pg_conninfo (target_session_attrs=read-write). kill -9 of the
// primary under chat load, the standby promoted as an operator would: every acked message is
// on the new primary, the hubs and the worker reconnect without a restart, resume fills the gaps.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { ctl, http, psql, startHub, startWorker, until } from "../integration/lib/harness.mjs";
import { startPgPair } from "./lib/pg.mjs";
import { chatAccount, chatPairs, startChatLoad } from "./lib/chatload.mjs";

let pair;
const procs = [];

before(async () => {
  pair = await startPgPair();
});

after(async () => {
  for (const p of procs.splice(0)) await p.stop({ expectCode: null }).catch(() => {});
  await pair?.destroy();
});

test("kill -9 of the primary under chat load, the standby promoted: nothing acked lost, no restart", async (t) => {
  const hubs = [await startHub({ config: pair.conf, env: { EPOS_INSTANCE: "hub-a" } }),
    await startHub({ config: pair.conf, env: { EPOS_INSTANCE: "hub-b" } })];
  const worker = await startWorker({ config: pair.conf, env: { EPOS_INSTANCE: "worker-a" } });
  procs.push(...hubs, worker);
  const pairs = await chatPairs(hubs[0].url, 6, pair.users);
  const load = startChatLoad(pairs, hubs, "pg");
  t.after(() => load.abort());
  await load.moreAcks(100, "acks before the kill");

  await pair.killPrimary();
  const atKill = load.acked();
  // Sends fail ("unavailable", retried with the same cid) until a server takes writes again.
  await new Promise((r) => setTimeout(r, 1000));
  await pair.promote();
  t.diagnostic(`primary killed at ${atKill} acks; standby promoted at ${load.acked()}`);
  await load.moreAcks(100, "acks after the promotion", 60000);
  const newPrimary = pair.conninfo(pair.standbyPort);
  const acc = await chatAccount(load, { conninfo: newPrimary });

  // Every process is the same one, on the new primary (no restart).
  for (const p of [...hubs, worker]) assert.equal(p.exitStatus(), null, `${p.name} still running`);
  for (const h of hubs) {
    await until(async () => (await http("GET", `${h.adminUrl}/readyz`)).status === 200, { what: `${h.adminUrl} ready` });
  }
  const backends = await psql("SELECT count(*)::int AS n FROM pg_stat_activity WHERE usename LIKE 'epos_%_user'",
    [], { conninfo: newPrimary });
  assert.ok(backends[0].n > 0, "the hubs and the worker connected to the new primary");
  // The worker works on the new primary: an outbox job runs.
  const [{ id }] = await psql("INSERT INTO outbox (kind, payload) VALUES ('test.mark', '{}') RETURNING id", [],
    { conninfo: newPrimary });
  await until(async () => (await psql("SELECT 1 FROM job_effects WHERE job_id = $1", [`ob:${id}`],
    { conninfo: newPrimary })).length === 1, { what: "a job run after the failover" });
  // eposctl with the same multi-host conninfo finds the new primary.
  const st = await ctl(["migrate"], { config: pair.conf });
  t.diagnostic(`eposctl migrate: code ${st.code} ${st.output.split("\n").slice(-2).join(" ")}`);
  assert.equal(st.code, 0, st.output);

  const line = `pg failover: acked ${acc.acked} on new primary ${acc.stored} lost ${acc.lost} doubled ${acc.doubled}`;
  t.diagnostic(`${line} (delivered ${acc.delivered}: live ${acc.live}, by resume ${acc.resumed})`);
  console.log(line);
  assert.equal(acc.lost, 0, "every acked message is on the new primary");
  assert.equal(acc.doubled, 0, "none stored or delivered twice");
  assert.equal(acc.delivered, acc.acked, "every client got every message of its chat");
  for (const p of procs.splice(0)) await p.stop();
});
