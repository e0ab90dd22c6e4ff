// sentinel.mjs -- a Redis master, its replica and three sentinels on loopback for the failover
// tests (ports from EPOS_TEST_FAILOVER_PORT, default 26400: master, replica, sentinels +10..+12).
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { env } from "node:process";
import { run, spawnProcess, until } from "../../integration/lib/harness.mjs";

export const MASTER_NAME = "epos";

/** redis-cli -p port args...; resolves its trimmed stdout (throws on failure). */
export async function redisCli(port, ...args) {
  const r = await run("redis-cli", ["-h", "127.0.0.1", "-p", String(port), ...args], { timeoutMs: 10000 });
  if (r.code !== 0) throw new Error(`redis-cli -p ${port} ${args.join(" ")}: ${r.output}`);
  return r.stdout.trim();
}

function redisServer(dir, port, extra = []) {
  return spawnProcess("redis-server", ["--port", String(port), "--bind", "127.0.0.1", "--save", "",
    "--appendonly", "no", "--dir", dir, "--protected-mode", "no", ...extra], { name: `redis-${port}` });
}

/** Start the set; resolves {master, replica, sentinels, sentinelList, masterAddr(), down(), stop()}
 *  once every sentinel sees the replica and the two other sentinels (a failover can run). */
export async function startSentinels({ base = Number(env.EPOS_TEST_FAILOVER_PORT || 26400), downAfterMs = 1000 } = {}) {
  const dir = mkdtempSync(join(tmpdir(), "epos-sentinel-"));
  const ports = { master: base, replica: base + 1, sentinels: [base + 10, base + 11, base + 12] };
  const procs = [];
  const set = {
    dir,
    ports,
    sentinelList: ports.sentinels.map((p) => `127.0.0.1:${p}`).join(","),
    procs,
    /** The master's "ip:port" as the first sentinel that answers sees it. */
    async masterAddr() {
      for (const p of ports.sentinels) {
        try {
          const out = await redisCli(p, "SENTINEL", "get-master-addr-by-name", MASTER_NAME);
          const [ip, port] = out.split("\n");
          if (ip && port) return `${ip}:${port}`;
        } catch {}
      }
      return null;
    },
    async stop() {
      for (const p of procs) {
        p.expectExit = true;
        try {
          p.proc.kill("SIGKILL");
        } catch {}
        await p.exitedNoRef;
      }
      rmSync(dir, { recursive: true, force: true });
    },
  };
  try {
    set.master = redisServer(dir, ports.master, ["--dbfilename", "master.rdb"]);
    procs.push(set.master);
    await until(async () => (await redisCli(ports.master, "PING")) === "PONG", { what: "the master up" });
    set.replica = redisServer(dir, ports.replica, ["--dbfilename", "replica.rdb",
      "--replicaof", "127.0.0.1", String(ports.master)]);
    procs.push(set.replica);
    await until(async () => /master_link_status:up/.test(await redisCli(ports.replica, "INFO", "replication")),
      { what: "the replica in sync" });
    set.sentinels = [];
    for (const p of ports.sentinels) {
      const conf = join(dir, `sentinel-${p}.conf`);
      writeFileSync(conf, [
        `port ${p}`, "bind 127.0.0.1", "protected-mode no", `dir ${dir}`,
        `sentinel monitor ${MASTER_NAME} 127.0.0.1 ${ports.master} 2`,
        `sentinel down-after-milliseconds ${MASTER_NAME} ${downAfterMs}`,
        `sentinel failover-timeout ${MASTER_NAME} 10000`,
        `sentinel parallel-syncs ${MASTER_NAME} 1`, ""].join("\n"));
      const s = spawnProcess("redis-sentinel", [conf], { name: `sentinel-${p}` });
      procs.push(s);
      set.sentinels.push(s);
    }
    for (const p of ports.sentinels) {
      await until(async () => {
        const out = (await redisCli(p, "SENTINEL", "master", MASTER_NAME)).split("\n");
        const field = (k) => out[out.indexOf(k) + 1];
        return field("num-slaves") === "1" && field("num-other-sentinels") === "2";
      }, { what: `sentinel ${p} seeing the replica and the other sentinels`, timeoutMs: 60000, intervalMs: 200 });
    }
  } catch (err) {
    await set.stop();
    throw err;
  }
  return set;
}
