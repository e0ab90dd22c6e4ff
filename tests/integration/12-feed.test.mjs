// 12-feed: news and calendar events to an org or chosen groups, live and in GET /api/feed;
// acknowledgements and the author's live statistics; who may publish; bad input; retries; two hubs.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";
import { startHub, http, login, wsConnect, demoUsers, demoUser, psql } from "./lib/harness.mjs";

let hubA, hubB;
const open = [];      // WebSocket clients to close at the end
const tok = {};       // login -> token (tokens work on every hub)

// The cast, from the demo region.
const demo = demoUsers();
const onlyParent = (u) => u.role === "parent" && !demo.users.some((x) => x.id === u.id && x.role !== "parent");
const parentOnlyIn = (gid) => demoUser((u) => onlyParent(u) && u.group_ids.length > 0 &&
  u.group_ids.every((g) => g === gid));
const KG = demo.orgs.find((o) => o.kind === "kindergarten");
const SCHOOL = demo.orgs.find((o) => o.kind === "school");
const [G1, G2] = demo.groups.filter((g) => g.org_id === KG.id).map((g) => g.id);
const A1 = demoUser({ role: "admin", org_id: KG.id });     // admin of the kindergarten
const A2 = demoUser({ role: "admin", org_id: SCHOOL.id }); // admin of the school
const P1 = parentOnlyIn(G1);                                // a parent in group G1 only
const P2 = parentOnlyIn(G2);                                // a parent in group G2 only
const T1 = demoUser((u) => u.role === "teacher" && u.org_id === KG.id && u.group_ids.includes(G1));
const CT = demoUser({ role: "class_teacher", org_id: SCHOOL.id });
let CLASS, OTHER_CLASS, PS;   // CT's class, a class that is not theirs, a parent in CLASS only

before(async () => {
  hubA = await startHub();
  hubB = await startHub();
  const own = await psql("SELECT group_id FROM class_teachers WHERE user_id = $1 ORDER BY group_id", [CT.id]);
  CLASS = Number(own[0].group_id);
  OTHER_CLASS = demo.groups.find((g) => g.org_id === SCHOOL.id && !own.some((o) => Number(o.group_id) === g.id)).id;
  PS = parentOnlyIn(CLASS);
  for (const u of [A1, A2, P1, P2, T1, CT, PS]) tok[u.login] = (await login(hubA.url, u.login, u.password)).token;
});

after(async () => {
  for (const c of open) await c.close().catch(() => {});
  await hubB?.stop();
  await hubA?.stop();
});

const api = (method, path, body, user, hub = hubA) => http(method, `${hub.url}${path}`, body, tok[user.login]);

async function connect(user, hub = hubA) {
  const c = await wsConnect(hub.wsUrl, tok[user.login]);
  open.push(c);
  await c.next("resumed");
  return c;
}

const isItem = (type, id) => (m) => m.op === "event" && m.type === type && m.data?.id === id;

// The parents (user ids) of the children of the given groups, from users.json.
function parentsOf(gids) {
  const kids = new Set(demo.children.filter((c) => gids.includes(c.group_id)).map((c) => c.id));
  return new Set(demo.users.filter((u) => u.role === "parent" && u.child_ids.some((k) => kids.has(k))).map((u) => u.id));
}

async function feedIds(user, query = "") {
  const r = await api("GET", `/api/feed${query}`, undefined, user);
  assert.equal(r.status, 200, r.text);
  return r.json.items.map((i) => i.id);
}

function assertError(r, status, code) {
  assert.equal(r.status, status, r.text);
  assert.equal(r.json?.error?.code, code, r.text);
  assert.ok(r.json.error.message, "a message for the user");
}

// State shared by the tests below, which run in order.
let orgNews;

