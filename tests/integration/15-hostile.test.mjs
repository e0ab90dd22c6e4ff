// 15-hostile.test.mjs -- the hub against clients that do not play by the book:
// plaintext on the TLS port, pipelined and malformed HTTP, slow and flooding
// WebSocket clients, frames the RFC forbids. Nothing here measures time (the
// keep-alive latency is a benchmark: bench/http-keepalive.mjs).
import { test } from "node:test";
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { connect } from "node:net";
import tls from "node:tls";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { randomBytes } from "node:crypto";
import {
  BUILD_DIR, CONF, config, demoUser, freePort, http, login, spawnProcess, startHub, until, wsConnect,
} from "./lib/harness.mjs";

const parent = () => demoUser((u) => u.role === "parent" && u.login === "parent1");

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
  const hub = await startHub();
  try {
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
  } finally {
    await hub.stop();
  }
});

test("a POST, PUT or PATCH without Content-Length is refused with 411 and changes nothing", async () => {
  const hub = await startHub();
  try {
    const p = parent();
    const { token } = await login(hub.url, p.login, p.password);
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
  } finally {
    await hub.stop();
  }
});
