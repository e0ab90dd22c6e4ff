// 05-contract: the typed contract schema/contract/api.json against the hub's route table
// (hub/routes.c), the API functions (schema/functions), docs/PROTOCOL.md's route table, and the
// shapes of real answers of representative calls, so none of them can drift from it.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { readFileSync, readdirSync } from "node:fs";
import { join } from "node:path";
import { randomUUID } from "node:crypto";
import { ROOT, config, demoUsers, demoUser, http, login, startHub } from "./lib/harness.mjs";
import { shapeErrors } from "./lib/shape.mjs";

const contract = JSON.parse(readFileSync(join(ROOT, "schema/contract/api.json"), "utf8"));
const defs = contract.$defs;
// '/api/orgs/{id}/calendar/{date}' -> '/api/orgs/#/calendar/*', the pattern language of routes.c.
const pattern = (path) => path.replace(/\{id\}/g, "#").replace(/\{[a-z_]+\}/g, "*");
const key = (method, path) => `${method} ${path}`;
const byKey = new Map(contract.routes.map((r) => [key(r.method, pattern(r.path)), r]));

test("every route has one contract entry with statuses and an out shape", () => {
  assert.equal(byKey.size, contract.routes.length, "no route is described twice");
  for (const r of contract.routes) {
    assert.ok(r.ok.length > 0 && r.ok.every((s) => s >= 200 && s < 300), `${r.path}: success statuses`);
    assert.ok(r.errors.every((s) => s >= 400 && s < 500), `${r.path}: refusal statuses`);
    assert.ok(r.out, `${r.method} ${r.path} declares its answer's shape`);
    assert.ok(Boolean(r.fn) !== Boolean(r.handler), `${r.path}: an SQL function or a C handler`);
  }
});

test("hub/routes.c and the contract list the same routes, functions and auth", () => {
  const src = readFileSync(join(ROOT, "hub/routes.c"), "utf8");
  const re = /\{HTTP_(GET|POST|PUT|PATCH|DELETE), "([^"]+)", (?:NULL|"([a-z_]+)"), (?:NULL|route_\w+), AUTH_(\w+)/g;
  const seen = new Set();
  for (const m of src.matchAll(re)) {
    const [, method, path, fn, auth] = m;
    const r = byKey.get(key(method, path));
    assert.ok(r, `${method} ${path} of routes.c has a contract`);
    seen.add(key(method, path));
    assert.equal(r.fn ?? null, fn ? `epos_api_${fn}` : null, `${method} ${path}: its function`);
    assert.equal(r.auth, { USER: "user", NONE: "none", API_KEY: "api_key" }[auth], `${method} ${path}: its auth`);
  }
  assert.ok(seen.size >= 20, "the route table was read");
  assert.deepEqual([...byKey.keys()].filter((k) => !seen.has(k)), [], "no contract for a route the hub lacks");
});

test("every epos_api_* function of schema/functions is a route of the contract", () => {
  const fns = new Set();
  for (const f of readdirSync(join(ROOT, "schema/functions")))
    for (const m of readFileSync(join(ROOT, "schema/functions", f), "utf8").matchAll(/FUNCTION (epos_api_\w+)\(/g))
      fns.add(m[1]);
  const routed = new Set(contract.routes.map((r) => r.fn).filter(Boolean));
  assert.deepEqual([...fns].filter((f) => !routed.has(f)).sort(), [], "API functions without a route");
  assert.deepEqual([...routed].filter((f) => !fns.has(f)).sort(), [], "routes whose function does not exist");
});

test("docs/PROTOCOL.md's route table matches the contract: method, path and statuses", () => {
  const doc = readFileSync(join(ROOT, "docs/PROTOCOL.md"), "utf8");
  const rows = [...doc.matchAll(/^\| `(GET|POST|PUT|PATCH|DELETE)` \| `([^`]+)` \| ([^|]*) \| ([^|]*) \|$/gm)];
  const nums = (cell) => cell.split(",").map((x) => Number(x.trim())).filter(Boolean);
  const documented = new Map(rows.map(([, method, path, ok, errors]) =>
    [key(method, path), { ok: nums(ok), errors: nums(errors) }]));
  assert.equal(documented.size, rows.length, "no route is documented twice");
  for (const r of contract.routes) {
    const d = documented.get(key(r.method, r.path));
    assert.ok(d, `${r.method} ${r.path} is in PROTOCOL.md's route table`);
    assert.deepEqual(d, { ok: r.ok, errors: r.errors }, `${r.method} ${r.path}: the documented statuses`);
  }
  const known = new Set(contract.routes.map((r) => key(r.method, r.path)));
  assert.deepEqual([...documented.keys()].filter((k) => !known.has(k)), [], "documented routes the contract lacks");
});

