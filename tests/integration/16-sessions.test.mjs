// 16-sessions: a session revoked or expired behind the hubs' backs stops its live sockets — the
// next write is refused and every hub closes the socket (4401) within its session check, with no
// Redis notice at all; a user's sockets per hub are capped (4429).
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { createHmac } from "node:crypto";
import { startHub, http, login, wsConnect, demoUser, psql, config } from "./lib/harness.mjs";

let hubA, hubB;

before(async () => {
  // Two hubs with the default session check (5 s).
  hubA = await startHub();
  hubB = await startHub();
});

after(async () => {
  await hubB?.stop();
  await hubA?.stop();
});

const sidOf = (token) => Number(token.split(".")[1]);

// Revoke in PostgreSQL only: no hub is told (the Redis notice of a logout is "lost").
async function revokeBehindTheHubs(token) {
  const r = await psql("UPDATE sessions SET revoked_at = now() WHERE id = $1 RETURNING id", [sidOf(token)]);
  assert.equal(r.length, 1);
}

function mintToken(uid, sid, exp) {
  const body = `${uid}.${sid}.${exp}`;
  const sig = createHmac("sha256", config.token_secret).update(body).digest("base64url");
  return `${body}.${sig}`;
}

async function directChat(user, other, token) {
  const r = await http("POST", `${hubA.url}/api/chats`, { with: other.id }, token);
  assert.equal(r.status, 200, r.text);
  return r.json.chat.id;
}

test("a session revoked in PostgreSQL without any notice: the next send is refused, the socket closes 4401", async () => {
  const p = demoUser((u) => u.role === "parent" && u.login === "parent2");
  const t = demoUser((u) => u.role === "teacher" && u.group_ids.some((g) => p.group_ids.includes(g)));
  const { token } = await login(hubA.url, p.login, p.password);
  const chat = await directChat(p, t, token);
  const ws = await wsConnect(hubA.wsUrl, token);
  await ws.next("resumed");
  ws.send({ op: "send", chat, text: "до отзыва", cid: `s16-${Date.now()}-1` });
  await ws.next("ack");

  await revokeBehindTheHubs(token);
  const cid = `s16-${Date.now()}-2`;
  ws.send({ op: "send", chat, text: "после отзыва", cid, rid: 7 });
  const err = await ws.next((m) => m.op === "error");
  assert.equal(err.code, "unauthorized");
  assert.equal(err.reason, "revoked");
  assert.match(err.message, /выход/);
  assert.equal((await ws.closed).code, 4401);
  const stored = await psql("SELECT count(*)::int AS n FROM chat_messages WHERE cid = $1", [cid]);
  assert.equal(stored[0].n, 0, "the refused message was not stored");
});

test("read and typing of a revoked session are refused too", async () => {
  const p = demoUser((u) => u.role === "parent" && u.login === "parent3");
  const t = demoUser((u) => u.role === "teacher" && u.group_ids.some((g) => p.group_ids.includes(g)));
  for (const op of [{ op: "read", seq: 1 }, { op: "typing" }]) {
    const { token } = await login(hubA.url, p.login, p.password);
    const chat = await directChat(p, t, token);
    const ws = await wsConnect(hubA.wsUrl, token);
    await ws.next("resumed");
    await revokeBehindTheHubs(token);
    ws.send({ ...op, chat });
    const err = await ws.next((m) => m.op === "error");
    assert.equal(err.code, "unauthorized", JSON.stringify(op));
    assert.equal((await ws.closed).code, 4401);
  }
});

test("an idle socket of a revoked session closes 4401 on every hub within the session check", async () => {
  const p = demoUser((u) => u.role === "parent" && u.login === "parent4");
  const { token } = await login(hubA.url, p.login, p.password);
  const other = await login(hubA.url, p.login, p.password); // another device stays signed in
  const onA = await wsConnect(hubA.wsUrl, token);
  const onB = await wsConnect(hubB.wsUrl, token);
  const keep = await wsConnect(hubB.wsUrl, other.token);
  await revokeBehindTheHubs(token);
  const [a, b] = await Promise.all([onA.closed, onB.closed]);
  assert.equal(a.code, 4401);
  assert.equal(b.code, 4401);
  assert.equal(onA.drain().find((m) => m.op === "error")?.reason, "revoked");
  assert.equal(onB.drain().find((m) => m.op === "error")?.reason, "revoked");
  await keep.ping(); // the other session of the same user is untouched
  await keep.close();
});

test("a token that expires while its socket is open: the socket closes 4401 with reason expired", async () => {
  const p = demoUser((u) => u.role === "parent" && u.login === "parent5");
  const exp = Math.floor(Date.now() / 1000) + 3;
  const rows = await psql(
    "INSERT INTO sessions (user_id, expires_at) VALUES ($1, to_timestamp($2)) RETURNING id", [p.id, exp]);
  const token = mintToken(p.id, rows[0].id, exp);
  const ws = await wsConnect(hubB.wsUrl, token);
  const closed = await ws.closed;
  assert.equal(closed.code, 4401);
  const err = ws.drain().find((m) => m.op === "error");
  assert.equal(err?.reason, "expired");
  assert.ok(Date.now() / 1000 >= exp, "not before the token's expiry");
  // An expired token is refused at auth with the same reason.
  const again = await wsConnect(hubB.wsUrl);
  again.send({ op: "auth", token });
  assert.equal((await again.next((m) => m.op === "error")).reason, "expired");
  assert.equal((await again.closed).code, 4401);
});

test("sockets per user per hub are capped: the one over ws_user_max closes 4429", async () => {
  const hub = await startHub({ env: { EPOS_WS_USER_MAX: "3" } });
  try {
    const p = demoUser((u) => u.role === "parent" && u.login === "parent6");
    const { token } = await login(hub.url, p.login, p.password);
    const socks = [];
    for (let i = 0; i < 3; i++) socks.push(await wsConnect(hub.wsUrl, token));
    const over = await wsConnect(hub.wsUrl);
    over.send({ op: "auth", token });
    const err = await over.next((m) => m.op === "error");
    assert.equal(err.code, "rate_limited");
    assert.equal((await over.closed).code, 4429);
    // Another user is not affected; a closed socket frees its place.
    const q = demoUser((u) => u.role === "parent" && u.login === "parent9");
    const qs = await wsConnect(hub.wsUrl, (await login(hub.url, q.login, q.password)).token);
    await socks.pop().close();
    const again = await wsConnect(hub.wsUrl, token);
    await again.ping();
    for (const c of [...socks, again, qs]) await c.close();
  } finally {
    await hub.stop();
  }
});
