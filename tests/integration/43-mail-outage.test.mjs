// 43-mail-outage: a relay answering 451 to everything for a while is an outage, not a failure of
// each mail: the mailer's breaker pauses (metrics and log say so), no mail is dead-lettered, lost
// or doubled, all arrive after it; a 5xx for one recipient is dead at once, outage or not; a server
// deferring one mail (4xx) follows mail_retry without spending the job's ordinary attempts and is
// dead after the last wait; a bad mail_retry stops the worker with a clear error.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { BUILD_DIR, CONF, ctl, mailbox, psql, runToExit, startWorker, until } from "./lib/harness.mjs";

const mail = mailbox();
const OUTAGE_MS = Number(process.env.EPOS_TEST_OUTAGE_S || 20) * 1000;
let savedQuiet, users;

before(async () => {
  mail.ok();
  // Whatever the hour, no quiet hours while these tests run.
  savedQuiet = await psql("SELECT id, quiet_from::text AS f, quiet_to::text AS t FROM orgs");
  await psql("UPDATE orgs SET quiet_from = '00:00', quiet_to = '00:00'");
  users = await psql("SELECT id::int AS id, lower(btrim(email)) AS email FROM users " +
    "WHERE coalesce(btrim(email), '') <> '' ORDER BY id LIMIT 21");
  assert.equal(users.length, 21, "the demo region has 21 users with an address");
});

after(async () => {
  mail.ok();
  for (const o of savedQuiet ?? []) {
    await psql("UPDATE orgs SET quiet_from = $2::time, quiet_to = $3::time WHERE id = $1", [o.id, o.f, o.t]);
  }
});

/** A worker of its own for one test, stopped when the test ends however it ends. */
async function worker(t, env) {
  const w = await startWorker({ env: { EPOS_JOB_BACKOFF_MS: "200", ...env } });
  t.after(() => w.stop().catch(() => {}));
  return w;
}

/** Queue one notification mail per (user, n) as features do; resolves the Message-IDs. */
async function notify(tag, list, perUser = 1) {
  const run = randomUUID();
  const rows = await psql(
    "SELECT m.id FROM (SELECT u, g, '<outage.' || $2 || '.' || $3 || '.' || u || '.' || g || '@epos.local>' AS id " +
    "FROM unnest($1::bigint[]) AS u, generate_series(1, $4::int) AS g) m, " +
    "LATERAL epos_email_notify(m.u, 'test.outage', jsonb_build_object('subject', 'Проверка', 'text', 'Текст'), " +
    "m.id, false, 'test') AS x",
    [list.map((u) => u.id), tag, run, perUser]);
  return rows.map((r) => r.id);
}

const logRows = (ids) => psql(
  "SELECT message_id, status, attempts, deferrals FROM email_log WHERE message_id = ANY($1::text[])", [ids]);
const attempts = (id) => psql(
  "SELECT a.outcome, a.smtp_code FROM email_attempts a JOIN email_log l ON l.id = a.email_id " +
  "WHERE l.message_id = $1 ORDER BY a.id", [id]);

/** How many times each Message-ID is in the maildir. */
function delivered(ids) {
  const want = new Set(ids), n = new Map();
  for (const m of mail.list()) if (want.has(m.messageId)) n.set(m.messageId, (n.get(m.messageId) || 0) + 1);
  return n;
}

async function deadJobs(ids) {
  const r = await ctl(["queue", "dead", "--json", "--limit", "100000"]);
  assert.equal(r.code, 0, r.output);
  const want = new Set(ids);
  return JSON.parse(r.stdout).filter((d) => d.kind === "email.notify" && want.has(JSON.parse(d.payload).message_id));
}

async function metric(w, name) {
  const text = await (await fetch(w.metricsUrl)).text();
  const line = text.split("\n").find((l) => l.startsWith(`${name} `));
  return line ? Number(line.split(" ")[1]) : NaN;
}

