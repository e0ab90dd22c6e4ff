// harness.mjs -- integration test helpers: hubs, workers, a spare stack, HTTP, WebSocket, SQL, mail.
//
// Everything talks to real servers. scripts/test sets the environment below;
// run by hand (`node --test tests/integration/`) it falls back to var/test/
// and build-asan/ (or build/), so bring those up with scripts/test --keep once.
//
//   EPOS_ROOT         repository root
//   EPOS_BUILD_DIR    where epos-hub, epos-worker, eposctl are
//   EPOS_VAR          the test stack's state directory (var/test)
//   EPOS_CONF         its config file (var/test/epos.conf)
//   EPOS_PG_CONNINFO  the test database (epos_test) as the superuser, for psql()
//   EPOS_MAILDIR      the SMTP server's maildir, for mailbox()
//   EPOS_DEMO_USERS   users.json of the seeded demo region, for demoUsers()
//
// Processes started here never inherit EPOS_* variables (they would override
// the config file): pass overrides explicitly in `env`.
import { spawn } from "node:child_process";
import { existsSync, readFileSync, mkdtempSync, chmodSync, rmSync } from "node:fs";
import { createServer, connect } from "node:net";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import WebSocket from "ws";
import { mailbox as openMailbox } from "./mail.mjs";

export { parseMail, decodeHeader } from "./mail.mjs";

const env = process.env;
export const ROOT = env.EPOS_ROOT || resolve(dirname(fileURLToPath(import.meta.url)), "../../..");
export const VAR = env.EPOS_VAR || join(ROOT, "var/test");
export const CONF = env.EPOS_CONF || join(VAR, "epos.conf");
export const BUILD_DIR = env.EPOS_BUILD_DIR ||
  (existsSync(join(ROOT, "build-asan/epos-hub")) ? join(ROOT, "build-asan") : join(ROOT, "build"));
export const MAILDIR = env.EPOS_MAILDIR || join(VAR, "mail");

/** Read a "key = value" config file into an object ({} when it does not exist). */
export function readConfig(path = CONF) {
  const cfg = {};
  if (!existsSync(path)) return cfg;
  for (const line of readFileSync(path, "utf8").split("\n")) {
    const s = line.trim();
    if (!s || s.startsWith("#") || !s.includes("=")) continue;
    const i = s.indexOf("=");
    let v = s.slice(i + 1).trim();
    if (v.length >= 2 && v.startsWith('"') && v.endsWith('"')) v = v.slice(1, -1);
    cfg[s.slice(0, i).trim()] = v;
  }
  return cfg;
}

export const config = readConfig();
// The tests' own checks run as the superuser; pg_conninfo in the config is
// the hub's role, which may read almost nothing (schema/functions/roles.sql).
export const PG_CONNINFO = env.EPOS_PG_CONNINFO ||
  (config.pg_conninfo || "").replace(/\buser=\S+/, "user=postgres").replace(/\bpassfile=\S+/, "");

// Sanitizer settings when run outside scripts/test (which sets the same).
const SAN_ENV = {
  ASAN_OPTIONS: env.ASAN_OPTIONS ||
    "detect_leaks=1:halt_on_error=1:detect_stack_use_after_return=1",
  LSAN_OPTIONS: env.LSAN_OPTIONS || `suppressions=${join(ROOT, "tools/lsan.supp")}:print_suppressions=0`,
  UBSAN_OPTIONS: env.UBSAN_OPTIONS || "print_stacktrace=1:halt_on_error=1",
};

/** The environment of a child process: ours without EPOS_*, plus extra. */
export function childEnv(extra = {}) {
  const out = {};
  for (const [k, v] of Object.entries(env)) if (!k.startsWith("EPOS_")) out[k] = v;
  return { ...out, ...SAN_ENV, ...extra };
}

// ---- processes -----------------------------------------------------------------------

const children = new Set();
// A test that fails half-way, or a run that is interrupted, must not leave
// servers behind.
function killChildren() {
  for (const c of children) {
    try {
      c.kill("SIGKILL");
    } catch {}
  }
}
process.on("exit", killChildren);
for (const [sig, code] of [["SIGTERM", 143], ["SIGINT", 130]]) {
  process.once(sig, () => {
    killChildren();
    process.exit(code);
  });
}

