// 50-authz-matrix: every role (admin, teacher, class teacher, parent, an anonymous client, the
// API key) × every resource (child, group, chat, org, news, timesheet, absences, org settings and
// calendar, staff credentials, contacts) × relation (own, other family, other group, other org),
// over HTTP and the WebSocket, each cell asserting the contract's answer (DESIGN §3.5, §5): a
// refused write answers 401/403/404 and changes no row; a socket never receives a topic it is
// not entitled to, even when it asks to resume it. The matrix is the table PROBES below.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";
import { config, http, psql, startHub, wsConnect } from "./lib/harness.mjs";
import { buildWorld, fingerprint, pgSession } from "./lib/authz.mjs";

const USERS = ["admin", "teacher", "class_teacher", "parent"];
const ACTORS = [...USERS, "anonymous", "api_key"];
const RELATIONS = ["own", "other_family", "other_group", "other_org"];

let hub, w, savedCalendar, db;
const tally = { run: 0, passed: 0, failed: [] };

before(async () => {
  hub = await startHub();
  db = pgSession();
  w = await buildWorld(hub.url);
  // Today is a workday in both orgs, whatever day the suite runs on.
  savedCalendar = await psql("SELECT org_id, day::text, kind FROM org_calendar WHERE day = $1::date OR day = $2::date",
    [w.today, w.far]);
  for (const org of [w.KG, w.SCHOOL]) {
    await psql("INSERT INTO org_calendar (org_id, day, kind) VALUES ($1, $2::date, 'workday') " +
      "ON CONFLICT (org_id, day) DO UPDATE SET kind = 'workday'", [org.id, w.today]);
  }
});

after(async () => {
  await psql("DELETE FROM org_calendar WHERE day = $1::date OR day = $2::date", [w.today, w.far]);
  for (const r of savedCalendar ?? []) {
    await psql("INSERT INTO org_calendar (org_id, day, kind) VALUES ($1, $2::date, $3)", [r.org_id, r.day, r.kind]);
  }
  await hub?.stop();
  await db?.close();
  console.log(`authz matrix: ${tally.run} cells run, ${tally.passed} passed` +
    (tally.failed.length ? `; failed: ${tally.failed.join(", ")}` : ""));
});

// ---- the expectations --------------------------------------------------------------------------

/** status by relation; a number alone applies to every relation. */
const by = (own, otherFamily, otherGroup, otherOrg) =>
  ({ own, other_family: otherFamily ?? own, other_group: otherGroup ?? own, other_org: otherOrg ?? own });
const ALL = (s) => by(s, s, s, s);
const ONLY_ADMIN_OWN_ORG = { admin: by(200, 200, 200, 403), teacher: ALL(403), class_teacher: ALL(403), parent: ALL(403) };
const MEMBERS = { admin: by(200, 403, 403, 403), teacher: by(200, 403, 403, 403),
  class_teacher: by(200, 403, 403, 403), parent: by(200, 403, 403, 403) };

/*
 * One row per resource and action: which relations it has, the request for an actor's object
 * (req(a, obj, allowed) → {method, path, body}), the status each role gets per relation
 * (anonymous: 401 everywhere, the API key: 401 on user routes), whether it writes (a refused
 * write must change nothing), and what to undo after an allowed write.
 */
