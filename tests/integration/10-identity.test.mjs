// 10-identity: login, rate limit, /api/me, contacts, password change, logout, tokens, WebSocket auth.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { createHmac } from "node:crypto";
import {
  startHub, http, login, wsConnect, demoUsers, demoUser, psql, ctl, run, config,
} from "./lib/harness.mjs";

let hub;      // the default hub
let strict;   // a hub with a short auth timeout, a low failed-login limit and a long first delay
const FAIL_MAX = 3;

before(async () => {
  hub = await startHub();
  strict = await startHub({ env: { EPOS_AUTH_TIMEOUT_MS: "300", EPOS_LOGIN_FAIL_MAX: String(FAIL_MAX),
    EPOS_LOGIN_DELAY_S: "600" } });
});

after(async () => {
  await strict?.stop();
  await hub?.stop();
});

const get = (path, token, base = hub.url) => http("GET", `${base}${path}`, undefined, token);
const post = (path, body, token, base = hub.url) => http("POST", `${base}${path}`, body, token);

// The demo users by role, with their relations from users.json.
const parent = () => demoUser((u) => u.role === "parent" && u.login === "parent1");
const teacherOf = (gid) => demoUser((u) => u.role === "teacher" && u.group_ids.includes(gid));
const adminOf = (orgId) => demoUser({ role: "admin", org_id: orgId });

function groupOrg(gid) {
  return demoUsers().groups.find((g) => g.id === gid).org_id;
}

// The ids of the parents (guardians) of the children of the given groups.
function parentsOfGroups(gids) {
  const kids = new Set(demoUsers().children.filter((c) => gids.includes(c.group_id)).map((c) => c.id));
  return new Set(demoUsers().users.filter((u) => u.role === "parent" && u.child_ids.some((k) => kids.has(k)))
    .map((u) => u.id));
}

function ids(list) {
  return new Set(list.map((x) => x.id));
}

// Every contact item has exactly the public fields.
function assertContactShape(body) {
  for (const cat of ["teachers", "class_teachers", "administration", "parents"]) {
    assert.ok(Array.isArray(body[cat]), `category ${cat}`);
    for (const c of body[cat]) {
      assert.deepEqual(Object.keys(c).sort(), ["children", "groups", "id", "name", "role"], JSON.stringify(c));
    }
  }
}

// A fresh user of our own (first-login credentials: a generated password).
async function freshUser(tag) {
  const loginName = `chatsql-${tag}-${process.pid}-${Date.now()}`;
  const r = await ctl(["user", "add", "--login", loginName, "--name", "Тестовый Пользователь",
    "--email", `${loginName}@example.test`]);
  assert.equal(r.code, 0, r.output);
  const password = /password: (\S+)/.exec(r.stdout)?.[1];
  assert.ok(password, r.output);
  return { login: loginName, password };
}

// Forget the failed-login counters the rate-limit test left in Redis.
async function clearLoginFailures(loginName) {
  const cli = ["-h", config.redis_host || "127.0.0.1", "-p", String(config.redis_port || 16379)];
  const keys = await run("redis-cli", [...cli, "--scan", "--pattern", "epos:loginfail:*"]);
  const mine = keys.stdout.split("\n").filter((k) => k.endsWith(`:${loginName}`) || k.includes(":addr:"));
  if (mine.length) await run("redis-cli", [...cli, "DEL", ...mine]);
}

// A token signed like the hub's (uid.sid.exp.base64url(HMAC-SHA256)).
function mintToken(uid, sid, exp) {
  const body = `${uid}.${sid}.${exp}`;
  const sig = createHmac("sha256", config.token_secret).update(body).digest("base64url");
  return `${body}.${sig}`;
}

test("login: a demo parent gets a token and their user", async () => {
  const p = parent();
  const r = await post("/api/login", { login: p.login, password: p.password });
  assert.equal(r.status, 200, r.text);
  assert.equal(typeof r.json.token, "string");
  assert.equal(r.json.user.id, p.id);
  assert.equal(r.json.user.name, p.name);
  assert.deepEqual(r.json.user.roles, ["parent"]);
  assert.equal(r.json.user.must_change_password, false);
});

test("login: the login is case-insensitive", async () => {
  const p = parent();
  const r = await post("/api/login", { login: p.login.toUpperCase(), password: p.password });
  assert.equal(r.status, 200, r.text);
  assert.equal(r.json.user.id, p.id);
});

