// 17-ratelimit: guesses of the old password through POST /api/password are counted like failed
// logins — after login_fail_max wrong ones the next is 429, even with the right password.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { startHub, http, login, ctl, run, config } from "./lib/harness.mjs";

const FAIL_MAX = 3;
let hub;

before(async () => {
  hub = await startHub({ env: { EPOS_LOGIN_FAIL_MAX: String(FAIL_MAX) } });
});

after(async () => {
  await hub?.stop();
});

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
  // Once the window is over (here: the counter cleared) the right password works again.
  const cli = ["-h", config.redis_host || "127.0.0.1", "-p", String(config.redis_port || 16379)];
  await run("redis-cli", [...cli, "DEL", `epos:pwfail:${user.id}`]);
  assert.equal((await change(password)).status, 200);
});