/** A free TCP port on 127.0.0.1 (the kernel's pick; free at the time of the call). */
export function freePort() {
  return new Promise((res, rej) => {
    const s = createServer();
    s.unref();
    s.on("error", rej);
    s.listen(0, "127.0.0.1", () => {
      const { port } = s.address();
      s.close(() => res(port));
    });
  });
}

/** A promise that keeps the event loop alive until it settles. The servers
 *  and sockets the harness opens are unref'd, so that one a failed test
 *  forgot cannot keep the test file running (the exit hook then kills it);
 *  whoever awaits one of them holds the loop through this. */
function keepAlive(promise) {
  const t = setInterval(() => {}, 1 << 30);
  return promise.finally(() => clearInterval(t));
}

/** Spawn a program; collect its output; `exited` resolves with {code, signal}. */
export function spawnProcess(cmd, args = [],
  { env: extra = {}, name = cmd, echo = !!env.EPOS_TEST_VERBOSE, expectExit = false } = {}) {
  const proc = spawn(cmd, args, { env: childEnv(extra), stdio: ["ignore", "pipe", "pipe"] });
  children.add(proc);
  let out = "";
  const keep = (chunk) => {
    out += chunk.toString();
    if (out.length > 1 << 20) out = out.slice(-(1 << 19)); // the tail is what matters
    if (echo) process.stderr.write(`[${name}] ${chunk}`);
  };
  proc.stdout.on("data", keep);
  proc.stderr.on("data", keep);
  const exited = new Promise((res) => {
    proc.on("error", (err) => {
      out += `\n(spawn failed: ${err.message})\n`;
      children.delete(proc);
      res({ code: -1, signal: null });
    });
    proc.on("close", (code, signal) => {
      children.delete(proc);
      // A server that dies on its own (a crash, a sanitizer report) would
      // otherwise take its last words with it: show them in the test log.
      if (!handleObj.expectExit && (code !== 0 || signal)) {
        process.stderr.write(`[harness] ${name} (pid ${proc.pid}) exited unexpectedly ` +
          `(code ${code}, signal ${signal}):\n${tail(out, 60)}\n`);
      }
      res({ code, signal });
    });
  });
  let done = null;
  exited.then((r) => (done = r));
  proc.unref();
  proc.stdout.unref();
  proc.stderr.unref();
  const handleObj = {
    proc, pid: proc.pid, name, output: () => out, exitStatus: () => done,
    expectExit: expectExit, // set when we stop it: its exit is no news
    exitedNoRef: exited, // for waits that hold the loop by other means
    get exited() {
      return keepAlive(exited);
    },
  };
  return handleObj;
}

/** Run a program to completion. Resolves {code, signal, stdout, stderr, output}. */
export function run(cmd, args = [], { env: extra = {}, input, timeoutMs = 120000 } = {}) {
  return new Promise((res, rej) => {
    const proc = spawn(cmd, args, { env: childEnv(extra), stdio: ["pipe", "pipe", "pipe"] });
    children.add(proc);
    let stdout = "", stderr = "";
    proc.stdout.on("data", (c) => (stdout += c));
    proc.stderr.on("data", (c) => (stderr += c));
    const timer = setTimeout(() => {
      proc.kill("SIGKILL");
      rej(new Error(`${cmd} ${args.join(" ")}: still running after ${timeoutMs} ms\n${stdout}${stderr}`));
    }, timeoutMs);
    proc.on("error", (err) => {
      clearTimeout(timer);
      children.delete(proc);
      rej(err);
    });
    proc.on("close", (code, signal) => {
      clearTimeout(timer);
      children.delete(proc);
      res({ code, signal, stdout, stderr, output: stdout + stderr });
    });
    // A command that exits without reading its input (redis-cli at a killed
    // server) closes the pipe first: EPIPE there is not the test's failure.
    proc.stdin.on("error", (err) => { if (err.code !== "EPIPE") rej(err); });
    proc.stdin.end(input ?? "");
  });
}

/** Run eposctl with the test config. Resolves as run() does. */
export function ctl(args, { config: conf = CONF, env: extra = {}, input, timeoutMs } = {}) {
  return run(join(BUILD_DIR, "eposctl"), ["--config", conf, ...args], { env: extra, input, timeoutMs });
}

