// 13-publish: POST /api/publish (server to server, API key) to users, groups and an org —
// delivered live, persisted and replayed on resume; refused without the key, for unknown
// targets and bad input, and then nothing is published.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { startHub, http, login, wsConnect, demoUsers, demoUser, psql, config } from "./lib/harness.mjs";

let hub;
const open = [];
const tok = {};

const demo = demoUsers();
const onlyParent = (u) => u.role === "parent" && !demo.users.some((x) => x.id === u.id && x.role !== "parent");
const KG = demo.orgs.find((o) => o.kind === "kindergarten");
const SCHOOL = demo.orgs.find((o) => o.kind === "school");
const [G1, G2] = demo.groups.filter((g) => g.org_id === KG.id).map((g) => g.id);
const P1 = demoUser((u) => onlyParent(u) && u.group_ids.length > 0 && u.group_ids.every((g) => g === G1));
const P2 = demoUser((u) => onlyParent(u) && u.group_ids.length > 0 && u.group_ids.every((g) => g === G2));
const T1 = demoUser((u) => u.role === "teacher" && u.org_id === KG.id && u.group_ids.includes(G1));
const PS = demoUser((u) => onlyParent(u) && u.org_id === SCHOOL.id &&
  u.group_ids.every((g) => demo.groups.find((x) => x.id === g).org_id === SCHOOL.id));

before(async () => {
  assert.ok(config.api_key, "the test config has an api_key");
  hub = await startHub();
  for (const u of [P1, P2, T1, PS]) tok[u.login] = (await login(hub.url, u.login, u.password)).token;
});

after(async () => {
  for (const c of open) await c.close().catch(() => {});
  await hub?.stop();
});

function publish(body, key = config.api_key) {
  const headers = key === null ? {} : { authorization: `ApiKey ${key}` };
  return http("POST", `${hub.url}/api/publish`, body, undefined, { headers });
}

async function connect(user, resume) {
  const c = await wsConnect(hub.wsUrl, tok[user.login], resume ? { resume } : {});
  open.push(c);
  return c;
}

async function live(user) {
  const c = await connect(user);
  await c.next("resumed");
  return c;
}

const isEvent = (type, topic, pred = () => true) => (m) =>
  m.op === "event" && m.type === type && m.topic === topic && pred(m.data);

async function topicSeq(topic) {
  const rows = await psql("SELECT coalesce(max(seq), 0)::int AS seq FROM topic_seq WHERE topic = $1", [topic]);
  return rows[0].seq;
}

