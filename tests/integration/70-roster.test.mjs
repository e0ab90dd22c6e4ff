// 70-roster: POST /api/roster (API key) with the sample region of tests/data/roster — a full
// sync per org creates it; a mid-year delta moves a child, ends a teacher's roles, unbinds a
// teacher and ends a guardianship, each heard live on sockets of another hub; an identical
// re-sync answers everything unchanged and publishes nothing; malformed documents and bad rows
// get the documented errors and change nothing.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { startHub, http, login, wsConnect, psql, ctl, config, ROOT } from "./lib/harness.mjs";

const DATA = join(ROOT, "tests/data/roster");
const region = JSON.parse(readFileSync(join(DATA, "region.json"), "utf8"));
const midyear = JSON.parse(readFileSync(join(DATA, "delta-midyear.json"), "utf8"));
const KINDS = ["orgs", "groups", "people", "staff", "bindings", "children", "guardians"];

let hubA, hubB;
const open = [];

before(async () => {
  hubA = await startHub();
  hubB = await startHub();
});

after(async () => {
  for (const c of open) await c.close().catch(() => {});
  await hubB?.stop();
  await hubA?.stop();
});

function roster(body, key = config.api_key, hub = hubA) {
  const headers = key === null ? {} : { authorization: `ApiKey ${key}` };
  return http("POST", `${hub.url}/api/roster`, body, undefined, { headers });
}

/** The full-sync document of one org of the region: its rows and the people they name. */
function fullDoc(doc, org) {
  const groups = doc.groups.filter((g) => g.org === org);
  const gids = new Set(groups.map((g) => g.ext_id));
  const children = doc.children.filter((c) => gids.has(c.group));
  const cids = new Set(children.map((c) => c.ext_id));
  const staff = doc.staff.filter((s) => s.org === org);
  const bindings = doc.bindings.filter((b) => gids.has(b.group));
  const guardians = doc.guardians.filter((g) => cids.has(g.child));
  const named = new Set([...staff, ...bindings, ...guardians].map((x) => x.person));
  return { mode: "full", org, orgs: doc.orgs.filter((o) => o.ext_id === org), groups,
    people: doc.people.filter((p) => named.has(p.ext_id)), staff, bindings, children, guardians };
}

function totals(body) {
  const t = { created: 0, updated: 0, unchanged: 0, ended: 0, rejected: 0 };
  for (const k of KINDS) for (const f of Object.keys(t)) t[f] += body.counts[k][f];
  return t;
}

async function state() {
  const [row] = await psql(`SELECT (SELECT count(*) FROM users)::int AS users,
      (SELECT count(*) FROM children)::int AS children, (SELECT count(*) FROM guardians)::int AS guardians,
      (SELECT count(*) FROM enrolments)::int AS enrolments, (SELECT count(*) FROM teacher_groups)::int AS bindings,
      (SELECT count(*) FROM staff_roles)::int AS roles, (SELECT count(*) FROM groups)::int AS groups,
      (SELECT count(*) FROM roster_ended)::int AS ended, (SELECT count(*) FROM orgs)::int AS orgs,
      (SELECT coalesce(sum(seq), 0)::text FROM topic_seq) AS seqs`);
  return row;
}

async function ids() {
  const rows = await psql(`SELECT 'g:' || ext_id AS k, id FROM groups WHERE ext_id LIKE 'ds101-%' OR ext_id LIKE 'sosh12-%'
      UNION ALL SELECT 'o:' || ext_id, id FROM orgs WHERE ext_id IN ('perm-ds-101', 'perm-sosh-12')
      UNION ALL SELECT 'u:' || ext_id, id FROM users WHERE ext_id LIKE 'kont-%'`);
  return Object.fromEntries(rows.map((r) => [r.k, Number(r.id)]));
}