test("login: a wrong password or an unknown login is 401", async () => {
  const p = parent();
  const bad = await post("/api/login", { login: p.login, password: "not-the-password" });
  assert.equal(bad.status, 401);
  assert.equal(bad.json.error.code, "unauthorized");
  const unknown = await post("/api/login", { login: "nobody-at-all", password: "whatever1" });
  assert.equal(unknown.status, 401);
  assert.equal(unknown.json.error.code, "unauthorized");
  const malformed = await post("/api/login", { login: 5, password: "x" });
  assert.equal(malformed.status, 400);
  await clearLoginFailures(p.login);
});

test("login: 429 after login_fail_max failures, even with the right password", async () => {
  const u = await freshUser("rate");
  await clearLoginFailures(u.login); // failures other tests made from this address
  try {
    for (let i = 0; i < FAIL_MAX; i++) {
      const r = await post("/api/login", { login: u.login, password: "wrong-password" }, null, strict.url);
      assert.equal(r.status, 401, `attempt ${i + 1}: ${r.text}`);
    }
    const r = await post("/api/login", { login: u.login, password: u.password }, null, strict.url);
    assert.equal(r.status, 429, r.text);
    assert.equal(r.json.error.code, "rate_limited");
  } finally {
    await clearLoginFailures(u.login);
  }
  const ok = await post("/api/login", { login: u.login, password: u.password }, null, strict.url);
  assert.equal(ok.status, 200, ok.text);
});

test("/api/me: a parent sees their children and orgs", async () => {
  const p = parent();
  const { token } = await login(hub.url, p.login, p.password);
  const r = await get("/api/me", token);
  assert.equal(r.status, 200, r.text);
  const me = r.json;
  assert.equal(me.id, p.id);
  assert.equal(me.login, p.login);
  assert.deepEqual(me.roles, ["parent"]);
  assert.equal(me.must_change_password, false);
  assert.deepEqual(me.groups, []);
  assert.deepEqual(new Set(me.children.map((c) => c.id)), new Set(p.child_ids));
  for (const c of me.children) {
    const demo = demoUsers().children.find((x) => x.id === c.id);
    assert.equal(c.group_id, demo.group_id);
    assert.equal(c.org_id, demo.org_id);
    assert.equal(typeof c.group_name, "string");
    assert.equal(typeof c.lessons_per_day, "number");
  }
  const orgs = new Set(me.children.map((c) => c.org_id));
  assert.deepEqual(new Set(me.orgs.map((o) => o.id)), orgs);
  for (const o of me.orgs) assert.deepEqual(o.roles, ["parent"]);
});

test("/api/me: a teacher sees the groups bound to them", async () => {
  const t = teacherOf(1);
  const { token } = await login(hub.url, t.login, t.password);
  const r = await get("/api/me", token);
  assert.equal(r.status, 200, r.text);
  assert.ok(r.json.roles.includes("teacher"));
  assert.deepEqual(new Set(r.json.groups.map((g) => g.id)), new Set(t.group_ids));
  for (const g of r.json.groups) assert.equal(g.org_id, t.org_id);
  const org = r.json.orgs.find((o) => o.id === t.org_id);
  assert.ok(org.roles.includes("teacher"));
});

test("/api/me: an admin sees their org with its settings", async () => {
  const a = adminOf(1);
  const { token } = await login(hub.url, a.login, a.password);
  const r = await get("/api/me", token);
  assert.equal(r.status, 200, r.text);
  assert.deepEqual(r.json.roles, ["admin"]);
  assert.deepEqual(r.json.children, []);
  const org = r.json.orgs.find((o) => o.id === 1);
  assert.ok(org, JSON.stringify(r.json.orgs));
  assert.deepEqual(org.roles, ["admin"]);
  assert.match(org.timesheet_deadline, /^\d\d:\d\d$/);
  assert.match(org.quiet_hours.from, /^\d\d:\d\d$/);
  assert.match(org.quiet_hours.to, /^\d\d:\d\d$/);
  assert.equal(typeof org.tz, "string");
});

