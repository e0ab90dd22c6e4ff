// 40-email: notification mail through the worker to the test SMTP server — credentials with a
// Russian subject; absence notices only to offline teachers; 4xx retried until it arrives once;
// 5xx dead-lettered; quiet hours hold routine mail but not urgent mail; one digest for several
// unread chat messages; an SMTP outage loses and doubles nothing.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";
import { join } from "node:path";
import {
  ROOT, VAR, ctl, demoUsers, demoUser, http, login, mailbox, psql, run, startHub, startWorker, until,
  wsConnect,
} from "./lib/harness.mjs";

const demo = demoUsers();
const KG = demo.orgs.find((o) => o.kind === "kindergarten");
const ADMIN = demoUser({ role: "admin", org_id: KG.id });
const teachersOf = (gid) => demo.users.filter((u) => u.role === "teacher" && u.group_ids.includes(gid));
const parentOf = (child) => demoUser((u) => u.role === "parent" && u.child_ids.includes(child.id));
// Children of kindergarten groups with two bound teachers and a parent: one per group.
const kids = [...new Map(demo.children
  .filter((c) => c.org_id === KG.id && teachersOf(c.group_id).length >= 2 &&
    demo.users.some((u) => u.role === "parent" && u.child_ids.includes(c.id)))
  .map((c) => [c.group_id, c])).values()];
const [CHILD_A, CHILD_B] = kids; // the offline/online test, the SMTP outage test
const DIGEST_CHILD = kids[kids.length - 1];

let hub, worker, today;
const mail = mailbox();
const tok = {};
const open = [];
let savedQuiet;

// Fast retries (mail_retry too); a short digest delay; attempts enough to outlast an SMTP restart.
const WORKER_ENV = { EPOS_JOB_BACKOFF_MS: "200", EPOS_DIGEST_DELAY_S: "3", EPOS_JOB_MAX_ATTEMPTS: "40",
  EPOS_MAIL_RETRY: "1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1" };

before(async () => {
  mail.ok();
  hub = await startHub();
  tok[ADMIN.id] = (await login(hub.url, ADMIN.login, ADMIN.password)).token;
  today = (await psql("SELECT epos_org_today($1)::text AS d", [KG.id]))[0].d;
  const cal = await api("PUT", `/api/orgs/${KG.id}/calendar/${today}`, { kind: "workday" }, ADMIN);
  assert.equal(cal.status, 200, cal.text);
  // Whatever the hour the suite runs at, no quiet hours unless a test sets them.
  savedQuiet = await psql("SELECT id, quiet_from::text AS f, quiet_to::text AS t FROM orgs");
  await psql("UPDATE orgs SET quiet_from = '00:00', quiet_to = '00:00'");
  worker = await startWorker({ env: WORKER_ENV });
});

after(async () => {
  mail.ok();
  for (const c of open) await c.close().catch(() => {});
  await worker?.stop();
  await hub?.stop();
  for (const o of savedQuiet ?? []) {
    await psql("UPDATE orgs SET quiet_from = $2::time, quiet_to = $3::time WHERE id = $1", [o.id, o.f, o.t]);
  }
});

const api = (method, path, body, user) => http(method, `${hub.url}${path}`, body, tok[user.id]);

async function signIn(user) {
  tok[user.id] ??= (await login(hub.url, user.login, user.password)).token;
}

async function connect(user) {
  await signIn(user);
  const c = await wsConnect(hub.wsUrl, tok[user.id]);
  open.push(c);
  await c.next("resumed");
  return c;
}

/** A new staff member of the kindergarten with an address of their own. */
async function freshStaff(tag) {
  const name = `jobs-${tag}-${process.pid}-${Date.now()}`;
  const email = `${name}@example.test`;
  const r = await ctl(["user", "add", "--login", name, "--name", "Проверочный Сотрудник", "--email", email,
    "--role", "teacher", "--org", String(KG.id)]);
  assert.equal(r.code, 0, r.output);
  const [u] = await psql("SELECT id FROM users WHERE login = $1", [name]);
  return { id: Number(u.id), login: name, email };
}

/** Queue a notification mail the way every feature does (an outbox row of data; the worker's
 * "test" template writes {subject, text} as they are). */
async function notify(uid, kind, messageId, { urgent = false, subject = "Проверка", body = "Текст" } = {}) {
  await psql("SELECT epos_email_notify($1, $2, jsonb_build_object('subject', $3::text, 'text', $4::text), $5, $6, 'test')",
    [uid, kind, subject, body, messageId, urgent]);
}