function tail(text, lines = 40) {
  return text.split("\n").slice(-lines).join("\n");
}

/** Poll until check() resolves truthy, or the process p exits, or the deadline. */
async function awaitReady(p, what, check, timeoutMs) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const st = p.exitStatus();
    if (st) throw new Error(`${p.name} exited (code ${st.code}, signal ${st.signal}) before ${what}:\n${tail(p.output())}`);
    if (await check().catch(() => false)) return;
    if (Date.now() > deadline) {
      p.expectExit = true;
      p.proc.kill("SIGKILL");
      throw new Error(`${p.name}: no ${what} within ${timeoutMs} ms:\n${tail(p.output())}`);
    }
    await Promise.race([p.exitedNoRef, new Promise((r) => setTimeout(r, 50))]);
  }
}

async function httpOk(url) {
  const r = await fetch(url, { signal: AbortSignal.timeout(2000) });
  await r.arrayBuffer();
  return r.status === 200;
}

/** Wrap a spawned server with stop()/kill(). */
function handle(p, extra) {
  return {
    ...extra,
    pid: p.pid,
    proc: p.proc,
    /** Resolves {code, signal} when the process has exited. */
    get exited() {
      return p.exited;
    },
    output: p.output,
    /** {code, signal} once it has exited, else null. */
    exitStatus: p.exitStatus,
    /** Send SIGKILL/SIGSTOP/...; does not wait. */
    kill(sig = "SIGKILL") {
      if (sig !== "SIGSTOP" && sig !== "SIGCONT") p.expectExit = true;
      p.proc.kill(sig);
    },
    /** SIGTERM, await the exit, throw unless the exit code is expectCode (0). */
    async stop({ signal = "SIGTERM", expectCode = 0, timeoutMs = 20000 } = {}) {
      p.expectExit = true;
      if (!p.exitStatus()) p.proc.kill(signal);
      const timer = setTimeout(() => p.proc.kill("SIGKILL"), timeoutMs);
      const st = await p.exited;
      clearTimeout(timer);
      if (expectCode !== null && (st.code !== expectCode || st.signal)) {
        throw new Error(`${p.name} exited with code ${st.code}${st.signal ? `, signal ${st.signal}` : ""}` +
          ` after ${signal} (expected ${expectCode}):\n${tail(p.output())}`);
      }
      return st;
    },
  };
}

/** Start build/epos-hub --config FILE on a free port (or `port`), its admin
 *  port on another free port (or `adminPort`), with EPOS_* overrides in env;
 *  resolve once GET /healthz answers 200 on the admin port. Returns
 *  {url, wsUrl, port, adminUrl, adminPort, pid, proc, exited, output(), kill(sig), stop()}. */
export async function startHub({ port, adminPort, env: extra = {}, config: conf = CONF, args = [], timeoutMs = 30000 } = {}) {
  port ??= await freePort();
  adminPort ??= await freePort();
  const name = extra.EPOS_INSTANCE || `hub-${port}`;
  const p = spawnProcess(join(BUILD_DIR, "epos-hub"), ["--config", conf, ...args],
    { env: { EPOS_PORT: String(port), EPOS_ADMIN_PORT: String(adminPort), EPOS_INSTANCE: name, ...extra }, name });
  const url = `http://127.0.0.1:${port}`;
  const adminUrl = `http://127.0.0.1:${adminPort}`;
  await awaitReady(p, "GET /healthz 200", () => httpOk(`${adminUrl}/healthz`), timeoutMs);
  return handle(p, { url, wsUrl: `ws://127.0.0.1:${port}/ws`, port, adminUrl, adminPort });
}

/** Start build/epos-worker --config FILE with its admin port (/metrics) on a
 *  free port (or `metricsPort`); resolve once GET /metrics answers 200. Returns
 *  {metricsUrl, metricsPort, adminUrl, pid, proc, exited, output(), kill(sig), stop()}. */
