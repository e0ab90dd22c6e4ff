// 31-absence: a parent's absence notice — filed (only for their own child, sane dates, lessons only
// for a school class), applied by the worker (build/epos-worker, job absence.apply) to the
// timesheet and told to the teachers live, withdrawn, overridden by a teacher who marks the child
// present (the parent is told), and listed for the parent and the group's staff.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";
import { demoUsers, demoUser, http, login, psql, startHub, startWorker, wsConnect } from "./lib/harness.mjs";

const demo = demoUsers();
const KG = demo.orgs.find((o) => o.kind === "kindergarten");
const SCHOOL = demo.orgs.find((o) => o.kind === "school");
const staffLogins = new Set(demo.users.filter((u) => u.role !== "parent").map((u) => u.login));
const parentsOf = (cid) => demo.users.filter((u) => u.role === "parent" && u.child_ids.includes(cid));
const familyOnly = (c) => parentsOf(c.id).length && parentsOf(c.id).every((p) => !staffLogins.has(p.login));
// The third kindergarten group (30-timesheet uses the second, 42-absence-flow the first).
const GROUP = demo.groups.filter((g) => g.org_id === KG.id)[2];
const TEACHER = demoUser((u) => u.role === "teacher" && u.group_ids.includes(GROUP.id));
const ELSEWHERE = demoUser((u) => u.role === "teacher" && u.org_id === KG.id && !u.group_ids.includes(GROUP.id));
const ADMIN = demoUser({ role: "admin", org_id: KG.id });
const [CHILD, NEIGHBOUR] = demo.children.filter((c) => c.group_id === GROUP.id && familyOnly(c));
const PARENT = parentsOf(CHILD.id)[0];
const STRANGER = parentsOf(NEIGHBOUR.id).find((p) => !p.child_ids.includes(CHILD.id));
const PUPIL = demo.children.find((c) => c.org_id === SCHOOL.id && familyOnly(c));
const PUPIL_PARENT = parentsOf(PUPIL.id)[0];
const CHILDREN = [CHILD.id, NEIGHBOUR.id, PUPIL.id];

let hub, worker, today, tomorrow, yesterday;
let calendarBefore; // the org_calendar row of today before this test, restored after
const tok = {};
const open = [];

async function cleanChildren() {
  await psql("UPDATE absence_notices SET status = 'withdrawn' WHERE status = 'active' AND child_id = ANY($1::bigint[])",
    [CHILDREN]);
  await psql("DELETE FROM attendance_marks WHERE child_id = ANY($1::bigint[]) AND day >= $2::date", [CHILDREN, today]);
}

before(async () => {
  assert.ok(CHILD && NEIGHBOUR && STRANGER && ELSEWHERE && PUPIL, "the demo region has the families this test needs");
  today = (await psql("SELECT epos_org_today($1)::text AS d", [KG.id]))[0].d;
  [{ tomorrow, yesterday }] = await psql("SELECT ($1::date + 1)::text AS tomorrow, ($1::date - 1)::text AS yesterday",
    [today]);
  // A notice marks workdays only: make today one whatever the weekday.
  calendarBefore = (await psql("SELECT kind FROM org_calendar WHERE org_id = $1 AND day = $2::date", [KG.id, today]))[0];
  await psql("INSERT INTO org_calendar (org_id, day, kind) VALUES ($1, $2::date, 'workday') " +
    "ON CONFLICT (org_id, day) DO UPDATE SET kind = 'workday'", [KG.id, today]);
  await cleanChildren();
  hub = await startHub();
  for (const u of [PARENT, STRANGER, TEACHER, ELSEWHERE, ADMIN, PUPIL_PARENT]) {
    tok[u.login] = (await login(hub.url, u.login, u.password)).token;
  }
  worker = await startWorker();
});

after(async () => {
  for (const c of open) await c.close().catch(() => {});
  await worker?.stop();
  await hub?.stop();
  if (!today) return;
  await cleanChildren();
  if (calendarBefore) {
    await psql("UPDATE org_calendar SET kind = $3 WHERE org_id = $1 AND day = $2::date", [KG.id, today, calendarBefore.kind]);
  } else {
    await psql("DELETE FROM org_calendar WHERE org_id = $1 AND day = $2::date", [KG.id, today]);
  }
});

