// 20-queue.test.mjs -- the reliable queue: outbox rows run once, retries and dead letters with
// eposctl queue, kill -9 of a worker in the middle of a batch, a Redis restart; the worker's
// start-up refusals. On a spare stack of our own (we kill workers and restart its Redis).
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { writeFileSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import {
  BUILD_DIR, childEnv, freePort, http, psql, run, runToExit, startStack, startWorker, until,
} from "./lib/harness.mjs";

let stack;
before(async () => {
  stack = await startStack({ services: ["pg", "redis"] });
});
after(async () => {
  await stack?.destroy();
});

// Short claim delay and backoff so the fault tests finish in seconds.
const FAST = { EPOS_JOB_CLAIM_IDLE_MS: "1000", EPOS_JOB_BACKOFF_MS: "50" };

const sql = (q, params = []) => psql(q, params, { conninfo: stack.conninfo });
const worker = (env = {}) => startWorker({ config: stack.conf, env: { ...FAST, ...env } });
// eposctl queue ... on the spare stack; resolves {code, stdout, output}. (Its stdin
// is closed: a command that exits at once must not race a write to it.)
const queueCtl = (args) => new Promise((res) => {
  execFile(join(BUILD_DIR, "eposctl"), ["--config", stack.conf, "queue", ...args],
    { env: childEnv(), timeout: 60000 }, (err, stdout, stderr) => {
      res({ code: err ? (typeof err.code === "number" ? err.code : -1) : 0, stdout, output: stdout + stderr });
    });
});

/** Insert n test.mark outbox rows with payload; resolves their job ids "ob:<id>". */
async function enqueue(n, payload = {}) {
  const rows = await sql(
    "INSERT INTO outbox (kind, payload) SELECT 'test.mark', $1::jsonb FROM generate_series(1, $2::int) RETURNING id",
    [JSON.stringify(payload), n]);
  return rows.map((r) => `ob:${r.id}`);
}

/** The job_effects rows of these job ids. */
async function effects(ids) {
  return sql("SELECT job_id, runs FROM job_effects WHERE job_id = ANY($1::text[])", [ids]);
}

async function effectCount(ids) {
  const rows = await sql("SELECT count(*)::int AS n FROM job_effects WHERE job_id = ANY($1::text[])", [ids]);
  return rows[0].n;
}

async function awaitEffects(ids, what, timeoutMs = 60000) {
  return until(async () => (await effects(ids)).length === ids.length && (await effects(ids)),
    { what, timeoutMs });
}

/** One sample of the worker's /metrics, 0 when absent. */
async function metric(w, name, kind) {
  const text = (await http("GET", w.metricsUrl)).text;
  const line = text.split("\n").find((l) => l.startsWith(kind ? `${name}{kind="${kind}"} ` : `${name} `));
  return line ? Number(line.split(" ")[1]) : 0;
}

async function stats() {
  const r = await queueCtl(["stats", "--json"]);
  assert.equal(r.code, 0, r.output);
  return JSON.parse(r.stdout);
}

async function streamIdle(kind = "test.mark") {
  const s = (await stats()).streams.find((x) => x.kind === kind);
  return !s || (s.length === 0 && s.pending === 0);
}

async function outboxFinished(ids) {
  const rows = await sql(
    "SELECT count(*)::int AS n FROM outbox WHERE 'ob:' || id = ANY($1::text[]) AND relayed_at IS NOT NULL AND done_at IS NOT NULL",
    [ids]);
  return rows[0].n === ids.length;
}

test("outbox rows are relayed to the stream and each job runs exactly once, with two workers relaying", async () => {
  const w1 = await worker({ EPOS_INSTANCE: "one" });
  const w2 = await worker({ EPOS_INSTANCE: "two" });
  try {
    const ids = [];
    for (let i = 0; i < 5; i++) ids.push(...await enqueue(200));
    const rows = await awaitEffects(ids, "1000 job effects");
    assert.deepEqual(rows.filter((r) => r.runs !== 1), [], "no job ran twice without a fault");
    // A batch whose relayed mark was lost is leased again after the 30 s lease.
    await until(() => outboxFinished(ids), { what: "outbox rows marked relayed and done", timeoutMs: 70000 });
    await until(streamIdle, { what: "the test.mark stream empty, nothing pending" });
    const processed = (await metric(w1, "epos_jobs_processed_total", "test.mark")) +
      (await metric(w2, "epos_jobs_processed_total", "test.mark"));
    const relayed = (await metric(w1, "epos_outbox_relayed_total")) + (await metric(w2, "epos_outbox_relayed_total"));
    assert.equal(processed, ids.length);
    assert.equal(relayed, ids.length, "each row relayed by one worker");
    assert.equal(await metric(w1, "epos_jobs_in_flight", "test.mark"), 0);
    const m = (await http("GET", w1.metricsUrl)).text;
    for (const name of ["processed_total", "failed_total", "retried_total", "dead_total", "in_flight"])
      assert.match(m, new RegExp(`^epos_jobs_${name}\\{kind="noop"\\} \\d+$`, "m"));
    assert.match(m, /^epos_job_duration_seconds_sum\{kind="test\.mark"\} [0-9.]+$/m);
  } finally {
    await w1.stop();
    await w2.stop();
  }
});

test("a failing job is retried with backoff; a job that fails for good is dead, shown and replayed", async () => {
  const w = await worker({ EPOS_JOB_MAX_ATTEMPTS: "3" });
  try {
    // Fails twice, then works: attempt 3 of 3.
    const [flaky] = await enqueue(1, { fail: 2 });
    await awaitEffects([flaky], "the flaky job's effect");
    assert.equal(await metric(w, "epos_jobs_retried_total", "test.mark"), 2);

    // Needs a row that is missing: dead at once, with its error.
    const marker = `marker-${Date.now()}`;
    const [blocked] = await enqueue(1, { requires: marker });
    const dead = await until(async () => {
      const r = await queueCtl(["dead", "--json", "--limit", "50"]);
      return JSON.parse(r.stdout).find((d) => d.id === blocked);
    }, { what: "the job in the dead letters" });
    assert.equal(dead.kind, "test.mark");
    assert.equal(dead.attempt, 1);
    assert.match(dead.error, /required row is missing/);
    assert.deepEqual(JSON.parse(dead.payload), { requires: marker });
    assert.ok((await stats()).dead >= 1);
    const text = await queueCtl(["dead"]);
    assert.match(text.stdout, new RegExp(`${blocked}\\s+test\\.mark`));
    assert.equal((await effects([blocked])).length, 0);

    // Payloads in Cyrillic longer than the preview: one of the two cuts falls
    // inside a character (Ж is two bytes), and the text must stay UTF-8.
    const cyr = "Ж".repeat(300);
    const cut = await enqueue(1, { requires: `${marker}-${cyr}` });
    const cut2 = await enqueue(1, { requires: `${marker}--${cyr}` });
    await until(async () => {
      const d = JSON.parse((await queueCtl(["dead", "--json", "--limit", "50"])).stdout);
      return [...cut, ...cut2].every((id) => d.some((x) => x.id === id));
    }, { what: "the Cyrillic jobs in the dead letters" });
    const iconv = await new Promise((res) => {
      execFile("sh", ["-c", `"$0" --config "$1" queue dead --limit 50 | iconv -f utf-8 -t utf-8 >/dev/null`,
        join(BUILD_DIR, "eposctl"), stack.conf], { env: childEnv(), timeout: 60000 },
      (err, stdout, stderr) => res({ code: err ? err.code : 0, stderr }));
    });
    assert.equal(iconv.code, 0, `eposctl queue dead prints valid UTF-8: ${iconv.stderr}`);
    assert.match((await queueCtl(["dead"])).stdout, /payload: \{"requires": "marker-\d+-Ж+…/);

    // The operator fixes the cause and replays it: it runs once more and succeeds.
    await sql("INSERT INTO job_effects (job_id) VALUES ($1)", [marker]);
    const replay = await queueCtl(["replay", blocked]);
    assert.equal(replay.code, 0, replay.output);
    assert.match(replay.stdout, /replayed 1 job/);
    await awaitEffects([blocked], "the replayed job's effect");
    const after = JSON.parse((await queueCtl(["dead", "--json"])).stdout);
    assert.equal(after.find((d) => d.id === blocked), undefined, "no longer dead");
    assert.equal((await queueCtl(["replay", "ob:0"])).code, 1, "an unknown id is an error");
    assert.equal((await queueCtl(["bogus"])).code, 2);
  } finally {
    await w.stop();
  }
});

test("kill -9 of a worker in the middle of a batch: another finishes it, every effect exactly once", async (t) => {
  // 300 jobs of 50 ms, 4 at a time: about 4 s of work, killed after the first 20.
  const a = await worker({ EPOS_WORKER_CONCURRENCY: "4", EPOS_INSTANCE: "victim" });
  const ids = await enqueue(300, { sleep_ms: 50 });
  await until(async () => (await effectCount(ids)) >= 20, { what: "the first jobs done", intervalMs: 20 });
  a.kill("SIGKILL");
  await a.exited;
  const atKill = await effectCount(ids);
  assert.ok(atKill < ids.length, `killed in the middle (${atKill} of ${ids.length} done)`);

  const b = await worker({ EPOS_WORKER_CONCURRENCY: "16", EPOS_INSTANCE: "rescuer" });
  try {
    const rows = await awaitEffects(ids, "every job's effect after the kill");
    assert.equal(rows.length, ids.length);
    assert.equal(new Set(rows.map((r) => r.job_id)).size, ids.length, "one effect per job");
    const reruns = rows.filter((r) => r.runs > 1).length;
    t.diagnostic(`${atKill} done at the kill; ${reruns} jobs ran again after it (effects unchanged)`);
    await until(async () => (await sql(
      "SELECT count(*)::int AS n FROM outbox WHERE 'ob:' || id = ANY($1::text[]) AND relayed_at IS NULL",
      [ids]))[0].n === 0, { what: "every outbox row relayed" });
    await until(streamIdle, { what: "the victim's pending jobs claimed and acked" });
    // A job is acked only once its row is marked done, so no row the victim
    // finished stays relayed and not done (to run again if Redis lost its data).
    const undone = () => sql(
      "SELECT count(*)::int AS n FROM outbox WHERE 'ob:' || id = ANY($1::text[]) AND done_at IS NULL", [ids]);
    await until(async () => (await undone())[0].n === 0,
      { what: "every outbox row marked done", timeoutMs: 10000 }).catch(async (e) => {
      t.diagnostic(`${(await undone())[0].n} rows relayed, their jobs acked, and never marked done`);
      throw e;
    });
    assert.match(b.output(), /claimed job ob:\d+ \(test\.mark\) of a silent consumer/,
      "the rescuer took over the jobs the victim was running");
  } finally {
    await b.stop();
  }
});

test("Redis restarts without its data: the relay resumes and no job is lost", async (t) => {
  const w = await worker({ EPOS_WORKER_CONCURRENCY: "4" });
  try {
    const first = await enqueue(100, { sleep_ms: 40 }); // about 1 s of work
    await until(async () => (await effectCount(first)) >= 10, { what: "the first jobs done", intervalMs: 20 });
    await stack.down("redis");
    const during = await enqueue(50); // written while Redis is away
    await stack.up("redis");
    const ids = [...first, ...during];
    const rows = await awaitEffects(ids, "every job's effect after the Redis restart");
    assert.equal(rows.length, ids.length);
    t.diagnostic(`${rows.filter((r) => r.runs > 1).length} jobs ran again after the restart`);
    await until(() => outboxFinished(ids), { what: "every outbox row done" });
    await until(streamIdle, { what: "the stream empty after the restart" });
    for (const l of w.output().split("\n").filter((x) => /relay|Redis/.test(x))) t.diagnostic(l);
    assert.match(w.output(), /Redis lost its data; [1-9]\d* unfinished outbox jobs relayed again/);
  } finally {
    await w.stop();
  }
});

test("epos-worker refuses a bad config and an unreachable database with one line, exit 1", async () => {
  const dir = mkdtempSync(join(tmpdir(), "epos-worker-"));
  try {
    const bad = join(dir, "bad.conf");
    writeFileSync(bad, "worker_concurrency = lots\n");
    const r1 = await runToExit(join(BUILD_DIR, "epos-worker"), ["--config", bad]);
    assert.equal(r1.code, 1);
    assert.equal(r1.output.trim().split("\n").length, 1, r1.output);
    assert.match(r1.output, /worker_concurrency/);

    const port = await freePort(); // nothing listens there
    const r2 = await runToExit(join(BUILD_DIR, "epos-worker"), ["--config", stack.conf], {
      env: { EPOS_PG_CONNINFO: `host=127.0.0.1 port=${port} user=postgres dbname=epos connect_timeout=2` },
    });
    assert.equal(r2.code, 1, r2.output);
    const errors = r2.output.split("\n").filter((l) => / error /.test(l));
    assert.equal(errors.length, 1, r2.output);
    assert.match(errors[0], new RegExp(`cannot reach PostgreSQL \\(host=127\\.0\\.0\\.1 port=${port}`));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("redis-cli sees the documented keys", async () => {
  const r = await run("redis-cli", ["-p", String(stack.redisPort), "--scan", "--pattern", "epos:*"]);
  const keys = r.stdout.split("\n").filter(Boolean);
  assert.ok(keys.includes("epos:jobs:test.mark"), keys.join(" "));
  assert.ok(keys.includes("epos:epoch"), keys.join(" "));
});
