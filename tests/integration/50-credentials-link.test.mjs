// 50-credentials-link: first-login credentials are a one-time set-password link. No secret rests
// in PostgreSQL, the outbox, the Redis streams, the retry set, the dead letters or a log; the link
// works once, not after it expired or was replaced; issuing twice in a row mails once; a dead
// credentials mail is replayed without printing a secret and brings a working link.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { execFile } from "node:child_process";
import { promisify } from "node:util";
import {
  config, ctl, demoUsers, demoUser, http, login, mailbox, psql, startHub, startWorker, until,
} from "./lib/harness.mjs";

const demo = demoUsers();
const KG = demo.orgs.find((o) => o.kind === "kindergarten");
const SCHOOL = demo.orgs.find((o) => o.id !== KG.id);
const ADMIN = demoUser({ role: "admin", org_id: KG.id });
const OTHER_ADMIN = demoUser({ role: "admin", org_id: SCHOOL.id });
const TEACHER = demoUser({ role: "teacher", org_id: KG.id });
const NEW_PASSWORD = "Своё-Слово-2026";

let hub, worker, adminTok;
const mail = mailbox();

before(async () => {
  mail.ok();
  hub = await startHub();
  // Fast retries: a refused mail is dead after its first attempt anyway.
  worker = await startWorker({ env: { EPOS_JOB_BACKOFF_MS: "200" } });
  adminTok = (await login(hub.url, ADMIN.login, ADMIN.password)).token;
});

after(async () => {
  mail.ok();
  await worker?.stop();
  await hub?.stop();
});

const api = (method, path, body, token) => http(method, `${hub.url}${path}`, body, token);
const issue = (staff, token = adminTok) => api("POST", `/api/staff/${staff.id}/credentials`, {}, token);
const setPassword = (token, password = NEW_PASSWORD) => api("POST", "/api/password/set", { token, password });
const sha256 = (s) => createHash("sha256").update(s).digest("hex");

/** A new staff member of the kindergarten with an address of their own and a password of their own. */
async function freshStaff(tag) {
  const name = `cred-${tag}-${process.pid}-${Date.now()}`;
  const email = `${name}@example.test`;
  const r = await ctl(["user", "add", "--login", name, "--name", "Новая Сотрудница", "--email", email,
    "--role", "teacher", "--org", String(KG.id)]);
  assert.equal(r.code, 0, r.output);
  const [u] = await psql("SELECT id FROM users WHERE login = $1", [name]);
  return { id: Number(u.id), login: name, email, password: /password: (\S+)/.exec(r.stdout)?.[1] };
}

/** The token of the set-password link in a credentials mail. */
function linkToken(m) {
  const link = /(\S+)#\/set-password\?t=([A-Za-z0-9_-]+)/.exec(m.text || "");
  assert.ok(link, `the mail carries a set-password link:\n${m.text}`);
  assert.ok(link[1].startsWith(config.public_url.replace(/\/$/, "")), link[1]);
  return link[2];
}

// execFile, not run(): redis-cli never reads stdin and may exit before run() ends it (EPIPE).
const redis = (...args) => promisify(execFile)("redis-cli",
  ["-h", config.redis_host || "127.0.0.1", "-p", String(config.redis_port || 6379), "--no-raw", ...args],
  { maxBuffer: 64 << 20 });

/** Everything the queue holds in Redis now: every job stream, the retry set, the dead letters. */
async function redisText() {
  const keys = (await redis("--scan", "--pattern", "epos:*")).stdout.split("\n").map((k) => k.replace(/^"|"$/g, ""))
    .filter(Boolean);
  let text = "";
  for (const key of keys) {
    const type = (await redis("TYPE", key)).stdout.trim();
    if (type === "stream") text += (await redis("XRANGE", key, "-", "+")).stdout;
    else if (type === "zset") text += (await redis("ZRANGE", key, "0", "-1")).stdout;
    else if (type === "string") text += (await redis("GET", key)).stdout;
    else if (type === "hash") text += (await redis("HGETALL", key)).stdout;
    else if (type === "list") text += (await redis("LRANGE", key, "0", "-1")).stdout;
  }
  // Finished jobs leave the streams (ack and delete): the keys themselves prove the scan ran.
  assert.ok(keys.includes("epos:jobs:email.notify"), `the scan saw the mail stream: ${keys.join(" ")}`);
  return text;
}

/** The (table.column) of every text or JSON column of the database holding needle. */
async function columnsHolding(needle) {
  const cols = await psql(
    "SELECT table_name AS t, column_name AS c FROM information_schema.columns c " +
    "JOIN information_schema.tables t USING (table_schema, table_name) " +
    "WHERE table_schema = 'public' AND t.table_type = 'BASE TABLE' " +
    "AND data_type IN ('text', 'jsonb', 'json', 'character varying', 'bytea')");
  const found = [];
  for (const { t, c } of cols) {
    const [r] = await psql(`SELECT count(*)::int AS n FROM "${t}" WHERE strpos("${c}"::text, $1) > 0`, [needle]);
    if (r.n) found.push(`${t}.${c}`);
  }
  return found;
}