test(`451 to everything for ${OUTAGE_MS / 1000} s: the breaker pauses, nothing dead, lost or doubled; a 550 is dead at once`, async (t) => {
  // One ordinary attempt per job: before mail_retry, any 4xx met before the breaker opened was dead.
  const w = await worker(t, { EPOS_MAIL_RETRY: "2,4,8,16,32,64,128", EPOS_MAIL_PAUSE_MAX_MS: "4000",
    EPOS_JOB_MAX_ATTEMPTS: "1" });
  const [victim, ...rest] = users;
  writeFileSync(join(mail.dir, ".fail"), `550 ${victim.email}\n451\n`);
  const start = Date.now();
  let ids = [];
  try {
    // A trickle first (each mail its own session, met before the breaker can open), then a burst.
    for (const u of rest.slice(0, 5)) {
      const [id] = await notify("trickle", [u]);
      ids.push(id);
      await until(async () => (await attempts(id)).length > 0, { what: `a first attempt of ${id}` });
    }
    ids.push(...await notify("burst", rest, 10));
    const [refused] = await notify("victim", [victim]);
    await until(async () => (await logRows([refused]))[0]?.status === "dead", { what: "the 550 dead" });
    // Mail the paused mailer held back is no attempt at the server; the first 550 ends it.
    const tries = await attempts(refused);
    assert.deepEqual(tries.at(-1), { outcome: "permanent", smtp_code: 550 });
    assert.ok(tries.slice(0, -1).every((a) => a.outcome === "temporary" && a.smtp_code === null), JSON.stringify(tries));
    await new Promise((r) => setTimeout(r, Math.max(0, OUTAGE_MS - (Date.now() - start)))); // the outage itself
    const rows = await logRows(ids);
    assert.deepEqual(rows.filter((r) => r.status === "dead"), [], "nothing dead during the outage");
    assert.ok(await metric(w, "epos_mail_breaker_opens_total") >= 1, "the breaker opened");
    assert.match(w.output(), /the relay refuses mail; pausing \d+ ms/);
    assert.equal(delivered(ids).size, 0, "nothing got through a 451");
  } finally {
    mail.ok();
  }
  await until(async () => delivered(ids).size === ids.length, { what: "every mail delivered", timeoutMs: 120000 });
  await until(async () => (await logRows(ids)).every((r) => r.status === "sent"), { what: "every mail logged sent" });
  const doubled = [...delivered(ids).values()].filter((n) => n > 1).length;
  const deferred = (await logRows(ids)).filter((r) => r.deferrals > 0).length;
  t.diagnostic(`${ids.length} mails: delivered ${delivered(ids).size}, doubled ${doubled}, dead 0; ` +
    `${deferred} deferred before the breaker opened, ${await metric(w, "epos_mail_breaker_opens_total")} pauses`);
  assert.equal(doubled, 0);
  assert.equal((await deadJobs(ids)).length, 0, "no job in the dead letters");
  assert.ok(deferred >= 1, "the trickle's first mail was a deferral (mail_retry), not dead");
  assert.equal(await metric(w, "epos_mail_paused_seconds"), 0, "the breaker closed again");
});

test("one server deferring one mail: mail_retry's waits, no ordinary attempt spent, dead after the last", async (t) => {
  const w = await worker(t, { EPOS_MAIL_RETRY: "1, 1,1", EPOS_JOB_MAX_ATTEMPTS: "1" });
  const [u] = users.slice(-1);
  mail.fail(451, u.email);
  try {
    const [id] = await notify("deferred", [u]);
    await until(async () => (await logRows([id]))[0]?.status === "dead", { what: "the mail dead", timeoutMs: 60000 });
    assert.deepEqual((await attempts(id)).map((a) => [a.outcome, a.smtp_code]),
      Array(4).fill(["temporary", 451]), "three waits of mail_retry, then dead");
    const [row] = await logRows([id]);
    assert.equal(row.deferrals, 4);
    const [dead] = await until(() => deadJobs([id]), { what: "the job in the dead letters" });
    assert.match(dead.error, /deferred 4 times.*451/);
    assert.equal(delivered([id]).size, 0);
    assert.equal(await metric(w, "epos_mail_breaker_opens_total"), 0, "one recipient's trouble is no outage");
  } finally {
    mail.ok();
  }
});

test("a bad mail_retry stops the worker with a line naming it", async () => {
  for (const bad of ["", "60,,300", "0", "60;300", "x"]) {
    const r = await runToExit(join(BUILD_DIR, "epos-worker"), ["--config", CONF], { env: { EPOS_MAIL_RETRY: bad } });
    assert.notEqual(r.code, 0, `mail_retry "${bad}" accepted`);
    assert.match(r.output, /mail_retry: ".*" is not a list of 1 to 64 waits/);
  }
});