export async function startWorker({ metricsPort, env: extra = {}, config: conf = CONF, args = [], timeoutMs = 30000 } = {}) {
  metricsPort ??= await freePort();
  const name = extra.EPOS_INSTANCE || `worker-${metricsPort}`;
  const p = spawnProcess(join(BUILD_DIR, "epos-worker"), ["--config", conf, ...args],
    { env: { EPOS_ADMIN_PORT: String(metricsPort), EPOS_INSTANCE: name, ...extra }, name });
  const adminUrl = `http://127.0.0.1:${metricsPort}`;
  const metricsUrl = `${adminUrl}/metrics`;
  await awaitReady(p, "GET /metrics 200", () => httpOk(metricsUrl), timeoutMs);
  return handle(p, { metricsUrl, metricsPort, adminUrl });
}

/** Run a program that is expected to exit by itself (e.g. a hub refusing a bad
 *  config): resolves {code, signal, output} or throws after timeoutMs. */
export async function runToExit(cmd, args, { env: extra = {}, timeoutMs = 60000 } = {}) {
  const p = spawnProcess(cmd, args, { env: extra, expectExit: true });
  const timer = setTimeout(() => p.proc.kill("SIGKILL"), timeoutMs);
  const st = await p.exited;
  clearTimeout(timer);
  return { ...st, output: p.output() };
}

// ---- a spare stack (for tests that stop servers) ------------------------------------------------

/** Bring up a separate PostgreSQL/Redis/SMTP (scripts/stack) in a temporary
 *  directory on free ports, with database `db` created and migrated (when pg
 *  is among services and migrate is true). Returns {dir, conf, conninfo,
 *  pgPort, redisPort, smtpPort, mail, up(...svc), down(...svc), destroy()}. */
export async function startStack({ services = ["pg", "redis", "smtp"], db = "epos", migrate = true } = {}) {
  const dir = mkdtempSync(join(tmpdir(), "epos-stack-"));
  chmodSync(dir, 0o755); // PostgreSQL runs as postgres and must enter it
  const ports = { EPOS_PG_PORT: await freePort(), EPOS_REDIS_PORT: await freePort(), EPOS_SMTP_PORT: await freePort() };
  const stackEnv = Object.fromEntries(Object.entries(ports).map(([k, v]) => [k, String(v)]));
  const script = join(ROOT, "scripts/stack");
  const call = async (cmd, svcs) => {
    const r = await run(script, [cmd, "--dir", dir, "--db", db, ...svcs], { env: stackEnv });
    if (r.code !== 0) throw new Error(`scripts/stack ${cmd} ${svcs.join(" ")} failed (${r.code}):\n${r.output}`);
    return r;
  };
  const stack = {
    dir,
    conf: join(dir, "epos.conf"),
    pgPort: ports.EPOS_PG_PORT,
    redisPort: ports.EPOS_REDIS_PORT,
    smtpPort: ports.EPOS_SMTP_PORT,
    conninfo: `host=127.0.0.1 port=${ports.EPOS_PG_PORT} user=postgres dbname=${db}`,
    mail: openMailbox(join(dir, "mail")),
    up: (...svcs) => call("up", svcs),
    down: (...svcs) => call("down", svcs),
    async destroy() {
      await call("down", []);
      rmSync(dir, { recursive: true, force: true });
    },
  };
  try {
    await call("up", services);
    if (services.includes("pg")) {
      const admin = `host=127.0.0.1 port=${ports.EPOS_PG_PORT} user=postgres dbname=postgres`;
      await psql(`CREATE DATABASE "${db}"`, [], { conninfo: admin });
      if (migrate) {
        const r = await ctl(["migrate"], { config: stack.conf });
        if (r.code !== 0) throw new Error(`eposctl migrate on the spare stack failed (${r.code}):\n${r.output}`);
      }
    }
  } catch (err) {
    await stack.destroy().catch(() => {});
    throw err;
  }
  return stack;
}

// ---- HTTP ----------------------------------------------------------------------------------------

/** One HTTP request. body: an object (sent as JSON), a string, or undefined.
 *  Resolves {status, json (null unless the reply is JSON), text, headers}. */
