// 11-chat: direct and group chats, WebSocket send/ack/fan-out, history, unread and read, typing,
// refusals, malformed frames, two hubs, members added and removed live.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";
import { startHub, http, login, wsConnect, demoUsers, demoUser, psql } from "./lib/harness.mjs";

let hubA, hubB;
const open = [];      // WebSocket clients to close at the end
const tok = {};       // login -> token (on hub A; tokens work on every hub)

// The cast, from the demo region: a parent P, the teacher T of P's child's
// group, another parent Q of that group, and a stranger S whose children
// share no group with P's or T's.
const P = demoUser((u) => u.role === "parent" && u.login === "parent1");
const T = demoUser((u) => u.role === "teacher" && u.group_ids.includes(P.group_ids[0]));
const Q = demoUser((u) => u.role === "parent" && u.id !== P.id && u.group_ids.includes(P.group_ids[0]) &&
  !demoUsers().users.some((x) => x.id === u.id && x.role !== "parent"));
const S = demoUser((u) => u.role === "parent" &&
  !demoUsers().users.some((x) => x.id === u.id && x.role !== "parent") &&
  !u.group_ids.some((g) => P.group_ids.includes(g) || T.group_ids.includes(g)));

before(async () => {
  hubA = await startHub();
  hubB = await startHub();
  for (const u of [P, T, Q, S]) tok[u.login] = (await login(hubA.url, u.login, u.password)).token;
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

const isMessage = (chat, pred = () => true) => (m) =>
  m.op === "event" && m.type === "chat.message" && m.topic === `chat:${chat}` && pred(m.data);

// State shared by the tests below, which run in order.
let direct, group;

test("direct chat: a parent and their child's teacher get the same chat every time", async () => {
  const a = await api("POST", "/api/chats", { with: T.id }, P);
  assert.equal(a.status, 200, a.text);
  direct = a.json.chat;
  assert.equal(direct.kind, "direct");
  assert.deepEqual(new Set(direct.members.map((m) => m.id)), new Set([P.id, T.id]));
  assert.equal(direct.title, T.name, "a direct chat is titled with the other member's name");
  const b = await api("POST", "/api/chats", { with: T.id }, P);
  assert.equal(b.status, 200, b.text);
  assert.equal(b.json.chat.id, direct.id);
  const c = await api("POST", "/api/chats", { with: P.id }, T);
  assert.equal(c.status, 200, c.text);
  assert.equal(c.json.chat.id, direct.id);
  assert.equal(c.json.chat.title, P.name);
});

test("direct chat: another family's parent, an unknown user, oneself and bad bodies are refused", async () => {
  const stranger = await api("POST", "/api/chats", { with: S.id }, P);
  assert.equal(stranger.status, 403, stranger.text);
  assert.equal(stranger.json.error.code, "forbidden");
  const teacherToStranger = await api("POST", "/api/chats", { with: S.id }, T);
  assert.equal(teacherToStranger.status, 403, teacherToStranger.text);
  const other = await api("POST", "/api/chats", { with: Q.id }, P);
  assert.equal(other.status, 403, "parents do not see parents unless the org allows it");
  const missing = await api("POST", "/api/chats", { with: 999999999 }, P);
  assert.equal(missing.status, 404, missing.text);
  assert.equal(missing.json.error.code, "not_found");
  assert.equal((await api("POST", "/api/chats", { with: P.id }, P)).status, 400);
  for (const body of [{ with: String(T.id) }, { with: 1.5 }, { with: -3 }, { with: null }, {}, [T.id], "x"]) {
    const r = await api("POST", "/api/chats", body, P);
    assert.equal(r.status, 400, `${JSON.stringify(body)}: ${r.text}`);
    assert.equal(r.json.error.code, "bad_request");
  }
});

test("group chat: a teacher creates one (201), a parent cannot", async () => {
  const r = await api("POST", "/api/chats", { title: "  Родители «Солнышка»  ", members: [P.id, Q.id] }, T);
  assert.equal(r.status, 201, r.text);
  group = r.json.chat;
  assert.equal(group.kind, "group");
  assert.equal(group.title, "Родители «Солнышка»");
  assert.deepEqual(new Set(group.members.map((m) => m.id)), new Set([T.id, P.id, Q.id]));
  assert.equal(group.unread, 0);
  assert.equal(group.last, null);

  const byParent = await api("POST", "/api/chats", { title: "Родительский", members: [T.id] }, P);
  assert.equal(byParent.status, 403, byParent.text);
  assert.equal(byParent.json.error.code, "forbidden");
});

test("group chat: members outside the teacher's contacts, bad titles and bad member lists are refused", async () => {
  const stranger = await api("POST", "/api/chats", { title: "x", members: [P.id, S.id] }, T);
  assert.equal(stranger.status, 403, stranger.text);
  for (const body of [
    { title: "", members: [P.id] },
    { title: "   ", members: [P.id] },
    { title: "я".repeat(201), members: [P.id] },
    { title: 5, members: [P.id] },
    { title: "x", members: String(P.id) },
    { title: "x", members: [P.id, "7"] },
    { title: "x" },
  ]) {
    const r = await api("POST", "/api/chats", body, T);
    assert.equal(r.status, 400, `${JSON.stringify(body).slice(0, 80)}: ${r.text}`);
  }
  // Nothing was created by the refusals.
  const [{ n }] = await psql("SELECT count(*)::int AS n FROM chats WHERE created_by = $1 AND title = 'x'", [T.id]);
  assert.equal(n, 0);
});

test("members: only a staff member of a group chat changes them; a direct chat has fixed members", async () => {
  const byParent = await api("POST", `/api/chats/${group.id}/members`, { add: [T.id] }, P);
  assert.equal(byParent.status, 403, byParent.text);
  const byOutsider = await api("POST", `/api/chats/${group.id}/members`, { add: [S.id] }, S);
  assert.equal(byOutsider.status, 403, byOutsider.text);
  const onDirect = await api("POST", `/api/chats/${direct.id}/members`, { add: [Q.id] }, T);
  assert.equal(onDirect.status, 409, onDirect.text);
  assert.equal(onDirect.json.error.code, "conflict");
  const missing = await api("POST", "/api/chats/999999999/members", { add: [Q.id] }, T);
  assert.equal(missing.status, 404, missing.text);
  const stranger = await api("POST", `/api/chats/${group.id}/members`, { add: [S.id] }, T);
  assert.equal(stranger.status, 403, stranger.text);
  const bad = await api("POST", `/api/chats/${group.id}/members`, { add: "all" }, T);
  assert.equal(bad.status, 400, bad.text);
});

test("send over WS: ack after commit, the other member gets chat.message, a retried cid is stored once", async () => {
  const p = await connect(P);
  const t = await connect(T);
  assert.ok(p.hello.topics.includes(`chat:${direct.id}`));
  assert.ok(t.hello.topics.includes(`chat:${group.id}`));

  const cid = randomUUID();
  const text = "Здравствуйте! Сегодня Миша будет в 10:00 🙂";
  p.send({ op: "send", chat: direct.id, text, cid, rid: 1 });
  const ack = await p.next({ op: "ack", cid });
  assert.equal(ack.chat, direct.id);
  assert.equal(ack.rid, 1);
  assert.ok(Number.isInteger(ack.id) && Number.isInteger(ack.seq));
  assert.match(ack.ts, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
  const [row] = await psql("SELECT id, seq, text FROM chat_messages WHERE sender_id = $1 AND cid = $2", [P.id, cid]);
  assert.deepEqual(row, { id: ack.id, seq: ack.seq, text });

  const ev = await t.next(isMessage(direct.id, (d) => d.cid === cid));
  assert.equal(ev.seq, ack.seq);
  assert.deepEqual(ev.data, {
    id: ack.id, chat_id: direct.id, seq: ack.seq, sender_id: P.id, sender_name: P.name, text, cid,
  });
  await p.next(isMessage(direct.id, (d) => d.cid === cid)); // the sender's other tabs see it too

  p.send({ op: "send", chat: direct.id, text, cid });
  const again = await p.next({ op: "ack", cid });
  assert.equal(again.id, ack.id);
  assert.equal(again.seq, ack.seq);
  const [{ n }] = await psql("SELECT count(*)::int AS n FROM chat_messages WHERE sender_id = $1 AND cid = $2", [P.id, cid]);
  assert.equal(n, 1);

  // The reply goes the other way.
  const cid2 = randomUUID();
  t.send({ op: "send", chat: direct.id, text: "Хорошо, ждём.", cid: cid2 });
  await t.next({ op: "ack", cid: cid2 });
  const back = await p.next(isMessage(direct.id, (d) => d.cid === cid2));
  assert.equal(back.data.sender_id, T.id);
  p.drain();
  t.drain();
});

test("a send whose reply was lost (committed, never published): the retried cid delivers it, once", async () => {
  const p = await connect(P);
  const t = await connect(T);
  // The commit happened and its reply never reached a hub (a dropped
  // connection, a failover): nothing was published.
  const cid = randomUUID();
  const [{ r }] = await psql("SELECT epos_chat_send($1, $2, $3, 'Потерянный ответ')::jsonb AS r", [P.id, direct.id, cid]);
  p.send({ op: "send", chat: direct.id, text: "Потерянный ответ", cid });
  const ack = await p.next({ op: "ack", cid });
  assert.deepEqual([ack.id, ack.seq], [r.id, r.seq]);
  const ev = await t.next(isMessage(direct.id, (d) => d.cid === cid));
  assert.equal(ev.seq, r.seq);
  // A second retry publishes again; the hub has delivered that seq and drops it.
  p.send({ op: "send", chat: direct.id, text: "Потерянный ответ", cid });
  await p.next({ op: "ack", cid });
  const cid2 = randomUUID();
  p.send({ op: "send", chat: direct.id, text: "Следующее", cid: cid2 });
  await p.next({ op: "ack", cid: cid2 });
  const seen = [];
  await t.next((m) => { if (isMessage(direct.id)(m)) seen.push(m.data.cid); return isMessage(direct.id, (d) => d.cid === cid2)(m); });
  assert.deepEqual(seen, [cid2], "the replayed message is not delivered twice");
  p.drain();
  t.drain();
});

test("send refusals: empty, too long, not a member, no such chat — the connection stays open", async () => {
  const p = await connect(P);
  const s = await connect(S);
  const cases = [
    [p, { op: "send", chat: direct.id, text: "   ", cid: randomUUID() }, "bad_request"],
    [p, { op: "send", chat: direct.id, text: "ы".repeat(4001), cid: randomUUID() }, "bad_request"],
    [p, { op: "send", chat: direct.id, text: "x", cid: "" }, "bad_request"],
    [s, { op: "send", chat: direct.id, text: "Можно вопрос?", cid: randomUUID() }, "forbidden"],
    [s, { op: "send", chat: 999999999, text: "x", cid: randomUUID() }, "not_found"],
    [s, { op: "typing", chat: direct.id, rid: "t1" }, "forbidden"],
    [s, { op: "read", chat: direct.id, seq: 1, rid: "r1" }, "forbidden"],
  ];
  for (const [c, req, code] of cases) {
    c.send(req);
    const err = await c.next("error");
    assert.equal(err.code, code, `${JSON.stringify(req).slice(0, 80)} -> ${JSON.stringify(err)}`);
    assert.equal(typeof err.message, "string");
    if (req.cid) assert.equal(err.cid, req.cid);
    if (req.rid) assert.equal(err.rid, req.rid);
    await c.ping();
  }
  const [{ n }] = await psql("SELECT count(*)::int AS n FROM chat_messages WHERE sender_id = $1", [S.id]);
  assert.equal(n, 0);
});

test("history: pages ascending by seq, before/limit, refusals", async () => {
  const r = await api("POST", "/api/chats", { title: "История", members: [P.id] }, T);
  assert.equal(r.status, 201, r.text);
  const chat = r.json.chat.id;
  const sent = [];
  for (let i = 1; i <= 7; i++) {
    const m = await api("POST", `/api/chats/${chat}/messages`, { text: `Сообщение ${i}`, cid: randomUUID() }, T);
    assert.equal(m.status, 200, m.text);
    sent.push(m.json);
  }
  const last = await api("GET", `/api/chats/${chat}/messages?limit=3`, undefined, P);
  assert.equal(last.status, 200, last.text);
  assert.deepEqual(last.json.messages.map((m) => m.text), ["Сообщение 5", "Сообщение 6", "Сообщение 7"]);
  const m7 = last.json.messages[2];
  assert.equal(m7.id, sent[6].id);
  assert.equal(m7.seq, sent[6].seq);
  assert.equal(m7.sender_id, T.id);
  assert.equal(m7.sender_name, T.name);
  assert.equal(m7.ts, sent[6].ts);

  const before = await api("GET", `/api/chats/${chat}/messages?before=${last.json.messages[0].seq}&limit=3`, undefined, P);
  assert.deepEqual(before.json.messages.map((m) => m.text), ["Сообщение 2", "Сообщение 3", "Сообщение 4"]);
  const first = await api("GET", `/api/chats/${chat}/messages?before=${before.json.messages[0].seq}`, undefined, P);
  assert.deepEqual(first.json.messages.map((m) => m.text), ["Сообщение 1"]);
  const all = await api("GET", `/api/chats/${chat}/messages`, undefined, P);
  assert.equal(all.json.messages.length, 7);
  const capped = await api("GET", `/api/chats/${chat}/messages?limit=100000`, undefined, P);
  assert.equal(capped.status, 200);
  assert.equal(capped.json.messages.length, 7);

  for (const q of ["before=abc", "limit=x", "limit=-1", "before=1.5"]) {
    const bad = await api("GET", `/api/chats/${chat}/messages?${q}`, undefined, P);
    assert.equal(bad.status, 400, `${q}: ${bad.text}`);
  }
  assert.equal((await api("GET", `/api/chats/${chat}/messages`, undefined, S)).status, 403);
  assert.equal((await api("GET", "/api/chats/999999999/messages", undefined, P)).status, 404);
});

test("HTTP send: the same as the WS send, delivered live, a retried cid stored once", async () => {
  const t = await connect(T);
  const cid = randomUUID();
  const r = await api("POST", `/api/chats/${direct.id}/messages`, { text: "Через HTTP", cid }, P);
  assert.equal(r.status, 200, r.text);
  assert.deepEqual(Object.keys(r.json).sort(), ["id", "seq", "ts"]);
  const ev = await t.next(isMessage(direct.id, (d) => d.cid === cid));
  assert.equal(ev.data.id, r.json.id);
  const again = await api("POST", `/api/chats/${direct.id}/messages`, { text: "Через HTTP", cid }, P);
  assert.deepEqual(again.json, r.json);
  for (const body of [{ text: 5, cid: "a" }, { text: "x" }, { cid: "b" }, { text: "x".repeat(4001), cid: "c" }]) {
    const bad = await api("POST", `/api/chats/${direct.id}/messages`, body, P);
    assert.equal(bad.status, 400, `${JSON.stringify(body).slice(0, 60)}: ${bad.text}`);
  }
  assert.equal((await api("POST", `/api/chats/${direct.id}/messages`, { text: "x", cid: randomUUID() }, S)).status, 403);
});

test("unread counts, read over HTTP and WS, chat.read reaches the other member", async () => {
  const r = await api("POST", "/api/chats", { title: "Непрочитанное", members: [P.id] }, T);
  const chat = r.json.chat.id;
  const p = await connect(P);
  const t = await connect(T);
  assert.ok(p.hello.topics.includes(`chat:${chat}`));
  let lastSeq = 0;
  for (let i = 1; i <= 3; i++) {
    const cid = randomUUID();
    t.send({ op: "send", chat, text: `Новость ${i}`, cid });
    lastSeq = (await t.next({ op: "ack", cid })).seq;
  }
  await p.next(isMessage(chat, (d) => d.text === "Новость 3"));

  const item = async (u) => (await api("GET", "/api/chats", undefined, u)).json.chats.find((c) => c.id === chat);
  const mine = await item(P);
  assert.equal(mine.unread, 3);
  assert.equal(mine.last.text, "Новость 3");
  assert.equal(mine.last.sender_id, T.id);
  assert.equal(mine.last_seq, lastSeq);
  assert.equal((await item(T)).unread, 0, "my own messages are never unread");
  const list = (await api("GET", "/api/chats", undefined, P)).json.chats;
  assert.equal(list[0].id, chat, "newest activity first");

  // Read over HTTP up to the second message.
  const half = await api("POST", `/api/chats/${chat}/read`, { seq: lastSeq - 1 }, P);
  assert.equal(half.status, 200, half.text);
  assert.deepEqual(half.json, { ok: true });
  const seen = await t.next((m) => m.op === "event" && m.type === "chat.read" && m.topic === `chat:${chat}`);
  assert.deepEqual(seen.data, { chat_id: chat, user_id: P.id, seq: lastSeq - 1 });
  assert.equal(seen.seq, undefined, "chat.read is ephemeral");
  assert.equal((await item(P)).unread, 1);

  // Read over WS past the end: clamped to the chat's last seq.
  p.send({ op: "read", chat, seq: lastSeq + 1000, rid: "rd" });
  await p.next({ op: "ok", rid: "rd" });
  const seen2 = await t.next((m) => m.op === "event" && m.type === "chat.read" && m.topic === `chat:${chat}` &&
    m.data.seq === lastSeq);
  assert.equal(seen2.data.user_id, P.id);
  const after = await item(P);
  assert.equal(after.unread, 0);
  assert.equal(after.read_seq, lastSeq);

  // Never backwards.
  await api("POST", `/api/chats/${chat}/read`, { seq: 1 }, P);
  assert.equal((await item(P)).read_seq, lastSeq);
  for (const body of [{ seq: "3" }, { seq: -1 }, { seq: 1.5 }, {}]) {
    assert.equal((await api("POST", `/api/chats/${chat}/read`, body, P)).status, 400, JSON.stringify(body));
  }
});

test("typing reaches the other member and is not stored", async () => {
  const p = await connect(P);
  const t = await connect(T);
  const [{ n: before }] = await psql("SELECT count(*)::int AS n FROM events WHERE topic = $1", [`chat:${direct.id}`]);
  p.send({ op: "typing", chat: direct.id });
  const ev = await t.next((m) => m.op === "event" && m.type === "chat.typing" && m.topic === `chat:${direct.id}`);
  assert.deepEqual(ev.data, { chat_id: direct.id, user_id: P.id, name: P.name });
  assert.equal(ev.seq, undefined);
  const [{ n: afterN }] = await psql("SELECT count(*)::int AS n FROM events WHERE topic = $1", [`chat:${direct.id}`]);
  assert.equal(afterN, before);
});

test("malformed frames get an error and the connection stays open", async () => {
  const p = await connect(P);
  const cases = [
    ["{not json", "bad_request"],
    ["[1,2,3]", "bad_request"],
    [JSON.stringify({ op: 5 }), "bad_request"],
    [JSON.stringify({ op: "send", chat: "42", text: "x", cid: "a" }), "bad_request"],
    [JSON.stringify({ op: "send", chat: direct.id, text: 7, cid: "a" }), "bad_request"],
    [JSON.stringify({ op: "send", chat: direct.id, text: "x", cid: 9 }), "bad_request"],
    [JSON.stringify({ op: "read", chat: direct.id, seq: "1" }), "bad_request"],
    [JSON.stringify({ op: "typing" }), "bad_request"],
    [JSON.stringify({ op: "fly", rid: 3 }), "unknown_op"],
  ];
  for (const [text, code] of cases) {
    p.send(text);
    const err = await p.next("error");
    assert.equal(err.code, code, `${text} -> ${JSON.stringify(err)}`);
    await p.ping();
  }
  // A text frame whose bytes are not UTF-8.
  const bad = Buffer.concat([Buffer.from('{"op":"send","chat":1,"text":"'), Buffer.from([0xc3, 0x28, 0xff]),
    Buffer.from('","cid":"u"}')]);
  p.ws.send(bad, { binary: false });
  // RFC 6455 lets the hub fail the connection (1007) instead of answering.
  const reply = await Promise.race([p.next("error").catch(() => null), p.closed]);
  if (reply?.op === "error") {
    assert.equal(reply.code, "bad_request");
    await p.ping();
  } else {
    assert.equal((await p.closed).code, 1007);
  }
});

test("a frame over 64 KiB closes the connection with 1009", async () => {
  const p = await connect(P);
  p.send({ op: "send", chat: direct.id, text: "я".repeat(40000), cid: randomUUID() }); // ~80 KB
  const { code } = await p.closed;
  assert.equal(code, 1009);
});

test("two hubs: a parent on hub A and a teacher on hub B chat both ways", async () => {
  const p = await connect(P, hubA);
  const t = await connect(T, hubB);
  const cid = randomUUID();
  p.send({ op: "send", chat: direct.id, text: "С хаба A", cid });
  const ack = await p.next({ op: "ack", cid });
  const got = await t.next(isMessage(direct.id, (d) => d.cid === cid));
  assert.equal(got.seq, ack.seq);
  const cid2 = randomUUID();
  t.send({ op: "send", chat: direct.id, text: "С хаба B", cid: cid2 });
  const ack2 = await t.next({ op: "ack", cid: cid2 });
  const back = await p.next(isMessage(direct.id, (d) => d.cid === cid2));
  assert.equal(back.seq, ack2.seq);
  assert.ok(ack2.seq > ack.seq);
  // Typing crosses hubs too.
  t.send({ op: "typing", chat: direct.id });
  await p.next((m) => m.type === "chat.typing" && m.data.user_id === T.id);
});

test("members: a user added to a chat gets it live; a removed one loses it", async () => {
  const q = await connect(Q, hubB);
  const p = await connect(P, hubA);
  const r = await api("POST", "/api/chats", { title: "Добавление", members: [P.id] }, T);
  const chat = r.json.chat.id;
  await p.next((m) => m.type === "chat.member" && m.topic === `user:${P.id}` && m.data.chat_id === chat);

  const add = await api("POST", `/api/chats/${chat}/members`, { add: [Q.id] }, T);
  assert.equal(add.status, 200, add.text);
  assert.ok(add.json.chat.members.some((m) => m.id === Q.id));
  const told = await q.next((m) => m.type === "chat.member" && m.topic === `user:${Q.id}` && m.data.chat_id === chat);
  assert.deepEqual(told.data.added, [Q.id]);
  assert.equal(told.data.title, "Добавление");
  const seenByP = await p.next((m) => m.type === "chat.member" && m.topic === `chat:${chat}`);
  assert.deepEqual(seenByP.data.added, [Q.id]);

  // The hubs re-subscribe Q after a ctl message; until then a message may
  // precede the subscription, so send until one arrives live.
  let live = null;
  for (let i = 0; i < 20 && !live; i++) {
    const m = await api("POST", `/api/chats/${chat}/messages`, { text: `Попытка ${i}`, cid: randomUUID() }, T);
    assert.equal(m.status, 200, m.text);
    live = await q.next(isMessage(chat), 500).catch(() => null);
  }
  assert.ok(live, "the added member receives the chat's messages live");
  const list = (await api("GET", "/api/chats", undefined, Q)).json.chats;
  assert.ok(list.some((c) => c.id === chat));
  const hist = await api("GET", `/api/chats/${chat}/messages`, undefined, Q);
  assert.equal(hist.status, 200);

  const rm = await api("POST", `/api/chats/${chat}/members`, { remove: [Q.id] }, T);
  assert.equal(rm.status, 200, rm.text);
  const gone = await q.next((m) => m.type === "chat.member" && m.topic === `user:${Q.id}` &&
    m.data.chat_id === chat && m.data.removed.includes(Q.id));
  assert.deepEqual(gone.data.added, []);
  const cid = randomUUID();
  q.send({ op: "send", chat, text: "А я?", cid });
  const err = await q.next("error");
  assert.equal(err.code, "forbidden");
  assert.equal(err.cid, cid);
  assert.equal((await api("GET", `/api/chats/${chat}/messages`, undefined, Q)).status, 403);
  assert.ok(!(await api("GET", "/api/chats", undefined, Q)).json.chats.some((c) => c.id === chat));
});
