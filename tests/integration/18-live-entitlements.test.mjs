// 18-live-entitlements: an open socket hears at once when an administrator unbinds or binds a
// teacher (entitlements.changed, with the timesheet topic lost or gained) or changes the org's
// deadline or calendar (org.settings / org.calendar on org:<id>), so open screens follow.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { startHub, http, login, wsConnect, demoUser, demoUsers } from "./lib/harness.mjs";

let hubA, hubB;

before(async () => {
  hubA = await startHub();
  hubB = await startHub();
});

after(async () => {
  await hubB?.stop();
  await hubA?.stop();
});

test("unbinding and binding a teacher reaches her open socket on another hub; deadline and calendar too", async () => {
  const t = demoUser((u) => u.role === "teacher" && u.group_ids.length > 0);
  const gid = t.group_ids[0];
  const org = demoUsers().groups.find((g) => g.id === gid).org_id;
  const a = demoUser({ role: "admin", org_id: org });
  const admin = (await login(hubA.url, a.login, a.password)).token;
  const teacher = (await login(hubB.url, t.login, t.password)).token;
  const ws = await wsConnect(hubB.wsUrl, teacher);
  await ws.next("resumed");
  const put = (ids) => http("PUT", `${hubA.url}/api/groups/${gid}/teachers`, { user_ids: ids }, admin);

  const staff = (await http("GET", `${hubA.url}/api/orgs/${org}/staff`, undefined, admin)).json;
  const teachers = staff.groups.find((g) => g.id === gid).teacher_ids;
  const me = (await http("GET", `${hubA.url}/api/me`, undefined, admin)).json;
  const deadline = me.orgs.find((o) => o.id === org).timesheet_deadline;
  assert.equal((await put([])).status, 200); // unbind everyone
  const lost = await ws.next((m) => m.type === "entitlements.changed");
  assert.ok(lost.data.removed.includes(`timesheet:${gid}`), JSON.stringify(lost));
  assert.equal(lost.topic, `user:${t.id}`);

  const bound = await put([t.id]);
  assert.equal(bound.status, 200, bound.text);
  const gained = await ws.next((m) => m.type === "entitlements.changed");
  assert.ok(gained.data.added.includes(`timesheet:${gid}`), JSON.stringify(gained));

  const patch = await http("PATCH", `${hubA.url}/api/orgs/${org}`, { timesheet_deadline: "17:45" }, admin);
  assert.equal(patch.status, 200, patch.text);
  const settings = await ws.next((m) => m.type === "org.settings");
  assert.equal(settings.topic, `org:${org}`);
  assert.equal(settings.data.timesheet_deadline, "17:45");
  assert.equal(settings.data.roles, undefined, "the admin's own roles are not broadcast");

  const day = new Date(Date.now() + 20 * 86400000).toISOString().slice(0, 10);
  const cal = await http("PUT", `${hubA.url}/api/orgs/${org}/calendar/${day}`, { kind: "vacation" }, admin);
  assert.equal(cal.status, 200, cal.text);
  const calendar = await ws.next((m) => m.type === "org.calendar");
  assert.equal(calendar.data.date, day);
  assert.equal(calendar.data.kind, "vacation");

  // A refused change announces nothing.
  const bad = await http("PATCH", `${hubA.url}/api/orgs/${org}`, { timesheet_deadline: "25:99" }, admin);
  assert.equal(bad.status, 400);
  await ws.ping();
  assert.ok(!ws.drain().some((m) => m.type === "org.settings"));

  // Restore what other tests expect.
  await http("PUT", `${hubA.url}/api/orgs/${org}/calendar/${day}`, { kind: "workday" }, admin);
  await http("PATCH", `${hubA.url}/api/orgs/${org}`, { timesheet_deadline: deadline }, admin);
  await put(teachers);
  await ws.close();
});
