// 60-package: scripts/package builds a Debian package that installs the
// binaries, schema, web client, units and an example config; installed into
// a scratch root, its epos-hub answers --version. The systemd units pass
// systemd-analyze verify and the HAProxy example passes haproxy -c.
import { test } from "node:test";
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { BUILD_DIR, ROOT, run } from "./lib/harness.mjs";

const has = (cmd) => { try { execFileSync("sh", ["-c", `command -v ${cmd}`]); return true; } catch { return false; } };

test("scripts/package builds a .deb that installs into a scratch root and runs", async (t) => {
  const dir = mkdtempSync(join(tmpdir(), "epos-pkg-"));
  try {
    const r = await run(join(ROOT, "scripts/package"), ["--build-dir", BUILD_DIR, "--out", join(dir, "out")]);
    assert.equal(r.code, 0, r.output);
    const debs = readdirSync(join(dir, "out")).filter((n) => /^epos-hub_[0-9.]+_\w+\.deb$/.test(n));
    assert.equal(debs.length, 1, r.output);
    const deb = join(dir, "out", debs[0]);
    const info = await run("dpkg-deb", ["--info", deb]);
    assert.match(info.stdout, /Package: epos-hub/);
    assert.match(info.stdout, /Depends: .*libwebsockets/);
    const root = join(dir, "root");
    const x = await run("dpkg", ["-x", deb, root]);
    assert.equal(x.code, 0, x.output);
    for (const f of ["usr/bin/epos-hub", "usr/bin/epos-worker", "usr/bin/eposctl", "etc/epos/epos.conf",
      "lib/systemd/system/epos-hub@.service", "lib/systemd/system/epos-worker.service",
      "usr/share/epos-hub/web/index.html", "usr/share/doc/epos-hub/examples/nginx.conf"])
      assert.ok(existsSync(join(root, f)), `${f} is installed`);
    assert.ok(readdirSync(join(root, "usr/share/epos-hub/schema"), { recursive: true }).some((n) => /080_events_partitioned\.sql$/.test(n)),
      "the schema is installed");
    for (const [bin, name] of [["epos-hub", "epos-hub"], ["epos-worker", "epos-worker"]]) {
      const v = await run(join(root, "usr/bin", bin), ["--version"]);
      assert.equal(v.code, 0, v.output);
      assert.match(v.stdout, new RegExp(`^${name} \\d+\\.\\d+\\.\\d+\\n$`));
    }

    if (!has("systemd-analyze")) {
      t.diagnostic("systemd-analyze missing: units not verified");
    } else {
      // Verify the installed units with their ExecStart pointing into the scratch root.
      const units = join(dir, "units");
      execFileSync("mkdir", ["-p", units]);
      for (const u of ["epos-hub@.service", "epos-worker.service"]) {
        const text = readFileSync(join(root, "lib/systemd/system", u), "utf8").replaceAll("/usr/bin/", `${root}/usr/bin/`);
        assert.match(text, /^NoNewPrivileges=yes$/m);
        assert.match(text, /^ProtectSystem=strict$/m);
        writeFileSync(join(units, u), text);
      }
      const v = await run("systemd-analyze", ["verify", join(units, "epos-hub@.service"), join(units, "epos-worker.service")]);
      assert.equal(v.code, 0, v.output);
      assert.equal(v.output.trim(), "", `no complaints:\n${v.output}`);
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("the HAProxy example is valid (and the nginx one, when nginx is installed)", async (t) => {
  if (has("haproxy")) {
    const r = await run("haproxy", ["-c", "-f", join(ROOT, "deploy/haproxy.cfg")]);
    assert.equal(r.code, 0, r.output);
  } else t.diagnostic("haproxy missing");
  if (!has("nginx")) {
    t.diagnostic("nginx missing: deploy/nginx.conf not checked");
    return;
  }
  const dir = mkdtempSync(join(tmpdir(), "epos-nginx-"));
  try {
    writeFileSync(join(dir, "nginx.conf"), `pid ${dir}/nginx.pid; error_log stderr; events {} http { include ${join(ROOT, "deploy/nginx.conf")}; }`);
    const r = await run("nginx", ["-t", "-p", dir, "-c", join(dir, "nginx.conf")]);
    // The certificate paths are an operator's: only a missing certificate may fail it.
    assert.ok(r.code === 0 || /ssl_certificate|No such file/.test(r.output), r.output);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