export async function http(method, url, body, token, { headers = {}, timeoutMs = 15000 } = {}) {
  const h = { ...headers };
  if (token) h.authorization = `Bearer ${token}`;
  let payload;
  if (body !== undefined && body !== null) {
    payload = typeof body === "string" || Buffer.isBuffer(body) ? body : JSON.stringify(body);
    h["content-type"] ??= "application/json";
  }
  let r, text;
  try {
    r = await fetch(url, { method, headers: h, body: payload, signal: AbortSignal.timeout(timeoutMs) });
    text = await r.text();
  } catch (err) {
    // fetch says only "fetch failed"; the cause names what happened.
    const c = err.cause;
    throw new Error(`${method} ${url}: ${c ? `${c.code || c.name}: ${c.message}` : err.message}`, { cause: err });
  }
  let json = null;
  try {
    json = text ? JSON.parse(text) : null;
  } catch {}
  return { status: r.status, json, text, headers: r.headers };
}

/** Send a raw HTTP/1.1 request text (for paths fetch would normalize);
 *  resolves {status, text} of the reply. */
export function rawHttp(port, requestText, { timeoutMs = 10000 } = {}) {
  return new Promise((res, rej) => {
    const sock = connect(port, "127.0.0.1");
    let data = "";
    const timer = setTimeout(() => sock.destroy(new Error("raw HTTP request timed out")), timeoutMs);
    sock.on("connect", () => sock.write(requestText));
    sock.on("data", (c) => {
      data += c.toString("latin1");
      const end = data.indexOf("\r\n\r\n");
      if (end < 0) return;
      const len = /\r\ncontent-length:\s*(\d+)/i.exec(data.slice(0, end));
      if (len && data.length >= end + 4 + Number(len[1])) sock.end();
    });
    sock.on("error", (e) => {
      clearTimeout(timer);
      rej(e);
    });
    sock.on("close", () => {
      clearTimeout(timer);
      const m = /^HTTP\/1\.[01] (\d{3})/.exec(data);
      res({ status: m ? Number(m[1]) : 0, text: Buffer.from(data, "latin1").toString("utf8") });
    });
  });
}

/** POST /api/login; resolves {token, user} or throws with the reply. */
export async function login(base, loginName, password) {
  const r = await http("POST", `${base}/api/login`, { login: loginName, password });
  if (r.status !== 200 || !r.json?.token) throw new Error(`login ${loginName}: HTTP ${r.status} ${r.text}`);
  return r.json;
}

// ---- WebSocket ---------------------------------------------------------------------------------

/** Shallow-recursive pattern match: every key of pattern equals (or matches) obj's. */
export function matches(obj, pattern) {
  if (typeof pattern === "function") return !!pattern(obj);
  if (pattern instanceof RegExp) return typeof obj === "string" && pattern.test(obj);
  if (pattern === null || typeof pattern !== "object") return obj === pattern;
  if (obj === null || typeof obj !== "object") return false;
  return Object.entries(pattern).every(([k, v]) => matches(obj[k], v));
}

function matcher(pred) {
  if (typeof pred === "function") return pred;
  if (typeof pred === "string") return (m) => m.op === pred;
  return (m) => matches(m, pred);
}

/** Open a WebSocket (subprotocol epos.v1) to url. With a token, send
 *  {"op":"auth","token",resume?} and await hello (client.hello), throwing on
 *  an error reply. The client: send(obj), next(pred, timeoutMs) resolves the
 *  next unconsumed message matching pred (a function, an op string, or an
 *  object pattern), drain(), ping() (a round trip: everything the hub queued
 *  before it has arrived), close(), closed (resolves {code, reason}), and
 *  frames (count of frames received; one frame may carry several messages). */
