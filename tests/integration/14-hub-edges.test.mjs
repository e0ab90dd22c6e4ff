// 14-hub-edges.test.mjs -- the hub at its edges: browser origins, request size,
// TLS, the replay window, and two hubs that lose Redis and close the gap from
// PostgreSQL when it comes back.
import { test } from "node:test";
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import https from "node:https";
import { tmpdir } from "node:os";
import { join } from "node:path";
import WebSocket from "ws";
import {
  BUILD_DIR, CONF, config, demoUser, freePort, http, login, spawnProcess, startHub, startStack,
  until, wsConnect,
} from "./lib/harness.mjs";

const parent = () => demoUser((u) => u.role === "parent" && u.login === "parent1");
const admin = () => demoUser((u) => u.role === "admin" && u.org_id === 1);

test("a browser from another origin cannot open /ws; the hub's own origin can", async () => {
  const hub = await startHub();
  try {
    const { token } = await login(hub.url, parent().login, parent().password);
    await assert.rejects(wsConnect(hub.wsUrl, token, { headers: { Origin: "http://evil.example" } }),
      /upgrade refused|Unexpected server response|socket hang up|ECONNRESET/);
    const ok = await wsConnect(hub.wsUrl, token, { headers: { Origin: `http://127.0.0.1:${hub.port}` } });
    assert.equal(ok.hello.user.id, parent().id);
    await ok.close();
    // Only /ws upgrades.
    await assert.rejects(wsConnect(`ws://127.0.0.1:${hub.port}/other`, token));
  } finally {
    await hub.stop();
  }
});

test("a request body over 64 KiB is refused with 413 and changes nothing", async () => {
  const hub = await startHub();
  try {
    const a = admin();
    const { token } = await login(hub.url, a.login, a.password);
    const big = { org_id: a.org_id, title: "x", body: "я".repeat(40000) }; // 80 KB of UTF-8
    const r = await http("POST", `${hub.url}/api/news`, big, token);
    assert.equal(r.status, 413);
    assert.equal(r.json.error.code, "too_large");
    const feed = await http("GET", `${hub.url}/api/feed`, undefined, token);
    assert.ok(!feed.json.items.some((i) => i.body === big.body));
  } finally {
    await hub.stop();
  }
});

function getTls(url) {
  return new Promise((resolve, reject) => {
    https.get(url, { rejectUnauthorized: false }, (res) => {
      let body = "";
      res.on("data", (d) => (body += d));
      res.on("end", () => resolve({ status: res.statusCode, body }));
    }).on("error", reject);
  });
}

test("with tls_cert and tls_key the hub speaks HTTPS and WSS (self-signed)", async () => {
  const dir = mkdtempSync(join(tmpdir(), "epos-tls-"));
  const cert = join(dir, "cert.pem"), key = join(dir, "key.pem");
  execFileSync("openssl", ["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
    "-subj", "/CN=127.0.0.1", "-keyout", key, "-out", cert], { stdio: "ignore" });
  const port = await freePort();
  const hub = spawnProcess(join(BUILD_DIR, "epos-hub"), ["--config", CONF],
    { env: { EPOS_PORT: String(port), EPOS_TLS_CERT: cert, EPOS_TLS_KEY: key }, name: "hub-tls" });
  try {
    const base = `https://127.0.0.1:${port}`;
    await until(async () => (await getTls(`${base}/healthz`).catch(() => ({}))).status === 200,
      { what: "GET https /healthz 200" });
    const r = await fetch(`http://127.0.0.1:${port}/healthz`).catch((e) => e);
    assert.ok(r instanceof Error || r.status >= 400, "plain HTTP is not served on the TLS port");
    const loginBody = JSON.stringify({ login: parent().login, password: parent().password });
    const token = await new Promise((resolve, reject) => {
      const req = https.request(`${base}/api/login`, { method: "POST", rejectUnauthorized: false,
        headers: { "content-type": "application/json" } }, (res) => {
        let b = "";
        res.on("data", (d) => (b += d));
        res.on("end", () => resolve(JSON.parse(b).token));
      });
      req.on("error", reject);
      req.end(loginBody);
    });
    const ws = new WebSocket(`wss://127.0.0.1:${port}/ws`, "epos.v1", { rejectUnauthorized: false });
    const hello = await new Promise((resolve, reject) => {
      ws.on("open", () => ws.send(JSON.stringify({ op: "auth", token })));
      ws.on("message", (d) => resolve(JSON.parse(d.toString().split("\n")[0])));
      ws.on("error", reject);
    });
    assert.equal(hello.op, "hello");
    ws.close();
  } finally {
    hub.proc.kill("SIGTERM");
    await hub.exited;
    rmSync(dir, { recursive: true, force: true });
  }
});

