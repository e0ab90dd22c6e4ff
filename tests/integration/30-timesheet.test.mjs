// 30-timesheet: a teacher keeps the day's timesheet of a bound group — marks stored and live to the
// group's staff, idempotent, corrections audited, unexplained absences told to the parents once —
// and only of that group; the org's administrators get the summary.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { demoUsers, demoUser, http, login, openDay, psql, startHub, workday, wsConnect } from "./lib/harness.mjs";

const demo = demoUsers();
const KG = demo.orgs.find((o) => o.kind === "kindergarten");
const SCHOOL = demo.orgs.find((o) => o.kind === "school");
const teachersOf = (gid) => demo.users.filter((u) => u.role === "teacher" && u.group_ids.includes(gid));
const parentsOf = (cid) => demo.users.filter((u) => u.role === "parent" && u.child_ids.includes(cid));
const staffLogins = new Set(demo.users.filter((u) => u.role !== "parent").map((u) => u.login));
// The second kindergarten group (42-absence-flow and the browser tests use the first) with two
// bound teachers; a group the first of them is not bound to.
const GROUP = demo.groups.filter((g) => g.org_id === KG.id)[1];
const [T1, T2] = teachersOf(GROUP.id);
const OTHER = demo.groups.find((g) => g.org_id === KG.id && !T1.group_ids.includes(g.id));
const ADMIN = demoUser({ role: "admin", org_id: KG.id });
const OTHER_ADMIN = demoUser({ role: "admin", org_id: SCHOOL.id });
const KIDS = demo.children.filter((c) => c.group_id === GROUP.id);
const KID_IDS = KIDS.map((c) => c.id);
// Children whose parents are parents only (no staff login): A and B get marks, C an unexplained absence.
const [A, B, C] = KIDS.filter((c) => parentsOf(c.id).length && parentsOf(c.id).every((p) => !staffLogins.has(p.login)));
const PARENT_C = parentsOf(C.id)[0];
const OUTSIDER = demo.children.find((c) => c.group_id === OTHER.id);

// today: the day marked here, the latest workday up to the org's today (a day off takes no
// marks, and the suite runs on any weekday); realToday: the org's today.
let hub, today, realToday;
const tok = {};
const open = [];

// Start the group's day from scratch: no marks, no notices, nothing reported.
async function cleanDay() {
  await psql("UPDATE absence_notices SET status = 'withdrawn' WHERE status = 'active' AND child_id = ANY($1::bigint[])",
    [KID_IDS]);
  await psql("DELETE FROM attendance_marks WHERE child_id = ANY($1::bigint[]) AND day = $2::date", [KID_IDS, today]);
  await psql("DELETE FROM unexplained_sent WHERE child_id = ANY($1::bigint[]) AND day = $2::date", [KID_IDS, today]);
}

before(async () => {
  assert.ok(T2 && OTHER && C && OUTSIDER, "the demo region has the group, teachers and children this test needs");
  hub = await startHub();
  for (const u of [T1, T2, ADMIN, OTHER_ADMIN, PARENT_C]) tok[u.login] = (await login(hub.url, u.login, u.password)).token;
  realToday = (await psql("SELECT epos_org_today($1)::text AS d", [KG.id]))[0].d;
  today = await workday(KG.id);
  await cleanDay();
});

after(async () => {
  for (const c of open) await c.close().catch(() => {});
  if (today) await cleanDay();
  await hub?.stop();
});

const api = (method, path, body, user) => http(method, `${hub.url}${path}`, body, tok[user.login]);
const sheet = (user, gid = GROUP.id, date = today) =>
  api("GET", `/api/timesheet?group_id=${gid}&date=${date}`, undefined, user);
const mark = (user, marks, gid = GROUP.id, date = today) =>
  api("PUT", "/api/timesheet", { group_id: gid, date, marks }, user);
const row = (body, child) => body.children.find((c) => c.child_id === child.id);
const isEvent = (type, pred = () => true) => (m) => m.op === "event" && m.type === type && pred(m.data, m);
const topicSeq = async (topic) =>
  Number((await psql("SELECT coalesce((SELECT seq FROM topic_seq WHERE topic = $1), 0) AS seq", [topic]))[0].seq);

async function connect(user) {
  const c = await wsConnect(hub.wsUrl, tok[user.login]);
  open.push(c);
  await c.next("resumed");
  return c;
}

const openDayAs = (day) => openDay(hub.url, KG.id, day, tok[ADMIN.login]);

function assertRefused(r, status, code) {
  assert.equal(r.status, status, r.text);
  assert.equal(r.json.error.code, code, r.text);
  assert.match(r.json.error.message, /[а-яё]/i, "a Russian message for the user");
}

