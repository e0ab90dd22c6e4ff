// 15-roles: the hub, the workers and eposctl connect as their own database roles, and each role can do only its part.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { startHub, startWorker, psql, ctl, config } from "./lib/harness.mjs";

let hub, worker;

before(async () => {
  hub = await startHub();
  worker = await startWorker();
});

after(async () => {
  await worker?.stop();
  await hub?.stop();
});

// Run sql as the role of a process (its conninfo in the config); resolves
// the rows, or the SQLSTATE it was refused with.
async function as(key, sql, params = []) {
  try {
    return { rows: await psql(sql, params, { conninfo: config[key] }) };
  } catch (err) {
    if (!err.pgcode) throw err;
    return { code: err.pgcode, message: err.message };
  }
}

test("the hub and a worker are connected as epos_hub_user and epos_worker_user, never as the superuser", async () => {
  const users = async () => (await psql(
    "SELECT DISTINCT usename FROM pg_stat_activity" +
    " WHERE datname = current_database() AND backend_type = 'client backend' AND pid <> pg_backend_pid()"))
    .map((r) => r.usename);
  // The pools connect as they start; wait for both to show.
  let seen = [];
  for (let i = 0; i < 100 && !(seen.includes("epos_hub_user") && seen.includes("epos_worker_user")); i++) {
    seen = await users();
    if (!(seen.includes("epos_hub_user") && seen.includes("epos_worker_user"))) await new Promise((r) => setTimeout(r, 100));
  }
  assert.ok(seen.includes("epos_hub_user"), `hub connections: ${seen}`);
  assert.ok(seen.includes("epos_worker_user"), `worker connections: ${seen}`);
  assert.deepEqual(seen.filter((u) => !u.startsWith("epos_")), [], `only the three roles connect: ${seen}`);
});

test("eposctl migrates as epos_ctl_user, and every object of the schema belongs to epos_ctl", async () => {
  const r = await ctl(["migrate"]);
  assert.equal(r.code, 0, r.output);
  assert.match(config.ctl_pg_conninfo, /user=epos_ctl_user/);
  const foreign = await psql(
    "SELECT c.relname FROM pg_class c WHERE c.relnamespace = 'public'::regnamespace" +
    " AND c.relkind IN ('r', 'v', 'S') AND c.relowner <> 'epos_ctl'::regrole" +
    " UNION ALL SELECT p.proname FROM pg_proc p WHERE p.pronamespace = 'public'::regnamespace" +
    " AND p.proowner <> 'epos_ctl'::regrole" +
    " AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.objid = p.oid AND d.deptype = 'e')");
  assert.deepEqual(foreign, []);
});

test("the hub's role may call the API and read the event log, and nothing else", async () => {
  const uid = (await psql("SELECT min(id) AS id FROM users WHERE login = 'parent1'"))[0].id;
  const chat = (await psql("SELECT min(chat_id) AS id FROM chat_members"))[0].id;
  for (const sql of [
    // An id of its own: the refusal must be the table's, not its sequence's.
    `INSERT INTO chat_messages (id, chat_id, seq, sender_id, cid, text)
     VALUES (999999999, ${chat}, 999999, ${uid}, 'roles-test', 'x')`,
    `UPDATE users SET full_name = full_name WHERE id = ${uid}`,
    `DELETE FROM events WHERE false`,
    "SELECT password_hash FROM users LIMIT 1",
    "SELECT * FROM sessions LIMIT 1",
    "SELECT * FROM outbox LIMIT 1",
    "SELECT epos_reminders_due(now())",
    "SELECT epos_outbox_requeue()",
    "SELECT epos_schema_settle()",
  ]) {
    const r = await as("pg_conninfo", sql);
    assert.equal(r.code, "42501", `the hub may not: ${sql} (${r.message ?? "it was allowed"})`);
    assert.match(r.message, /permission denied for (table|function) (chat_messages|users|events|sessions|outbox|epos_)/);
  }
  assert.equal((await as("pg_conninfo", "SELECT count(*) >= 0 AS ok FROM events")).rows[0].ok, true);
  const me = await as("pg_conninfo", "SELECT epos_api_me($1, NULL, NULL, '{}', NULL)::text AS r", [uid]);
  assert.equal(me.code, "EP401", "an API function runs (and refuses a missing session)");
});

test("the worker's role may call its jobs' functions, and nothing of the hub's", async () => {
  for (const sql of [
    "SELECT full_name FROM users LIMIT 1",
    "INSERT INTO events (topic, seq, type) VALUES ('x:1', 1, 'x')",
    "SELECT epos_api_me(1, 1, NULL, '{}', NULL)",
    "SELECT epos_chat_send(1, 1, 'c', 't')",
  ]) {
    const r = await as("worker_pg_conninfo", sql);
    assert.equal(r.code, "42501", `the worker may not: ${sql} (${r.message ?? "it was allowed"})`);
  }
  const next = await as("worker_pg_conninfo", "SELECT epos_reminders_next(now()) AS ms");
  assert.equal(next.code, undefined, next.message);
});
