// 17-ratelimit: token buckets on the HTTP API (per user, per address, per API key: 429 with
// Retry-After), guesses of the old password through POST /api/password, and the login's
// defences: one normalization of the login for lookup and counter, progressive delays per
// login and address, a per-address budget, and no free guesses while Redis is down.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { request } from "node:http";
import { startHub, startStack, http, login, ctl, run, config, until, demoUser } from "./lib/harness.mjs";

const FAIL_MAX = 3;
let hub;

before(async () => {
  hub = await startHub({ env: { EPOS_LOGIN_FAIL_MAX: String(FAIL_MAX) } });
});

after(async () => {
  await hub?.stop();
});

const redisCli = ["-h", config.redis_host || "127.0.0.1", "-p", String(config.redis_port || 16379)];

/** One HTTP request from a chosen loopback source address (the hub sees it as
 *  the client's address). Resolves {status, json, text, retryAfter}. */
function httpFrom(addr, method, url, body, token, headers = {}) {
  return new Promise((resolve, reject) => {
    const payload = body === undefined ? undefined : JSON.stringify(body);
    const h = { ...headers, connection: "close" };
    if (token) h.authorization = `Bearer ${token}`;
    if (payload !== undefined) {
      h["content-type"] = "application/json";
      h["content-length"] = Buffer.byteLength(payload);
    }
    const req = request(url, { method, headers: h, localAddress: addr, agent: false }, (res) => {
      let text = "";
      res.setEncoding("utf8");
      res.on("data", (c) => (text += c));
      res.on("end", () => {
        let json = null;
        try {
          json = JSON.parse(text);
        } catch {}
        const ra = res.headers["retry-after"];
        resolve({ status: res.statusCode, json, text, retryAfter: ra === undefined ? null : ra });
      });
    });
    req.on("error", reject);
    req.end(payload);
  });
}

async function freshUser(tag) {
  const name = `${tag}-${process.pid}-${Date.now()}`;
  const r = await ctl(["user", "add", "--login", name, "--name", "Тестовый Пользователь",
    "--email", `${name}@example.test`]);
  assert.equal(r.code, 0, r.output);
  return { login: name, password: /password: (\S+)/.exec(r.stdout)[1] };
}

/** A 429 as the protocol promises it: rate_limited, Retry-After in whole seconds >= 1. */
function assertLimited(r, what) {
  assert.equal(r.status, 429, `${what}: ${r.status} ${r.text}`);
  assert.equal(r.json?.error?.code, "rate_limited", what);
  assert.match(String(r.retryAfter), /^[1-9][0-9]*$/, `${what}: Retry-After ${r.retryAfter}`);
}

async function metric(base, name) {
  const m = await http("GET", `${base}/metrics`);
  return Number(new RegExp(`^${name} (\\d+)`, "m").exec(m.text)?.[1] ?? 0);
}

test("POST /api/password: wrong old passwords are limited like logins", async () => {
  const name = `pwguess-${process.pid}-${Date.now()}`;
  const r = await ctl(["user", "add", "--login", name, "--name", "Тестовый Пользователь",
    "--email", `${name}@example.test`]);
  assert.equal(r.code, 0, r.output);
  const password = /password: (\S+)/.exec(r.stdout)[1];
  const { token, user } = await login(hub.url, name, password);
  const change = (old) => http("POST", `${hub.url}/api/password`,
    { old_password: old, new_password: "совсем-новый-пароль" }, token);
  for (let i = 0; i < FAIL_MAX; i++) assert.equal((await change(`неверный-${i}`)).status, 403);
  const limited = await change(password);
  assert.equal(limited.status, 429, limited.text);
  assert.equal(limited.json.error.code, "rate_limited");
  assert.match(limited.headers.get("retry-after") ?? "", /^[1-9][0-9]*$/);
  // Once the window is over (here: the counter cleared) the right password works again.
  await run("redis-cli", [...redisCli, "DEL", `epos:pwfail:${user.id}`]);
  assert.equal((await change(password)).status, 200);
});