const msgId = (tag) => `<jobs.${tag}.${randomUUID()}@epos.local>`;
const mailsWith = (id) => mail.list().filter((m) => m.messageId === id);
const emailOf = async (uid) => (await psql("SELECT email FROM users WHERE id = $1", [uid]))[0].email;

/** Every email.notify outbox row of these Message-IDs ran to its end (sent, skipped, held or dead). */
async function jobsFinished(ids) {
  const [r] = await psql(
    "SELECT count(*)::int AS n, count(*) FILTER (WHERE done_at IS NULL)::int AS open FROM outbox " +
    "WHERE kind = 'email.notify' AND payload->>'message_id' = ANY($1::text[])", [ids]);
  return r.n >= ids.length && r.open === 0;
}

const logRow = async (id) => (await psql("SELECT * FROM email_log WHERE message_id = $1", [id]))[0];
const attempts = (id) => psql(
  "SELECT a.outcome, a.smtp_code FROM email_attempts a JOIN email_log l ON l.id = a.email_id " +
  "WHERE l.message_id = $1 ORDER BY a.id", [id]);

/** A parent files a notice for today; resolves the notice id. */
async function fileNotice(child, reason) {
  const parent = parentOf(child);
  await signIn(parent);
  await psql("UPDATE absence_notices SET status = 'withdrawn' WHERE child_id = $1 AND status = 'active'", [child.id]);
  await psql("DELETE FROM attendance_marks WHERE child_id = $1 AND day = $2::date", [child.id, today]);
  const r = await api("POST", "/api/absences", { child_id: child.id, from: today, reason, cid: randomUUID() }, parent);
  assert.equal(r.status, 201, r.text);
  return r.json.absence.id;
}

async function smtp(cmd) {
  const r = await run(join(ROOT, "scripts/stack"), [cmd, "--dir", VAR, "smtp"]);
  assert.equal(r.code, 0, r.output);
}

