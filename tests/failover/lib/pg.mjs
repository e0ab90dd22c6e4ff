// pg.mjs -- a PostgreSQL primary (scripts/stack, with its roles, pgpass and epos.conf) and a
// synchronous streaming standby on loopback for the failover tests (ports 15460, 15461; the
// stack's Redis on 26420), the database migrated and the demo region seeded.
import { chmodSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { env } from "node:process";
import { ROOT, ctl, psql, run, until } from "../../integration/lib/harness.mjs";

const PGBIN = "/usr/lib/postgresql/15/bin";
const asPg = (cmd, args, opts) => run("runuser", ["-u", "postgres", "--", join(PGBIN, cmd), ...args], opts);

async function must(p, what) {
  const r = await p;
  if (r.code !== 0) throw new Error(`${what} failed (${r.code}):\n${r.output}`);
  return r;
}

/** Resolves {dir, conf, users, primaryPort, standbyPort, conninfo(port), killPrimary(),
 *  promote(), destroy()}; conf's three pg_conninfo keys name both servers with
 *  target_session_attrs=read-write. */
export async function startPgPair({ base = Number(env.EPOS_TEST_FAILOVER_PG_PORT || 15460), db = "epos" } = {}) {
  const dir = mkdtempSync(join(tmpdir(), "epos-pgpair-"));
  chmodSync(dir, 0o755);
  const primaryPort = base, standbyPort = base + 1;
  const stackEnv = { EPOS_PG_PORT: String(primaryPort), EPOS_REDIS_PORT: String(26420), EPOS_SMTP_PORT: String(26421) };
  const stack = (cmd, ...svcs) => must(run(join(ROOT, "scripts/stack"), [cmd, "--dir", dir, "--db", db, ...svcs],
    { env: stackEnv }), `scripts/stack ${cmd}`);
  const standbyData = join(dir, "standby");
  const conninfo = (port, name = db) => `host=127.0.0.1 port=${port} user=postgres dbname=${name}`;
  const pair = {
    dir, primaryPort, standbyPort, conf: join(dir, "epos.conf"), conninfo,
    async killPrimary() {
      const pid = Number(readFileSync(join(dir, "pg/postmaster.pid"), "utf8").split("\n")[0]);
      process.kill(pid, "SIGKILL");
      await until(async () => { try { process.kill(pid, 0); return false; } catch { return true; } },
        { what: "the primary gone" });
    },
    /** What an operator does: pg_ctl promote on the standby. */
    promote: () => must(asPg("pg_ctl", ["-D", standbyData, "-w", "-t", "60", "promote"]), "pg_ctl promote"),
    async destroy() {
      await asPg("pg_ctl", ["-D", standbyData, "-m", "immediate", "-w", "stop"]).catch(() => {});
      await run(join(ROOT, "scripts/stack"), ["down", "--dir", dir], { env: stackEnv }).catch(() => {});
      rmSync(dir, { recursive: true, force: true });
    },
  };
  try {
    await stack("up", "pg", "redis");
    await psql(`CREATE DATABASE "${db}"`, [], { conninfo: conninfo(primaryPort, "postgres") });
    // The standby first (a small base backup): the schema and the seed stream to it.
    // A base backup streaming from the primary, on its own port.
    mkdirSync(standbyData, { mode: 0o700 });
    await must(run("chown", ["postgres:postgres", standbyData]), "chown of the standby's directory");
    await must(run("runuser", ["-u", "postgres", "--", join(PGBIN, "pg_basebackup"), "-h", "127.0.0.1",
      "-p", String(primaryPort), "-U", "postgres", "-D", standbyData, "-R", "-X", "stream", "-c", "fast"]), "pg_basebackup");
    const stackConf = join(standbyData, "epos_stack.conf");
    writeFileSync(stackConf, readFileSync(stackConf, "utf8").replace(/^port = \d+/m, `port = ${standbyPort}`));
    const auto = join(standbyData, "postgresql.auto.conf");
    writeFileSync(auto, `${readFileSync(auto, "utf8")}primary_conninfo = '${conninfo(primaryPort, "postgres")
      .replace(" dbname=postgres", "")} application_name=standby1'\n`);
    await must(asPg("pg_ctl", ["-D", standbyData, "-l", join(standbyData, "standby.log"), "-w", "-t", "60", "start"]),
      "starting the standby");
    await must(ctl(["migrate"], { config: pair.conf }), "eposctl migrate");
    const seed = await must(ctl(["seed-demo", "--json"], { config: pair.conf, timeoutMs: 300000 }), "eposctl seed-demo");
    pair.users = JSON.parse(seed.stdout).users;
    // Synchronous: a commit returns once the standby has it.
    await psql("ALTER SYSTEM SET synchronous_standby_names = 'standby1'", [], { conninfo: conninfo(primaryPort, "postgres") });
    await psql("SELECT pg_reload_conf()", [], { conninfo: conninfo(primaryPort, "postgres") });
    await until(async () => (await psql("SELECT sync_state FROM pg_stat_replication WHERE application_name = 'standby1'",
      [], { conninfo: conninfo(primaryPort, "postgres") }))[0]?.sync_state === "sync", { what: "the standby in sync" });
    // Every process names both servers and takes the one that accepts writes.
    const text = readFileSync(pair.conf, "utf8").replace(/^((?:worker_|ctl_)?pg_conninfo = )"?host=127\.0\.0\.1 port=\d+ ([^"\n]*)"?$/gm,
      `$1"host=127.0.0.1,127.0.0.1 port=${primaryPort},${standbyPort} $2 target_session_attrs=read-write"`);
    if ((text.match(/target_session_attrs/g) || []).length !== 3) throw new Error(`unexpected epos.conf:\n${text}`);
    writeFileSync(pair.conf, text);
  } catch (err) {
    await pair.destroy();
    throw err;
  }
  return pair;
}
