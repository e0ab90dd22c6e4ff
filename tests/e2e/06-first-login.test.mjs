// 06-first-login: an administrator issues first-login credentials to a staff member; the
// password arrives by mail; signing in with it asks for a new password first, then opens the app.
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

test("credentials from the administrator, then the first-login password change", async () => {
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
  const temp = /Временный пароль:\s*(\S+)/.exec(letter.text);
  assert.ok(temp, `the mail carries the password:\n${letter.text}`);

  const page = await newPage(browser, { viewport: PHONE });
  await page.goto(`${srv.base}/`);
  await page.getByLabel("Логин").fill(staff.login);
  await page.getByLabel("Пароль", { exact: true }).fill(temp[1]);
  await page.getByRole("button", { name: "Войти" }).click();
  await page.getByRole("heading", { name: "Смена пароля" }).waitFor();
  await shot(page, "first-login-phone");
  const fresh = `Новый-${Date.now()}`;
  // A mismatch is refused in plain words and nothing is sent.
  await page.getByLabel("Новый пароль (не короче 8 символов)").fill(fresh);
  await page.getByLabel("Новый пароль ещё раз").fill(`${fresh}x`);
  await page.getByRole("button", { name: "Сменить пароль" }).click();
  await page.getByRole("alert").filter({ hasText: "Пароли не совпадают" }).waitFor();
  await page.getByLabel("Новый пароль ещё раз").fill(fresh);
  await page.getByRole("button", { name: "Сменить пароль" }).click();
  await page.locator("#conn.conn-online").waitFor();
  await page.getByRole("link", { name: "Лента" }).waitFor();
  assert.deepEqual(page.errors, []);
  assert.deepEqual(admin.errors, []);

  // Put back the password users.json knows, for whoever uses the demo data next.
  const s = await login(srv.base, staff.login, fresh);
  const r = await http("POST", `${srv.base}/api/password`, { old_password: fresh, new_password: staff.password }, s.token);
  assert.equal(r.status, 200, r.text);
  await admin.context().close();
  await page.context().close();
});