test("first-login credentials arrive with a decodable Russian subject, the login and a link; no body logged", async () => {
  const staff = await freshStaff("cred");
  const r = await api("POST", `/api/staff/${staff.id}/credentials`, {}, ADMIN);
  assert.equal(r.status, 200, r.text);
  const m = await mail.waitFor({ envelopeTo: staff.email });
  assert.equal(m.subject, "Доступ к ЭПОС");
  assert.match(m.text, new RegExp(`Логин: ${staff.login}`));
  assert.match(m.text, /#\/set-password\?t=\S+/);
  assert.deepEqual(m.headers["x-epos-kind"], ["credentials"]);
  const row = await logRow(m.messageId);
  assert.equal(row.status, "sent");
  assert.equal(row.kind, "credentials");
  assert.equal(row.body, "", "the link never lands in email_log");
});

test("an absence notice is mailed to the offline teacher, not to the one online", async () => {
  const [online, offline] = teachersOf(CHILD_A.group_id);
  await connect(online);
  const parent = parentOf(CHILD_A);
  const id = await fileNotice(CHILD_A, "Семейные обстоятельства");
  const toOffline = `<absence.notice.${id}.${offline.id}@epos.local>`;
  const toOnline = `<absence.notice.${id}.${online.id}@epos.local>`;
  const toParent = `<absence.status.${id}.applied.${parent.id}@epos.local>`;

  const m = await mail.waitFor({ messageId: toOffline });
  assert.deepEqual(m.envelopeTo, [await emailOf(offline.id)]);
  assert.match(m.subject, /Уведомление об отсутствии/);
  assert.match(m.text, /Семейные обстоятельства/);
  await mail.waitFor({ messageId: toParent });

  await until(() => jobsFinished([toOffline, toOnline, toParent]), { what: "the notice's mail jobs finished" });
  assert.equal(mailsWith(toOnline).length, 0, "the teacher online saw it live: no mail");
  assert.equal(await logRow(toOnline), undefined);
  assert.equal(mailsWith(toOffline).length, 1);
});

test("a 451 is retried with backoff until the mail arrives, exactly once; the attempts are logged", async () => {
  const staff = await freshStaff("t451");
  const id = msgId("t451");
  mail.fail(451, staff.email);
  await notify(staff.id, "test.retry", id);
  await until(async () => (await attempts(id)).some((a) => a.outcome === "temporary" && a.smtp_code === 451),
    { what: "a temporary failure recorded" });
  assert.equal(mailsWith(id).length, 0);
  mail.ok();

  const m = await mail.waitFor({ messageId: id });
  assert.deepEqual(m.envelopeTo, [staff.email]);
  await until(() => jobsFinished([id]), { what: "the job finished" });
  const tries = await attempts(id);
  assert.ok(tries.length >= 2, JSON.stringify(tries));
  assert.deepEqual(tries.slice(0, -1).map((a) => a.outcome), tries.slice(0, -1).map(() => "temporary"));
  assert.equal(tries.at(-1).outcome, "sent");
  const row = await logRow(id);
  assert.equal(row.status, "sent");
  assert.equal(row.attempts, tries.length);
  assert.equal(mailsWith(id).length, 1);
});

test("a 550 goes to the dead letters at once and the log says dead", async () => {
  const staff = await freshStaff("t550");
  const id = msgId("t550");
  mail.fail(550, staff.email);
  try {
    await notify(staff.id, "test.refused", id);
    await until(async () => (await logRow(id))?.status === "dead", { what: "email_log status dead" });
    assert.deepEqual((await attempts(id)).map((a) => [a.outcome, a.smtp_code]), [["permanent", 550]]);
    const dead = await until(async () => {
      const r = await ctl(["queue", "dead", "--json", "--limit", "1000"]);
      return r.code === 0 && JSON.parse(r.stdout).find((d) => d.kind === "email.notify" &&
        JSON.parse(d.payload).message_id === id);
    }, { what: "the job in eposctl queue dead" });
    assert.equal(dead.attempt, 1, "no retry after a 5xx");
    assert.match(dead.error, /550/);
    assert.equal(mailsWith(id).length, 0);
  } finally {
    mail.ok();
  }
});

test("quiet hours hold routine mail until they end; urgent credentials go at once", async () => {
  const staff = await freshStaff("quiet");
  const [span] = await psql(
    "SELECT to_char((now() AT TIME ZONE tz) - interval '1 hour', 'HH24:MI') AS f, " +
    "       to_char((now() AT TIME ZONE tz) + interval '1 hour', 'HH24:MI') AS t FROM orgs WHERE id = $1", [KG.id]);
  const p = await api("PATCH", `/api/orgs/${KG.id}`, { quiet_hours: { from: span.f, to: span.t } }, ADMIN);
  assert.equal(p.status, 200, p.text);
  const routine = msgId("quiet");
  try {
    await notify(staff.id, "test.routine", routine);
    const cred = await api("POST", `/api/staff/${staff.id}/credentials`, {}, ADMIN);
    assert.equal(cred.status, 200, cred.text);
    await mail.waitFor({ envelopeTo: staff.email, subject: "Доступ к ЭПОС" });

    await until(() => jobsFinished([routine]), { what: "the routine mail's job decided" });
    const held = await psql("SELECT due_at > now() AS later FROM mail_deferred WHERE message_id = $1", [routine]);
    assert.deepEqual(held, [{ later: true }], "held in mail_deferred until the quiet hours end");
    const row = await logRow(routine);
    assert.equal(row.status, "queued");
    assert.equal(mailsWith(routine).length, 0);
  } finally {
    await psql("UPDATE orgs SET quiet_from = '00:00', quiet_to = '00:00' WHERE id = $1", [KG.id]);
  }
  // Morning comes: the held mail is queued again and sent.
  await psql("UPDATE mail_deferred SET due_at = now() WHERE message_id = $1", [routine]);
  await mail.waitFor({ messageId: routine });
  assert.equal((await logRow(routine)).status, "sent");
});

test("three chat messages to an offline parent make ONE digest mail", async () => {
  const parent = parentOf(DIGEST_CHILD);
  const teacher = teachersOf(DIGEST_CHILD.group_id)[0];
  await signIn(teacher);
  // This parent starts clean (chat sends mark digest_pending in their own transaction).
  await psql("DELETE FROM digest_pending WHERE user_id = $1", [parent.id]);
  const before = mail.snapshot();
  const addr = await emailOf(parent.id);

  const chat = await api("POST", "/api/chats", { with: parent.id }, teacher);
  assert.equal(chat.status, 200, chat.text);
  const texts = [1, 2, 3].map((i) => `Сообщение для сводки ${i} ${randomUUID().slice(0, 8)}`);
  for (const text of texts) {
    const r = await api("POST", `/api/chats/${chat.json.chat.id}/messages`, { text, cid: randomUUID() }, teacher);
    assert.ok([200, 201].includes(r.status), r.text);
  }

  const digest = await mail.waitFor((m) => m.envelopeTo.includes(addr) &&
    m.subject === "Непрочитанные сообщения в ЭПОС" && texts.every((t) => m.text.includes(t)),
  { exclude: before, timeoutMs: 30000 });
  assert.match(digest.messageId, new RegExp(`^<chat\\.digest\\.${parent.id}\\.\\d+@epos\\.local>$`));
  assert.match(digest.text, new RegExp(teacher.name.split(" ")[0]));

  await until(async () => {
    const [r] = await psql(
      "SELECT (SELECT count(*) FROM digest_pending WHERE user_id = $1)::int AS pending, " +
      "       (SELECT count(*) FROM outbox WHERE done_at IS NULL AND " +
      "          kind = 'email.notify' AND payload->>'user_id' = $1::text)::int AS open", [parent.id]);
    return r.pending === 0 && r.open === 0;
  }, { what: "nothing left that could make another digest" });
  const digests = mail.list().filter((m) => !before.has(m.file) && m.subject === "Непрочитанные сообщения в ЭПОС" &&
    m.envelopeTo.includes(addr));
  assert.equal(digests.length, 1, "one digest, never one mail per message");
});

test("news to a group is mailed to its offline parents, not to one who is online", async () => {
  const gid = CHILD_A.group_id;
  const parents = demo.users.filter((u) => u.role === "parent" &&
    demo.children.some((c) => c.group_id === gid && u.child_ids.includes(c.id)));
  const [online, offline] = parents;
  await connect(online);
  const r = await api("POST", "/api/news",
    { org_id: KG.id, group_ids: [gid], title: "Утренник в пятницу", body: "Приходите к 10:00", cid: randomUUID() }, ADMIN);
  assert.equal(r.status, 201, r.text);
  const id = r.json.item.id;
  const toOffline = `<news.${id}.${offline.id}@epos.local>`;
  const toOnline = `<news.${id}.${online.id}@epos.local>`;
  const m = await mail.waitFor({ messageId: toOffline });
  assert.equal(m.subject, "Новость: Утренник в пятницу");
  assert.match(m.text, /Приходите к 10:00/);
  await until(() => jobsFinished([toOffline, toOnline]), { what: "the news mail jobs finished" });
  assert.equal(mailsWith(toOnline).length, 0);
  assert.equal(mailsWith(toOffline).length, 1);
});

test("a user who turned a kind of mail off does not get it", async () => {
  const staff = await freshStaff("prefs");
  await psql("INSERT INTO notification_prefs (user_id, kind, email) VALUES ($1, 'test.muted', false)", [staff.id]);
  const muted = msgId("muted");
  const other = msgId("other");
  await notify(staff.id, "test.muted", muted);
  await notify(staff.id, "test.other", other);
  await mail.waitFor({ messageId: other });
  await until(() => jobsFinished([muted, other]), { what: "both jobs finished" });
  assert.equal(mailsWith(muted).length, 0);
  assert.equal(await logRow(muted), undefined);
});

test("SMTP server down while notices are filed: once it is back, every mail arrives exactly once", async () => {
  const staff = (await psql("SELECT epos_group_staff($1) AS uid", [CHILD_B.group_id])).map((r) => Number(r.uid));
  const parent = parentOf(CHILD_B);
  await smtp("down");
  let ids;
  try {
    const id = await fileNotice(CHILD_B, "Плановый приём у врача");
    ids = [...staff.map((uid) => `<absence.notice.${id}.${uid}@epos.local>`),
      `<absence.status.${id}.applied.${parent.id}@epos.local>`];
    // Every mail met the closed port at least once.
    await until(async () => {
      const n = await Promise.all(ids.map(async (m) => (await attempts(m)).some((a) => a.outcome === "temporary")));
      return n.every(Boolean);
    }, { what: "a temporary failure for every mail", timeoutMs: 60000 });
  } finally {
    await smtp("up");
  }
  for (const id of ids) await mail.waitFor({ messageId: id }, { timeoutMs: 60000 });
  await until(() => jobsFinished(ids), { what: "the mail jobs finished" });
  for (const id of ids) {
    assert.equal(mailsWith(id).length, 1, `${id} exactly once`);
    assert.equal((await logRow(id)).status, "sent");
  }
});