test("HTTP API: one user's requests are limited by a token bucket; others go on", async () => {
  const h = await startHub({ env: { EPOS_HTTP_USER_RATE: "1", EPOS_HTTP_USER_BURST: "5" } });
  try {
    const a = await freshUser("bucket-a"), b = await freshUser("bucket-b");
    const ta = (await login(h.url, a.login, a.password)).token;
    const tb = (await login(h.url, b.login, b.password)).token;
    const before = await metric(h.url, "epos_http_rate_limited_total");
    const tries = await Promise.all(Array.from({ length: 20 },
      () => httpFrom("127.0.0.1", "GET", `${h.url}/api/me`, undefined, ta)));
    const ok = tries.filter((r) => r.status === 200).length;
    const limited = tries.filter((r) => r.status === 429);
    // The burst, and at most what the bucket refilled meanwhile (1 per second).
    assert.ok(ok >= 5 && limited.length >= 10, `200: ${ok}, 429: ${limited.length}`);
    for (const r of limited) assertLimited(r, "GET /api/me over the user's budget");
    // Another user from the same address has a bucket of their own.
    assert.equal((await http("GET", `${h.url}/api/me`, undefined, tb)).status, 200);
    // Writes count too: chat sends over HTTP are not a way around the WebSocket's limit.
    const sends = await Promise.all(Array.from({ length: 10 },
      () => httpFrom("127.0.0.1", "POST", `${h.url}/api/chats/1/messages`, { text: "x" }, ta)));
    assert.ok(sends.filter((r) => r.status === 429).length >= 5, sends.map((r) => r.status).join(","));
    assert.ok(await metric(h.url, "epos_http_rate_limited_total") >= before + 15);
  } finally {
    await h.stop();
  }
});

test("HTTP API: an address is limited whether signed in or not; static files and other addresses are not", async () => {
  const h = await startHub({ env: { EPOS_HTTP_ADDR_RATE: "1", EPOS_HTTP_ADDR_BURST: "5" } });
  try {
    const tries = await Promise.all(Array.from({ length: 20 },
      () => httpFrom("127.0.0.2", "GET", `${h.url}/api/nowhere`)));
    const limited = tries.filter((r) => r.status === 429);
    assert.ok(limited.length >= 10, tries.map((r) => r.status).join(","));
    for (const r of limited) assertLimited(r, "an address over its budget");
    // A login from that address is refused before any password is checked.
    assertLimited(await httpFrom("127.0.0.2", "POST", `${h.url}/api/login`, { login: "x", password: "y" }),
      "a login from an address over its budget");
    // The web client's files are not API requests.
    assert.equal((await httpFrom("127.0.0.2", "GET", `${h.url}/`)).status, 200);
    assert.equal((await httpFrom("127.0.0.2", "GET", `${h.url}/healthz`)).status, 200);
    // Another address has its own budget.
    assert.equal((await httpFrom("127.0.0.3", "GET", `${h.url}/api/nowhere`)).status, 404);
  } finally {
    await h.stop();
  }
});

test("HTTP API: POST /api/publish is limited per API key", async () => {
  const h = await startHub({ env: { EPOS_HTTP_KEY_RATE: "1", EPOS_HTTP_KEY_BURST: "3" } });
  try {
    const headers = { authorization: `ApiKey ${config.api_key}` };
    const body = { type: "test.bucket", data: {}, users: [demoUser({ role: "parent" }).id] };
    const tries = await Promise.all(Array.from({ length: 12 },
      () => httpFrom("127.0.0.1", "POST", `${h.url}/api/publish`, body, null, headers)));
    const limited = tries.filter((r) => r.status === 429);
    assert.ok(limited.length >= 6, tries.map((r) => `${r.status}`).join(","));
    for (const r of limited) assertLimited(r, "publish over the key's budget");
  } finally {
    await h.stop();
  }
});

test("login: the counter and the lookup fold the login alike (İ, Kelvin K)", async () => {
  const h = await startHub({ env: { EPOS_LOGIN_FAIL_MAX: "2", EPOS_LOGIN_DELAY_S: "600" } });
  try {
    const u = await freshUser("kit");
    const variants = [u.login.replace("kit", "k\u0130t"), u.login.replace("kit", "\u212Ait")];
    for (const v of variants) {
      const r = await httpFrom("127.0.0.6", "POST", `${h.url}/api/login`, { login: v, password: "wrong-password" });
      assert.equal(r.status, 401, `${v}: ${r.text}`);
    }
    // Both failures hit one counter: the right password now waits, whichever spelling.
    const r = await httpFrom("127.0.0.6", "POST", `${h.url}/api/login`,
      { login: ` ${u.login.replace("kit", "KİT")} `, password: u.password });
    assertLimited(r, "a third spelling of the same login");
  } finally {
    await h.stop();
  }
});