/** Give a roster person a password (they come without one) and sign in on hub. */
async function signIn(ext, hub) {
  const [u] = await psql("SELECT login FROM users WHERE ext_id = $1", [ext]);
  const r = await ctl(["user", "password", "--login", u.login, "--password", "Roster-Test-2026"]);
  assert.equal(r.code, 0, r.output);
  return (await login(hub.url, u.login, "Roster-Test-2026")).token;
}

test("a full sync per org creates the sample region; a new person has no password until given one", async () => {
  for (const org of ["perm-ds-101", "perm-sosh-12"]) {
    const res = await roster(fullDoc(region, org));
    assert.equal(res.status, 200, res.text);
    assert.equal(res.json.org, org);
    assert.equal(res.json.changed, true);
    assert.deepEqual(res.json.rejected, []);
    assert.equal(totals(res.json).rejected, 0);
  }
  const [n] = await psql(`SELECT (SELECT count(*) FROM users WHERE ext_id LIKE 'kont-%')::int AS people,
      (SELECT count(*) FROM children c JOIN enrolments e ON e.child_id = c.id WHERE c.ext_id LIKE 'kont-%')::int AS kids,
      (SELECT count(*) FROM users WHERE ext_id LIKE 'kont-%' AND password_hash IS NOT NULL)::int AS with_password`);
  assert.deepEqual(n, { people: region.people.length, kids: region.children.length, with_password: 0 });
  // The parent of two children in two orgs sees both groups and both orgs.
  const id = await ids();
  const token = await signIn("kont-100001", hubB);
  const ws = await wsConnect(hubB.wsUrl, token);
  open.push(ws);
  for (const t of [`group:${id["g:ds101-solnyshko"]}`, `group:${id["g:sosh12-5a"]}`,
    `org:${id["o:perm-ds-101"]}`, `org:${id["o:perm-sosh-12"]}`])
    assert.ok(ws.hello.topics.includes(t), `${t} in ${ws.hello.topics}`);
  // The teacher who is also a parent: her class's timesheet and her daughter's group.
  const both = await wsConnect(hubB.wsUrl, await signIn("kont-000203", hubB));
  open.push(both);
  for (const t of [`timesheet:${id["g:sosh12-5a"]}`, `group:${id["g:ds101-kolokolchik"]}`])
    assert.ok(both.hello.topics.includes(t), `${t} in ${both.hello.topics}`);
});

test("the mid-year delta is live on another hub: a child moves, a teacher leaves or is unbound, a guardianship ends", async () => {
  const id = await ids();
  const sock = {};
  for (const ext of ["kont-100005", "kont-000104", "kont-000103", "kont-100007"]) {
    sock[ext] = await wsConnect(hubB.wsUrl, await signIn(ext, hubB));
    open.push(sock[ext]);
    await sock[ext].next("resumed");
  }
  const res = await roster(midyear, config.api_key, hubA);
  assert.equal(res.status, 200, res.text);
  assert.equal(res.json.changed, true);
  assert.equal(res.json.counts.children.updated, 1);
  assert.equal(res.json.counts.staff.ended, 1);
  assert.equal(res.json.counts.bindings.ended, 1);
  assert.equal(res.json.counts.guardians.ended, 1);
  const changed = (ext) => sock[ext].next((m) => m.type === "entitlements.changed");

  const moved = await changed("kont-100005");
  assert.ok(moved.data.added.includes(`group:${id["g:ds101-romashka"]}`), JSON.stringify(moved));
  assert.ok(moved.data.removed.includes(`group:${id["g:ds101-solnyshko"]}`), JSON.stringify(moved));
  const left = await changed("kont-000104");
  assert.ok(left.data.removed.includes(`timesheet:${id["g:ds101-kolokolchik"]}`), JSON.stringify(left));
  assert.ok(left.data.removed.includes(`orgstaff:${id["o:perm-ds-101"]}`) || left.data.removed.includes(`org:${id["o:perm-ds-101"]}`),
    JSON.stringify(left));
  const unbound = await changed("kont-000103");
  assert.deepEqual(unbound.data.removed.sort(),
    [`group:${id["g:ds101-kolokolchik"]}`, `timesheet:${id["g:ds101-kolokolchik"]}`].sort());
  const ended = await changed("kont-100007");
  assert.ok(ended.data.removed.includes(`group:${id["g:sosh12-1b"]}`), JSON.stringify(ended));

  // The timesheet is refused at once, and the parent no longer reaches the child.
  const teacher = await signIn("kont-000103", hubA);
  const ts = await http("GET", `${hubA.url}/api/timesheet?group_id=${id["g:ds101-kolokolchik"]}&date=2026-12-01`, undefined, teacher);
  assert.equal(ts.status, 403, ts.text);
  const me = (await http("GET", `${hubA.url}/api/me`, undefined, await signIn("kont-100007", hubA))).json;
  assert.deepEqual(me.children ?? [], []);
  // History stays: the ended relations are on record.
  const [rec] = await psql(`SELECT array_agg(kind ORDER BY kind) AS kinds FROM roster_ended WHERE sync_id = $1`, [res.json.sync_id]);
  assert.deepEqual(rec.kinds, ["binding", "binding", "enrolment", "guardian", "role"]);
});

