// 60-retention: the event log is partitioned by month; converting an existing
// log keeps every event; a year of events is cut to event_retention_days by
// the workers' retention pass, each month dropped once however many workers
// run it; a resume into the dropped months gets `reset`.
import { test } from "node:test";
import assert from "node:assert/strict";
import { copyFileSync, mkdirSync, mkdtempSync, readdirSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import {
  CONF, ROOT, ctl, demoUser, http, login, psql, startHub, startWorker, until, wsConnect,
} from "./lib/harness.mjs";

const ADMIN = process.env.EPOS_TEST_PG_ADMIN;
const MIGRATIONS = join(ROOT, "schema/migrations");

test("converting the event log to monthly partitions keeps every event", async () => {
  const db = `epos_mig80_${process.pid}`;
  const conninfo = ADMIN.replace(/dbname=\S+/, `dbname=${db}`);
  const pre = mkdtempSync(join(tmpdir(), "epos-schema-"));
  await psql(`DROP DATABASE IF EXISTS ${db}`, [], { conninfo: ADMIN });
  await psql(`CREATE DATABASE ${db}`, [], { conninfo: ADMIN });
  try {
    // The schema before 080: its migrations only (no functions/: none is needed to hold events).
    mkdirSync(join(pre, "migrations"));
    for (const f of readdirSync(MIGRATIONS).filter((n) => /^\d{3}_.*\.sql$/.test(n) && n < "080"))
      copyFileSync(join(MIGRATIONS, f), join(pre, "migrations", f));
    const env = { EPOS_PG_CONNINFO: conninfo };
    let r = await ctl(["migrate", "--dir", pre], { env });
    assert.equal(r.code, 0, r.output);
    await psql(`INSERT INTO events (topic, seq, type, ts, payload)
                SELECT 'user:' || (g % 7 + 1), g / 7 + 1, 'x.y', now() - (g / 7) * interval '1 day', jsonb_build_object('g', g)
                  FROM generate_series(0, 7 * 450 - 1) g`, [], { conninfo });
    const before = await psql("SELECT topic, seq, type, ts::text, payload::text FROM events ORDER BY 1, 2", [], { conninfo });
    r = await ctl(["migrate"], { env });
    assert.equal(r.code, 0, r.output);
    const after = await psql("SELECT topic, seq, type, ts::text, payload::text FROM events ORDER BY 1, 2", [], { conninfo });
    assert.equal(after.length, 3150);
    assert.deepEqual(after, before, "every event, unchanged");
    const parts = await psql(`SELECT count(DISTINCT tableoid) AS n FROM events`, [], { conninfo });
    assert.ok(parts[0].n >= 15, `spread over the months' partitions (${parts[0].n})`);
    const def = await psql("SELECT count(*)::int AS n FROM events_default", [], { conninfo });
    assert.equal(def[0].n, 0, "nothing left in the default partition");
  } finally {
    await psql(`DROP DATABASE IF EXISTS ${db} WITH (FORCE)`, [], { conninfo: ADMIN });
    rmSync(pre, { recursive: true, force: true });
  }
});

test("a year of events: the workers drop the months past retention once; a resume there gets reset", async () => {
  const P = demoUser((u) => u.role === "parent" && u.login === "parent1");
  const T = demoUser((u) => u.role === "teacher" && u.group_ids.includes(P.group_ids[0]));
  const hub = await startHub();
  const workers = [];
  try {
    const tp = (await login(hub.url, P.login, P.password)).token;
    const tt = (await login(hub.url, T.login, T.password)).token;
    const c = await http("POST", `${hub.url}/api/chats`, { title: "Год событий", members: [P.id] }, tt);
    assert.ok(c.status === 200 || c.status === 201, c.text);
    const topic = `chat:${c.json.chat.id}`;
    const [{ seq: base }] = await psql("SELECT coalesce((SELECT seq FROM topic_seq WHERE topic = $1), 0)::int AS seq", [topic]);
    // 365 days, one event a day on the chat, and 100 busy topics beside it.
    await psql(`SELECT epos_events_partition(now() - m * interval '1 month') FROM generate_series(0, 13) m`);
    await psql(`INSERT INTO events (topic, seq, type, ts, payload)
                SELECT $1, $2::int + d, 'chat.message', now() - (366 - d) * interval '1 day', jsonb_build_object('text', 'день ' || d)
                  FROM generate_series(1, 365) d`, [topic, base]);
    await psql("UPDATE topic_seq SET seq = $2::int + 365 WHERE topic = $1", [topic, base]);
    await psql(`INSERT INTO events (topic, seq, type, ts, payload)
                SELECT 'user:' || (900000 + t), d, 'x.y', now() - (366 - d) * interval '1 day', '{}'
                  FROM generate_series(1, 100) t, generate_series(1, 365) d`);

    // Three workers at once, a 200-day retention.
    const env = { EPOS_EVENT_RETENTION_DAYS: "200" };
    workers.push(...await Promise.all([0, 1, 2].map(() => startWorker({ env }))));
    await until(async () => (await psql(
      "SELECT count(*)::int AS n FROM events WHERE ts < now() - interval '232 days'"))[0].n === 0,
      { what: "the old months dropped", timeoutMs: 60000 });
    const log = await psql("SELECT partition FROM events_retention_log ORDER BY 1");
    assert.ok(log.length >= 5, `months dropped: ${log.map((x) => x.partition)}`);
    const said = workers.flatMap((w) => [...w.output().matchAll(/"dropped": \[([^\]]*)\]/g)].map((m) => m[1]))
      .join(",").split(",").map((s) => s.trim()).filter(Boolean);
    assert.equal(said.length, log.length, "each month dropped by one worker, once");
    for (const w of workers) assert.doesNotMatch(w.output(), /retention pass: /, "no worker failed its pass");
    const kept = await psql("SELECT count(*)::int AS n FROM events WHERE topic = $1 AND ts > now() - interval '200 days'", [topic]);
    assert.ok(kept[0].n >= 199, "the last 200 days are kept");

    // A resume from a dropped month: reset. From a kept day: the missed events, then resumed.
    const old = await wsConnect(hub.wsUrl, tp, { resume: { [topic]: base + 10 } });
    await old.next((m) => m.op === "reset" && m.topic === topic);
    await old.close();
    const recent = await wsConnect(hub.wsUrl, tp, { resume: { [topic]: base + 360 } });
    const got = [];
    for (let i = 0; i < 5; i++) got.push((await recent.next((m) => m.op === "event" && m.topic === topic)).seq);
    assert.deepEqual(got, [1, 2, 3, 4, 5].map((k) => base + 360 + k));
    await recent.next("resumed");
    await recent.close();
  } finally {
    for (const w of workers) await w.stop();
    await hub.stop();
  }
});
