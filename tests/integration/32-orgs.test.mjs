// 32-orgs: an administrator's org settings — deadline, time zone and quiet hours validated field by
// field, calendar overrides (a weekend made a workday), the staff list, and teacher bindings that
// change a connected teacher's topics live.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { demoUsers, demoUser, http, login, psql, startHub, until, workday, wsConnect } from "./lib/harness.mjs";

const demo = demoUsers();
const KG = demo.orgs.find((o) => o.kind === "kindergarten");
const SCHOOL = demo.orgs.find((o) => o.kind === "school");
const KG_GROUPS = demo.groups.filter((g) => g.org_id === KG.id);
const ADMIN = demoUser({ role: "admin", org_id: KG.id });
const OTHER_ADMIN = demoUser({ role: "admin", org_id: SCHOOL.id });
// A teacher bound to the first group only, and the last group, which they are not bound to.
const X = demoUser((u) => u.role === "teacher" && u.group_ids.length === 1 && u.group_ids[0] === KG_GROUPS[0].id);
const TARGET = KG_GROUPS[KG_GROUPS.length - 1];
const Y = demoUser((u) => u.role === "teacher" && u.group_ids.includes(TARGET.id));
const PARENT = demoUser((u) => u.role === "parent" && u.child_ids.some((c) =>
  demo.children.find((k) => k.id === c)?.org_id === KG.id));
const SCHOOL_TEACHER = demoUser((u) => u.role === "teacher" && u.org_id === SCHOOL.id);
const TARGET_KID = demo.children.find((c) => c.group_id === TARGET.id);
const DEFAULTS = { timesheet_deadline: "18:00", tz: "Asia/Yekaterinburg", quiet_hours: { from: "20:00", to: "08:00" } };

let hub, today, markDay, saturday, monday, targetTeachers;
const tok = {};
const open = [];

before(async () => {
  hub = await startHub();
  for (const u of [ADMIN, OTHER_ADMIN, X, Y, PARENT]) tok[u.login] = (await login(hub.url, u.login, u.password)).token;
  today = (await psql("SELECT epos_org_today($1)::text AS d", [KG.id]))[0].d;
  markDay = await workday(KG.id); // a day off takes no marks: the latest workday up to today
  [{ saturday, monday }] = await psql("SELECT min(d)::date::text AS saturday, (min(d)::date + 2)::text AS monday " +
    "FROM generate_series($1::date + 1, $1::date + 7, interval '1 day') d WHERE extract(isodow FROM d) = 6", [today]);
  await psql("DELETE FROM org_calendar WHERE org_id = $1 AND day IN ($2::date, $3::date)", [KG.id, saturday, monday]);
  targetTeachers = (await psql("SELECT user_id FROM teacher_groups WHERE group_id = $1 ORDER BY user_id", [TARGET.id]))
    .map((r) => Number(r.user_id));
});

after(async () => {
  for (const c of open) await c.close().catch(() => {});
  if (today) {
    await psql("DELETE FROM org_calendar WHERE org_id = $1 AND day IN ($2::date, $3::date)", [KG.id, saturday, monday]);
    await psql("UPDATE orgs SET timesheet_deadline = '18:00', tz = 'Asia/Yekaterinburg', quiet_from = '20:00', " +
      "quiet_to = '08:00' WHERE id = $1", [KG.id]);
    await psql("DELETE FROM teacher_groups WHERE group_id = $1 AND user_id <> ALL ($2::bigint[])", [TARGET.id, targetTeachers]);
    await psql("DELETE FROM attendance_marks WHERE group_id = $1 AND day = $2::date", [TARGET.id, markDay]);
  }
  await hub?.stop();
});

const api = (method, path, body, user) => http(method, `${hub.url}${path}`, body, tok[user.login]);
const isEvent = (type, pred = () => true) => (m) => m.op === "event" && m.type === type && pred(m.data, m);

function assertRefused(r, status, code, field) {
  assert.equal(r.status, status, r.text);
  assert.equal(r.json.error.code, code, r.text);
  assert.match(r.json.error.message, /[а-яё]/i, "a Russian message for the user");
  if (field) assert.ok(r.json.error.message.includes(`«${field}»`), `the message names ${field}: ${r.json.error.message}`);
}