/** The email.notify outbox rows queued for a user. */
const outboxOf = (uid) => psql(
  "SELECT id, payload FROM outbox WHERE kind = 'email.notify' AND (payload->>'user_id')::bigint = $1 ORDER BY id",
  [uid]);

test("issuing credentials mails a one-time link; the token rests nowhere but in the mail", async () => {
  const staff = await freshStaff("link");
  const seen = mail.snapshot();
  const r = await issue(staff);
  assert.equal(r.status, 200, r.text);
  assert.deepEqual(r.json, { login: staff.login, sent_to: staff.email, expires_in_hours: 72, repeated: false });
  const m = await mail.waitFor({ envelopeTo: staff.email }, { exclude: seen });
  assert.equal(m.subject, "Доступ к ЭПОС");
  assert.match(m.text, new RegExp(`логин: ${staff.login}`, "i"));
  assert.doesNotMatch(m.text, /временный пароль/i, "no password in the mail");
  const token = linkToken(m);
  assert.ok(token.length >= 40, token);

  // The job payload carries ids only.
  const rows = await outboxOf(staff.id);
  assert.equal(rows.length, 1);
  assert.deepEqual(Object.keys(rows[0].payload).sort(), ["grant_id", "kind", "message_id", "urgent", "user_id"]);
  await until(async () => (await psql("SELECT done_at FROM outbox WHERE id = $1", [rows[0].id]))[0].done_at,
    { what: "the mail job finished" });

  // Nowhere at rest: not in any column, not in Redis, not in a log.
  assert.deepEqual(await columnsHolding(token), []);
  const [g] = await psql("SELECT token_hash FROM credential_grants WHERE user_id = $1", [staff.id]);
  assert.equal(g.token_hash, sha256(token), "PostgreSQL keeps only the SHA-256");
  assert.ok(!(await redisText()).includes(token), "the token is not in Redis");
  assert.ok(!hub.output().includes(token) && !worker.output().includes(token), "the token is not logged");

  // The old password is gone with the new credentials.
  assert.equal((await api("POST", "/api/login", { login: staff.login, password: staff.password })).status, 401);

  // The link works once and signs in.
  const used = await setPassword(token);
  assert.equal(used.status, 200, used.text);
  assert.equal(used.json.user.id, staff.id);
  assert.equal(used.json.user.must_change_password, false);
  const me = await api("GET", "/api/me", undefined, used.json.token);
  assert.equal(me.status, 200, me.text);
  assert.equal(me.json.login, staff.login);
  assert.equal((await login(hub.url, staff.login, NEW_PASSWORD)).user.id, staff.id);
  const again = await setPassword(token, "Другое-Слово-2026");
  assert.equal(again.status, 409, again.text);
  assert.equal(again.json.error.code, "conflict");
  assert.equal((await api("POST", "/api/login", { login: staff.login, password: "Другое-Слово-2026" })).status, 401);
  // Neither the chosen password nor the link reached a log.
  assert.ok(!hub.output().includes(NEW_PASSWORD) && !hub.output().includes(token));
});

test("issuing twice in a row mails once; later, a new link replaces the old one", async () => {
  const staff = await freshStaff("twice");
  const seen = mail.snapshot();
  const [a, b] = await Promise.all([issue(staff), issue(staff)]);
  assert.equal(a.status, 200, a.text);
  assert.equal(b.status, 200, b.text);
  assert.deepEqual([a.json.repeated, b.json.repeated].sort(), [false, true]);
  const c = await issue(staff);
  assert.equal(c.json.repeated, true);
  assert.equal((await outboxOf(staff.id)).length, 1, "one mail queued");
  const first = await mail.waitFor({ envelopeTo: staff.email }, { exclude: seen });
  const oldToken = linkToken(first);
  await until(async () => (await outboxOf(staff.id)).length === 1 &&
    (await psql("SELECT count(*)::int AS n FROM outbox WHERE kind = 'email.notify' AND done_at IS NULL " +
      "AND (payload->>'user_id')::bigint = $1", [staff.id]))[0].n === 0, { what: "the mail job finished" });
  assert.equal(mail.list().filter((m) => m.envelopeTo.includes(staff.email)).length, 1, "one mail sent");

  // Past the short window, issuing again is a new grant and a new mail; the old link stops working.
  await psql("UPDATE credential_grants SET created_at = created_at - interval '10 minutes' WHERE user_id = $1", [staff.id]);
  const seen2 = mail.snapshot();
  const d = await issue(staff);
  assert.equal(d.json.repeated, false);
  const second = await mail.waitFor({ envelopeTo: staff.email }, { exclude: seen2 });
  const newToken = linkToken(second);
  assert.notEqual(newToken, oldToken);
  const stale = await setPassword(oldToken);
  assert.equal(stale.status, 409, stale.text);
  assert.match(stale.json.error.message, /заменена/);
  assert.equal((await setPassword(newToken)).status, 200);
});

