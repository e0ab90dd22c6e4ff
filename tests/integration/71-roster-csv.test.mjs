// 71-roster-csv: eposctl roster import/export (OneRoster 1.2 CSV) through the same sync as
// POST /api/roster. The demo region round-trips losslessly (export, import into a fresh
// database, export again: identical files); the sample region's CSV imports into a fresh
// database and exports byte for byte as committed; broken CSV changes nothing.
import { test, after } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync, cpSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ROOT, ctl, psql } from "./lib/harness.mjs";

const ADMIN = process.env.EPOS_TEST_PG_ADMIN;
const SAMPLE = join(ROOT, "tests/data/roster/oneroster");
const dirs = [];
const dbs = [];

function tmp() {
  const d = mkdtempSync(join(tmpdir(), "epos-roster-"));
  dirs.push(d);
  return d;
}

/** A fresh, migrated database; eposctl's environment for it. */
async function freshDb(name) {
  const db = `epos_roster_${name}_${process.pid}`;
  await psql(`DROP DATABASE IF EXISTS ${db}`, [], { conninfo: ADMIN });
  await psql(`CREATE DATABASE ${db}`, [], { conninfo: ADMIN });
  dbs.push(db);
  const env = { EPOS_CTL_PG_CONNINFO: ADMIN.replace(/dbname=\S+/, `dbname=${db}`) };
  const r = await ctl(["migrate"], { env });
  assert.equal(r.code, 0, r.output);
  return env;
}

function files(dir) {
  return Object.fromEntries(readdirSync(dir).sort().map((f) => [f, readFileSync(join(dir, f), "utf8")]));
}

after(async () => {
  for (const db of dbs) await psql(`DROP DATABASE IF EXISTS ${db} WITH (FORCE)`, [], { conninfo: ADMIN });
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

test("the demo region round-trips through OneRoster CSV losslessly", async () => {
  const first = tmp(), second = tmp();
  let r = await ctl(["roster", "export", first]);
  assert.equal(r.code, 0, r.output);
  const a = files(first);
  assert.deepEqual(Object.keys(a), ["classes.csv", "enrollments.csv", "orgs.csv", "roles.csv", "users.csv"]);
  assert.ok(a["users.csv"].split("\r\n").length > 100, "the demo's people and children are exported");
  const env = await freshDb("demo");
  r = await ctl(["roster", "import", first], { env });
  assert.equal(r.code, 0, r.output);
  assert.match(r.stdout, /children\s+created \d+, updated 0, unchanged 0, ended 0, rejected 0/);
  r = await ctl(["roster", "export", second], { env });
  assert.equal(r.code, 0, r.output);
  assert.deepEqual(files(second), a);
  // Importing again changes nothing.
  r = await ctl(["roster", "import", first], { env });
  assert.equal(r.code, 0, r.output);
  assert.doesNotMatch(r.stdout, /(created|updated|ended|rejected) [1-9]/);
});

test("the sample region's CSV imports and exports as committed", async () => {
  const env = await freshDb("sample");
  let r = await ctl(["roster", "import", SAMPLE], { env });
  assert.equal(r.code, 0, r.output);
  assert.match(r.stdout, /guardians\s+created 14,/);
  const out = tmp();
  r = await ctl(["roster", "export", out], { env });
  assert.equal(r.code, 0, r.output);
  assert.deepEqual(files(out), files(SAMPLE));
  // The twins, the parent of two orgs' children, the teacher who is a parent.
  const conninfo = env.EPOS_CTL_PG_CONNINFO;
  const [n] = await psql(`SELECT
      (SELECT count(*) FROM children WHERE birth_date = '2021-05-19')::int AS twins,
      (SELECT count(DISTINCT c.org_id) FROM guardians g JOIN users u ON u.id = g.user_id
         JOIN children c ON c.id = g.child_id WHERE u.ext_id = 'kont-100001')::int AS orgs,
      (SELECT count(*) FROM users u WHERE u.ext_id = 'kont-000203'
          AND EXISTS (SELECT 1 FROM guardians g WHERE g.user_id = u.id)
          AND EXISTS (SELECT 1 FROM class_teachers c WHERE c.user_id = u.id))::int AS teacher_parent`, [], { conninfo });
  assert.deepEqual(n, { twins: 2, orgs: 2, teacher_parent: 1 });
});

test("broken CSV is refused with the file and line, and changes nothing", async () => {
  const env = await freshDb("broken");
  const conninfo = env.EPOS_CTL_PG_CONNINFO;
  const cases = [
    ["users.csv", (t) => t.replace("Кузнецова", "Кузне\"цова"), /users\.csv: line 2: a quote inside an unquoted field/],
    ["classes.csv", (t) => t.replace(/^sourcedId/, "id"), /classes\.csv has no column sourcedId/],
    ["orgs.csv", (t) => `${t}"unclosed,`, /orgs\.csv: line 4: a quoted field is not closed/],
    ["enrollments.csv", () => "\xff\xfe", /enrollments\.csv: not UTF-8 text/],
  ];
  for (const [file, change, error] of cases) {
    const dir = tmp();
    cpSync(SAMPLE, dir, { recursive: true });
    writeFileSync(join(dir, file), change(readFileSync(join(SAMPLE, file), "utf8")), file === "enrollments.csv" ? "latin1" : "utf8");
    const r = await ctl(["roster", "import", dir], { env });
    assert.equal(r.code, 1, r.output);
    assert.match(r.stderr, error);
  }
  const [n] = await psql("SELECT (SELECT count(*) FROM users)::int + (SELECT count(*) FROM orgs)::int AS rows", [], { conninfo });
  assert.equal(n.rows, 0);
  const r = await ctl(["roster", "import", join(tmp(), "nowhere")], { env });
  assert.equal(r.code, 1);
  assert.match(r.stderr, /cannot read .*orgs\.csv/);
});