test("an administrator sets the deadline, time zone and quiet hours; bad values are refused by field", async () => {
  const patch = (body, user = ADMIN, org = KG.id) => api("PATCH", `/api/orgs/${org}`, body, user);
  assertRefused(await patch({ timesheet_deadline: "25:00" }), 400, "bad_request", "timesheet_deadline");
  assertRefused(await patch({ timesheet_deadline: 1800 }), 400, "bad_request", "timesheet_deadline");
  assertRefused(await patch({ tz: "Mars/Olympus_Mons" }), 400, "bad_request", "tz");
  assertRefused(await patch({ quiet_hours: { from: "8", to: "07:00" } }), 400, "bad_request", "quiet_hours.from");
  assertRefused(await patch({ quiet_hours: { from: "22:00" } }), 400, "bad_request", "quiet_hours.to");
  assertRefused(await patch({ quiet_hours: "22-07" }), 400, "bad_request", "quiet_hours");
  assertRefused(await patch({ tz: "UTC" }, X), 403, "forbidden");
  assertRefused(await patch({ tz: "UTC" }, OTHER_ADMIN), 403, "forbidden");
  assertRefused(await patch({ tz: "UTC" }, ADMIN, 987654321), 404, "not_found");

  const r = await patch({ timesheet_deadline: "17:30", tz: "Europe/Moscow", quiet_hours: { from: "21:00", to: "07:00" } });
  assert.equal(r.status, 200, r.text);
  assert.equal(r.json.id, KG.id);
  assert.equal(r.json.timesheet_deadline, "17:30");
  assert.equal(r.json.tz, "Europe/Moscow");
  assert.deepEqual(r.json.quiet_hours, { from: "21:00", to: "07:00" });
  assert.ok(r.json.roles.includes("admin"));
  const me = await api("GET", "/api/me", undefined, X);
  const org = me.json.orgs.find((o) => o.id === KG.id);
  assert.deepEqual([org.timesheet_deadline, org.tz], ["17:30", "Europe/Moscow"]);
  const sheet = await api("GET", `/api/timesheet?group_id=${KG_GROUPS[0].id}`, undefined, X);
  assert.deepEqual([sheet.json.deadline, sheet.json.tz], ["17:30", "Europe/Moscow"]);

  // A field left out keeps its value.
  const back = await patch(DEFAULTS);
  assert.equal(back.status, 200, back.text);
  const partial = await patch({ timesheet_deadline: "18:15" });
  assert.deepEqual([partial.json.timesheet_deadline, partial.json.tz], ["18:15", "Asia/Yekaterinburg"]);
  assert.equal((await patch(DEFAULTS)).status, 200);
});

test("a calendar override makes a weekend a workday, and back", async () => {
  const month = saturday.slice(0, 7);
  const day = async (date, user = ADMIN) => {
    const r = await api("GET", `/api/orgs/${KG.id}/calendar?month=${date.slice(0, 7)}`, undefined, user);
    assert.equal(r.status, 200, r.text);
    return r.json.days.find((d) => d.date === date);
  };
  const cal = await api("GET", `/api/orgs/${KG.id}/calendar?month=${month}`, undefined, ADMIN);
  assert.equal(cal.json.org_id, KG.id);
  assert.equal(cal.json.month, month);
  const [y, m] = month.split("-").map(Number);
  assert.equal(cal.json.days.length, new Date(Date.UTC(y, m, 0)).getUTCDate(), "every day of the month");
  assert.deepEqual(await day(saturday), { date: saturday, kind: "holiday", override: false });

  const put = (date, kind, user = ADMIN) => api("PUT", `/api/orgs/${KG.id}/calendar/${date}`, { kind }, user);
  const r = await put(saturday, "workday");
  assert.equal(r.status, 200, r.text);
  assert.deepEqual(r.json, { org_id: KG.id, date: saturday, kind: "workday", override: true });
  assert.deepEqual(await day(saturday, PARENT), { date: saturday, kind: "workday", override: true });
  const sheet = await api("GET", `/api/timesheet?group_id=${KG_GROUPS[0].id}&date=${saturday}`, undefined, X);
  assert.equal(sheet.json.workday, true);
  const sum = await api("GET", `/api/timesheet/summary?org_id=${KG.id}&date=${saturday}`, undefined, ADMIN);
  assert.equal(sum.json.workday, true);

  // A weekday made a vacation; a day set back to its default kind is no override.
  assert.equal((await put(monday, "vacation")).json.override, true);
  assert.deepEqual(await day(monday), { date: monday, kind: "vacation", override: true });
  assert.equal((await api("GET", `/api/timesheet/summary?org_id=${KG.id}&date=${monday}`, undefined, ADMIN)).json.workday,
    false);
  assert.equal((await put(monday, "workday")).json.override, false);
  assert.equal((await put(saturday, "holiday")).json.override, false);
  assert.deepEqual(await day(saturday), { date: saturday, kind: "holiday", override: false });
  const [{ n }] = await psql("SELECT count(*)::int AS n FROM org_calendar WHERE org_id = $1 AND day IN ($2::date, $3::date)",
    [KG.id, saturday, monday]);
  assert.equal(n, 0);

  assertRefused(await put(saturday, "workday", X), 403, "forbidden");
  assertRefused(await put(saturday, "workday", OTHER_ADMIN), 403, "forbidden");
  assertRefused(await put("2026-13-01", "workday"), 400, "bad_request");
  assertRefused(await put(saturday, "weekend"), 400, "bad_request", "kind");
  assertRefused(await api("GET", `/api/orgs/${KG.id}/calendar?month=${month}`, undefined, OTHER_ADMIN), 403, "forbidden");
  assertRefused(await api("GET", `/api/orgs/${KG.id}/calendar?month=2026-13`, undefined, ADMIN), 400, "bad_request", "month");
});

