// 08-session-end: a session ended elsewhere (logout on another device, or revoked with no notice
// reaching the hub) or expired takes an open page to the sign-in form with the reason — the
// page sees the socket close 4401, never an endless «Нет связи».
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { createHmac } from "node:crypto";
import { http, psql, config } from "../integration/lib/harness.mjs";
import { launch, newPage, signIn, shot, family, servers } from "./lib/browser.mjs";

let srv, browser, fam;

before(async () => {
  srv = await servers();
  browser = await launch();
  fam = await family(srv.base, 5);
});

after(async () => {
  if (browser) await browser.close();
  if (srv) await srv.stop();
});

// Records the close code of every WebSocket the page opens.
async function watchSockets(page) {
  await page.addInitScript(() => {
    window.__wsCloses = [];
    const Native = window.WebSocket;
    window.WebSocket = class extends Native {
      constructor(...args) {
        super(...args);
        this.addEventListener("close", (ev) => window.__wsCloses.push(ev.code));
      }
    };
  });
}

async function openSignedIn() {
  const page = await newPage(browser);
  await watchSockets(page);
  await signIn(page, srv.base, fam.parent);
  const token = await page.evaluate(() => sessionStorage.getItem("epos.token"));
  assert.ok(token);
  return { page, token };
}

async function expectSignIn(page, reason) {
  try {
    await page.getByRole("heading", { name: "Вход в ЭПОС" }).waitFor();
  } catch (e) {
    const closes = await page.evaluate(() => window.__wsCloses);
    const conn = await page.locator("#conn-text").textContent().catch(() => "?");
    throw new Error(`no sign-in form; the page saw closes ${JSON.stringify(closes)}, shows «${conn}»`);
  }
  await page.getByRole("status").filter({ hasText: reason }).waitFor();
  const closes = await page.evaluate(() => window.__wsCloses);
  assert.ok(closes.includes(4401), `the page saw 4401, not only ${JSON.stringify(closes)}`);
  assert.ok(!closes.includes(1006), `no abnormal close: ${JSON.stringify(closes)}`);
}

test("logout on another device: the open page lands on the sign-in form with the reason", async () => {
  const { page, token } = await openSignedIn();
  const out = await http("POST", `${srv.base}/api/logout`, {}, token);
  assert.equal(out.status, 200);
  await expectSignIn(page, "выполнен выход на другом устройстве");
  await shot(page, "session-ended-elsewhere");
  assert.deepEqual(page.errors, []);
  await page.context().close();
});

test("a session revoked without any notice to the hub: the page signs out within the session check", async () => {
  const { page, token } = await openSignedIn();
  await psql("UPDATE sessions SET revoked_at = now() WHERE id = $1 RETURNING id", [Number(token.split(".")[1])]);
  await expectSignIn(page, "выполнен выход на другом устройстве");
  await page.context().close();
});

test("an expired session: the page says «Сеанс истёк»", async () => {
  const exp = Math.floor(Date.now() / 1000) + 8;
  const [row] = await psql("INSERT INTO sessions (user_id, expires_at) VALUES ($1, to_timestamp($2)) RETURNING id",
    [fam.parent.id, exp]);
  const body = `${fam.parent.id}.${row.id}.${exp}`;
  const token = `${body}.${createHmac("sha256", config.token_secret).update(body).digest("base64url")}`;
  const page = await newPage(browser);
  await watchSockets(page);
  await page.addInitScript((t) => sessionStorage.setItem("epos.token", t), token);
  await page.goto(`${srv.base}/`);
  await page.locator("#conn.conn-online").waitFor();
  await expectSignIn(page, "Сеанс истёк");
  await page.context().close();
});
