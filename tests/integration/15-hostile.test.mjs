// 15-hostile.test.mjs -- the hub against clients that do not play by the book:
// plaintext on the TLS port, pipelined and malformed HTTP, slow and flooding
// WebSocket clients, frames the RFC forbids. Nothing here measures time (the
// keep-alive latency is a benchmark: bench/http-keepalive.mjs).
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { connect } from "node:net";
import tls from "node:tls";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createHash, randomBytes } from "node:crypto";
import {
  BUILD_DIR, CONF, config, demoUser, freePort, http, login, spawnProcess, startHub, until, wsConnect,
} from "./lib/harness.mjs";

const parent = () => demoUser((u) => u.role === "parent" && u.login === "parent1");

let hub; // the shared hub of the tests that need no special configuration
let token; // parent1's
before(async () => {
  hub = await startHub();
  token = (await login(hub.url, parent().login, parent().password)).token;
});
after(() => hub?.stop());

/** A raw byte stream to the hub (plain or TLS) that reads HTTP/1.1 answers
 *  one by one: next() resolves {status, headers, body} of the next complete
 *  answer; closed resolves when the hub hangs up. */
function rawClient(port, { secure = false } = {}) {
  const sock = secure
    ? tls.connect({ port, host: "127.0.0.1", rejectUnauthorized: false })
    : connect(port, "127.0.0.1");
  let buf = Buffer.alloc(0);
  const answers = [];
  const waiters = [];
  let ended = false;
  const ready = new Promise((res, rej) => {
    sock.once(secure ? "secureConnect" : "connect", res);
    sock.once("error", rej);
  });
  const closed = new Promise((res) => sock.on("close", () => {
    ended = true;
    for (const w of waiters.splice(0)) w.reject(new Error(`closed; unparsed: ${buf.toString("latin1").slice(0, 200)}`));
    res();
  }));
  sock.on("error", () => {});
  const parse = () => {
    for (;;) {
      const end = buf.indexOf("\r\n\r\n");
      if (end < 0) return;
      const head = buf.subarray(0, end).toString("latin1").split("\r\n");
      const status = Number(/^HTTP\/1\.[01] (\d{3})/.exec(head[0])?.[1] ?? 0);
      const headers = {};
      for (const line of head.slice(1)) {
        const i = line.indexOf(":");
        headers[line.slice(0, i).trim().toLowerCase()] = line.slice(i + 1).trim();
      }
      const len = Number(headers["content-length"] ?? 0);
      if (buf.length < end + 4 + len) return;
      const body = buf.subarray(end + 4, end + 4 + len).toString("utf8");
      buf = buf.subarray(end + 4 + len);
      const a = { status, headers, body };
      const w = waiters.shift();
      if (w) w.resolve(a);
      else answers.push(a);
    }
  };
  sock.on("data", (d) => {
    buf = Buffer.concat([buf, d]);
    parse();
  });
  return {
    sock, ready, closed,
    write: (s) => sock.write(s),
    next: () => answers.length ? Promise.resolve(answers.shift())
      : ended ? Promise.reject(new Error("closed")) : new Promise((resolve, reject) => waiters.push({ resolve, reject })),
    end: () => sock.destroy(),
  };
}

const get = (path, extra = "") => `GET ${path} HTTP/1.1\r\nHost: 127.0.0.1\r\n${extra}\r\n`;