test("/api/contacts: a parent reaches their children's staff, never another family", async () => {
  const p = parent();
  const { token } = await login(hub.url, p.login, p.password);
  const r = await get("/api/contacts", token);
  assert.equal(r.status, 200, r.text);
  const c = r.json;
  assertContactShape(c);

  const teachers = new Set(demoUsers().users.filter((u) => u.role === "teacher" &&
    u.group_ids.some((g) => p.group_ids.includes(g))).map((u) => u.id));
  for (const id of teachers) assert.ok(ids(c.teachers).has(id) || ids(c.class_teachers).has(id), `teacher ${id}`);
  for (const t of c.teachers) {
    const demo = demoUser({ id: t.id });
    assert.ok(demo.group_ids.some((g) => p.group_ids.includes(g)), `${t.name} teaches none of my children`);
  }
  const classes = p.group_ids.filter((g) => demoUsers().groups.find((x) => x.id === g).kind === "class");
  const classTeachers = demoUsers().users.filter((u) => u.role === "class_teacher" &&
    u.group_ids[0] !== undefined && classes.includes(u.group_ids[0]));
  for (const ct of classTeachers) assert.ok(ids(c.class_teachers).has(ct.id), `class teacher ${ct.login}`);

  const admins = new Set(p.group_ids.map(groupOrg).map((o) => adminOf(o).id));
  assert.deepEqual(ids(c.administration), admins);
  assert.deepEqual(c.parents, [], "orgs do not let parents see parents by default");

  const all = [...c.teachers, ...c.class_teachers, ...c.administration];
  assert.ok(!all.some((x) => x.id === p.id), "not myself");
  // No email or phone of anyone but me appears anywhere in the reply.
  const others = await psql("SELECT email, phone FROM users WHERE id <> $1", [p.id]);
  for (const o of others) {
    if (o.email) assert.ok(!r.text.includes(o.email), `email ${o.email} leaked`);
    if (o.phone) assert.ok(!r.text.includes(o.phone), `phone ${o.phone} leaked`);
  }
});

test("/api/contacts: parents see other parents of the same class only when the org allows it", async () => {
  const p = parent();
  const cls = p.group_ids.find((g) => demoUsers().groups.find((x) => x.id === g).kind === "class");
  const org = groupOrg(cls);
  const { token } = await login(hub.url, p.login, p.password);
  await psql("UPDATE orgs SET parents_see_parents = true WHERE id = $1", [org]);
  try {
    const r = await get("/api/contacts", token);
    assert.equal(r.status, 200, r.text);
    const expected = parentsOfGroups([cls]);
    expected.delete(p.id);
    assert.deepEqual(ids(r.json.parents), expected);
    const classKids = new Set(demoUsers().children.filter((k) => k.group_id === cls).map((k) => k.name));
    for (const x of r.json.parents) {
      assert.ok(x.children.length > 0);
      for (const name of x.children) assert.ok(classKids.has(name), `${name} is not in my child's class`);
    }
  } finally {
    await psql("UPDATE orgs SET parents_see_parents = false WHERE id = $1", [org]);
  }
});

test("/api/contacts: a teacher reaches the parents of their groups and their colleagues", async () => {
  const t = teacherOf(1);
  const { token } = await login(hub.url, t.login, t.password);
  const r = await get("/api/contacts", token);
  assert.equal(r.status, 200, r.text);
  assertContactShape(r.json);
  assert.deepEqual(ids(r.json.parents), parentsOfGroups(t.group_ids));
  const myKids = new Set(demoUsers().children.filter((k) => t.group_ids.includes(k.group_id)).map((k) => k.name));
  for (const x of r.json.parents) for (const n of x.children) assert.ok(myKids.has(n), n);
  assert.deepEqual(ids(r.json.administration), new Set([adminOf(t.org_id).id]));
  const colleagues = new Set(demoUsers().users.filter((u) => u.org_id === t.org_id && u.id !== t.id &&
    (u.role === "teacher" || u.role === "class_teacher")).map((u) => u.id));
  const staff = new Set([...ids(r.json.teachers), ...ids(r.json.class_teachers)]);
  assert.deepEqual(staff, colleagues);
});

test("/api/contacts: an admin reaches their org's staff and parents, not another org's", async () => {
  const a = adminOf(1);
  const { token } = await login(hub.url, a.login, a.password);
  const r = await get("/api/contacts", token);
  assert.equal(r.status, 200, r.text);
  const orgGroups = demoUsers().groups.filter((g) => g.org_id === 1).map((g) => g.id);
  assert.deepEqual(ids(r.json.parents), parentsOfGroups(orgGroups));
  const staff = new Set([...ids(r.json.teachers), ...ids(r.json.class_teachers), ...ids(r.json.administration)]);
  const expected = new Set(demoUsers().users.filter((u) => u.org_id === 1 && u.role !== "parent" && u.id !== a.id)
    .map((u) => u.id));
  assert.deepEqual(staff, expected);
  assert.ok(!staff.has(adminOf(2).id));
});

