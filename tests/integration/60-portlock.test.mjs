// 60-portlock: hubs of one configuration share a port; a hub started on that
// port with another configuration refuses to start, naming what differs,
// and the lock outlives the hub that first took it.
import { test } from "node:test";
import assert from "node:assert/strict";
import { join } from "node:path";
import { BUILD_DIR, CONF, freePort, http, runToExit, startHub, until } from "./lib/harness.mjs";

const HUB = join(BUILD_DIR, "epos-hub");

test("a hub with another configuration cannot join a port; one with the same config can", async () => {
  const a = await startHub();
  let b;
  try {
    b = await startHub({ port: a.port }); // same config: joins
    await until(() => /listening on/.test(b.output()), { what: "the second hub listening" });

    const other = await runToExit(HUB, ["--config", CONF], {
      env: { EPOS_PORT: String(a.port), EPOS_TOKEN_SECRET: "another-secret", EPOS_MAX_TEXT: "10" },
    });
    assert.equal(other.code, 1, other.output);
    assert.equal(other.signal, null);
    const out = other.output.trim().split("\n");
    assert.equal(out.length, 1, `one line:\n${other.output}`);
    assert.match(out[0], new RegExp(`port 127\\.0\\.0\\.1:${a.port} is held by hubs of another configuration`));
    assert.match(out[0], /token_secret/);
    assert.match(out[0], /max_text/);
    assert.doesNotMatch(out[0], /another-secret/, "no value shown");

    // Values that may differ between hubs of a port do not matter.
    const same = await startHub({ port: a.port, env: { EPOS_LOG_LEVEL: "debug", EPOS_PG_POOL_SIZE: "3" } });
    await same.stop();

    // The first hub leaves; the second takes the lock over and still guards the port.
    await a.stop();
    await until(() => /took over the configuration lock/.test(b.output()), { what: "the lock taken over" });
    const again = await runToExit(HUB, ["--config", CONF], {
      env: { EPOS_PORT: String(a.port), EPOS_TOKEN_SECRET: "another-secret" },
    });
    assert.equal(again.code, 1, again.output);
    assert.match(again.output, /another configuration \(token_secret differ/);
    assert.equal((await http("GET", `${b.url}/healthz`)).status, 200, "the remaining hub serves on");
    await b.stop();
    b = null;

    // Nobody holds the port any more: another configuration may have it.
    const fresh = await startHub({ port: a.port, env: { EPOS_TOKEN_SECRET: "another-secret" } });
    await fresh.stop();
  } finally {
    if (!a.exitStatus()) await a.stop({ expectCode: null });
    if (b) await b.stop({ expectCode: null });
  }
});

test("hubs on different ports do not share a lock", async () => {
  const a = await startHub();
  try {
    const b = await startHub({ port: await freePort(), env: { EPOS_TOKEN_SECRET: "another-secret" } });
    await b.stop();
  } finally {
    await a.stop();
  }
});