async function startTlsHub(env = {}) {
  const dir = mkdtempSync(join(tmpdir(), "epos-tls-"));
  const cert = join(dir, "cert.pem"), key = join(dir, "key.pem");
  execFileSync("openssl", ["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
    "-subj", "/CN=127.0.0.1", "-keyout", key, "-out", cert], { stdio: "ignore" });
  const port = await freePort();
  const hub = spawnProcess(join(BUILD_DIR, "epos-hub"), ["--config", CONF],
    { env: { EPOS_PORT: String(port), EPOS_TLS_CERT: cert, EPOS_TLS_KEY: key, ...env }, name: "hub-tls" });
  await until(async () => {
    const c = rawClient(port, { secure: true });
    try {
      await c.ready;
      c.write(get("/healthz", "Connection: close\r\n"));
      return (await c.next()).status === 200;
    } catch {
      return false;
    } finally {
      c.end();
    }
  }, { what: "the TLS hub answers /healthz" });
  return {
    port,
    async stop() {
      hub.expectExit = true;
      hub.proc.kill("SIGTERM");
      await hub.exited;
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

test("plaintext on the TLS port never costs a TLS client its connection", async () => {
  const hub = await startTlsHub();
  try {
    const kept = [];
    for (let round = 0; round < 40; round++) {
      // Garbage that is already there when the hub accepts: TLS fails at once.
      const g = connect(hub.port, "127.0.0.1");
      g.on("error", () => {});
      g.on("connect", () => g.write("GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n"));
      const gone = new Promise((res) => g.on("close", res));
      const c = rawClient(hub.port, { secure: true });
      await c.ready;
      c.write(get(`/healthz?round=${round}`));
      const a = await c.next();
      assert.equal(a.status, 200, `round ${round}`);
      kept.push(c);
      await gone;
    }
    // Every TLS client still owns its connection and gets its own answers.
    for (const [i, c] of kept.entries()) {
      c.write(get("/api/nowhere"));
      const a = await c.next();
      assert.equal(a.status, 404, `client ${i}`);
      assert.match(a.body, /not_found|error/);
      c.end();
    }
  } finally {
    await hub.stop();
  }
});

test("pipelined requests are all answered, in order, on one connection", async () => {
  {
    const c = rawClient(hub.port);
    await c.ready;
    c.write(get("/healthz") + get("/api/nowhere") + get("/healthz") + get("/api/me"));
    const got = [];
    for (let i = 0; i < 4; i++) got.push((await c.next()).status);
    assert.deepEqual(got, [200, 404, 200, 401]);
    // And a POST with its body in the same write as the next GET.
    const body = JSON.stringify({ login: "nobody-here", password: "x" });
    c.write(`POST /api/login HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n` +
      `Content-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}` + get("/healthz"));
    const a = await c.next();
    assert.equal(a.status, 401, a.body);
    assert.equal((await c.next()).status, 200);
    c.end();
  }
});

test("a POST, PUT or PATCH without Content-Length is refused with 411 and changes nothing", async () => {
  {
    for (const method of ["POST", "PUT", "PATCH"]) {
      const c = rawClient(hub.port);
      await c.ready;
      c.write(`${method} /api/logout HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${token}\r\n` +
        `Content-Type: application/json\r\n\r\n{}`);
      const a = await c.next();
      assert.equal(a.status, 411, `${method}: ${a.status} ${a.body}`);
      assert.equal(JSON.parse(a.body).error.code, "length_required");
      c.end();
    }
    // The session was not logged out by any of them.
    const me = await http("GET", `${hub.url}/api/me`, undefined, token);
    assert.equal(me.status, 200);
  }
});

test("every answer carries the security headers; API answers are never cached", async () => {
  const cases = [["/", 200], ["/js/app.js", 200], ["/no-such-file.js", 404], ["/healthz", 200],
    ["/api/me", 401], ["/api/nowhere", 404]];
  for (const [path, status] of cases) {
    const r = await fetch(`${hub.url}${path}`);
    await r.arrayBuffer();
    assert.equal(r.status, status, path);
    const csp = r.headers.get("content-security-policy") ?? "";
    assert.match(csp, /script-src 'self'/, path);
    assert.match(csp, /frame-ancestors 'none'/, path);
    assert.doesNotMatch(csp, /unsafe-inline|unsafe-eval/, path);
    assert.equal(r.headers.get("x-frame-options"), "DENY", path);
    assert.equal(r.headers.get("x-content-type-options"), "nosniff", path);
    assert.match(r.headers.get("referrer-policy") ?? "", /^(no-referrer|same-origin)$/, path);
    if (path.startsWith("/api/")) assert.equal(r.headers.get("cache-control"), "no-store", path);
  }
});

test("a WebSocket whose Origin is too long to check is refused", async () => {
  const long = `http://127.0.0.1:${hub.port}/${"a".repeat(400)}`;
  await assert.rejects(wsConnect(hub.wsUrl, token, { headers: { Origin: long } }),
    /upgrade refused|Unexpected server response|socket hang up|ECONNRESET/);
  const ok = await wsConnect(hub.wsUrl, token, { headers: { Origin: `http://127.0.0.1:${hub.port}` } });
  await ok.close();
});

/** A WebSocket by hand (for frames no library sends): handshake, then
 *  frame(opcode, payload, {mask, fin}) writes one frame; closed resolves
 *  {code} of the hub's close frame (0 when it hung up without one). */
async function rawWs(port) {
  const sock = connect(port, "127.0.0.1");
  sock.on("error", () => {});
  const key = randomBytes(16).toString("base64");
  let buf = Buffer.alloc(0), upgraded = false, code = 0;
  const closed = new Promise((res) => sock.on("close", () => res({ code })));
  const open = new Promise((res, rej) => {
    sock.on("data", (d) => {
      buf = Buffer.concat([buf, d]);
      if (!upgraded) {
        const end = buf.indexOf("\r\n\r\n");
        if (end < 0) return;
        const head = buf.subarray(0, end).toString();
        if (!/^HTTP\/1\.1 101/.test(head)) return rej(new Error(head.split("\r\n")[0]));
        upgraded = true;
        buf = buf.subarray(end + 4);
        res();
      }
      // Frames from the hub: find its close frame.
      while (buf.length >= 2) {
        let len = buf[1] & 0x7f, off = 2;
        if (len === 126) [len, off] = [buf.readUInt16BE(2), 4];
        else if (len === 127) [len, off] = [Number(buf.readBigUInt64BE(2)), 10];
        if (buf.length < off + len) return;
        if ((buf[0] & 0x0f) === 8 && len >= 2) code = buf.readUInt16BE(off);
        buf = buf.subarray(off + len);
      }
    });
  });
  sock.on("connect", () => sock.write(`GET /ws HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nUpgrade: websocket\r\n` +
    `Connection: Upgrade\r\nSec-WebSocket-Key: ${key}\r\nSec-WebSocket-Version: 13\r\n` +
    `Sec-WebSocket-Protocol: epos.v1\r\n\r\n`));
  await open;
  const frame = (opcode, payload, { mask = true, fin = true } = {}) => {
    const data = Buffer.from(payload);
    const head = [(fin ? 0x80 : 0) | opcode];
    const m = mask ? 0x80 : 0;
    if (data.length < 126) head.push(m | data.length);
    else head.push(m | 126, data.length >> 8, data.length & 0xff);
    const mk = randomBytes(4);
    const body = mask ? Buffer.from(data.map((b, i) => b ^ mk[i % 4])) : data;
    sock.write(Buffer.concat([Buffer.from(head), mask ? mk : Buffer.alloc(0), body]));
  };
  return { frame, closed, sock };
}

test("an unmasked client frame fails the connection with 1002 (RFC 6455 §5.1)", async () => {
  const ws = await rawWs(hub.port);
  ws.frame(1, JSON.stringify({ op: "auth", token }), { mask: false });
  assert.equal((await ws.closed).code, 1002);
  // A masked one on a fresh connection is fine.
  const ok = await rawWs(hub.port);
  ok.frame(1, JSON.stringify({ op: "auth", token }));
  ok.frame(8, Buffer.from([0x03, 0xe8]));
  assert.equal((await ok.closed).code, 1000);
});

test("a text frame that is not UTF-8 fails the connection with 1007", async () => {
  const c = await wsConnect(hub.wsUrl, token);
  c.ws.send(Buffer.from([0x7b, 0x22, 0x6f, 0x70, 0x22, 0x3a, 0x22, 0xc3, 0x28, 0x22, 0x7d]), { binary: false });
  assert.equal((await c.closed).code, 1007);
});

test("a message over max_frame sent in small fragments closes with 1009", async () => {
  const c = await wsConnect(hub.wsUrl, token);
  const part = "x".repeat(16 * 1024);
  for (let i = 0; i < 5; i++) c.ws.send(part, { fin: false, binary: false }); // 80 KiB, never finished
  assert.equal((await c.closed).code, 1009);
});

test("a flood of frames is closed with 1008 (rate limit) and does not disturb others", async () => {
  const c = await wsConnect(hub.wsUrl, token);
  for (let i = 0; i < 400; i++) c.send({ op: "ping" });
  assert.equal((await c.closed).code, 1008);
  // The hub still serves everyone else.
  const other = await wsConnect(hub.wsUrl, token);
  await other.ping();
  await other.close();
});

test("a client that stops reading is closed with 1008 once its whole backlog passes the bound", async () => {
  const hub = await startHub({ env: { EPOS_SEND_QUEUE_MAX: "65536", EPOS_SNDBUF: "16384" } });
  try {
    const p = parent();
    const { token } = await login(hub.url, p.login, p.password);
    const c = await wsConnect(hub.wsUrl, token);
    c.ws._socket.pause(); // reads nothing from here on
    const slowClosed = async () => {
      const m = await http("GET", `${hub.url}/metrics`);
      return Number(/^epos_slow_consumers_closed_total (\d+)/m.exec(m.text)?.[1] ?? 0);
    };
    const blob = "я".repeat(30000); // ~60 KB per event
    let sent = 0;
    while (sent < 4 * 1024 * 1024 && (await slowClosed()) === 0) {
      const r = await http("POST", `${hub.url}/api/publish`, { type: "test.blob", data: { blob }, users: [p.id] },
        null, { headers: { authorization: `ApiKey ${config.api_key}` } });
      assert.equal(r.status, 200, r.text);
      sent += 60000;
    }
    // Kernel (2 x sndbuf, and the client's receive buffer) + what libwebsockets
    // holds + send_queue_max: well under 1 MiB. Without SO_SNDBUF the kernel
    // alone took more than 4 MiB.
    assert.equal(await slowClosed(), 1, "the hub closed the client that does not read");
    assert.ok(sent <= 1024 * 1024, `the hub took ${sent} bytes for a client that does not read`);
    c.ws._socket.resume();
    assert.equal((await c.closed).code, 1008);
  } finally {
    await hub.stop();
  }
});

test("an oversized request head is answered 431, an oversized URL 414, and the hub goes on", async () => {
  const cases = [
    [get("/healthz", `X-Big: ${"a".repeat(20000)}\r\n`), 431, "one huge header"],
    [get("/api/me", Array.from({ length: 200 }, (_, i) => `X-H${i}: ${"v".repeat(60)}\r\n`).join("")), 431, "many headers"],
    [get("/api/me", Array.from({ length: 120 }, () => "Accept: */*\r\n").join("")), 431, "many header lines"],
    [get(`/api/me?q=${"a".repeat(10000)}`), 414, "a huge query"],
    [get(`/${"b".repeat(10000)}`), 414, "a huge path"],
    [get(`/api/me?${Array.from({ length: 150 }, (_, i) => `a${i}=1`).join("&")}`), 414, "too many parameters"],
  ];
  for (const [text, status, what] of cases) {
    const c = rawClient(hub.port);
    await c.ready;
    c.write(text);
    const a = await c.next().catch((err) => ({ status: 0, body: err.message }));
    assert.equal(a.status, status, `${what}: ${a.body}`);
    assert.equal(JSON.parse(a.body).error.code, status === 431 ? "header_too_large" : "uri_too_long", what);
    await c.closed;
  }
  // Heads just under the limits are served as usual.
  const c = rawClient(hub.port);
  await c.ready;
  c.write(get("/api/me", `X-Fine: ${"a".repeat(3000)}\r\n`) + get(`/api/nowhere?q=${"a".repeat(2000)}`));
  assert.equal((await c.next()).status, 401);
  assert.equal((await c.next()).status, 404);
  c.end();
});

test("a client that dribbles its request head is cut at the head deadline; others are served meanwhile", async () => {
  const slowHub = await startHub({ env: { EPOS_HTTP_HEAD_TIMEOUT_S: "2" } });
  try {
    // 20 clients, each sending a head of 60 bytes one byte every 100 ms (6 s to finish it).
    const head = get("/healthz", "X-Slow: aaaaaaaa\r\n");
    const slow = await Promise.all(Array.from({ length: 20 }, async () => {
      const c = rawClient(slowHub.port);
      await c.ready;
      let i = 0, finished = false;
      const t = setInterval(() => {
        if (i < head.length) c.write(head[i++]);
        else finished = true;
      }, 100);
      c.closed.then(() => clearInterval(t));
      return { c, finished: () => finished };
    }));
    // Meanwhile another client is answered at once, request after request.
    const other = rawClient(slowHub.port);
    await other.ready;
    for (let i = 0; i < 5; i++) {
      other.write(get("/healthz"));
      assert.equal((await other.next()).status, 200);
    }
    other.end();
    for (const s of slow) {
      await s.c.closed;
      assert.equal(s.finished(), false, "the hub waited for the whole dribbled head");
    }
  } finally {
    await slowHub.stop();
  }
});

test("over TLS too, an oversized head is answered 431 and a normal one served", async () => {
  const tlsHub = await startTlsHub();
  try {
    const c = rawClient(tlsHub.port, { secure: true });
    await c.ready;
    c.write(get("/healthz", `X-Big: ${"a".repeat(20000)}\r\n`));
    const a = await c.next();
    assert.equal(a.status, 431, a.body);
    await c.closed;
    const ok = rawClient(tlsHub.port, { secure: true });
    await ok.ready;
    ok.write(get("/healthz"));
    assert.equal((await ok.next()).status, 200);
    ok.end();
  } finally {
    await tlsHub.stop();
  }
});