test("a teacher reads their group's day: every child, each unmarked, and the day's settings", async () => {
  const r = await sheet(T1);
  assert.equal(r.status, 200, r.text);
  assert.equal(r.json.group_id, GROUP.id);
  assert.equal(r.json.group_name, GROUP.name);
  assert.equal(r.json.org_id, KG.id);
  assert.equal(r.json.date, today);
  assert.equal(r.json.complete, false);
  assert.match(r.json.deadline, /^\d\d:\d\d$/);
  assert.equal(typeof r.json.tz, "string");
  assert.equal(typeof r.json.workday, "boolean");
  assert.deepEqual(new Set(r.json.children.map((c) => c.child_id)), new Set(KID_IDS));
  for (const c of r.json.children) {
    assert.equal(c.status, "unmarked");
    assert.equal(c.source, null);
    assert.equal(typeof c.name, "string");
  }
  // Without a date: today in the org's time zone.
  const plain = await api("GET", `/api/timesheet?group_id=${GROUP.id}`, undefined, T1);
  assert.equal(plain.status, 200, plain.text);
  assert.equal(plain.json.date, realToday);
});

test("a teacher's marks are stored; a colleague and the administrators see them live", async () => {
  const colleague = await connect(T2);
  const admin = await connect(ADMIN);
  const r = await mark(T1, [{ child_id: A.id, status: "present" }, { child_id: B.id, status: "absent", reason: "Болеет" }]);
  assert.equal(r.status, 200, r.text);
  assert.deepEqual([row(r.json, A).status, row(r.json, A).source], ["present", "teacher"]);
  assert.deepEqual([row(r.json, B).status, row(r.json, B).source, row(r.json, B).reason], ["absent", "teacher", "Болеет"]);
  assert.equal(r.json.complete, false);

  for (const [child, status] of [[A, "present"], [B, "absent"]]) {
    const ev = await colleague.next(isEvent("timesheet.mark", (d) => d.child_id === child.id && d.date === today));
    assert.equal(ev.topic, `timesheet:${GROUP.id}`);
    assert.equal(ev.data.status, status);
    assert.equal(ev.data.source, "teacher");
    assert.equal(ev.data.by, T1.id);
    assert.equal(ev.data.group_id, GROUP.id);
  }
  const sum = await admin.next(isEvent("timesheet.summary", (d) => d.group_id === GROUP.id && d.date === today));
  assert.equal(sum.topic, `orgstaff:${KG.id}`);
  assert.equal(sum.data.total, KIDS.length);
  assert.equal(sum.data.marked, 2);
  assert.equal(sum.data.absent, 1);
  assert.equal(sum.data.complete, false);

  const again = await sheet(T2);
  assert.equal(row(again.json, B).reason, "Болеет");
});

test("the same marks again change nothing and publish nothing", async () => {
  const colleague = await connect(T2);
  const topic = `timesheet:${GROUP.id}`;
  const seq = await topicSeq(topic);
  const r = await mark(T1, [{ child_id: A.id, status: "present" }, { child_id: B.id, status: "absent", reason: "Болеет" }]);
  assert.equal(r.status, 200, r.text);
  assert.equal(row(r.json, B).reason, "Болеет");
  // Without a reason an unchanged status keeps the stored one: still nothing to do.
  const bare = await mark(T1, [{ child_id: B.id, status: "absent" }]);
  assert.equal(row(bare.json, B).reason, "Болеет");
  assert.equal(await topicSeq(topic), seq, "no event appended");
  // The next event the colleague gets is the next real change, nothing before it.
  await mark(T1, [{ child_id: B.id, status: "absent", reason: "Болеет, справка будет" }]);
  const ev = await colleague.next(isEvent("timesheet.mark"));
  assert.equal(ev.seq, seq + 1);
  assert.equal(ev.data.child_id, B.id);
  assert.equal(ev.data.reason, "Болеет, справка будет");
});

test("a correction goes to the audit log with the previous mark", async () => {
  const r = await mark(T2, [{ child_id: B.id, status: "present" }]);
  assert.equal(r.status, 200, r.text);
  assert.deepEqual([row(r.json, B).status, row(r.json, B).reason], ["present", null]);
  const [a] = await psql("SELECT actor_id, detail FROM audit_log WHERE action = 'timesheet.correct' AND object = $1 " +
    "ORDER BY id DESC LIMIT 1", [`attendance:${B.id}:${today}`]);
  assert.ok(a, "an audit_log row for the correction");
  assert.equal(Number(a.actor_id), T2.id);
  assert.equal(a.detail.before.status, "absent");
  assert.equal(a.detail.before.reason, "Болеет, справка будет");
  assert.equal(Number(a.detail.before.marked_by), T1.id);
  assert.equal(a.detail.after.status, "present");
  // A first mark is not a correction.
  const [{ n }] = await psql("SELECT count(*)::int AS n FROM audit_log WHERE action = 'timesheet.correct' AND object = $1",
    [`attendance:${A.id}:${today}`]);
  assert.equal(n, 0);
});

