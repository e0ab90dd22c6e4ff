// 60-admin: every process has its own admin port (/metrics, /healthz, /readyz)
// even when hubs share the public port; every /metrics passes
// `promtool check metrics` and carries the latency histograms operations
// rely on (HTTP by route, delivery lag, PostgreSQL, jobs by kind, SMTP).
import { test, after } from "node:test";
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { randomUUID } from "node:crypto";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import {
  BUILD_DIR, CONF, ROOT, demoUser, freePort, http, login, psql, runToExit, spawnProcess, startHub, startWorker,
  until, wsConnect,
} from "./lib/harness.mjs";

const HUB = join(BUILD_DIR, "epos-hub");
const open = [];
after(async () => {
  for (const p of open.reverse()) await p.stop({ expectCode: null }).catch(() => {});
});

/** promtool check metrics on text: resolves {code, output}. */
function promtool(text) {
  return new Promise((res) => {
    const p = execFile("promtool", ["check", "metrics"], { timeout: 30000 }, (err, stdout, stderr) =>
      res({ code: err ? (typeof err.code === "number" ? err.code : -1) : 0, output: stdout + stderr }));
    p.stdin.end(text);
  });
}

/** The value of one sample line (exact name and labels), or undefined. */
function sample(text, series) {
  const line = text.split("\n").find((l) => l.startsWith(`${series} `));
  return line === undefined ? undefined : Number(line.slice(series.length + 1));
}

async function scrape(url) {
  const r = await http("GET", `${url}/metrics`);
  assert.equal(r.status, 200, `${url}/metrics`);
  assert.match(r.headers.get("content-type") || "", /^text\/plain; version=0\.0\.4/);
  return r.text;
}

test("two hubs on one public port and a worker: each scraped on its own admin port, all pass promtool", async () => {
  const a = await startHub();
  open.push(a);
  const b = await startHub({ port: a.port });
  open.push(b);
  const w = await startWorker();
  open.push(w);
  assert.notEqual(a.adminPort, b.adminPort);

  // Traffic on hub A's admin-visible counters: a login (HTTP by route), a chat
  // message delivered live (delivery lag, PostgreSQL), a job (duration by kind).
  const P = demoUser((u) => u.role === "parent" && u.login === "parent1");
  const T = demoUser((u) => u.role === "teacher" && u.group_ids.includes(P.group_ids[0]));
  const tp = (await login(a.url, P.login, P.password)).token;
  const tt = (await login(a.url, T.login, T.password)).token;
  const chat = (await http("POST", `${a.url}/api/chats`, { with: T.id }, tp)).json.chat;
  const rx = await wsConnect(a.wsUrl, tt);
  await rx.next("resumed");
  const tx = await wsConnect(a.wsUrl, tp);
  await tx.next("resumed");
  const cid = randomUUID();
  tx.send({ op: "send", chat: chat.id, text: "метрики", cid });
  await tx.next((m) => m.op === "ack" && m.cid === cid);
  await rx.next((m) => m.op === "event" && m.type === "chat.message" && m.data.cid === cid);
  await tx.close();
  await rx.close();
  const [job] = await psql("INSERT INTO outbox (kind, payload) VALUES ('test.mark', '{}') RETURNING id");
  await until(async () => (await psql("SELECT 1 FROM job_effects WHERE job_id = $1", [`ob:${job.id}`])).length === 1,
    { what: "the test.mark job done" });

  const texts = {};
  for (const [name, url] of [["hub A", a.adminUrl], ["hub B", b.adminUrl], ["worker", w.adminUrl]]) {
    const text = await scrape(url);
    const check = await promtool(text);
    assert.equal(check.code, 0, `promtool check metrics on ${name}:\n${check.output}`);
    for (const path of ["/healthz", "/readyz"])
      assert.equal((await http("GET", `${url}${path}`)).status, 200, `${name} ${path}`);
    texts[name] = text;
  }
  // The kernel spread the requests between the two hubs; each counts only its
  // own, so the two scrapes add up to what was done.
  const both = (series) => ["hub A", "hub B"].reduce((n, h) => n + (sample(texts[h], series) ?? 0), 0);
  assert.equal(both('epos_http_request_duration_seconds_count{method="POST",route="/api/login"}'), 2,
    "two logins, timed once each, under their route");
  assert.equal(both('epos_http_request_duration_seconds_bucket{method="POST",route="/api/chats",le="+Inf"}'), 1,
    "routes are labelled by pattern");
  assert.ok(both("epos_event_delivery_lag_seconds_count") >= 1, "delivery lag observed");
  assert.ok(both("epos_pg_query_seconds_count") >= 3, "query time observed");
  assert.ok(sample(texts.worker, 'epos_job_duration_seconds_count{kind="test.mark"}') >= 1, "job duration by kind");
  assert.match(texts.worker, /^# TYPE epos_smtp_session_seconds histogram$/m);
  assert.match(texts.worker, /^# TYPE epos_pg_query_seconds histogram$/m);

  // Each admin port is its own process: stop A, B's still answers.
  await a.stop();
  await assert.rejects(fetch(`${a.adminUrl}/healthz`), "A's admin port is gone with A");
  assert.equal((await http("GET", `${b.adminUrl}/healthz`)).status, 200);
});

test("admin_port 0 takes a free port and logs it; a bad admin_host stops the hub with one line", async () => {
  const p = spawnProcess(HUB, ["--config", CONF],
    { env: { EPOS_PORT: String(await freePort()), EPOS_ADMIN_PORT: "0" }, name: "hub-admin0" });
  try {
    const m = await until(() => /admin port 127\.0\.0\.1:(\d+)/.exec(p.output()), { what: "the admin port logged" });
    const port = Number(m[1]);
    assert.ok(port > 0);
    const r = await http("GET", `http://127.0.0.1:${port}/metrics`);
    assert.equal(r.status, 200);
    assert.equal((await promtool(r.text)).code, 0);
  } finally {
    p.expectExit = true;
    p.proc.kill("SIGTERM");
    await p.exited;
  }
  const bad = await runToExit(HUB, ["--config", CONF], { env: { EPOS_ADMIN_HOST: "not-an-address" } });
  assert.notEqual(bad.code, 0);
  assert.equal(bad.signal, null);
  assert.match(bad.output.trim().split("\n").pop(), /admin_host/);
});

test("deploy/prometheus.yml and its alert rules pass promtool", async () => {
  const r = await runToExit("promtool", ["check", "config", join(ROOT, "deploy/prometheus.yml")]);
  assert.equal(r.code, 0, r.output);
  const d = JSON.parse(readFileSync(join(ROOT, "deploy/grafana-epos.json"), "utf8"));
  assert.ok(d.panels.length > 0 && d.panels.every((p) => p.targets.every((t) => t.expr)), "every panel has a query");
});