const api = (method, path, body, user) => http(method, `${hub.url}${path}`, body, tok[user.login]);
const file = (user, body) => api("POST", "/api/absences", body, user);
const sheetRow = async (child = CHILD) => {
  const r = await api("GET", `/api/timesheet?group_id=${GROUP.id}&date=${today}`, undefined, TEACHER);
  assert.equal(r.status, 200, r.text);
  return r.json.children.find((c) => c.child_id === child.id);
};
const isEvent = (type, pred = () => true) => (m) => m.op === "event" && m.type === type && pred(m.data, m);
const APPLY_MS = 20000; // the worker's relay and job in between

async function connect(user) {
  const c = await wsConnect(hub.wsUrl, tok[user.login]);
  open.push(c);
  await c.next("resumed");
  return c;
}

function assertRefused(r, status, code) {
  assert.equal(r.status, status, r.text);
  assert.equal(r.json.error.code, code, r.text);
  assert.match(r.json.error.message, /[а-яё]/i, "a Russian message for the user");
}

let noticeId; // filed by the first test, withdrawn by the third

test("a parent files for their child; the worker applies it and the teacher sees it live", async () => {
  const teacher = await connect(TEACHER);
  const parent = await connect(PARENT);
  const cid = randomUUID();
  const r = await file(PARENT, { child_id: CHILD.id, from: today, to: today, reason: "  Температура  ", cid });
  assert.equal(r.status, 201, r.text);
  const a = r.json.absence;
  noticeId = a.id;
  assert.equal(a.child_id, CHILD.id);
  assert.equal(a.child_name, CHILD.name);
  assert.deepEqual([a.from, a.to, a.lessons, a.reason, a.status, a.applied], [today, today, null, "Температура", "active", false]);
  assert.match(a.created_at, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);

  const notice = await teacher.next(isEvent("absence.notice", (d) => d.id === a.id), APPLY_MS);
  assert.equal(notice.topic, `timesheet:${GROUP.id}`);
  assert.equal(notice.data.action, "filed");
  assert.deepEqual(notice.data.days, [today]);
  assert.equal(notice.data.child_name, CHILD.name);
  assert.equal(notice.data.group_id, GROUP.id);
  assert.equal(notice.data.reason, "Температура");
  assert.equal(typeof notice.data.parent_name, "string");
  const mark = await teacher.next(isEvent("timesheet.mark", (d) => d.child_id === CHILD.id && d.notice_id === a.id));
  assert.deepEqual([mark.data.status, mark.data.source, mark.data.date], ["absent", "parent", today]);

  const row = await sheetRow();
  assert.deepEqual([row.status, row.source, row.reason, row.notice_id], ["absent", "parent", "Температура", a.id]);

  const status = await parent.next(isEvent("absence.status", (d) => d.absence_id === a.id), APPLY_MS);
  assert.equal(status.topic, `user:${PARENT.id}`);
  assert.equal(status.data.status, "applied");
  assert.equal(status.data.text, "Заявление получено и отмечено в табеле");

  // Mail for every teacher of the group and for the parent, queued with the apply.
  const staff = demo.users.filter((u) => (u.role === "teacher" || u.role === "class_teacher") && u.group_ids.includes(GROUP.id));
  const ids = [...staff.map((u) => `<absence.notice.${a.id}.${u.id}@epos.local>`),
    `<absence.status.${a.id}.applied.${PARENT.id}@epos.local>`];
  const mails = await psql("SELECT payload->>'message_id' AS id FROM outbox WHERE kind = 'email.notify' " +
    "AND payload->>'message_id' = ANY($1::text[])", [ids]);
  assert.deepEqual(new Set(mails.map((m) => m.id)), new Set(ids));

  // A retry with the same cid is the same notice, queued once; another notice over the same day is a conflict.
  const retry = await file(PARENT, { child_id: CHILD.id, from: today, to: today, reason: "Температура", cid });
  assert.equal(retry.status, 201, retry.text);
  assert.equal(retry.json.absence.id, a.id);
  const [{ n }] = await psql("SELECT count(*)::int AS n FROM outbox WHERE kind = 'absence.apply' " +
    "AND (payload->>'notice_id')::bigint = $1", [a.id]);
  assert.equal(n, 1);
  assertRefused(await file(PARENT, { child_id: CHILD.id, from: today, to: tomorrow, reason: "Ещё раз" }), 409, "conflict");
});