test("an absence without a parent's notice is told to the parents live and by mail, once", async () => {
  const parent = await connect(PARENT_C);
  // Earlier runs on this database left their events and mails: count from here.
  const seq0 = await topicSeq(`user:${PARENT_C.id}`);
  const [{ id: outbox0 }] = await psql("SELECT coalesce(max(id), 0) AS id FROM outbox");
  const r = await mark(T1, [{ child_id: C.id, status: "absent" }]);
  assert.equal(r.status, 200, r.text);
  assert.equal(row(r.json, C).notice_id, null);
  const ev = await parent.next(isEvent("absence.unexplained", (d) => d.child_id === C.id));
  assert.equal(ev.topic, `user:${PARENT_C.id}`);
  assert.equal(ev.data.date, today);
  assert.equal(ev.data.group_id, GROUP.id);
  assert.equal(ev.data.child_name, C.name);

  // Present, then absent again the same day: the parents were told already.
  assert.equal((await mark(T1, [{ child_id: C.id, status: "present" }])).status, 200);
  assert.equal((await mark(T2, [{ child_id: C.id, status: "absent" }])).status, 200);
  const [{ n }] = await psql("SELECT count(*)::int AS n FROM events WHERE topic = $1 AND seq > $2 " +
    "AND type = 'absence.unexplained' AND payload->>'child_id' = $3 AND payload->>'date' = $4",
  [`user:${PARENT_C.id}`, seq0, String(C.id), today]);
  assert.equal(n, 1);
  for (const p of parentsOf(C.id)) {
    const mails = await psql("SELECT payload FROM outbox WHERE id > $1 AND kind = 'email.notify' " +
      "AND payload->>'message_id' = $2", [outbox0, `<absence.unexplained.${C.id}.${today}.${p.id}@epos.local>`]);
    assert.equal(mails.length, 1, `one mail to parent ${p.id}`);
    assert.equal(mails[0].payload.kind, "absence.unexplained");
    assert.equal(Number(mails[0].payload.user_id), p.id);
    assert.equal(mails[0].payload.data.child_name, C.name, "data only: the worker writes the text");
    assert.equal(mails[0].payload.body, undefined);
  }
});

test("refusals: another group, a parent, an unknown group, a child of another group, bad input", async () => {
  assertRefused(await sheet(T1, OTHER.id), 403, "forbidden");
  assertRefused(await mark(T1, [{ child_id: OUTSIDER.id, status: "present" }], OTHER.id), 403, "forbidden");
  assertRefused(await sheet(PARENT_C), 403, "forbidden");
  assertRefused(await mark(PARENT_C, [{ child_id: C.id, status: "present" }]), 403, "forbidden");
  assertRefused(await sheet(T1, 987654321), 404, "not_found");
  assertRefused(await mark(T1, [{ child_id: OUTSIDER.id, status: "present" }]), 403, "forbidden");
  assertRefused(await sheet(T1, GROUP.id, "2026-02-30"), 400, "bad_request");
  assertRefused(await api("GET", `/api/timesheet?group_id=abc`, undefined, T1), 400, "bad_request");
  assertRefused(await api("GET", "/api/timesheet", undefined, T1), 400, "bad_request");
  const tomorrow = (await psql("SELECT ($1::date + 1)::text AS d", [realToday]))[0].d;
  const old = (await psql("SELECT ($1::date - 32)::text AS d", [realToday]))[0].d;
  assertRefused(await mark(T1, [{ child_id: A.id, status: "present" }], GROUP.id, tomorrow), 400, "bad_request");
  assertRefused(await mark(T1, [{ child_id: A.id, status: "present" }], GROUP.id, old), 400, "bad_request");
  assertRefused(await mark(T1, [{ child_id: A.id, status: "late" }]), 400, "bad_request");
  assertRefused(await mark(T1, [{ child_id: A.id, status: "absent", reason: "я".repeat(501) }]), 400, "bad_request");
  assertRefused(await mark(T1, [{ child_id: A.id, status: "absent" }, { child_id: A.id, status: "present" }]),
    400, "bad_request");
  assertRefused(await api("PUT", "/api/timesheet", { date: today, marks: [] }, T1), 400, "bad_request");
  // A refused call changed nothing: A is still present.
  assert.equal(row((await sheet(T1)).json, A).status, "present");
});