const PROBES = [
  { resource: "child", action: "read notices", kind: "child", write: false,
    req: (a, c) => ({ method: "GET", path: `/api/absences?child_id=${c.id}` }),
    expect: { admin: by(200, 200, 200, 403), teacher: by(200, 200, 403, 403),
      class_teacher: by(200, 200, 403, 403), parent: by(200, 403, 403, 403) } },
  { resource: "absences", action: "file a notice", kind: "child", write: true,
    req: (a, c) => ({ method: "POST", path: "/api/absences",
      body: { child_id: c.id, from: w.far, reason: "Проверка прав", cid: randomUUID() } }),
    expect: { admin: ALL(403), teacher: ALL(403), class_teacher: ALL(403), parent: by(201, 403, 403, 403) },
    undo: async (a, res) => {
      const r = await call(a, { method: "DELETE", path: `/api/absences/${res.json.absence.id}` });
      assert.equal(r.status, 200, r.text);
    } },
  { resource: "absences", action: "withdraw another family's notice", kind: "notice", write: true,
    relations: ["other_family"],
    req: () => ({ method: "DELETE", path: `/api/absences/${w.notice}` }),
    expect: { admin: ALL(403), teacher: ALL(403), class_teacher: ALL(403), parent: ALL(403) } },
  { resource: "timesheet", action: "read", kind: "group", write: false, relations: ["own", "other_group", "other_org"],
    req: (a, g) => ({ method: "GET", path: `/api/timesheet?group_id=${g.id}&date=${w.today}` }),
    expect: { admin: by(200, 200, 200, 403), teacher: by(200, 200, 403, 403),
      class_teacher: by(200, 200, 403, 403), parent: ALL(403) } },
  { resource: "timesheet", action: "mark", kind: "group", write: true, relations: ["own", "other_group", "other_org"],
    req: async (a, g, allowed) => {
      const [c] = await db.query(`SELECT min(child_id) FROM enrolments WHERE group_id = ${Number(g.id)}`);
      // An allowed cell sends no marks: the right is checked, the day stays as it is.
      return { method: "PUT", path: "/api/timesheet", body: { group_id: g.id, date: w.today,
        marks: allowed ? [] : [{ child_id: Number(c), status: "absent", reason: "Проверка прав" }] } };
    },
    expect: { admin: by(200, 200, 200, 403), teacher: by(200, 200, 403, 403),
      class_teacher: by(200, 200, 403, 403), parent: ALL(403) } },
  { resource: "group", action: "bind teachers", kind: "group", write: true, relations: ["own", "other_group", "other_org"],
    req: async (a, g) => {
      const [ids] = await db.query("SELECT coalesce(json_agg(user_id ORDER BY user_id), '[]') FROM teacher_groups " +
        `WHERE group_id = ${Number(g.id)}`);
      return { method: "PUT", path: `/api/groups/${g.id}/teachers`, body: { user_ids: JSON.parse(ids) } };
    },
    expect: ONLY_ADMIN_OWN_ORG },
  { resource: "chat", action: "read messages", kind: "chat", write: false, relations: ["own", "other_family", "other_org"],
    req: (a, id) => ({ method: "GET", path: `/api/chats/${id}/messages` }), expect: MEMBERS },
  { resource: "chat", action: "send", kind: "chat", write: true, relations: ["own", "other_family", "other_org"],
    req: (a, id) => ({ method: "POST", path: `/api/chats/${id}/messages`, body: { text: "Проверка прав", cid: randomUUID() } }),
    expect: MEMBERS },
  { resource: "chat", action: "mark read", kind: "chat", write: true, relations: ["own", "other_family", "other_org"],
    req: (a, id) => ({ method: "POST", path: `/api/chats/${id}/read`, body: { seq: 1 } }), expect: MEMBERS },
  { resource: "chat", action: "change members", kind: "chat", write: true, relations: ["other_family", "other_org"],
    req: (a, id) => ({ method: "POST", path: `/api/chats/${id}/members`, body: { add: [a.user.id] } }),
    expect: { admin: ALL(403), teacher: ALL(403), class_teacher: ALL(403), parent: ALL(403) } },
  { resource: "org", action: "settings", kind: "org", write: true, relations: ["own", "other_org"],
    req: async (a, org) => {
      const [d] = await db.query(`SELECT to_char(timesheet_deadline, 'HH24:MI') FROM orgs WHERE id = ${Number(org.id)}`);
      return { method: "PATCH", path: `/api/orgs/${org.id}`, body: { timesheet_deadline: d } };
    },
    expect: ONLY_ADMIN_OWN_ORG },
  { resource: "org", action: "read calendar", kind: "org", write: false, relations: ["own", "other_org"],
    req: (a, org) => ({ method: "GET", path: `/api/orgs/${org.id}/calendar?month=${w.today.slice(0, 7)}` }),
    expect: { admin: by(200, 200, 200, 403), teacher: by(200, 200, 200, 403),
      class_teacher: by(200, 200, 200, 403), parent: by(200, 200, 200, 403) } },
  { resource: "org", action: "set calendar", kind: "org", write: true, relations: ["own", "other_org"],
    req: (a, org) => ({ method: "PUT", path: `/api/orgs/${org.id}/calendar/${w.far}`, body: { kind: "holiday" } }),
    expect: ONLY_ADMIN_OWN_ORG },
  { resource: "org", action: "staff list", kind: "org", write: false, relations: ["own", "other_org"],
    req: (a, org) => ({ method: "GET", path: `/api/orgs/${org.id}/staff` }), expect: ONLY_ADMIN_OWN_ORG },
  { resource: "timesheet", action: "org summary", kind: "org", write: false, relations: ["own", "other_org"],
    req: (a, org) => ({ method: "GET", path: `/api/timesheet/summary?org_id=${org.id}&date=${w.today}` }),
    expect: ONLY_ADMIN_OWN_ORG },
  { resource: "news", action: "publish", kind: "group", write: true, relations: ["own", "other_group", "other_org"],
    req: (a, g, allowed, r) => ({ method: "POST", path: "/api/news", body: {
      org_id: r === "other_org" ? a.otherOrg.id : a.org.id, ...(r === "other_org" ? {} : { group_ids: [g.id] }),
      title: "Проверка прав", cid: randomUUID() } }),
    expect: { admin: by(201, 201, 201, 403), teacher: ALL(403), class_teacher: by(201, 201, 403, 403), parent: ALL(403) } },
  { resource: "news", action: "acknowledge", kind: "news", write: true, relations: ["own", "other_org"],
    req: (a, id) => ({ method: "POST", path: `/api/news/${id}/ack` }),
    expect: { admin: by(200, 200, 200, 404), teacher: by(200, 200, 200, 404),
      class_teacher: by(200, 200, 200, 404), parent: by(200, 200, 200, 404) } },
  { resource: "news", action: "ack statistics", kind: "news", write: false, relations: ["own", "other_org"],
    req: (a, id) => ({ method: "GET", path: `/api/news/${id}/acks` }), expect: ONLY_ADMIN_OWN_ORG },
  { resource: "staff credentials", action: "issue", kind: "staff", write: true, relations: ["own", "other_org"],
    req: (a, id) => ({ method: "POST", path: `/api/staff/${id}/credentials` }), expect: ONLY_ADMIN_OWN_ORG },
  { resource: "contacts", action: "list", kind: "none", write: false, relations: ["own"],
    req: () => ({ method: "GET", path: "/api/contacts" }),
    expect: { admin: ALL(200), teacher: ALL(200), class_teacher: ALL(200), parent: ALL(200) },
    check: (res) => {
      for (const list of Object.values(res.json)) {
        for (const c of list) assert.ok(!("email" in c) && !("phone" in c), `no contact data: ${JSON.stringify(c)}`);
      }
    } },
  { resource: "chat", action: "open a direct chat", kind: "person", write: true,
    req: (a, uid) => ({ method: "POST", path: "/api/chats", body: { with: uid } }),
    expect: { admin: by(200, 200, 200, 403), teacher: by(200, 200, 200, 403),
      class_teacher: by(200, 200, 200, 403), parent: by(200, 403, 403, 403) } },
  { resource: "chat", action: "create a group chat", kind: "person", write: true, relations: ["other_family", "other_org"],
    req: (a, uid) => ({ method: "POST", path: "/api/chats", body: { title: "Проверка прав", members: [uid] } }),
    expect: { admin: by(201, 201, 201, 403), teacher: by(201, 201, 201, 403),
      class_teacher: by(201, 201, 201, 403), parent: ALL(403) },
    only: (actor, relation) => relation === "other_org" || actor === "parent" },
  { resource: "chat", action: "list shows only my chats", kind: "none", write: false, relations: ["own"],
    req: () => ({ method: "GET", path: "/api/chats" }),
    expect: { admin: ALL(200), teacher: ALL(200), class_teacher: ALL(200), parent: ALL(200) },
    check: (res, a) => {
      for (const c of res.json.chats) assert.ok(c.members.some((m) => m.id === a.user.id), `not a member of ${c.id}`);
      const ids = res.json.chats.map((c) => c.id);
      assert.ok(ids.includes(a.chat.own) && !ids.includes(a.chat.other_family) && !ids.includes(a.chat.other_org));
    } },
  { resource: "news", action: "feed shows only my orgs and groups", kind: "none", write: false, relations: ["own"],
    req: () => ({ method: "GET", path: "/api/feed?limit=100" }),
    expect: { admin: ALL(200), teacher: ALL(200), class_teacher: ALL(200), parent: ALL(200) },
    check: (res, a) => {
      const ids = res.json.items.map((i) => i.id);
      for (const i of res.json.items) assert.equal(i.org_id, a.org.id, `item ${i.id} of org ${i.org_id}`);
      assert.ok(ids.includes(a.news.own) && !ids.includes(a.news.other_org), JSON.stringify(ids));
    } },
  { resource: "absences", action: "list shows only children I may see", kind: "none", write: false, relations: ["own"],
    req: () => ({ method: "GET", path: "/api/absences" }),
    expect: { admin: ALL(200), teacher: ALL(200), class_teacher: ALL(200), parent: ALL(200) },
    check: async (res, a) => {
      const [seen] = await db.query("SELECT coalesce(json_agg(x), '[]') FROM epos_absence_children(" +
        `${Number(a.user.id)}) x`);
      const allowed = new Set(JSON.parse(seen));
      for (const n of res.json.absences) assert.ok(allowed.has(n.child_id), `notice ${n.id} of child ${n.child_id}`);
      const mine = a.child.own;
      assert.ok(allowed.has(mine.id) && !allowed.has(a.child.other_org.id));
      if (a.user.role === "parent") assert.ok(!allowed.has(a.child.other_family.id));
    } },
  { resource: "me", action: "read", kind: "none", write: false, relations: ["own"],
    req: () => ({ method: "GET", path: "/api/me" }),
    expect: { admin: ALL(200), teacher: ALL(200), class_teacher: ALL(200), parent: ALL(200) } },
  { resource: "publish", action: "server to server", kind: "none", write: true, relations: ["own"],
    req: () => ({ method: "POST", path: "/api/publish",
      body: { type: "authz.check", data: {}, users: [w.rel.parent.user.id] } }),
    expect: { admin: ALL(401), teacher: ALL(401), class_teacher: ALL(401), parent: ALL(401), api_key: ALL(200) } },
];