export async function wsConnect(url, token, { resume, protocol = "epos.v1", headers = {}, timeoutMs = 10000 } = {}) {
  const ws = new WebSocket(url, protocol, { headers, handshakeTimeout: timeoutMs });
  const queue = [];
  const waiters = [];
  let closeInfo = null;
  const client = { ws, frames: 0, hello: null };

  const closed = new Promise((res) => {
    ws.on("close", (code, reason) => {
      closeInfo = { code, reason: reason.toString() };
      for (const w of waiters.splice(0)) {
        clearTimeout(w.timer);
        w.reject(new Error(`connection closed (${code} ${closeInfo.reason}) while waiting for ${w.what}`));
      }
      res(closeInfo);
    });
  });
  ws.on("message", (data, isBinary) => {
    client.frames++;
    const text = data.toString();
    for (const line of text.split("\n")) {
      if (!line.trim()) continue;
      let msg;
      try {
        msg = JSON.parse(line);
      } catch {
        msg = { op: "__unparsable", raw: line, binary: isBinary };
      }
      const i = waiters.findIndex((w) => w.match(msg));
      if (i >= 0) {
        const [w] = waiters.splice(i, 1);
        clearTimeout(w.timer);
        w.resolve(msg);
      } else {
        queue.push(msg);
      }
    }
  });

  await new Promise((res, rej) => {
    ws.once("open", res);
    ws.once("error", rej);
    ws.once("unexpected-response", (req, resp) => rej(new Error(`WebSocket upgrade refused: HTTP ${resp.statusCode}`)));
  });
  ws.on("error", () => {}); // reported through close
  ws._socket?.unref(); // see keepAlive(): next() and closed hold the loop
  Object.defineProperty(client, "closed", { get: () => keepAlive(closed) });

  client.send = (obj) => ws.send(typeof obj === "string" ? obj : JSON.stringify(obj));
  client.next = (pred, ms = 10000) => {
    const match = matcher(pred);
    const what = typeof pred === "function" ? "a message matching the predicate" : JSON.stringify(pred);
    const i = queue.findIndex(match);
    if (i >= 0) return Promise.resolve(queue.splice(i, 1)[0]);
    if (closeInfo) return Promise.reject(new Error(`connection closed (${closeInfo.code}) before ${what}`));
    return new Promise((resolve, reject) => {
      const w = { match, resolve, reject, what };
      w.timer = setTimeout(() => {
        waiters.splice(waiters.indexOf(w), 1);
        reject(new Error(`no message ${what} within ${ms} ms; unconsumed: ${JSON.stringify(queue).slice(0, 2000)}`));
      }, ms);
      waiters.push(w);
    });
  };
  /** Every message received and not yet consumed by next(); empties the queue. */
  client.drain = () => queue.splice(0);
  client.ping = async (ms = 10000) => {
    client.send({ op: "ping" });
    return client.next("pong", ms);
  };
  client.close = async (code = 1000) => {
    if (!closeInfo) ws.close(code);
    return client.closed;
  };

  if (token) {
    client.send({ op: "auth", token, ...(resume ? { resume } : {}) });
    const reply = await client.next((m) => m.op === "hello" || m.op === "error", timeoutMs)
      .catch((err) => ({ op: "error", message: err.message }));
    if (reply.op !== "hello") {
      await client.close();
      throw new Error(`auth refused: ${JSON.stringify(reply)}`);
    }
    client.hello = reply;
  }
  return client;
}

// ---- the database -------------------------------------------------------------------------------

// psycopg2 (Debian's, in the system Python) runs the query: no npm dependency.
const PSQL_PY = String.raw`
import sys, json, re, datetime, decimal
import psycopg2, psycopg2.extras
req = json.load(sys.stdin)
def conv(v):
    if isinstance(v, (datetime.datetime, datetime.date, datetime.time)): return v.isoformat()
    if isinstance(v, datetime.timedelta): return v.total_seconds()
    if isinstance(v, decimal.Decimal): return int(v) if v == int(v) else float(v)
    if isinstance(v, (bytes, memoryview)): return bytes(v).hex()
    return str(v)
def param(v):
    return psycopg2.extras.Json(v) if isinstance(v, dict) else v
try:
    conn = psycopg2.connect(req["conninfo"])
    conn.autocommit = True
    cur = conn.cursor(cursor_factory=psycopg2.extras.RealDictCursor)
    sql = re.sub(r"\$(\d+)", r"%(p\1)s", req["sql"].replace("%", "%%"))
    cur.execute(sql, {"p%d" % (i + 1): param(v) for i, v in enumerate(req["params"])})
    rows = cur.fetchall() if cur.description else []
    json.dump({"rows": rows, "rowcount": cur.rowcount}, sys.stdout, default=conv)
except psycopg2.Error as e:
    json.dump({"error": (e.pgerror or str(e)).strip(), "pgcode": e.pgcode}, sys.stdout)
    sys.exit(1)
`;