test("publish to a user: delivered live with its seq and persisted in the log", async () => {
  const p1 = await live(P1);
  const data = { subject: "Математика", grade: 5, note: "Молодец!" };
  const r = await publish({ type: "journal.grade", data, users: [P1.id] });
  assert.equal(r.status, 200, r.text);
  assert.equal(r.json.events.length, 1);
  const [{ topic, seq }] = r.json.events;
  assert.equal(topic, `user:${P1.id}`);
  const ev = await p1.next(isEvent("journal.grade", topic));
  assert.equal(ev.seq, seq);
  assert.deepEqual(ev.data, data);
  assert.match(ev.ts, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
  const rows = await psql("SELECT type, payload FROM events WHERE topic = $1 AND seq = $2", [topic, seq]);
  assert.equal(rows.length, 1, "persisted");
  assert.equal(rows[0].type, "journal.grade");
  assert.deepEqual(rows[0].payload, data);
});

test("publish to a group reaches its parents and teacher, not another group's; to an org, all of it", async () => {
  const p1 = await live(P1);
  const p2 = await live(P2);
  const t1 = await live(T1);
  const ps = await live(PS);
  const g = await publish({ type: "menu.today", data: { dish: "каша" }, groups: [G1] });
  assert.equal(g.status, 200, g.text);
  assert.deepEqual(g.json.events.map((e) => e.topic), [`group:${G1}`]);
  const seq = g.json.events[0].seq;
  for (const c of [p1, t1]) assert.equal((await c.next(isEvent("menu.today", `group:${G1}`))).seq, seq);

  const o = await publish({ type: "org.notice", data: { text: "Карантин" }, org: KG.id });
  assert.equal(o.status, 200, o.text);
  assert.deepEqual(o.json.events.map((e) => e.topic), [`org:${KG.id}`]);
  for (const c of [p1, p2, t1]) await c.next(isEvent("org.notice", `org:${KG.id}`));
  await p2.ping();
  assert.ok(!p2.drain().some((m) => m.type === "menu.today"), "another group's parent was not sent it");
  await ps.ping();
  assert.ok(!ps.drain().some((m) => m.type === "org.notice"), "another org's parent was not sent it");

  const many = await publish({ type: "multi.target", data: {}, users: [P2.id, P1.id, P1.id], groups: [G2], org: KG.id });
  assert.equal(many.status, 200, many.text);
  assert.deepEqual(many.json.events.map((e) => e.topic),
    [`user:${Math.min(P1.id, P2.id)}`, `user:${Math.max(P1.id, P2.id)}`, `group:${G2}`, `org:${KG.id}`],
    "one event per distinct target topic");
  for (const t of [`user:${P2.id}`, `group:${G2}`, `org:${KG.id}`]) await p2.next(isEvent("multi.target", t));
});

test("resume: events published while away are replayed in order, then resumed", async () => {
  const topic = `user:${P1.id}`;
  const first = await live(P1);
  await first.close();
  const since = await topicSeq(topic);
  const missed = [];
  for (let i = 1; i <= 3; i++) {
    const r = await publish({ type: "journal.grade", data: { n: i }, users: [P1.id] });
    assert.equal(r.status, 200, r.text);
    missed.push(r.json.events[0].seq);
  }
  assert.deepEqual(missed, [since + 1, since + 2, since + 3], "gap-free seqs");

  const c = await connect(P1, { [topic]: since });
  const seen = [];
  await c.next((m) => {
    seen.push(m);
    return m.op === "resumed";
  });
  const replayed = seen.filter((m) => m.op === "event" && m.topic === topic);
  assert.deepEqual(replayed.map((m) => m.seq), missed, "exactly the missed events, in order");
  assert.deepEqual(replayed.map((m) => m.data.n), [1, 2, 3]);
  assert.equal(seen[seen.length - 1].op, "resumed", "resumed comes after the replay");

  // Up to date: resuming from the current seq replays nothing.
  const d = await connect(P1, { [topic]: missed[2] });
  const none = [];
  await d.next((m) => {
    none.push(m);
    return m.op === "resumed";
  });
  assert.ok(!none.some((m) => m.op === "event" && m.topic === topic), JSON.stringify(none));
});

test("without the API key, with a wrong one or with a user's token: 401", async () => {
  const body = { type: "x.y", data: {}, users: [P1.id] };
  const seq = await topicSeq(`user:${P1.id}`);
  for (const key of [null, "", "wrong", `${config.api_key}x`, config.api_key.slice(0, -1)]) {
    const r = await publish(body, key);
    assert.equal(r.status, 401, `key ${JSON.stringify(key)}: ${r.text}`);
    assert.equal(r.json?.error?.code, "unauthorized");
  }
  const asUser = await http("POST", `${hub.url}/api/publish`, body, tok[P1.login]);
  assert.equal(asUser.status, 401, asUser.text);
  assert.equal(await topicSeq(`user:${P1.id}`), seq, "nothing published");
});

test("unknown targets are 404 and publish nothing", async () => {
  const seq = await topicSeq(`user:${P1.id}`);
  for (const target of [{ users: [999999999] }, { users: [P1.id, 999999999] }, { groups: [999999] },
    { org: 999999 }, { users: [P1.id], org: 999999 }]) {
    const r = await publish({ type: "x.y", data: {}, ...target });
    assert.equal(r.status, 404, `${JSON.stringify(target)}: ${r.text}`);
    assert.equal(r.json.error.code, "not_found");
  }
  assert.equal(await topicSeq(`user:${P1.id}`), seq, "nothing published");
});

test("a bad type, data or target list is 400", async () => {
  const to = { users: [P1.id] };
  const bad = [
    { type: "Bad.Type", data: {}, ...to },
    { type: "bad type", data: {}, ...to },
    { type: "1abc", data: {}, ...to },
    { type: "", data: {}, ...to },
    { type: "a".repeat(65), data: {}, ...to },
    { type: 5, data: {}, ...to },
    { data: {}, ...to },
    { type: "x.y", data: [1], ...to },
    { type: "x.y", data: "text", ...to },
    { type: "x.y", ...to },
    { type: "x.y", data: {} },
    { type: "x.y", data: {}, users: [] },
    { type: "x.y", data: {}, users: P1.id },
    { type: "x.y", data: {}, users: [String(P1.id)] },
    { type: "x.y", data: {}, groups: [-1] },
    { type: "x.y", data: {}, org: [KG.id] },
    { type: "x.y", data: {}, users: Array.from({ length: 1001 }, (_, i) => i + 1) },
    { type: "x.y", data: {}, users: Array.from({ length: 1000 }, (_, i) => i + 1), org: KG.id },
  ];
  for (const body of bad) {
    const r = await publish(body);
    assert.equal(r.status, 400, `${JSON.stringify(body).slice(0, 100)}: ${r.text.slice(0, 200)}`);
    assert.equal(r.json.error.code, "bad_request");
  }
  for (const raw of ['{"type":"x.y",', "[]", "null"]) {
    const r = await http("POST", `${hub.url}/api/publish`, raw, undefined,
      { headers: { authorization: `ApiKey ${config.api_key}` } });
    assert.equal(r.status, 400, `${raw}: ${r.text}`);
  }
  const longest = await publish({ type: `a${"b".repeat(63)}`, data: {}, ...to });
  assert.equal(longest.status, 200, "a 64-character type is fine");
});