// ---- running a cell -----------------------------------------------------------------------------

function call(actor, { method, path, body }) {
  const url = `${hub.url}${path}`;
  if (actor === "anonymous") return http(method, url, body);
  if (actor === "api_key") return http(method, url, body, null, { headers: { Authorization: `ApiKey ${config.api_key}` } });
  return http(method, url, body, w.tokens[w.rel[actor].user.id]);
}

function expected(probe, actor, relation) {
  if (probe.expect[actor]) return probe.expect[actor][relation];
  return 401; // anonymous, or the API key on a user's route
}

/** The object of this relation for the actor (anonymous and the API key aim at the admin's). */
function target(probe, actor, relation) {
  const a = w.rel[actor] || w.rel.admin;
  switch (probe.kind) {
  case "child": return a.child[relation];
  case "group": return a.group[relation];
  case "chat": return a.chat[relation];
  case "org": return relation === "other_org" ? a.otherOrg : a.org;
  case "news": return a.news[relation];
  case "staff": return a.staff[relation];
  case "person": return a.person[relation];
  default: return null;
  }
}

async function runCell(probe, actor, relation) {
  const want = expected(probe, actor, relation);
  const a = w.rel[actor] || w.rel.admin;
  const req = await probe.req(a, target(probe, actor, relation), want < 300, relation);
  const refusedWrite = probe.write && want >= 400;
  const before = refusedWrite ? await fingerprint(db) : null;
  const res = await call(actor, req);
  assert.equal(res.status, want, `${req.method} ${req.path}: ${res.text}`);
  if (want >= 400) {
    const code = { 401: "unauthorized", 403: "forbidden", 404: "not_found" }[want];
    assert.equal(res.json?.error?.code, code, res.text);
  }
  if (refusedWrite) assert.deepEqual(await fingerprint(db), before, "a refused write changed nothing");
  if (want < 300 && probe.check) await probe.check(res, a);
  if (want < 300 && probe.undo) await probe.undo(actor, res);
}