test("the day's summary is for the org's administrators", async () => {
  const r = await api("GET", `/api/timesheet/summary?org_id=${KG.id}&date=${today}`, undefined, ADMIN);
  assert.equal(r.status, 200, r.text);
  assert.equal(r.json.org_id, KG.id);
  assert.equal(r.json.date, today);
  assert.equal(typeof r.json.workday, "boolean");
  assert.deepEqual(new Set(r.json.groups.map((g) => g.group_id)),
    new Set(demo.groups.filter((g) => g.org_id === KG.id).map((g) => g.id)));
  const g = r.json.groups.find((x) => x.group_id === GROUP.id);
  assert.equal(g.name, GROUP.name);
  assert.equal(g.total, KIDS.length);
  assert.equal(g.marked, 3);
  assert.equal(g.absent, 1);
  assert.equal(g.complete, false);

  assertRefused(await api("GET", `/api/timesheet/summary?org_id=${KG.id}`, undefined, T1), 403, "forbidden");
  assertRefused(await api("GET", `/api/timesheet/summary?org_id=${KG.id}`, undefined, OTHER_ADMIN), 403, "forbidden");
  assertRefused(await api("GET", "/api/timesheet/summary", undefined, ADMIN), 400, "bad_request");
});

test("marking every child completes the day", async () => {
  const rest = KIDS.filter((c) => ![A.id, B.id, C.id].includes(c.id)).map((c) => ({ child_id: c.id, status: "present" }));
  const r = await mark(T1, rest);
  assert.equal(r.status, 200, r.text);
  assert.equal(r.json.complete, true);
  assert.ok(r.json.children.every((c) => c.status !== "unmarked"));
  const s = await api("GET", `/api/timesheet/summary?org_id=${KG.id}&date=${today}`, undefined, ADMIN);
  assert.equal(s.json.groups.find((x) => x.group_id === GROUP.id).complete, true);
});

// A notice as the worker leaves it (epos_absence_apply ran): for A, on one day.
async function noticeFor(child, day, { apply = true } = {}) {
  const parent = parentsOf(child.id)[0];
  const [{ id }] = await psql("INSERT INTO absence_notices (child_id, parent_id, from_date, to_date, reason) " +
    "VALUES ($1, $2, $3::date, $3::date, 'Болеет') RETURNING id", [child.id, parent.id, day]);
  if (apply) await psql("SELECT epos_absence_apply($1)", [id]);
  return Number(id);
}