test("admin news to the whole org: live to a parent and a teacher, in their feeds, not in another org's", async () => {
  const p1 = await connect(P1);
  const t1 = await connect(T1);
  const r = await api("POST", "/api/news",
    { org_id: KG.id, title: "Родительское собрание", body: "В четверг в 18:00.", require_ack: true }, A1);
  assert.equal(r.status, 201, r.text);
  orgNews = r.json.item;
  assert.equal(orgNews.kind, "news");
  assert.equal(orgNews.title, "Родительское собрание");
  assert.equal(orgNews.body, "В четверг в 18:00.");
  assert.equal(orgNews.org_id, KG.id);
  assert.deepEqual(orgNews.group_ids, []);
  assert.deepEqual(orgNews.author, { id: A1.id, name: A1.name });
  assert.equal(orgNews.require_ack, true);
  assert.equal(orgNews.acked, false);
  assert.equal(orgNews.event_date, null);
  assert.match(orgNews.created_at, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);

  const ev = await p1.next(isItem("news", orgNews.id));
  assert.equal(ev.topic, `org:${KG.id}`);
  assert.ok(Number.isInteger(ev.seq) && ev.seq > 0);
  assert.deepEqual(ev.data, orgNews, "the event carries the feed item");
  await t1.next(isItem("news", orgNews.id));

  const feed = await api("GET", "/api/feed", undefined, P1);
  assert.equal(feed.status, 200, feed.text);
  assert.deepEqual(feed.json.items[0], orgNews, "newest first, the same item");
  assert.ok((await feedIds(T1)).includes(orgNews.id));
  assert.ok((await feedIds(A1)).includes(orgNews.id));
  assert.ok(!(await feedIds(A2)).includes(orgNews.id), "another org's admin does not see it");
  assert.ok(!(await feedIds(PS)).includes(orgNews.id), "another org's parent does not see it");

  const outbox = await psql("SELECT count(*)::int AS n FROM outbox WHERE kind = 'news.email' AND payload->>'news_id' = $1",
    [String(orgNews.id)]);
  assert.equal(outbox[0].n, 1, "one news.email job, written with the item");
});

test("a parent acknowledges: idempotent, and the author's statistics move live", async () => {
  const a1 = await connect(A1);
  const was = await api("GET", `/api/news/${orgNews.id}/acks`, undefined, A1);
  assert.equal(was.status, 200, was.text);
  assert.ok(was.json.pending.some((p) => p.id === P1.id), "P1 is pending");
  assert.ok(!was.json.acked.some((p) => p.id === P1.id));
  assert.deepEqual(new Set(was.json.pending.map((p) => p.id)), parentsOf(demo.groups.filter((g) => g.org_id === KG.id)
    .map((g) => g.id)), "pending: every parent of the org's children");

  const ack = await api("POST", `/api/news/${orgNews.id}/ack`, undefined, P1);
  assert.equal(ack.status, 200, ack.text);
  assert.deepEqual(ack.json, { ok: true });
  const live = await a1.next((m) => m.op === "event" && m.type === "news.ack" && m.data.news_id === orgNews.id);
  assert.equal(live.topic, `user:${A1.id}`);
  assert.equal(live.data.user_id, P1.id);
  assert.equal(live.data.name, P1.name);
  assert.match(live.data.at, /Z$/);

  const now = await api("GET", `/api/news/${orgNews.id}/acks`, undefined, A1);
  assert.equal(now.status, 200, now.text);
  assert.deepEqual(now.json.acked.find((a) => a.id === P1.id), { id: P1.id, name: P1.name, at: live.data.at });
  assert.ok(!now.json.pending.some((p) => p.id === P1.id), "no longer pending");
  assert.equal(now.json.pending.length, was.json.pending.length - 1);
  const mine = await api("GET", "/api/feed", undefined, P1);
  assert.equal(mine.json.items.find((i) => i.id === orgNews.id).acked, true);

  const again = await api("POST", `/api/news/${orgNews.id}/ack`, undefined, P1);
  assert.equal(again.status, 200, again.text);
  const acks = await psql(`SELECT count(*)::int AS n FROM events WHERE topic = $1 AND type = 'news.ack'
                             AND payload->>'news_id' = $2 AND payload->>'user_id' = $3`,
  [`user:${A1.id}`, String(orgNews.id), String(P1.id)]);
  assert.equal(acks[0].n, 1, "a repeated acknowledgement tells the author nothing new");

  assertError(await api("GET", `/api/news/${orgNews.id}/acks`, undefined, P1), 403, "forbidden");
  assertError(await api("GET", `/api/news/${orgNews.id}/acks`, undefined, A2), 403, "forbidden");
  assertError(await api("POST", `/api/news/${orgNews.id}/ack`, undefined, PS), 404, "not_found");
  assertError(await api("POST", "/api/news/999999999/ack", undefined, P1), 404, "not_found");
  assertError(await api("GET", "/api/news/999999999/acks", undefined, A1), 404, "not_found");
});

