// 41-reminders: the timesheet deadline pass. With the kindergarten's deadline a minute ago on a
// workday, two workers starting at once run it exactly once: the teachers of an incomplete group
// are reminded live and by mail, the administrator gets the overdue list, a complete group's
// teachers get nothing; `eposctl reminders run` re-runs the day on purpose.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import {
  ctl, demoUsers, demoUser, http, login, mailbox, psql, startHub, startWorker, until, wsConnect,
} from "./lib/harness.mjs";

const demo = demoUsers();
const KG = demo.orgs.find((o) => o.kind === "kindergarten");
const ADMIN = demoUser({ role: "admin", org_id: KG.id });
const teachersOf = (gid) => demo.users.filter((u) => u.role === "teacher" && u.group_ids.includes(gid));
const kgGroups = demo.groups.filter((g) => g.org_id === KG.id && teachersOf(g.id).length > 0 &&
  demo.children.some((c) => c.group_id === g.id));
const G_MISS = kgGroups[0].id; // left incomplete
const G_DONE = kgGroups[1].id; // completed before the deadline pass
const T_MISS = teachersOf(G_MISS)[0];
const T_DONE = teachersOf(G_DONE)[0];

let hub, today, savedDeadline, savedQuiet, before41;
const workers = [];
const mail = mailbox();
const tok = {};
const open = [];

const api = (method, path, body, user) => http(method, `${hub.url}${path}`, body, tok[user.id]);

async function connect(user) {
  const c = await wsConnect(hub.wsUrl, tok[user.id]);
  open.push(c);
  await c.next("resumed");
  return c;
}

// Mail of this org's passes for today: timesheet.reminder / timesheet.overdue Message-IDs.
const passIds = () => `<timesheet.%.${KG.id}.${today}.%`;

before(async () => {
  mail.ok();
  hub = await startHub();
  for (const u of [ADMIN, T_MISS, T_DONE]) tok[u.id] = (await login(hub.url, u.login, u.password)).token;
  today = (await psql("SELECT epos_org_today($1)::text AS d", [KG.id]))[0].d;
  savedDeadline = (await psql("SELECT to_char(timesheet_deadline, 'HH24:MI') AS d FROM orgs WHERE id = $1", [KG.id]))[0].d;
  // Whatever the hour the suite runs at (after 20:00 in the org's zone the
  // reminders would wait for the morning), no quiet hours in this file.
  savedQuiet = (await psql("SELECT quiet_from::text AS f, quiet_to::text AS t FROM orgs WHERE id = $1", [KG.id]))[0];
  await psql("UPDATE orgs SET quiet_from = '00:00', quiet_to = '00:00' WHERE id = $1", [KG.id]);
  const cal = await api("PUT", `/api/orgs/${KG.id}/calendar/${today}`, { kind: "workday" }, ADMIN);
  assert.equal(cal.status, 200, cal.text);
  // Today not yet passed, and mail of an earlier pass of today forgotten.
  await psql("DELETE FROM reminder_runs WHERE org_id = $1 AND day = $2::date", [KG.id, today]);
  await psql("DELETE FROM email_log WHERE message_id LIKE $1", [passIds()]);
  // What an earlier pass of today left (a worker of an earlier file, when the
  // suite runs after the deadline): this file counts only what comes after.
  const last = async (u) => (await psql("SELECT coalesce(max(seq), 0)::int AS seq FROM events WHERE topic = $1",
    [`user:${u.id}`]))[0].seq;
  before41 = { miss: await last(T_MISS), done: await last(T_DONE), mail: mail.snapshot() };
  // One group complete, one with an unmarked child.
  const sheet = await api("GET", `/api/timesheet?group_id=${G_DONE}&date=${today}`, undefined, T_DONE);
  assert.equal(sheet.status, 200, sheet.text);
  const marks = sheet.json.children.filter((c) => c.status === "unmarked")
    .map((c) => ({ child_id: c.child_id, status: "present" }));
  if (marks.length) {
    const put = await api("PUT", "/api/timesheet", { group_id: G_DONE, date: today, marks }, T_DONE);
    assert.equal(put.status, 200, put.text);
  }
  await psql("DELETE FROM attendance_marks WHERE day = $1::date AND child_id = " +
    "(SELECT min(child_id) FROM enrolments WHERE group_id = $2)", [today, G_MISS]);
});

after(async () => {
  for (const c of open) await c.close().catch(() => {});
  for (const w of workers) await w.stop();
  if (savedDeadline) await psql("UPDATE orgs SET timesheet_deadline = $2::time WHERE id = $1", [KG.id, savedDeadline]);
  if (savedQuiet) {
    await psql("UPDATE orgs SET quiet_from = $2::time, quiet_to = $3::time WHERE id = $1", [KG.id, savedQuiet.f, savedQuiet.t]);
  }
  await hub?.stop();
});

const isReminder = (gid) => (m) => m.op === "event" && m.type === "timesheet.reminder" &&
  m.data?.group_id === gid && m.data?.date === today;

/** Every email.notify outbox row of today's passes ran to its end. */
async function passMailsFinished() {
  const [r] = await psql("SELECT count(*)::int AS n, count(*) FILTER (WHERE done_at IS NULL)::int AS open " +
    "FROM outbox WHERE kind = 'email.notify' AND payload->>'message_id' LIKE $1", [passIds()]);
  return r.n > 0 && r.open === 0;
}