test("a day off takes no marks until an administrator opens it; then the notices covering it apply", async () => {
  // The latest weekend day up to today, a day off by the calendar (no override).
  const [{ off }] = await psql("SELECT max(x)::date::text AS off FROM generate_series($1::date - 6, $1::date, " +
    "interval '1 day') x WHERE extract(isodow FROM x) >= 6", [realToday]);
  const [saved] = await psql("SELECT kind FROM org_calendar WHERE org_id = $1 AND day = $2::date", [KG.id, off]);
  const put = (kind) => api("PUT", `/api/orgs/${KG.id}/calendar/${off}`, { kind }, ADMIN);
  assert.equal((await put("holiday")).status, 200);
  await psql("DELETE FROM attendance_marks WHERE child_id = ANY($1::bigint[]) AND day = $2::date", [KID_IDS, off]);
  const id = await noticeFor(A, off);
  try {
    // The notice is kept and shown on the day's board, unmarked, and said to be for a day off.
    const s = await sheet(T1, GROUP.id, off);
    assert.equal(s.status, 200, s.text);
    assert.equal(s.json.workday, false);
    assert.deepEqual([row(s.json, A).status, row(s.json, A).notice?.id, row(s.json, A).notice?.reason],
      ["unmarked", id, "Болеет"]);
    assert.equal(row(s.json, B).notice, null);
    const [item] = (await api("GET", `/api/absences?child_id=${A.id}`, undefined, T1)).json.absences.filter((a) => a.id === id);
    assert.deepEqual([item.status, item.applied, item.day_off], ["active", false, true]);

    // Marks, one by one or in bulk, are refused with a reason in Russian; nothing is written.
    for (const body of [{ marks: [{ child_id: B.id, status: "present" }] },
      { marks: [{ child_id: A.id, status: "present" }, { child_id: B.id, status: "present" }], bulk: true }]) {
      const r = await api("PUT", "/api/timesheet", { group_id: GROUP.id, date: off, ...body }, T1);
      assertRefused(r, 409, "conflict");
      assert.match(r.json.error.message, /выходной/);
      assert.match(r.json.error.message, /администратор/);
    }
    assertRefused(await api("PUT", "/api/timesheet", { group_id: GROUP.id, date: off, marks: [] }, ADMIN), 409, "conflict");
    const [{ n }] = await psql("SELECT count(*)::int AS n FROM attendance_marks WHERE child_id = ANY($1::bigint[]) " +
      "AND day = $2::date", [KID_IDS, off]);
    assert.equal(n, 0);

    // The administrator opens the day: the notice marks A absent, live for the group's staff.
    const colleague = await connect(T2);
    const close = await openDayAs(off);
    const ev = await colleague.next(isEvent("timesheet.mark", (d) => d.child_id === A.id && d.date === off));
    assert.deepEqual([ev.data.status, ev.data.source, ev.data.notice_id], ["absent", "parent", id]);
    const opened = await sheet(T1, GROUP.id, off);
    assert.equal(opened.json.workday, true);
    assert.deepEqual([row(opened.json, A).status, row(opened.json, A).source, row(opened.json, A).notice_id],
      ["absent", "parent", id]);
    const [now] = (await api("GET", `/api/absences?child_id=${A.id}`, undefined, T1)).json.absences.filter((a) => a.id === id);
    assert.deepEqual([now.applied, now.day_off], [true, false]);
    // Open, the day takes marks; the bulk action leaves the noticed child absent.
    const bulk = await api("PUT", "/api/timesheet", { group_id: GROUP.id, date: off, bulk: true,
      marks: [{ child_id: A.id, status: "present" }, { child_id: B.id, status: "present" }] }, T1);
    assert.equal(bulk.status, 200, bulk.text);
    assert.deepEqual([row(bulk.json, A).status, row(bulk.json, B).status], ["absent", "present"]);

    // A day off again: the parent's mark goes (the teacher's stays), the notice is kept.
    await close();
    const closed = await sheet(T1, GROUP.id, off);
    assert.deepEqual([row(closed.json, A).status, row(closed.json, A).notice?.id], ["unmarked", id]);
    assert.deepEqual([row(closed.json, B).status, row(closed.json, B).source], ["present", "teacher"]);
  } finally {
    await psql("UPDATE absence_notices SET status = 'withdrawn' WHERE id = $1", [id]);
    await psql("DELETE FROM attendance_marks WHERE child_id = ANY($1::bigint[]) AND day = $2::date", [KID_IDS, off]);
    await psql("DELETE FROM org_calendar WHERE org_id = $1 AND day = $2::date", [KG.id, off]);
    if (saved) await psql("INSERT INTO org_calendar (org_id, day, kind) VALUES ($1, $2::date, $3)", [KG.id, off, saved.kind]);
  }
});

test("«Остальные присутствуют» never marks present a child with a parent's notice, nor tells the parent so", async () => {
  await cleanDay();
  // The notice is filed and not applied yet (the worker is behind): the board may not show it.
  const id = await noticeFor(A, today, { apply: false });
  const parent = parentsOf(A.id)[0];
  const [{ id: outbox0 }] = await psql("SELECT coalesce(max(id), 0) AS id FROM outbox");
  const seq0 = await topicSeq(`user:${parent.id}`);
  assertRefused(await api("PUT", "/api/timesheet", { group_id: GROUP.id, date: today, bulk: "yes", marks: [] }, T1),
    400, "bad_request");
  const r = await api("PUT", "/api/timesheet", { group_id: GROUP.id, date: today, bulk: true,
    marks: KIDS.map((c) => ({ child_id: c.id, status: "present" })) }, T1);
  assert.equal(r.status, 200, r.text);
  assert.deepEqual([row(r.json, A).status, row(r.json, A).notice?.id], ["unmarked", id]);
  for (const c of KIDS.filter((k) => k.id !== A.id)) assert.equal(row(r.json, c).status, "present");
  const [{ n }] = await psql("SELECT count(*)::int AS n FROM events WHERE topic = $1 AND seq > $2 " +
    "AND type = 'absence.status'", [`user:${parent.id}`, seq0]);
  assert.equal(n, 0, "the parent is not told the child is present");
  const mails = await psql("SELECT 1 FROM outbox WHERE id > $1 AND kind = 'email.notify' AND payload->>'user_id' = $2",
    [outbox0, String(parent.id)]);
  assert.equal(mails.length, 0);
  await cleanDay();
});