test("a bad, unknown or expired link is refused and changes nothing; a short password keeps the link", async () => {
  const staff = await freshStaff("expired");
  const seen = mail.snapshot();
  assert.equal((await issue(staff)).status, 200);
  const token = linkToken(await mail.waitFor({ envelopeTo: staff.email }, { exclude: seen }));

  const short = await setPassword(token, "short");
  assert.equal(short.status, 400, short.text);
  for (const bad of [{}, { token: 5, password: NEW_PASSWORD }, { token, password: ["x"] }]) {
    const r = await api("POST", "/api/password/set", bad);
    assert.equal(r.status, 400, `${JSON.stringify(bad)}: ${r.text}`);
  }
  assert.equal((await setPassword("not a token!")).status, 404);
  assert.equal((await setPassword("A".repeat(43))).status, 404);
  assert.equal((await setPassword(token.slice(0, -1))).status, 404);

  await psql("UPDATE credential_grants SET expires_at = now() - interval '1 second' WHERE user_id = $1", [staff.id]);
  const late = await setPassword(token);
  assert.equal(late.status, 409, late.text);
  assert.match(late.json.error.message, /истёк/);
  const [u] = await psql("SELECT password_hash, must_change_password FROM users WHERE id = $1", [staff.id]);
  assert.deepEqual(u, { password_hash: null, must_change_password: true }, "nothing was set");
  const [g] = await psql("SELECT used_at FROM credential_grants WHERE user_id = $1", [staff.id]);
  assert.equal(g.used_at, null);
});

test("only an administrator of the person's org issues credentials", async () => {
  const staff = await freshStaff("authz");
  const teacherTok = (await login(hub.url, TEACHER.login, TEACHER.password)).token;
  const otherTok = (await login(hub.url, OTHER_ADMIN.login, OTHER_ADMIN.password)).token;
  assert.equal((await issue(staff, teacherTok)).status, 403);
  assert.equal((await issue(staff, otherTok)).status, 403);
  assert.equal((await issue(staff, null)).status, 401);
  assert.equal((await api("POST", "/api/staff/999999999/credentials", {}, adminTok)).status, 404);
  assert.equal((await outboxOf(staff.id)).length, 0, "nothing queued");
  const [g] = await psql("SELECT count(*)::int AS n FROM credential_grants WHERE user_id = $1", [staff.id]);
  assert.equal(g.n, 0);
  assert.equal((await api("POST", "/api/login", { login: staff.login, password: staff.password })).status, 200,
    "the password still works");
});

test("a dead credentials mail shows no secret and, replayed, brings a working link", async () => {
  const staff = await freshStaff("dead");
  mail.fail(550, staff.email);
  let dead;
  try {
    assert.equal((await issue(staff)).status, 200);
    const [row] = await outboxOf(staff.id);
    const jobId = `ob:${row.id}`;
    dead = await until(async () => {
      const r = await ctl(["queue", "dead", "--json", "--limit", "1000"]);
      return r.code === 0 && JSON.parse(r.stdout).find((d) => d.id === jobId);
    }, { what: "the credentials job in the dead letters" });
    const [g] = await psql("SELECT token_hash FROM credential_grants WHERE user_id = $1", [staff.id]);
    assert.ok(g.token_hash, "a link was minted for the refused mail");
    for (const args of [["queue", "dead", "--json", "--limit", "1000"], ["queue", "dead", "--limit", "1000"]]) {
      const out = (await ctl(args)).stdout;
      assert.ok(out.includes(jobId), out);
      assert.doesNotMatch(out, /set-password|[Пп]ароль/, "no link or password printed");
    }
    assert.deepEqual(Object.keys(JSON.parse(dead.payload)).sort(),
      ["grant_id", "kind", "message_id", "urgent", "user_id"]);
    assert.ok(!(await redisText()).includes("set-password"));
  } finally {
    mail.ok();
  }
  const seen = mail.snapshot();
  const r = await ctl(["queue", "replay", dead.id]);
  assert.equal(r.code, 0, r.output);
  const m = await mail.waitFor({ envelopeTo: staff.email }, { exclude: seen });
  const token = linkToken(m);
  const used = await setPassword(token);
  assert.equal(used.status, 200, used.text);
  assert.equal(used.json.user.id, staff.id);
  const [row] = await psql("SELECT status FROM email_log WHERE message_id = $1", [m.messageId]);
  assert.equal(row.status, "sent");
});
