// 42-absence-flow: a parent files an absence notice through the hub; the worker applies it to the
// timesheet and the group's teacher sees absence.notice and timesheet.mark live, the timesheet shows
// the child absent (source parent), and the parent is told the notice was applied.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";
import { demoUsers, demoUser, http, login, psql, startHub, startWorker, wsConnect } from "./lib/harness.mjs";

const demo = demoUsers();
const KG = demo.orgs.find((o) => o.kind === "kindergarten");
const ADMIN = demoUser({ role: "admin", org_id: KG.id });
// A child of a kindergarten group with a bound teacher, and a parent of that child.
const CHILD = demo.children.find((c) => c.org_id === KG.id &&
  demo.users.some((u) => u.role === "teacher" && u.group_ids.includes(c.group_id)) &&
  demo.users.some((u) => u.role === "parent" && u.child_ids.includes(c.id)));
const PARENT = demoUser((u) => u.role === "parent" && u.child_ids.includes(CHILD.id));
const TEACHER = demoUser((u) => u.role === "teacher" && u.group_ids.includes(CHILD.group_id));

let hub, worker, today;
const tok = {};
const open = [];

before(async () => {
  hub = await startHub();
  for (const u of [ADMIN, PARENT, TEACHER]) tok[u.id] = (await login(hub.url, u.login, u.password)).token;
  today = (await psql("SELECT epos_org_today($1)::text AS d", [KG.id]))[0].d;
  // A notice marks workdays only: make today one, and start from a clean day for this child.
  const cal = await api("PUT", `/api/orgs/${KG.id}/calendar/${today}`, { kind: "workday" }, ADMIN);
  assert.equal(cal.status, 200, cal.text);
  await psql("UPDATE absence_notices SET status = 'withdrawn' WHERE child_id = $1 AND status = 'active'", [CHILD.id]);
  await psql("DELETE FROM attendance_marks WHERE child_id = $1 AND day = $2::date", [CHILD.id, today]);
  worker = await startWorker();
});

after(async () => {
  for (const c of open) await c.close().catch(() => {});
  await worker?.stop();
  await hub?.stop();
});

const api = (method, path, body, user) => http(method, `${hub.url}${path}`, body, tok[user.id]);

async function connect(user) {
  const c = await wsConnect(hub.wsUrl, tok[user.id]);
  open.push(c);
  await c.next("resumed");
  return c;
}

test("a parent's notice reaches the teacher live, already applied to the timesheet; the parent is told", async () => {
  const teacher = await connect(TEACHER);
  const parent = await connect(PARENT);

  const r = await api("POST", "/api/absences",
    { child_id: CHILD.id, from: today, to: today, reason: "Простуда", cid: randomUUID() }, PARENT);
  assert.equal(r.status, 201, r.text);
  const id = r.json.absence.id;

  const notice = await teacher.next((m) => m.op === "event" && m.type === "absence.notice" && m.data?.id === id);
  assert.equal(notice.topic, `timesheet:${CHILD.group_id}`);
  assert.equal(notice.data.action, "filed");
  assert.deepEqual(notice.data.days, [today]);
  const mark = await teacher.next((m) => m.op === "event" && m.type === "timesheet.mark" &&
    m.data?.child_id === CHILD.id && m.data?.notice_id === id);
  assert.equal(mark.data.status, "absent");
  assert.equal(mark.data.source, "parent");
  assert.equal(mark.data.date, today);

  const sheet = await api("GET", `/api/timesheet?group_id=${CHILD.group_id}&date=${today}`, undefined, TEACHER);
  assert.equal(sheet.status, 200, sheet.text);
  const row = sheet.json.children.find((c) => c.child_id === CHILD.id);
  assert.equal(row.status, "absent");
  assert.equal(row.source, "parent");
  assert.equal(row.reason, "Простуда");

  const status = await parent.next((m) => m.op === "event" && m.type === "absence.status" &&
    m.data?.absence_id === id);
  assert.equal(status.topic, `user:${PARENT.id}`);
  assert.equal(status.data.status, "applied");

  // Applied once: the job's effect is idempotent, the notice is marked applied.
  const [n] = await psql("SELECT applied_at IS NOT NULL AS applied FROM absence_notices WHERE id = $1", [id]);
  assert.equal(n.applied, true);
});