test("news to one group reaches that group's parents, not another group's", async () => {
  const p1 = await connect(P1);
  const p2 = await connect(P2);
  const toG2 = await api("POST", "/api/news", { org_id: KG.id, title: "Только Ромашке", body: "", group_ids: [G2] }, A1);
  assert.equal(toG2.status, 201, toG2.text);
  assert.deepEqual(toG2.json.item.group_ids, [G2]);
  const ev = await p2.next(isItem("news", toG2.json.item.id));
  assert.equal(ev.topic, `group:${G2}`);

  const toG1 = await api("POST", "/api/news", { org_id: KG.id, title: "Только первой группе", group_ids: [G1] }, A1);
  assert.equal(toG1.status, 201, toG1.text);
  await p1.next(isItem("news", toG1.json.item.id));
  await p1.ping();
  assert.ok(!p1.drain().some((m) => m.data?.id === toG2.json.item.id), "G1's parent was not sent G2's news");
  await p2.ping();
  assert.ok(!p2.drain().some((m) => m.data?.id === toG1.json.item.id), "G2's parent was not sent G1's news");

  const f1 = await feedIds(P1);
  const f2 = await feedIds(P2);
  assert.ok(f1.includes(toG1.json.item.id) && !f1.includes(toG2.json.item.id));
  assert.ok(f2.includes(toG2.json.item.id) && !f2.includes(toG1.json.item.id));
  assert.ok((await feedIds(T1)).includes(toG1.json.item.id), "the group's teacher sees it");

  const stats = await api("GET", `/api/news/${toG2.json.item.id}/acks`, undefined, A1);
  assert.equal(stats.status, 200, stats.text);
  assert.deepEqual(new Set(stats.json.pending.map((p) => p.id)), parentsOf([G2]), "the audience is G2's parents");
  assertError(await api("POST", `/api/news/${toG2.json.item.id}/ack`, undefined, P1), 404, "not_found");
  assertError(await api("POST", `/api/news/${toG2.json.item.id}/ack`, undefined, P2), 409, "conflict");
});