test("an identical sync answers everything unchanged and publishes nothing", async () => {
  const id = await ids();
  const ws = await wsConnect(hubB.wsUrl, await signIn("kont-100005", hubB));
  open.push(ws);
  await ws.next("resumed");
  const before = await state();
  const now = applyDelta(region);
  for (const doc of [midyear, fullDoc(now, "perm-ds-101"), fullDoc(now, "perm-sosh-12")]) {
    const res = await roster(doc);
    assert.equal(res.status, 200, res.text);
    assert.equal(res.json.changed, false, JSON.stringify(res.json));
    const t = totals(res.json);
    assert.equal(t.created + t.updated + t.ended + t.rejected, 0, JSON.stringify(res.json.counts));
  }
  assert.deepEqual(await state(), before);
  await ws.ping();
  assert.deepEqual(ws.drain().filter((m) => m.op === "event"), []);
  assert.ok(ws.hello.topics.includes(`group:${id["g:ds101-romashka"]}`));
});

/** The region as it is after the mid-year delta. */
function applyDelta(doc) {
  const d = structuredClone(doc);
  d.children = d.children.map((c) => (c.ext_id === "kont-500005" ? { ...c, group: "ds101-romashka" } : c));
  d.staff = d.staff.filter((s) => s.person !== "kont-000104");
  d.bindings = d.bindings.filter((b) => b.person !== "kont-000104" &&
    !(b.person === "kont-000103" && b.group === "ds101-kolokolchik"));
  d.guardians = d.guardians.filter((g) => !(g.person === "kont-100007" && g.child === "kont-500008"));
  return d;
}

test("malformed documents are refused whole and change nothing", async () => {
  const before = await state();
  const cases = [
    [[], 400], ["text", 400], [{}, 400], [{ mode: "sometimes" }, 400],
    [{ mode: "delta", pupils: [] }, 400], [{ mode: "delta", children: {} }, 400],
    [{ mode: "full" }, 400], [{ mode: "full", org: 12 }, 400], [{ mode: "full", org: "no-such-org" }, 404],
  ];
  for (const [body, status] of cases) {
    const res = await roster(body);
    assert.equal(res.status, status, `${JSON.stringify(body)}: ${res.text}`);
    assert.equal(typeof res.json.error.message, "string");
  }
  for (const key of [null, "wrong"]) assert.equal((await roster({ mode: "delta" }, key)).status, 401);
  // Without the key the 64 KiB limit holds; a big document needs the key.
  const big = { mode: "delta", people: Array.from({ length: 2000 }, (_, i) => ({ ext_id: `big-${i}`, name: "Большой Документ" })) };
  assert.equal((await roster(big, null)).status, 413);
  assert.deepEqual(await state(), before);
});