test("the validator refuses what does not fit", () => {
  const item = defs.feed_item;
  assert.deepEqual(shapeErrors({ id: 1 }, { $ref: "#/$defs/id" }, defs), ["$: object, not integer"]);
  assert.ok(shapeErrors({ id: 1, kind: "news" }, item, defs).some((e) => e.includes('no "title"')));
  assert.ok(shapeErrors({ status: "late" }, { properties: { status: { enum: ["present"] } } }, defs).length === 1);
  assert.deepEqual(shapeErrors("2026-11-22T13:05:09.120Z", { $ref: "#/$defs/ts" }, defs), []);
});

// ---- real answers against the declared shapes

const demo = demoUsers();
const KG = demo.orgs.find((o) => o.kind === "kindergarten");
const ADMIN = demoUser({ role: "admin", org_id: KG.id });
const TEACHER = demoUser((u) => u.role === "teacher" && u.org_id === KG.id && u.group_ids.length > 0);
const PARENT = demoUser((u) => u.role === "parent" && u.child_ids.some((c) =>
  demo.children.find((k) => k.id === c)?.org_id === KG.id));
let hub;
const tok = {};

before(async () => {
  hub = await startHub();
  for (const u of [ADMIN, TEACHER, PARENT]) tok[u.login] = (await login(hub.url, u.login, u.password)).token;
});
after(async () => { await hub?.stop(); });

// Call a route and check the answer's status and body against its contract entry.
async function call(method, path, user, { body, args = "", headers } = {}) {
  const r = byKey.get(key(method, pattern(path.replace(/\/\d+(?=\/|$)/g, "/{id}").replace(
    /\/calendar\/[0-9-]+$/, "/calendar/{date}"))));
  assert.ok(r, `${method} ${path} is a route of the contract`);
  const res = await http(method, `${hub.url}${path}${args}`, body, user && tok[user.login], { headers });
  if (res.status >= 400) {
    assert.ok(r.errors.includes(res.status), `${method} ${path}: ${res.status} is a declared refusal (${res.text})`);
    return res;
  }
  assert.ok(r.ok.includes(res.status), `${method} ${path}: ${res.status} is a declared success`);
  assert.deepEqual(shapeErrors(res.json, r.out, defs), [], `${method} ${path}: the answer fits its shape`);
  return res;
}

test("representative answers fit their declared shapes", async () => {
  const group = TEACHER.group_ids[0];
  await call("GET", "/api/me", PARENT);
  await call("GET", "/api/me", ADMIN);
  await call("GET", "/api/contacts", PARENT);
  await call("GET", "/api/chats", PARENT);
  await call("GET", "/api/timesheet", TEACHER, { args: `?group_id=${group}` });
  await call("GET", "/api/timesheet/summary", ADMIN, { args: `?org_id=${KG.id}` });
  await call("GET", "/api/absences", PARENT);
  await call("GET", `/api/orgs/${KG.id}/calendar`, PARENT);
  await call("GET", `/api/orgs/${KG.id}/staff`, ADMIN);
  const news = await call("POST", "/api/news", ADMIN, {
    body: { org_id: KG.id, title: "Контракт", require_ack: true, cid: randomUUID() } });
  assert.equal(news.status, 201, news.text);
  await call("GET", "/api/feed", PARENT, { args: "?limit=5" });
  await call("POST", `/api/news/${news.json.item.id}/ack`, PARENT);
  await call("GET", `/api/news/${news.json.item.id}/acks`, ADMIN);
  const refused = await call("POST", "/api/news", PARENT, { body: { org_id: KG.id, title: "x" } });
  assert.equal(refused.status, 403, "a parent's post is a declared refusal");
  await call("POST", "/api/publish", null, {
    body: { type: "contract.check", data: {}, users: [PARENT.id] },
    headers: { authorization: `ApiKey ${config.api_key}` } });
});