test("refusals: another family's child, an unknown child, bad or past dates, lessons in a kindergarten", async () => {
  const body = (extra) => ({ child_id: CHILD.id, from: tomorrow, to: tomorrow, reason: "Семейные обстоятельства", ...extra });
  const r403 = await file(STRANGER, body());
  assertRefused(r403, 403, "forbidden");
  assert.equal(r403.json.error.message, "Это не ваш ребёнок");
  assertRefused(await file(PARENT, body({ child_id: 987654321 })), 404, "not_found");
  const reversed = await file(PARENT, body({ from: tomorrow, to: today }));
  assertRefused(reversed, 400, "bad_request");
  assert.equal(reversed.json.error.message, "Дата окончания раньше даты начала");
  assertRefused(await file(PARENT, body({ from: "2026-02-30", to: "2026-02-30" })), 400, "bad_request");
  assertRefused(await file(PARENT, body({ from: "завтра" })), 400, "bad_request");
  const past = await file(PARENT, body({ from: yesterday, to: today }));
  assertRefused(past, 400, "bad_request");
  assert.equal(past.json.error.message, "Нельзя подать заявление за прошедший день");
  assertRefused(await file(PARENT, body({ lessons: [1, 2] })), 400, "bad_request");
  assertRefused(await file(PARENT, body({ reason: "   " })), 400, "bad_request");
  assertRefused(await file(PARENT, body({ reason: "я".repeat(501) })), 400, "bad_request");
  const [{ far }] = await psql("SELECT ($1::date + 200)::text AS far", [today]);
  assertRefused(await file(PARENT, body({ from: far, to: far })), 400, "bad_request");
  const [{ long }] = await psql("SELECT ($1::date + 61)::text AS long", [tomorrow]);
  assertRefused(await file(PARENT, body({ to: long })), 400, "bad_request");
  assertRefused(await file(PARENT, { from: tomorrow, reason: "x" }), 400, "bad_request");
  // Nothing was filed by any of them.
  const [{ n }] = await psql("SELECT count(*)::int AS n FROM absence_notices WHERE child_id = $1 AND from_date = $2::date",
    [CHILD.id, tomorrow]);
  assert.equal(n, 0);
});

test("withdrawing a notice takes it off the timesheet, live", async () => {
  const teacher = await connect(TEACHER);
  const parent = await connect(PARENT);
  assertRefused(await api("DELETE", `/api/absences/${noticeId}`, undefined, STRANGER), 403, "forbidden");
  assertRefused(await api("DELETE", `/api/absences/${noticeId}`, undefined, TEACHER), 403, "forbidden");
  assertRefused(await api("DELETE", "/api/absences/987654321", undefined, PARENT), 404, "not_found");

  const r = await api("DELETE", `/api/absences/${noticeId}`, undefined, PARENT);
  assert.equal(r.status, 200, r.text);
  assert.equal(r.json.absence.id, noticeId);
  assert.equal(r.json.absence.status, "withdrawn");
  const notice = await teacher.next(isEvent("absence.notice", (d) => d.id === noticeId && d.action === "withdrawn"));
  assert.deepEqual(notice.data.days, [today]);
  const mark = await teacher.next(isEvent("timesheet.mark", (d) => d.child_id === CHILD.id && d.status === "unmarked"));
  assert.equal(mark.data.date, today);
  const status = await parent.next(isEvent("absence.status", (d) => d.absence_id === noticeId && d.status === "withdrawn"));
  assert.equal(status.topic, `user:${PARENT.id}`);
  assert.deepEqual([(await sheetRow()).status, (await sheetRow()).source], ["unmarked", null]);

  const again = await api("DELETE", `/api/absences/${noticeId}`, undefined, PARENT);
  assertRefused(again, 409, "conflict");
});