test("bad rows are rejected with reasons; the good rows of the same document apply", async () => {
  const doc = {
    mode: "delta",
    people: [
      { ext_id: "kont-100010", name: "Морозова Алина Игоревна", email: "morozova.ai@mail.example" },
      { ext_id: "kont-100011" },
      { ext_id: "kont-100010", name: "Морозова Алина Игоревна" },
      "not a row",
      { ext_id: "kont-100012", name: "Беляев Олег", email: "нет почты" },
    ],
    children: [
      { ext_id: "kont-500010", name: "Морозов Глеб Алексеевич", group: "ds101-solnyshko", birth_date: "2022-08-03" },
      { ext_id: "kont-500011", name: "Потерянный Ребёнок", group: "no-such-group" },
      { ext_id: "kont-500012", name: "Неверная Дата", group: "ds101-solnyshko", birth_date: "2022-02-30" },
    ],
    guardians: [
      { person: "kont-100010", child: "kont-500010" },
      { person: "kont-100010", child: "no-such-child" },
      { person: "no-such-person", child: "kont-500010" },
    ],
    bindings: [{ person: "kont-100010", group: "ds101-solnyshko", role: "teacher" }],
    staff: [{ person: "kont-100010", org: "perm-ds-101", roles: ["janitor"] }],
    groups: [{ ext_id: "ds101-new", org: "perm-ds-101", name: "Младшая группа «Солнышко»", kind: "group" }],
  };
  const res = await roster(doc);
  assert.equal(res.status, 200, res.text);
  const codes = res.json.rejected.map((r) => `${r.kind}[${r.index}] ${r.code}`).sort();
  assert.deepEqual(codes, [
    "bindings[0] not_staff", "children[1] unknown_group", "children[2] bad_row", "groups[0] conflict",
    "guardians[1] unknown_child", "guardians[2] unknown_person", "people[1] bad_row", "people[2] duplicate",
    "people[3] bad_row", "people[4] bad_row", "staff[0] bad_row",
  ].sort());
  for (const r of res.json.rejected) assert.ok(r.message.length > 0);
  assert.equal(res.json.counts.people.created, 1);
  assert.equal(res.json.counts.children.created, 1);
  assert.equal(res.json.counts.guardians.created, 1);
  const [n] = await psql(`SELECT (SELECT count(*) FROM users WHERE ext_id IN ('kont-100011', 'kont-100012'))::int AS people,
      (SELECT count(*) FROM children WHERE ext_id IN ('kont-500011', 'kont-500012'))::int AS kids,
      (SELECT count(*) FROM groups WHERE ext_id = 'ds101-new')::int AS groups`);
  assert.deepEqual(n, { people: 0, kids: 0, groups: 0 });
});

test("the administrator sees the org's roster with where each row came from; nobody else does", async () => {
  const id = await ids();
  const org = id["o:perm-ds-101"];
  const admin = await signIn("kont-000101", hubA);
  const res = await http("GET", `${hubA.url}/api/orgs/${org}/roster`, undefined, admin);
  assert.equal(res.status, 200, res.text);
  assert.equal(res.json.org.source, "registry");
  assert.ok(res.json.org.last_sync, "the last sync's time is shown");
  const romashka = res.json.groups.find((g) => g.ext_id === "ds101-romashka");
  assert.equal(romashka.source, "registry");
  const timofey = romashka.children.find((c) => c.ext_id === "kont-500005");
  assert.ok(timofey, "the moved child is in the new group");
  assert.ok(timofey.synced_at);
  assert.deepEqual(timofey.guardians.map((g) => [g.ext_id, g.source]), [["kont-100005", "registry"]]);
  const solnyshko = res.json.groups.find((g) => g.ext_id === "ds101-solnyshko");
  assert.deepEqual(solnyshko.staff.map((s) => [s.name, s.role, s.source]), [["Смирнова Анна Сергеевна", "teacher", "registry"]]);
  for (const ext of ["kont-000201", "kont-100001"]) {
    const other = await http("GET", `${hubA.url}/api/orgs/${org}/roster`, undefined, await signIn(ext, hubA));
    assert.equal(other.status, 403, `${ext}: ${other.text}`);
  }
});