test("the deadline pass: once with two workers; incomplete group's teachers live and by mail; the admin's list", async (t) => {
  const [clock] = await psql(
    "SELECT to_char((now() AT TIME ZONE tz) - interval '1 minute', 'HH24:MI') AS deadline, " +
    "       (now() AT TIME ZONE tz)::time >= '00:02' AS ok FROM orgs WHERE id = $1", [KG.id]);
  if (!clock.ok) return t.skip("too close to midnight in the org's time zone");
  const teacher = await connect(T_MISS);
  const admin = await connect(ADMIN);
  const p = await api("PATCH", `/api/orgs/${KG.id}`, { timesheet_deadline: clock.deadline }, ADMIN);
  assert.equal(p.status, 200, p.text);

  // Two workers at once: each runs the pass as it starts.
  workers.push(...await Promise.all([startWorker(), startWorker()]));

  const live = await teacher.next(isReminder(G_MISS), 20000);
  assert.equal(live.topic, `user:${T_MISS.id}`);
  assert.ok(live.data.unmarked_count >= 1);
  const overdue = await admin.next((m) => m.op === "event" && m.type === "timesheet.overdue" &&
    m.data?.date === today, 20000);
  assert.equal(overdue.topic, `orgstaff:${KG.id}`);
  const listed = overdue.data.groups.map((g) => g.group_id);
  assert.ok(listed.includes(G_MISS));
  assert.ok(!listed.includes(G_DONE), "a complete group is not overdue");

  const runs = await psql("SELECT attempt FROM reminder_runs WHERE org_id = $1 AND day = $2::date", [KG.id, today]);
  assert.deepEqual(runs, [{ attempt: 1 }], "exactly one run however many workers");

  const staff = (await psql("SELECT epos_group_staff($1) AS uid", [G_MISS])).map((r) => Number(r.uid));
  const ids = staff.map((uid) => `<timesheet.reminder.${KG.id}.${today}.${G_MISS}.${uid}.1@epos.local>`);
  const adminId = `<timesheet.overdue.${KG.id}.${today}.${ADMIN.id}.1@epos.local>`;
  // The text the worker writes from the event's data: the count with its plural forms.
  const n = live.data.unmarked_count;
  const form = (one, few, many) => (n % 100 >= 11 && n % 100 <= 14 ? many
    : n % 10 === 1 ? one : n % 10 >= 2 && n % 10 <= 4 ? few : many);
  const [dd, mm, yyyy] = [today.slice(8, 10), today.slice(5, 7), today.slice(0, 4)];
  const fresh = { exclude: before41.mail };
  for (const id of ids) {
    const m = await mail.waitFor({ messageId: id }, fresh);
    assert.match(m.subject, /Табель .* не заполнен/);
    assert.equal(m.text.replace(/\r\n/g, "\n"), "Здравствуйте!\n\n" +
      `Срок сдачи табеля (${live.data.deadline}) прошёл, а в табеле «${live.data.group_name}» за ${dd}.${mm}.${yyyy} ` +
      `не ${form("отмечен", "отмечены", "отмечено")} ${n} ${form("ребёнок", "ребёнка", "детей")}: ` +
      `${live.data.unmarked.join(", ")}.\n\nПожалуйста, заполните табель в ЭПОС.\n`);
  }
  const am = await mail.waitFor({ messageId: adminId }, fresh);
  assert.match(am.subject, /Не заполнены табели/);

  await until(passMailsFinished, { what: "the pass's mail jobs finished" });
  const all = mail.list().filter((m) => !before41.mail.has(m.file));
  for (const id of [...ids, adminId]) assert.equal(all.filter((m) => m.messageId === id).length, 1, `${id} once`);
  const [ev] = await psql("SELECT count(*)::int AS n FROM events WHERE topic = $1 AND type = 'timesheet.reminder' " +
    "AND payload->>'date' = $2 AND (payload->>'group_id')::bigint = $3 AND seq > $4",
    [`user:${T_MISS.id}`, today, G_MISS, before41.miss]);
  assert.equal(ev.n, 1, "one reminder event per teacher");
  const [none] = await psql("SELECT count(*)::int AS n FROM events WHERE topic = $1 AND type = 'timesheet.reminder' " +
    "AND payload->>'date' = $2 AND (payload->>'group_id')::bigint = $3 AND seq > $4",
    [`user:${T_DONE.id}`, today, G_DONE, before41.done]);
  assert.equal(none.n, 0, "the complete group's teacher is not reminded");
  assert.equal(all.filter((m) => m.messageId?.startsWith(`<timesheet.reminder.${KG.id}.${today}.${G_DONE}.`)).length, 0);

  // The operator re-runs the day on purpose: reminded again, live and with a new Message-ID.
  const r = await ctl(["reminders", "run", "--org", String(KG.id), "--date", today]);
  assert.equal(r.code, 0, r.output);
  assert.match(r.stdout, new RegExp(`org ${KG.id}, ${today}, run 2: \\d+ groups? missed`));
  await teacher.next(isReminder(G_MISS), 20000);
  await mail.waitFor({ messageId: `<timesheet.reminder.${KG.id}.${today}.${G_MISS}.${T_MISS.id}.2@epos.local>` });
  const again = await psql("SELECT attempt FROM reminder_runs WHERE org_id = $1 AND day = $2::date", [KG.id, today]);
  assert.deepEqual(again, [{ attempt: 2 }]);
});

test("eposctl reminders run refuses bad arguments and an unknown org", async () => {
  assert.equal((await ctl(["reminders", "run"])).code, 2);
  assert.equal((await ctl(["reminders", "run", "--org", "x"])).code, 2);
  assert.equal((await ctl(["reminders", "bogus", "--org", "1"])).code, 2);
  const unknown = await ctl(["reminders", "run", "--org", "999999999"]);
  assert.equal(unknown.code, 1);
  assert.match(unknown.stderr, /Организация не найдена/);
  const bad = await ctl(["reminders", "run", "--org", String(KG.id), "--date", "2026-02-30"]);
  assert.equal(bad.code, 1);
});