test("login: failures buy progressive delays for that login from that address, not a lockout", async () => {
  const h = await startHub({ env: { EPOS_LOGIN_FAIL_MAX: "2", EPOS_LOGIN_DELAY_S: "1" } });
  try {
    const u = await freshUser("delay");
    const attempt = () => httpFrom("127.0.0.7", "POST", `${h.url}/api/login`, { login: u.login, password: "wrong-password" });
    const first = await attempt();
    assert.equal(first.status, 401, first.text);
    assert.equal(first.retryAfter, null, "the first failures are free");
    // From the last free failure on, each failure says how long the next attempt waits: 1, 2, 4 s.
    let wait = 1;
    for (let i = 0; i < 3; i++, wait *= 2) {
      const r = await attempt();
      assert.equal(r.status, 401, `failure ${i + 2} was verified: ${r.text}`);
      assert.equal(r.retryAfter, String(wait), `failure ${i + 2}`);
      await new Promise((res) => setTimeout(res, wait * 1000));
    }
    // The wait is over: the right password logs in.
    const ok = await httpFrom("127.0.0.7", "POST", `${h.url}/api/login`, { login: u.login, password: u.password });
    assert.equal(ok.status, 200, ok.text);
  } finally {
    await h.stop();
  }
});

test("login: a stranger's failures from one address do not lock the owner out from another", async () => {
  const h = await startHub({ env: { EPOS_LOGIN_FAIL_MAX: "3", EPOS_LOGIN_DELAY_S: "600" } });
  try {
    const u = await freshUser("owner");
    const codes = [];
    for (let i = 0; i < 8; i++) {
      codes.push((await httpFrom("127.0.0.2", "POST", `${h.url}/api/login`,
        { login: u.login, password: `guess-${i}` })).status);
    }
    assert.deepEqual(codes, [401, 401, 401, 429, 429, 429, 429, 429]);
    // Refused tries were not verified and did not extend anything; the owner elsewhere is fine.
    const owner = await httpFrom("127.0.0.3", "POST", `${h.url}/api/login`, { login: u.login, password: u.password });
    assert.equal(owner.status, 200, owner.text);
  } finally {
    await h.stop();
  }
});

test("login: one address cannot spray guesses over many logins (login_addr_fail_max)", async () => {
  const h = await startHub({ env: { EPOS_LOGIN_ADDR_FAIL_MAX: "5" } });
  try {
    const codes = [];
    for (let i = 0; i < 7; i++) {
      const r = await httpFrom("127.0.0.4", "POST", `${h.url}/api/login`,
        { login: `spray-${process.pid}-${i}`, password: "guess" });
      codes.push(r.status);
      if (r.status === 429) assertLimited(r, `spray ${i}`);
    }
    assert.deepEqual(codes, [401, 401, 401, 401, 401, 429, 429]);
    const other = await httpFrom("127.0.0.5", "POST", `${h.url}/api/login`, { login: `spray-${process.pid}-0`, password: "guess" });
    assert.equal(other.status, 401, "another address has its own budget");
  } finally {
    await h.stop();
  }
});

test("login: while Redis is down no password is checked (503 + Retry-After), after it logins work", async () => {
  const spare = await startStack({ services: ["redis"] });
  let h;
  try {
    h = await startHub({ env: { EPOS_REDIS_PORT: String(spare.redisPort) } });
    const u = await freshUser("noredis");
    await spare.down("redis");
    await until(async () => (await http("GET", `${h.url}/readyz`)).status === 503, { what: "the hub notices Redis is gone" });
    const codes = [];
    for (let i = 0; i < 20; i++) {
      const r = await http("POST", `${h.url}/api/login`, { login: u.login, password: `guess-${i}` });
      codes.push(r.status);
      if (r.status === 503) assert.match(r.headers.get("retry-after") ?? "", /^[1-9][0-9]*$/);
    }
    assert.deepEqual([...new Set(codes)], [503], `no guess may be verified: ${codes}`);
    await spare.up("redis");
    await until(async () => (await http("GET", `${h.url}/readyz`)).status === 200, { what: "Redis back" });
    await login(h.url, u.login, u.password);
  } finally {
    await h?.stop();
    await spare.destroy();
  }
});