test("resume past the replay window gets reset; within it, exactly the missed events", async () => {
  const hub = await startHub({ env: { EPOS_REPLAY_WINDOW: "3" } });
  try {
    const p = parent();
    const { token } = await login(hub.url, p.login, p.password);
    const topic = `user:${p.id}`;
    const publish = (n) => http("POST", `${hub.url}/api/publish`,
      { type: "test.note", data: { n }, users: [p.id] }, null,
      { headers: { authorization: `ApiKey ${config.api_key}` } });
    const first = await publish(0);
    assert.equal(first.status, 200, JSON.stringify(first.json));
    const base = first.json.events[0].seq;
    for (let n = 1; n <= 2; n++) assert.equal((await publish(n)).status, 200);
    const c1 = await wsConnect(hub.wsUrl, token, { resume: { [topic]: base } });
    const got = [await c1.next((m) => m.op === "event"), await c1.next((m) => m.op === "event")];
    assert.deepEqual(got.map((m) => m.data.n), [1, 2]);
    await c1.next("resumed");
    await c1.close();
    for (let n = 3; n <= 7; n++) assert.equal((await publish(n)).status, 200);
    const c2 = await wsConnect(hub.wsUrl, token, { resume: { [topic]: base } });
    const reset = await c2.next((m) => m.op === "reset");
    assert.equal(reset.topic, topic);
    await c2.next("resumed");
    assert.ok(!c2.drain().some((m) => m.op === "event" && m.topic === topic));
    await c2.close();
  } finally {
    await hub.stop();
  }
});

test("two hubs lose Redis, keep serving, and close the gap from PostgreSQL when it returns", async () => {
  const spare = await startStack({ services: ["redis"] });
  const env = { EPOS_REDIS_PORT: String(spare.redisPort) };
  const hubA = await startHub({ env });
  const hubB = await startHub({ env });
  try {
    const p = parent();
    const teacher = demoUser((u) => u.role === "teacher" && u.group_ids.includes(p.group_ids[0]));
    const pt = (await login(hubA.url, p.login, p.password)).token;
    const tt = (await login(hubB.url, teacher.login, teacher.password)).token;
    const chat = await http("POST", `${hubA.url}/api/chats`, { with: teacher.id }, pt);
    assert.equal(chat.status, 200, JSON.stringify(chat.json));
    const id = chat.json.chat.id;
    const onA = await wsConnect(hubA.wsUrl, pt);
    const onB = await wsConnect(hubB.wsUrl, tt);

    onA.send({ op: "send", chat: id, text: "до сбоя", cid: `edge-${Date.now()}-1` });
    await onB.next((m) => m.type === "chat.message" && m.data.text === "до сбоя");

    await spare.down("redis");
    await until(async () => (await http("GET", `${hubB.url}/readyz`)).status === 503,
      { what: "hub B notices Redis is gone" });
    const cid = `edge-${Date.now()}-2`;
    onA.send({ op: "send", chat: id, text: "во время сбоя", cid });
    const ack = await onA.next((m) => m.op === "ack" && m.cid === cid);
    assert.ok(ack.seq > 0, "the write is committed and acked while Redis is down");

    await spare.up("redis");
    const late = await onB.next((m) => m.type === "chat.message" && m.data.text === "во время сбоя", 30000);
    assert.equal(late.seq, ack.seq);
    onB.send({ op: "send", chat: id, text: "после сбоя", cid: `edge-${Date.now()}-3` });
    await onA.next((m) => m.type === "chat.message" && m.data.text === "после сбоя", 15000);
    await onA.close();
    await onB.close();
  } finally {
    await hubA.stop();
    await hubB.stop();
    await spare.destroy();
  }
});

test("a logout closes that session's open WebSocket (4401); a socket without epos.v1 is refused", async () => {
  const hub = await startHub();
  try {
    const p = parent();
    const { token } = await login(hub.url, p.login, p.password);
    const c = await wsConnect(hub.wsUrl, token);
    const out = await http("POST", `${hub.url}/api/logout`, {}, token);
    assert.equal(out.status, 200);
    const closed = await c.closed;
    assert.equal(closed.code, 4401);
    await assert.rejects(wsConnect(hub.wsUrl, token), /auth refused|closed/);
    // Without the subprotocol there is no session to time out: refused at once.
    const bare = new WebSocket(hub.wsUrl);
    const outcome = await new Promise((resolve) => {
      bare.on("open", () => resolve("open"));
      bare.on("error", () => resolve("refused"));
      bare.on("unexpected-response", () => resolve("refused"));
    });
    assert.equal(outcome, "refused");
  } finally {
    await hub.stop();
  }
});

test("parallel wrong passwords cannot slip past the login limit", async () => {
  const hub = await startHub({ env: { EPOS_LOGIN_FAIL_MAX: "5", EPOS_LOGIN_DELAY_S: "600" } });
  try {
    const victim = demoUser((u) => u.role === "parent" && u.login === "parent7");
    const tries = await Promise.all(Array.from({ length: 20 }, () =>
      http("POST", `${hub.url}/api/login`, { login: `  ${victim.login.toUpperCase()} `, password: "nope" })));
    const codes = tries.map((r) => r.status);
    assert.equal(codes.filter((s) => s === 401).length, 5, `codes: ${codes}`);
    assert.equal(codes.filter((s) => s === 429).length, 15, `codes: ${codes}`);
    const right = await http("POST", `${hub.url}/api/login`, { login: victim.login, password: victim.password });
    assert.equal(right.status, 429, "the delay holds from this address, even with the right password");
    assert.match(right.headers.get("retry-after") ?? "", /^[1-9][0-9]*$/);
  } finally {
    await hub.stop();
  }
});

test("on SIGTERM every client is told 1001 (going away)", async () => {
  const hub = await startHub();
  const p = parent();
  const { token } = await login(hub.url, p.login, p.password);
  const c = await wsConnect(hub.wsUrl, token);
  await hub.stop();
  assert.equal((await c.closed).code, 1001);
});