test("a calendar event: live as calendar.event with its date and kind; bad dates and kinds are 400", async () => {
  const p1 = await connect(P1);
  const r = await api("POST", "/api/events",
    { org_id: KG.id, title: "Утренник", body: "Праздник осени", event_date: "2026-03-02", event_kind: "holiday",
      group_ids: [G1, G2, G1] }, A1);
  assert.equal(r.status, 201, r.text);
  const item = r.json.item;
  assert.equal(item.kind, "event");
  assert.equal(item.event_kind, "holiday");
  assert.equal(item.event_date, "2026-03-02");
  assert.deepEqual(item.group_ids, [G1, G2].sort((a, b) => a - b));
  const ev = await p1.next(isItem("calendar.event", item.id));
  assert.equal(ev.topic, `group:${G1}`);
  const events = await psql("SELECT topic FROM events WHERE type = 'calendar.event' AND (payload->>'id')::bigint = $1 ORDER BY topic",
    [item.id]);
  assert.deepEqual(events.map((e) => e.topic), [`group:${G1}`, `group:${G2}`], "one event per audience topic");

  const base = { org_id: KG.id, title: "Контрольная" };
  for (const bad of ["2026-02-30", "2026-13-01", "2026-2-3", "02.03.2026", "", 20260302, null]) {
    const e = await api("POST", "/api/events", { ...base, event_date: bad }, A1);
    assertError(e, 400, "bad_request");
    assert.match(e.json.error.message, /event_date/);
  }
  assertError(await api("POST", "/api/events", base, A1), 400, "bad_request");
  for (const kind of ["party", 3, ["test"]]) {
    assertError(await api("POST", "/api/events", { ...base, event_date: "2026-03-02", event_kind: kind }, A1),
      400, "bad_request");
  }
  const def = await api("POST", "/api/events", { ...base, event_date: "2028-02-29" }, A1);
  assert.equal(def.status, 201, def.text);
  assert.equal(def.json.item.event_kind, "event", "event_kind defaults to event");
  assert.equal(def.json.item.event_date, "2028-02-29", "a leap day is a date");
});

test("a class teacher posts to their own class only; parents and other orgs' admins may not post", async () => {
  const ps = await connect(PS);
  const own = await api("POST", "/api/news", { org_id: SCHOOL.id, title: "Экскурсия", group_ids: [CLASS] }, CT);
  assert.equal(own.status, 201, own.text);
  await ps.next(isItem("news", own.json.item.id));
  const ev = await api("POST", "/api/events",
    { org_id: SCHOOL.id, title: "КР по математике", event_date: "2026-04-10", event_kind: "test", group_ids: [CLASS] }, CT);
  assert.equal(ev.status, 201, ev.text);
  await ps.next(isItem("calendar.event", ev.json.item.id));

  const refused = [
    [CT, { org_id: SCHOOL.id, title: "x", group_ids: [OTHER_CLASS] }, "another class"],
    [CT, { org_id: SCHOOL.id, title: "x", group_ids: [CLASS, OTHER_CLASS] }, "own and another class"],
    [CT, { org_id: SCHOOL.id, title: "x" }, "the whole org"],
    [CT, { org_id: KG.id, title: "x", group_ids: [G1] }, "another org"],
    [PS, { org_id: SCHOOL.id, title: "x", group_ids: [CLASS] }, "a parent"],
    [P1, { org_id: KG.id, title: "x" }, "a parent to their own org"],
    [T1, { org_id: KG.id, title: "x", group_ids: [G1] }, "a teacher who is no class teacher"],
    [A1, { org_id: SCHOOL.id, title: "x" }, "an admin of another org"],
    [A1, { org_id: KG.id, title: "x", group_ids: [CLASS] }, "an admin, a group of another org"],
  ];
  const stored = await psql("SELECT count(*)::int AS n FROM news");
  for (const [who, body, what] of refused) {
    const r = await api("POST", "/api/news", body, who);
    assert.equal(r.status, 403, `${what}: ${r.text}`);
    assert.equal(r.json.error.code, "forbidden", what);
  }
  assertError(await api("POST", "/api/news", { org_id: KG.id, title: "x", group_ids: [999999] }, A1), 404, "not_found");
  assertError(await api("POST", "/api/news", { org_id: 999999, title: "x" }, A1), 404, "not_found");
  const still = await psql("SELECT count(*)::int AS n FROM news");
  assert.equal(still[0].n, stored[0].n, "a refused post stores nothing");
});