test("password change: first-login credentials, wrong old password, short new one, then the new one works", async () => {
  const u = await freshUser("pw");
  const first = await login(hub.url, u.login, u.password);
  assert.equal(first.user.must_change_password, true);
  const other = await login(hub.url, u.login, u.password); // another device

  const wrong = await post("/api/password", { old_password: "not-it-at-all", new_password: "новый-пароль-1" }, first.token);
  assert.equal(wrong.status, 403, wrong.text);
  const short = await post("/api/password", { old_password: u.password, new_password: "short" }, first.token);
  assert.equal(short.status, 400, short.text);

  const ok = await post("/api/password", { old_password: u.password, new_password: "новый-пароль-1" }, first.token);
  assert.equal(ok.status, 200, ok.text);
  assert.deepEqual(ok.json, { ok: true });

  const me = await get("/api/me", first.token);
  assert.equal(me.status, 200, me.text);
  assert.equal(me.json.must_change_password, false);
  assert.equal((await get("/api/me", other.token)).status, 401, "the other device is signed out");
  assert.equal((await post("/api/login", { login: u.login, password: u.password })).status, 401);
  const again = await login(hub.url, u.login, "новый-пароль-1");
  assert.equal(again.user.must_change_password, false);
  await clearLoginFailures(u.login);
});

test("logout revokes the token for HTTP and the WebSocket", async () => {
  const p = parent();
  const { token } = await login(hub.url, p.login, p.password);
  assert.equal((await get("/api/me", token)).status, 200);
  const out = await post("/api/logout", {}, token);
  assert.equal(out.status, 200, out.text);
  const me = await get("/api/me", token);
  assert.equal(me.status, 401);
  assert.equal(me.json.error.code, "unauthorized");
  const ws = await wsConnect(hub.wsUrl);
  ws.send({ op: "auth", token });
  assert.equal((await ws.closed).code, 4401);
});

test("a tampered, malformed, expired or missing token is 401", async () => {
  const p = parent();
  const { token } = await login(hub.url, p.login, p.password);
  const [uid, sid, exp, sig] = token.split(".");
  const flipped = sig[0] === "A" ? "B" + sig.slice(1) : "A" + sig.slice(1);
  for (const bad of [`${uid}.${sid}.${exp}.${flipped}`, `${Number(uid) + 1}.${sid}.${exp}.${sig}`,
    "garbage", `${uid}.${sid}.${Number(exp) + 1}.${sig}`]) {
    const r = await get("/api/me", bad);
    assert.equal(r.status, 401, bad);
    assert.equal(r.json.error.code, "unauthorized");
  }
  assert.equal((await get("/api/me")).status, 401);

  // Signed but past its exp: the hub refuses it before asking the database.
  const old = mintToken(uid, sid, Math.floor(Date.now() / 1000) - 10);
  assert.equal((await get("/api/me", old)).status, 401);

  // Signed and within its exp, but the session row has expired.
  const [s] = await psql(
    `INSERT INTO sessions (user_id, created_at, expires_at)
     VALUES ($1, now() - interval '2 hours', now() - interval '1 hour') RETURNING id`, [p.id]);
  const stale = mintToken(p.id, s.id, Math.floor(Date.now() / 1000) + 3600);
  const r = await get("/api/me", stale);
  assert.equal(r.status, 401, r.text);
  assert.equal(r.json.error.code, "unauthorized");
});

test("ws: auth says hello with the user's topics", async () => {
  const p = parent();
  const { token } = await login(hub.url, p.login, p.password);
  const ws = await wsConnect(hub.wsUrl, token);
  try {
    const hello = ws.hello;
    assert.equal(hello.user.id, p.id);
    assert.equal(hello.user.name, p.name);
    assert.deepEqual(hello.user.roles, ["parent"]);
    const topics = new Set(hello.topics);
    assert.ok(topics.has(`user:${p.id}`));
    for (const g of p.group_ids) assert.ok(topics.has(`group:${g}`), `group:${g}`);
    for (const o of new Set(p.group_ids.map(groupOrg))) assert.ok(topics.has(`org:${o}`), `org:${o}`);
    assert.ok(![...topics].some((t) => t.startsWith("timesheet:") || t.startsWith("orgstaff:")),
      "a parent gets no staff topics");
    await ws.next("resumed");
  } finally {
    await ws.close();
  }

  const t = teacherOf(1);
  const tt = await login(hub.url, t.login, t.password);
  const tw = await wsConnect(hub.wsUrl, tt.token);
  try {
    for (const g of t.group_ids) assert.ok(tw.hello.topics.includes(`timesheet:${g}`), `timesheet:${g}`);
  } finally {
    await tw.close();
  }
});

test("ws: no auth within the timeout closes 4401", async () => {
  const ws = await wsConnect(strict.wsUrl);
  const { code } = await ws.closed;
  assert.equal(code, 4401);
});

test("ws: a bad token closes 4401", async () => {
  const ws = await wsConnect(hub.wsUrl);
  ws.send({ op: "auth", token: "1.2.3.nope" });
  assert.equal((await ws.closed).code, 4401);
});
