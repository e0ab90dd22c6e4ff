// 00-stack.test.mjs -- the hub's operational surface: health, readiness that follows
// PostgreSQL, metrics, static files, clean SIGTERM, and refusing to start on bad
// configuration or without a database; the worker starts and stops cleanly.
import { test } from "node:test";
import assert from "node:assert/strict";
import { readdirSync, readFileSync, statSync, writeFileSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import {
  BUILD_DIR, CONF, ROOT, config, freePort, http, rawHttp, runToExit, startHub, startStack,
  startWorker, until,
} from "./lib/harness.mjs";

const HUB = join(BUILD_DIR, "epos-hub");

function lines(text) {
  return text.split("\n").map((l) => l.trim()).filter(Boolean);
}

// A file the hub must serve from web_root: index.html when there is one.
function someStaticFile() {
  const root = config.web_root || join(ROOT, "web");
  let names = [];
  try {
    names = readdirSync(root).filter((n) => !n.startsWith(".") && statSync(join(root, n)).isFile());
  } catch {}
  const name = names.includes("index.html") ? "index.html" : names.sort()[0];
  return name ? { name, body: readFileSync(join(root, name)) } : null;
}

test("a hub answers /healthz, /readyz, /metrics and serves web/; SIGTERM exits 0", async (t) => {
  const hub = await startHub();
  try {
    assert.equal((await http("GET", `${hub.url}/healthz`)).status, 200);
    const ready = await until(async () => (await http("GET", `${hub.url}/readyz`)).status === 200,
      { what: "/readyz 200 on the test stack" });
    assert.ok(ready);

    const m = await http("GET", `${hub.url}/metrics`);
    assert.equal(m.status, 200);
    assert.match(m.headers.get("content-type") || "", /^text\/plain/);
    assert.match(m.text, /^# TYPE [a-z_:][a-z0-9_:]* (counter|gauge|histogram|summary|untyped)$/m);
    assert.match(m.text, /^[a-z_:][a-z0-9_:]*(\{[^}]*\})? -?[0-9.e+]+$/m, "at least one sample line");

    const file = someStaticFile();
    if (!file) {
      t.diagnostic("web/ has no files yet: static serving not checked");
    } else {
      const r = await fetch(`${hub.url}/${file.name}`);
      assert.equal(r.status, 200, `GET /${file.name}`);
      assert.deepEqual(Buffer.from(await r.arrayBuffer()), file.body, `/${file.name} is served as on disk`);
      if (file.name === "index.html") {
        const root = await fetch(`${hub.url}/`);
        assert.equal(root.status, 200);
        assert.match(root.headers.get("content-type") || "", /^text\/html/);
        await root.arrayBuffer();
      }
    }
    // Nothing outside web_root is reachable, however the path is spelled.
    for (const path of ["/../CMakeLists.txt", "/%2e%2e/CMakeLists.txt", "/..%2fCMakeLists.txt"]) {
      const r = await rawHttp(hub.port, `GET ${path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n`);
      assert.ok(!(r.status === 200 && r.text.includes("cmake_minimum_required")), `${path} must not leave web_root`);
    }
    assert.equal((await http("GET", `${hub.url}/no-such-file-${Date.now()}.txt`)).status, 404);
  } finally {
    await hub.stop(); // asserts exit code 0
  }
});

test("/readyz turns 503 while PostgreSQL is down and 200 when it is back, without a restart", async () => {
  // A spare stack of our own: stopping the shared test database would break other tests.
  const stack = await startStack({ services: ["pg", "redis"] });
  let hub;
  try {
    hub = await startHub({ config: stack.conf });
    const readyz = async () => (await http("GET", `${hub.url}/readyz`)).status;
    await until(async () => (await readyz()) === 200, { what: "/readyz 200" });

    await stack.down("pg");
    await until(async () => (await readyz()) === 503, { what: "/readyz 503 with PostgreSQL stopped" });
    assert.equal((await http("GET", `${hub.url}/healthz`)).status, 200, "/healthz stays 200: the process is up");

    await stack.up("pg");
    await until(async () => (await readyz()) === 200, { timeoutMs: 60000, what: "/readyz 200 after PostgreSQL is back" });
    assert.equal(hub.exitStatus(), null, "the same hub process throughout");
    await hub.stop();
    hub = null;
  } finally {
    if (hub) await hub.stop({ expectCode: null });
    await stack.destroy();
  }
});

test("two hubs share one port (SO_REUSEPORT), and either serves it alone", async () => {
  const a = await startHub();
  let b;
  try {
    b = await startHub({ port: a.port });
    // /healthz may have been answered by the first hub: wait for the second's own word.
    await until(() => /listening on/.test(b.output()), { what: "the second hub listening" });
    assert.equal(b.exitStatus(), null, "the second hub is listening on the same port");
    await a.stop();
    assert.equal((await http("GET", `${b.url}/healthz`)).status, 200, "the other hub still serves the port");
    await b.stop();
    b = null;
  } finally {
    if (!a.exitStatus()) await a.stop({ expectCode: null });
    if (b) await b.stop({ expectCode: null });
  }
});

test("a bad config value stops the hub at start-up with one line naming it", async () => {
  const dir = mkdtempSync(join(tmpdir(), "epos-conf-"));
  try {
    const bad = join(dir, "bad.conf");
    writeFileSync(bad, readFileSync(CONF, "utf8") + "\nport = not-a-port\n");
    const r = await runToExit(HUB, ["--config", bad]);
    assert.notEqual(r.code, 0, "exit code");
    assert.equal(r.signal, null, "no crash");
    const out = lines(r.output);
    assert.equal(out.length, 1, `one line, got:\n${r.output}`);
    assert.match(out[0], /port/);

    const e = await runToExit(HUB, ["--config", CONF], { env: { EPOS_MAX_FRAME: "lots" } });
    assert.notEqual(e.code, 0, "exit code");
    assert.equal(e.signal, null, "no crash");
    const eout = lines(e.output);
    assert.equal(eout.length, 1, `one line, got:\n${e.output}`);
    assert.match(eout[0], /EPOS_MAX_FRAME|max_frame/);

    const missing = await runToExit(HUB, ["--config", join(dir, "nope.conf")]);
    assert.notEqual(missing.code, 0);
    assert.match(lines(missing.output).join("\n"), /nope\.conf/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("an unreachable database at start-up gives one clear line and a non-zero exit", async () => {
  const port = await freePort(); // nothing listens there
  const r = await runToExit(HUB, ["--config", CONF], {
    env: { EPOS_PG_CONNINFO: `host=127.0.0.1 port=${port} user=postgres dbname=epos connect_timeout=2` },
  });
  assert.notEqual(r.code, 0, "exit code");
  assert.equal(r.signal, null, "no crash");
  assert.doesNotMatch(r.output, /Sanitizer/);
  const out = lines(r.output);
  assert.ok(out.length >= 1, "says why");
  assert.match(out[out.length - 1], /PostgreSQL/i, `the last line names the database:\n${r.output}`);
});

test("a worker starts, serves /metrics and stops cleanly on SIGTERM", async () => {
  const worker = await startWorker();
  try {
    const m = await http("GET", worker.metricsUrl);
    assert.equal(m.status, 200);
    assert.match(m.text, /^# TYPE /m);
  } finally {
    await worker.stop();
  }
});