/** Run one SQL statement on the test database (or opts.conninfo), in
 *  autocommit, with $1, $2 ... parameters (objects are sent as JSON).
 *  Resolves the rows as objects (dates as ISO text); throws with err.pgcode. */
export async function psql(sql, params = [], { conninfo = PG_CONNINFO } = {}) {
  if (!conninfo) throw new Error("psql: no conninfo (set EPOS_PG_CONNINFO or run scripts/test)");
  const r = await run("/usr/bin/python3", ["-c", PSQL_PY], { input: JSON.stringify({ conninfo, sql, params }) });
  let out;
  try {
    out = JSON.parse(r.stdout);
  } catch {
    throw new Error(`psql: ${r.output.trim()}`);
  }
  if (out.error) {
    const err = new Error(`psql: ${out.error}`);
    err.pgcode = out.pgcode;
    throw err;
  }
  return out.rows;
}

// ---- the demo region and mail -------------------------------------------------------------------

let demoCache = null;

/** users.json of the seeded demo region: {users, orgs, groups, children}. */
export function demoUsers() {
  demoCache ??= JSON.parse(readFileSync(env.EPOS_DEMO_USERS || join(VAR, "demo/users.json"), "utf8"));
  return demoCache;
}

/** The first demo user matching pred (a function or an object pattern,
 *  e.g. {role: "teacher"}); throws when none does. */
export function demoUser(pred) {
  const m = matcher(pred);
  const u = demoUsers().users.find((x) => m(x));
  if (!u) throw new Error(`no demo user matches ${typeof pred === "function" ? "the predicate" : JSON.stringify(pred)}`);
  return u;
}

/** The maildir of the test stack's SMTP server (see lib/mail.mjs). */
export function mailbox(dir = MAILDIR) {
  return openMailbox(dir);
}

/** Resolve when check() returns truthy; poll every intervalMs until timeoutMs.
 *  For states with no event to await (e.g. /readyz after a server stops). */
export async function until(check, { timeoutMs = 30000, intervalMs = 100, what = "the condition" } = {}) {
  const deadline = Date.now() + timeoutMs;
  let last;
  for (;;) {
    try {
      last = await check();
      if (last) return last;
    } catch (err) {
      last = err;
    }
    if (Date.now() > deadline) throw new Error(`${what} not reached within ${timeoutMs} ms (last: ${last})`);
    await new Promise((r) => setTimeout(r, intervalMs));
  }
}

// ---- the org's calendar: days off take no marks ---------------------------------------------------

/** The latest day on or before the org's today that its calendar makes a
 *  workday ('YYYY-MM-DD', within the timesheet's 31 days): marks written for
 *  it are accepted whatever the weekday the suite runs on. */
export async function workday(orgId) {
  const [{ d }] = await psql(
    "SELECT max(x)::date::text AS d FROM generate_series(epos_org_today($1) - 31, epos_org_today($1), interval '1 day') x " +
    "WHERE epos_is_workday($1, x::date)", [orgId]);
  if (!d) throw new Error(`org ${orgId} has no workday in the last 31 days`);
  return d;
}

/** An administrator opens a day of the org for marks (PUT /api/orgs/{id}/calendar/{date}
 *  {kind:"workday"}, so the calendar change runs as in production: notices covering it
 *  apply). Resolves a function that puts the day back as it was. base: a hub's URL. */
export async function openDay(base, orgId, day, adminToken) {
  const month = await http("GET", `${base}/api/orgs/${orgId}/calendar?month=${day.slice(0, 7)}`, undefined, adminToken);
  if (month.status !== 200) throw new Error(`calendar of org ${orgId}: ${month.status} ${month.text}`);
  const before = month.json.days.find((x) => x.date === day).kind;
  const r = await http("PUT", `${base}/api/orgs/${orgId}/calendar/${day}`, { kind: "workday" }, adminToken);
  if (r.status !== 200) throw new Error(`opening ${day} of org ${orgId}: ${r.status} ${r.text}`);
  return async () => {
    const back = await http("PUT", `${base}/api/orgs/${orgId}/calendar/${day}`, { kind: before }, adminToken);
    if (back.status !== 200) throw new Error(`closing ${day} of org ${orgId}: ${back.status} ${back.text}`);
  };
}