test("a teacher who marks the child present overrides the notice, and the parent is told", async () => {
  const teacher = await connect(TEACHER);
  const parent = await connect(PARENT);
  const r = await file(PARENT, { child_id: CHILD.id, from: today, reason: "Запись к врачу" });
  assert.equal(r.status, 201, r.text);
  const id = r.json.absence.id;
  await teacher.next(isEvent("absence.notice", (d) => d.id === id), APPLY_MS);

  const put = await api("PUT", "/api/timesheet",
    { group_id: GROUP.id, date: today, marks: [{ child_id: CHILD.id, status: "present" }] }, TEACHER);
  assert.equal(put.status, 200, put.text);
  const status = await parent.next(isEvent("absence.status", (d) => d.absence_id === id && d.status === "corrected"));
  assert.equal(status.data.date, today);
  assert.equal(status.data.by, TEACHER.id);
  assert.equal(status.data.text, "Воспитатель отметил, что ребёнок пришёл");
  const mails = await psql("SELECT 1 FROM outbox WHERE kind = 'email.notify' AND payload->>'message_id' = $1",
    [`<absence.status.${id}.${today}.corrected.${PARENT.id}@epos.local>`]);
  assert.equal(mails.length, 1);
  // The correction is on record with the notice, for any later page load.
  const listed = (await api("GET", "/api/absences", undefined, PARENT)).json.absences.find((a) => a.id === id);
  assert.deepEqual(listed.answers, [{ date: today, status: "corrected", text: "Воспитатель отметил, что ребёнок пришёл" }]);

  // Withdrawn now, the notice leaves the teacher's mark alone.
  const w = await api("DELETE", `/api/absences/${id}`, undefined, PARENT);
  assert.equal(w.status, 200, w.text);
  const row = await sheetRow();
  assert.deepEqual([row.status, row.source], ["present", "teacher"]);
});

test("the parent sees their children's notices, the group's staff and the administrator theirs", async () => {
  const mine = await api("GET", "/api/absences", undefined, PARENT);
  assert.equal(mine.status, 200, mine.text);
  const ours = mine.json.absences.filter((a) => a.child_id === CHILD.id);
  assert.ok(ours.length >= 2);
  assert.ok(ours[0].created_at >= ours[1].created_at, "newest first");
  assert.ok(mine.json.absences.every((a) => PARENT.child_ids.includes(a.child_id)));

  for (const who of [TEACHER, ADMIN]) {
    const r = await api("GET", `/api/absences?child_id=${CHILD.id}`, undefined, who);
    assert.equal(r.status, 200, r.text);
    assert.ok(r.json.absences.some((a) => a.id === noticeId), `${who.login} sees the notice`);
  }
  assertRefused(await api("GET", `/api/absences?child_id=${CHILD.id}`, undefined, ELSEWHERE), 403, "forbidden");
  assertRefused(await api("GET", `/api/absences?child_id=${CHILD.id}`, undefined, STRANGER), 403, "forbidden");
  assertRefused(await api("GET", "/api/absences?child_id=987654321", undefined, PARENT), 404, "not_found");
  const other = await api("GET", "/api/absences", undefined, ELSEWHERE);
  assert.ok(!other.json.absences.some((a) => a.child_id === CHILD.id));
});

test("a school class: a notice for some lessons of one day", async () => {
  const body = { child_id: PUPIL.id, from: tomorrow, to: tomorrow, reason: "Олимпиада" };
  assertRefused(await file(PUPIL_PARENT, { ...body, lessons: [0, 2] }), 400, "bad_request");
  assertRefused(await file(PUPIL_PARENT, { ...body, lessons: [2, 2] }), 400, "bad_request");
  assertRefused(await file(PUPIL_PARENT, { ...body, lessons: [99] }), 400, "bad_request");
  const [{ d2 }] = await psql("SELECT ($1::date + 1)::text AS d2", [tomorrow]);
  assertRefused(await file(PUPIL_PARENT, { ...body, to: d2, lessons: [2] }), 400, "bad_request");
  const r = await file(PUPIL_PARENT, { ...body, lessons: [3, 2] });
  assert.equal(r.status, 201, r.text);
  assert.deepEqual(r.json.absence.lessons, [2, 3]);
  const w = await api("DELETE", `/api/absences/${r.json.absence.id}`, undefined, PUPIL_PARENT);
  assert.equal(w.status, 200, w.text);
});

