// 06-first-login: an administrator issues first-login credentials to a staff member; a one-time
// link arrives by mail; the staff member opens it, chooses a password and is signed in; the link
// then refuses a second use.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { demoUsers, http, login, mailbox } from "../integration/lib/harness.mjs";
import { launch, newPage, signIn, shot, family, servers, PHONE } from "./lib/browser.mjs";

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

test("credentials from the administrator, then the first password through the mailed link", async () => {
  // A teacher of the administrator's org who is not this family's teacher.
  const staff = demoUsers().users.find((u) => (u.role === "teacher" || u.role === "class_teacher") &&
    u.org_id === fam.admin.org_id && u.login !== fam.teacher.login) || fam.teacher;
  const admin = await newPage(browser);
  await signIn(admin, srv.base, fam.admin);
  await admin.getByRole("link", { name: "Управление" }).click();
  const orgPicker = admin.locator("#admin-org");
  if (await orgPicker.count()) await orgPicker.selectOption(String(fam.admin.org_id));
  await admin.getByRole("link", { name: "Сотрудники", exact: true }).click();
  const mail = mailbox();
  const seen = mail.snapshot();
  await admin.getByRole("button", { name: `Выдать данные для входа: ${staff.name}` }).click();
  await admin.locator(".creds .ok-box", { hasText: staff.login }).waitFor();
  await shot(admin, "admin-staff-credentials");

  const letter = await mail.waitFor((m) => (m.text || "").includes(staff.login), { exclude: seen, timeoutMs: 30000 });
  const link = /(https?:\/\/\S+#\/set-password\?t=[A-Za-z0-9_-]+)/.exec(letter.text);
  assert.ok(link, `the mail carries a set-password link:\n${letter.text}`);
  assert.doesNotMatch(letter.text, /Временный пароль/);
  // The mail names the configured public URL; the test hub runs on its own port.
  const url = new URL(link[1]);
  const address = `${srv.base}/${url.hash}`;

  const page = await newPage(browser, { viewport: PHONE });
  await page.goto(address);
  await page.getByRole("heading", { name: "Придумайте пароль" }).waitFor();
  assert.ok(!page.url().includes("set-password"), "the token left the address bar");
  await shot(page, "set-password-phone");
  const fresh = `Новый-${Date.now()}`;
  // A mismatch is refused in plain words and nothing is sent.
  await page.getByLabel("Новый пароль (не короче 8 символов)").fill(fresh);
  await page.getByLabel("Новый пароль ещё раз").fill(`${fresh}x`);
  await page.getByRole("button", { name: "Сохранить пароль и войти" }).click();
  await page.getByRole("alert").filter({ hasText: "Пароли не совпадают" }).waitFor();
  await page.getByLabel("Новый пароль ещё раз").fill(fresh);
  await page.getByRole("button", { name: "Сохранить пароль и войти" }).click();
  await page.locator("#conn.conn-online").waitFor();
  await page.getByRole("link", { name: "Лента" }).waitFor();
  assert.deepEqual(page.errors, []);
  assert.deepEqual(admin.errors, []);

  // The link was used: opened again, it says so and signs nobody in.
  const again = await newPage(browser);
  await again.goto(address);
  await again.getByLabel("Новый пароль (не короче 8 символов)").fill("Другой-пароль-1");
  await again.getByLabel("Новый пароль ещё раз").fill("Другой-пароль-1");
  await again.getByRole("button", { name: "Сохранить пароль и войти" }).click();
  await again.getByRole("alert").filter({ hasText: "Ссылка уже использована" }).waitFor();
  await again.context().close();

  // Put back the password users.json knows, for whoever uses the demo data next.
  const s = await login(srv.base, staff.login, fresh);
  const r = await http("POST", `${srv.base}/api/password`, { old_password: fresh, new_password: staff.password }, s.token);
  assert.equal(r.status, 200, r.text);
  await admin.context().close();
  await page.context().close();
});