test("malformed JSON, wrong types and missing fields are 400", async () => {
  for (const raw of ['{"org_id":1,', "[1,2]", '"text"', "{org_id:1}"]) {
    const r = await http("POST", `${hubA.url}/api/news`, raw, tok[A1.login]);
    assertError(r, 400, "bad_request");
  }
  const ok = { org_id: KG.id, title: "Заголовок" };
  const bad = [
    { title: "нет org_id" },
    { org_id: String(KG.id), title: "x" },
    { org_id: 1.5, title: "x" },
    { org_id: KG.id },
    { ...ok, title: "" },
    { ...ok, title: "   " },
    { ...ok, title: 42 },
    { ...ok, title: "я".repeat(201) },
    { ...ok, body: 7 },
    { ...ok, body: "я".repeat(10001) },
    { ...ok, group_ids: G1 },
    { ...ok, group_ids: [String(G1)] },
    { ...ok, group_ids: [0] },
    { ...ok, require_ack: "yes" },
    { ...ok, cid: 5 },
    { ...ok, cid: "" },
  ];
  for (const body of bad) {
    const r = await api("POST", "/api/news", body, A1);
    assert.equal(r.status, 400, `${JSON.stringify(body).slice(0, 80)}: ${r.text}`);
    assert.equal(r.json.error.code, "bad_request");
  }
  const long = await api("POST", "/api/news", { ...ok, title: "я".repeat(200), body: "я".repeat(10000) }, A1);
  assert.equal(long.status, 201, "200 and 10000 characters are allowed");
  for (const q of ["?limit=abc", "?limit=-1", "?before=1e3", "?before=x"]) {
    assertError(await api("GET", `/api/feed${q}`, undefined, P1), 400, "bad_request");
  }
});

test("a post retried with the same cid is stored and published once", async () => {
  const cid = randomUUID();
  const body = { org_id: KG.id, title: "Повтор", group_ids: [G2], cid };
  const first = await api("POST", "/api/news", body, A1);
  assert.equal(first.status, 201, first.text);
  const second = await api("POST", "/api/news", body, A1);
  assert.equal(second.status, 200, second.text);
  assert.equal(second.json.item.id, first.json.item.id);
  const rows = await psql("SELECT count(*)::int AS n FROM news WHERE cid = $1", [cid]);
  assert.equal(rows[0].n, 1);
  const evs = await psql("SELECT count(*)::int AS n FROM events WHERE type = 'news' AND (payload->>'id')::bigint = $1",
    [first.json.item.id]);
  assert.equal(evs[0].n, 1, "one event");
  assertError(await api("POST", "/api/events", { ...body, event_date: "2026-05-01" }, A1), 409, "conflict");
});

test("feed paging: newest first, before and limit", async () => {
  const all = await feedIds(A1, "?limit=100");
  assert.ok(all.length >= 5, `admin sees the posts (${all.length})`);
  assert.deepEqual(all, [...all].sort((a, b) => b - a), "newest first");
  const page1 = await feedIds(A1, "?limit=2");
  assert.deepEqual(page1, all.slice(0, 2));
  const page2 = await feedIds(A1, `?limit=2&before=${page1[1]}`);
  assert.deepEqual(page2, all.slice(2, 4));
  assert.equal((await feedIds(A1)).length, Math.min(all.length, 20), "20 by default");
});

test("a news item reaches connections on two hubs", async () => {
  const onA = await connect(P1, hubA);
  const onB = await connect(P2, hubB);
  const teacherB = await connect(T1, hubB);
  const r = await api("POST", "/api/news", { org_id: KG.id, title: "Для всех — через второй хаб" }, A1, hubB);
  assert.equal(r.status, 201, r.text);
  const [a, b, t] = await Promise.all([onA, onB, teacherB].map((c) => c.next(isItem("news", r.json.item.id))));
  assert.equal(a.seq, b.seq, "the same event on both hubs");
  assert.equal(a.seq, t.seq);
  const r2 = await api("POST", "/api/news", { org_id: KG.id, title: "И через первый" }, A1, hubA);
  assert.equal(r2.status, 201, r2.text);
  const [a2, b2] = await Promise.all([onA, onB].map((c) => c.next(isItem("news", r2.json.item.id))));
  assert.equal(a2.seq, a.seq + 1, "gap-free on the org topic");
  assert.equal(b2.seq, a.seq + 1);
});