test("a notice for a day off is kept and said to be for a day off; when the day becomes a workday it applies", async () => {
  // The next weekend day after today, a day off by the calendar.
  const [{ off }] = await psql("SELECT min(x)::date::text AS off FROM generate_series($1::date + 1, $1::date + 7, " +
    "interval '1 day') x WHERE extract(isodow FROM x) >= 6", [today]);
  const [saved] = await psql("SELECT kind FROM org_calendar WHERE org_id = $1 AND day = $2::date", [KG.id, off]);
  await psql("DELETE FROM org_calendar WHERE org_id = $1 AND day = $2::date", [KG.id, off]);
  const teacher = await connect(TEACHER);
  const parent = await connect(PARENT);
  let id;
  try {
    const r = await file(PARENT, { child_id: CHILD.id, from: off, reason: "Болеет", cid: randomUUID() });
    assert.equal(r.status, 201, r.text);
    id = r.json.absence.id;
    // Applied by the worker: no mark, and the parent is told why — never «отмечено в табеле».
    const status = await parent.next(isEvent("absence.status", (d) => d.absence_id === id), APPLY_MS);
    assert.equal(status.data.status, "day_off");
    assert.match(status.data.text, /не работает/);
    assert.doesNotMatch(status.data.text, /отмечено в табеле/);
    const notice = await teacher.next(isEvent("absence.notice", (d) => d.id === id));
    assert.deepEqual([notice.data.action, notice.data.days, notice.data.day_off, notice.data.applied],
      ["filed", [], true, false]);
    // The mail queues data for the worker's absence.kept template (its text: test_mailtext).
    const mails = await psql("SELECT payload->>'message_id' AS id, payload->>'template' AS template, " +
      "payload->'data'->'day_off' AS day_off, payload->'data'->'kept' AS kept FROM outbox " +
      "WHERE kind = 'email.notify' AND payload->>'message_id' LIKE $1", [`<absence.status.${id}.%`]);
    assert.deepEqual(mails.map((m) => [m.id, m.template, m.day_off, m.kept]),
      [[`<absence.status.${id}.kept.${PARENT.id}@epos.local>`, "absence.kept", true, true]]);

    // Kept: the parent's list and the teacher's board (after any reload) show it, for a day off.
    const mine = (await api("GET", "/api/absences", undefined, PARENT)).json.absences.find((a) => a.id === id);
    assert.deepEqual([mine.status, mine.applied, mine.day_off], ["active", false, true]);
    const board = await api("GET", `/api/timesheet?group_id=${GROUP.id}&date=${off}`, undefined, TEACHER);
    const row = board.json.children.find((c) => c.child_id === CHILD.id);
    assert.deepEqual([board.json.workday, row.status, row.notice?.id, row.notice?.reason], [false, "unmarked", id, "Болеет"]);

    // The administrator makes the day a workday: the notice applies, live to both.
    const cal = await api("PUT", `/api/orgs/${KG.id}/calendar/${off}`, { kind: "workday" }, ADMIN);
    assert.equal(cal.status, 200, cal.text);
    const mark = await teacher.next(isEvent("timesheet.mark", (d) => d.child_id === CHILD.id && d.date === off));
    assert.deepEqual([mark.data.status, mark.data.source, mark.data.notice_id], ["absent", "parent", id]);
    const applied = await parent.next(isEvent("absence.status", (d) => d.absence_id === id && d.status === "applied"));
    assert.match(applied.data.text, /отмечено в табеле/);
    const after = (await api("GET", "/api/absences", undefined, PARENT)).json.absences.find((a) => a.id === id);
    assert.deepEqual([after.applied, after.day_off], [true, false]);
    const [m] = await psql("SELECT status, source, notice_id FROM attendance_marks WHERE child_id = $1 AND day = $2::date",
      [CHILD.id, off]);
    assert.deepEqual([m.status, m.source, Number(m.notice_id)], ["absent", "parent", id]);
  } finally {
    await psql("DELETE FROM org_calendar WHERE org_id = $1 AND day = $2::date", [KG.id, off]);
    if (saved) await psql("INSERT INTO org_calendar (org_id, day, kind) VALUES ($1, $2::date, $3)", [KG.id, off, saved.kind]);
    await cleanChildren();
  }
});