function cell(name, fn) {
  test(name, async () => {
    tally.run++;
    try {
      await fn();
      tally.passed++;
    } catch (err) {
      tally.failed.push(name);
      throw err;
    }
  });
}

for (const probe of PROBES) {
  for (const actor of ACTORS) {
    for (const relation of probe.relations || RELATIONS) {
      if (probe.only && USERS.includes(actor) && !probe.only(actor, relation)) continue;
      cell(`HTTP ${actor} × ${probe.resource}: ${probe.action} × ${relation}`, () => runCell(probe, actor, relation));
    }
  }
}

// ---- the WebSocket ------------------------------------------------------------------------------

/** Topics the actor is not entitled to: other chats, other groups' timesheets, other orgs, other users. */
function forbiddenTopics(actor) {
  const a = w.rel[actor];
  const topics = [`chat:${a.chat.other_family}`, `chat:${a.chat.other_org}`, `timesheet:${a.group.other_org.id}`,
    `group:${a.group.other_org.id}`, `org:${a.otherOrg.id}`, `orgstaff:${a.otherOrg.id}`,
    `user:${a.staff.other_org}`];
  if (actor !== "admin") topics.push(`timesheet:${a.group.other_group.id}`, `orgstaff:${a.org.id}`);
  if (actor === "parent") topics.push(`timesheet:${a.group.own.id}`);
  return topics;
}