test("the staff list shows everyone's roles and bindings, to the administrator only", async () => {
  const r = await api("GET", `/api/orgs/${KG.id}/staff`, undefined, ADMIN);
  assert.equal(r.status, 200, r.text);
  const x = r.json.staff.find((s) => s.id === X.id);
  assert.deepEqual(x.roles, ["teacher"]);
  assert.deepEqual(x.group_ids, X.group_ids);
  assert.ok(r.json.staff.some((s) => s.id === ADMIN.id && s.roles.includes("admin")));
  assert.ok(!r.json.staff.some((s) => s.id === PARENT.id), "parents are not staff");
  assert.deepEqual(new Set(r.json.groups.map((g) => g.id)), new Set(KG_GROUPS.map((g) => g.id)));
  assert.deepEqual(r.json.groups.find((g) => g.id === TARGET.id).teacher_ids, targetTeachers);
  assertRefused(await api("GET", `/api/orgs/${KG.id}/staff`, undefined, X), 403, "forbidden");
  assertRefused(await api("GET", `/api/orgs/${KG.id}/staff`, undefined, OTHER_ADMIN), 403, "forbidden");
});

test("binding a teacher to a group gives them its timesheet at once, live on their open connection", async () => {
  const bind = (ids, user = ADMIN) => api("PUT", `/api/groups/${TARGET.id}/teachers`, { user_ids: ids }, user);
  const x = await wsConnect(hub.wsUrl, tok[X.login]);
  open.push(x);
  await x.next("resumed");
  assert.ok(!x.hello.topics.includes(`timesheet:${TARGET.id}`));
  assertRefused(await api("GET", `/api/timesheet?group_id=${TARGET.id}`, undefined, X), 403, "forbidden");

  assertRefused(await bind([...targetTeachers, PARENT.id]), 403, "forbidden");
  assertRefused(await bind([...targetTeachers, SCHOOL_TEACHER.id]), 403, "forbidden");
  assertRefused(await bind([...targetTeachers, 987654321]), 400, "bad_request");
  assertRefused(await bind("all"), 400, "bad_request", "user_ids");
  assertRefused(await bind([X.id], X), 403, "forbidden");
  assertRefused(await api("PUT", "/api/groups/987654321/teachers", { user_ids: [] }, ADMIN), 404, "not_found");

  const r = await bind([...targetTeachers, X.id]);
  assert.equal(r.status, 200, r.text);
  assert.deepEqual(r.json.group.teacher_ids, [...targetTeachers, X.id].sort((a, b) => a - b));
  assert.equal(r.json.group.id, TARGET.id);
  const [audit] = await psql("SELECT detail FROM audit_log WHERE action = 'group.teachers' AND object = $1 " +
    "ORDER BY id DESC LIMIT 1", [`group:${TARGET.id}`]);
  assert.deepEqual(audit.detail.before.map(Number), targetTeachers);

  assert.equal((await api("GET", `/api/timesheet?group_id=${TARGET.id}`, undefined, X)).status, 200);
  // The hub recomputes X's topics when the binding's refresh reaches it; a colleague's mark after
  // that arrives on X's connection. Marks before it are history, so mark again until one arrives.
  let n = 0;
  await until(async () => {
    const reason = `Отметка ${++n}`;
    const put = await api("PUT", "/api/timesheet",
      { group_id: TARGET.id, date: markDay, marks: [{ child_id: TARGET_KID.id, status: "present", reason }] }, Y);
    assert.equal(put.status, 200, put.text);
    return x.next(isEvent("timesheet.mark", (d) => d.group_id === TARGET.id && d.reason === reason), 1000)
      .then(() => true, () => false);
  }, { intervalMs: 0, timeoutMs: 20000, what: "a timesheet.mark of the newly bound group on the teacher's connection" });

  // Unbound again: the group's timesheet is closed to them.
  const back = await bind(targetTeachers);
  assert.equal(back.status, 200, back.text);
  assert.deepEqual(back.json.group.teacher_ids, targetTeachers);
  assertRefused(await api("GET", `/api/timesheet?group_id=${TARGET.id}`, undefined, X), 403, "forbidden");
});
