// 15-db-lost: a query whose PostgreSQL connection dies mid-flight is answered
// "unavailable" (WebSocket) / 503 (HTTP) -- "retry", not "bug" -- and the
// retry with the same cid is stored once; a hub, worker or eposctl that cannot
// reach the database says where it tried, never with the password.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";
import { join } from "node:path";
import {
  BUILD_DIR, CONF, PG_CONNINFO, demoUser, freePort, http, login, psql, runToExit, startHub, until, wsConnect,
} from "./lib/harness.mjs";

const APP = "epos-dblost";
const P = demoUser((u) => u.role === "parent" && u.login === "parent1");
const T = demoUser((u) => u.role === "teacher" && u.group_ids.includes(P.group_ids[0]));

let hub, tp, tt, chat;

before(async () => {
  // The hub's backends carry their own application_name, so the test kills
  // only them.
  hub = await startHub({ env: { EPOS_PG_CONNINFO: `${PG_CONNINFO} application_name=${APP}` } });
  tp = (await login(hub.url, P.login, P.password)).token;
  tt = (await login(hub.url, T.login, T.password)).token;
  const r = await http("POST", `${hub.url}/api/chats`, { title: `Обрыв ${randomUUID()}`, members: [P.id] }, tt);
  assert.equal(r.status, 201, r.text);
  chat = r.json.chat?.id ?? r.json.id;
  assert.ok(chat, r.text);
  // The first message creates the chat topic's row that a send locks.
  const first = await http("POST", `${hub.url}/api/chats/${chat}/messages`, { text: "Начало", cid: randomUUID() }, tp);
  assert.equal(first.status, 200, first.text);
});

after(async () => {
  await hub?.stop();
});

// Hold the chat topic's row, so a send to the chat waits inside PostgreSQL;
// resolves, once the row is held, to release(), which ends the holder.
async function holdChat() {
  const LOCKER = `/* dblost holder of chat ${chat}, test ${process.pid} */`;
  const held = psql(`SELECT 1 FROM topic_seq WHERE topic = $1 FOR UPDATE; SELECT pg_sleep(120) ${LOCKER}`,
    [`chat:${chat}`]).catch(() => {});
  await until(async () => (await psql(
    "SELECT 1 FROM pg_stat_activity WHERE query LIKE $1 AND wait_event = 'PgSleep' AND pid <> pg_backend_pid()",
    [`%${LOCKER}%`])).length > 0, { what: "the chat's row held" });
  return async () => {
    await psql("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE query LIKE $1 AND pid <> pg_backend_pid()",
      [`%${LOCKER}%`]);
    await held;
  };
}

// Wait until one of the hub's backends waits on the lock, then terminate
// every backend of the hub: the query in flight dies with its connection.
async function killHubBackendsWhenWaiting() {
  await until(async () => (await psql(
    "SELECT pid FROM pg_stat_activity WHERE application_name = $1 AND wait_event_type = 'Lock'", [APP])).length > 0,
  { what: "the hub's send waiting on the held row" });
  const killed = await psql("SELECT pg_terminate_backend(pid) AS ok FROM pg_stat_activity WHERE application_name = $1", [APP]);
  assert.ok(killed.length > 0);
}

test("WebSocket: a send whose connection is killed gets unavailable; the retry with its cid is stored once", async () => {
  const ws = await wsConnect(hub.wsUrl, tp);
  try {
    await ws.next("resumed");
    const release = await holdChat();
    const cid = randomUUID();
    try {
      ws.send({ op: "send", chat, text: "Мы опоздаем", cid });
      await killHubBackendsWhenWaiting();
      const err = await ws.next((m) => m.op === "error" || m.op === "ack");
      assert.equal(err.op, "error", JSON.stringify(err));
      assert.equal(err.code, "unavailable", JSON.stringify(err));
      assert.equal(err.cid, cid);
    } finally {
      await release();
    }
    // The client retries with the same cid once the hub has reconnected.
    const ack = await until(async () => {
      ws.send({ op: "send", chat, text: "Мы опоздаем", cid });
      const m = await ws.next((x) => (x.op === "ack" || x.op === "error") && x.cid === cid);
      if (m.op === "error") assert.equal(m.code, "unavailable", JSON.stringify(m));
      return m.op === "ack" ? m : null;
    }, { what: "an ack of the retried send" });
    assert.ok(ack.seq > 0);
    const [{ n }] = await psql("SELECT count(*)::int AS n FROM chat_messages WHERE sender_id = $1 AND cid = $2", [P.id, cid]);
    assert.equal(n, 1);
  } finally {
    await ws.close();
  }
});

test("HTTP: a request whose connection is killed gets 503 unavailable, never 500", async () => {
  const release = await holdChat();
  const cid = randomUUID();
  try {
    const pending = http("POST", `${hub.url}/api/chats/${chat}/messages`, { text: "Заберём в 16:00", cid }, tp);
    await killHubBackendsWhenWaiting();
    const r = await pending;
    assert.equal(r.status, 503, r.text);
    assert.equal(r.json.error.code, "unavailable");
  } finally {
    await release();
  }
  const [{ n }] = await psql("SELECT count(*)::int AS n FROM chat_messages WHERE sender_id = $1 AND cid = $2", [P.id, cid]);
  assert.equal(n, 0); // nothing was committed: the retry is safe
});

test("hub, worker and eposctl that cannot reach PostgreSQL name it without the password", async () => {
  const closed = await freePort(); // nothing listens there
  const conninfo = `hostaddr=127.0.0.1 port=${closed} user=epos password=secret dbname=epos_x connect_timeout=2`;
  const env = { EPOS_PG_CONNINFO: conninfo };
  const [hubRun, workerRun, ctlRun] = await Promise.all([
    runToExit(join(BUILD_DIR, "epos-hub"), ["--config", CONF], { env: { ...env, EPOS_PORT: String(await freePort()) } }),
    runToExit(join(BUILD_DIR, "epos-worker"), ["--config", CONF],
      { env: { ...env, EPOS_ADMIN_PORT: String(await freePort()) } }),
    runToExit(join(BUILD_DIR, "eposctl"), ["--config", CONF, "migrate"], { env }),
  ]);
  for (const [name, r] of [["epos-hub", hubRun], ["epos-worker", workerRun], ["eposctl", ctlRun]]) {
    assert.notEqual(r.code, 0, `${name} should fail:\n${r.output}`);
    assert.ok(r.output.includes(`port=${closed}`), `${name} names where it tried:\n${r.output}`);
    assert.ok(r.output.includes("dbname=epos_x"), `${name}:\n${r.output}`);
    assert.ok(!r.output.includes("secret"), `${name} printed the password:\n${r.output}`);
  }
});