async function peerOf(chat, uid) {
  const [id] = await db.query(`SELECT min(user_id) FROM chat_members WHERE chat_id = ${Number(chat)} ` +
    `AND user_id <> ${Number(uid)}`);
  return Number(id);
}

async function postAs(uid, chat, text) {
  const token = w.tokens[uid];
  assert.ok(token, `a token of user ${uid}`);
  const r = await http("POST", `${hub.url}/api/chats/${chat}/messages`, { text, cid: randomUUID() }, token);
  assert.equal(r.status, 200, r.text);
  return r.json;
}

for (const actor of USERS) {
  for (const relation of ["other_family", "other_org"]) {
    for (const op of ["send", "read", "typing"]) {
      cell(`WS ${actor} × chat: ${op} × ${relation}`, async () => {
        const a = w.rel[actor];
        const chat = a.chat[relation];
        const c = await wsConnect(hub.wsUrl, w.tokens[a.user.id]);
        try {
          await c.next("resumed");
          const before = await fingerprint(db);
          const frame = op === "send" ? { op, chat, text: "Проверка прав", cid: randomUUID() }
            : op === "read" ? { op, chat, seq: 1, rid: "r1" } : { op, chat, rid: "t1" };
          c.send(frame);
          const err = await c.next((m) => m.op === "error" || m.op === "ack" || m.op === "ok");
          assert.equal(err.op, "error", JSON.stringify(err));
          assert.equal(err.code, "forbidden", JSON.stringify(err));
          assert.deepEqual(await fingerprint(db), before, "a refused op changed nothing");
        } finally {
          await c.close();
        }
      });
    }
  }
  cell(`WS ${actor} × chat: send × own`, async () => {
    const a = w.rel[actor];
    const c = await wsConnect(hub.wsUrl, w.tokens[a.user.id]);
    try {
      await c.next("resumed");
      const cid = randomUUID();
      c.send({ op: "send", chat: a.chat.own, text: "Проверка прав", cid });
      const ack = await c.next((m) => (m.op === "ack" || m.op === "error") && m.cid === cid);
      assert.equal(ack.op, "ack", JSON.stringify(ack));
    } finally {
      await c.close();
    }
  });
  cell(`WS ${actor} × topics: resume of topics not entitled delivers nothing`, async () => {
    const a = w.rel[actor];
    const forbidden = forbiddenTopics(actor);
    // Each forbidden chat has history to replay, should the hub wrongly replay it.
    const resume = Object.fromEntries(forbidden.map((t) => [t, 0]));
    const c = await wsConnect(hub.wsUrl, w.tokens[a.user.id], { resume });
    try {
      for (const t of forbidden) assert.ok(!c.hello.topics.includes(t), `hello lists ${t}`);
      await c.next("resumed");
      // Live: a message in a forbidden chat, then one in the actor's own chat; once the second
      // arrives, the first would have arrived before it if it were delivered at all.
      const foreignChat = a.chat.other_family;
      await postAs(await peerOf(foreignChat, 0), foreignChat, "Чужой чат");
      const peer = await peerOf(a.chat.own, a.user.id);
      const sent = await postAs(peer, a.chat.own, "Свой чат");
      await c.next((m) => m.op === "event" && m.topic === `chat:${a.chat.own}` && m.seq === sent.seq);
      const leaked = c.drain().filter((m) => m.topic && forbidden.includes(m.topic));
      assert.deepEqual(leaked, [], "no event of a topic the actor may not see");
    } finally {
      await c.close();
    }
  });
}
