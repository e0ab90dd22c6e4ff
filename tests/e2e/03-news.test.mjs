// 03-news: an administrator's news reaches a parent's open feed live; the parent's
// acknowledgement shows up in the administrator's statistics.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { launch, newPage, signIn, shot, family, servers, unique, PHONE } from "./lib/browser.mjs";

let srv, browser, fam;

before(async () => {
  srv = await servers();
  browser = await launch();
  fam = await family(srv.base, 2);
});

after(async () => {
  if (browser) await browser.close();
  if (srv) await srv.stop();
});

test("an administrator's news appears in a parent's feed and the acknowledgement in the statistics", async () => {
  const admin = await newPage(browser);
  const parent = await newPage(browser, { viewport: PHONE });
  await signIn(parent, srv.base, fam.parent);
  await parent.locator("#feed-list").waitFor({ state: "attached" });

  await signIn(admin, srv.base, fam.admin);
  await admin.getByRole("link", { name: "Управление" }).click();
  const orgPicker = admin.locator("#admin-org");
  if (await orgPicker.count()) await orgPicker.selectOption(String(fam.child.org_id));
  await admin.getByRole("link", { name: "Публикации" }).click();
  const title = unique("Родительское собрание");
  await admin.getByLabel("Заголовок").fill(title);
  await admin.getByLabel("Текст", { exact: true }).fill("В пятницу в 18:00 в актовом зале. Явка обязательна.");
  await admin.getByLabel("Всей организации").check();
  await admin.getByLabel("Требует ознакомления («Ознакомлен»)").check();
  await admin.getByRole("button", { name: "Опубликовать" }).click();
  const stat = admin.locator("#pub-list .pub-item", { hasText: title });
  await stat.locator(".ack-count", { hasText: /^Ознакомлены: 0 из \d+$/ }).waitFor();

  // The parent's feed was open all along: the item arrives live, with the ack button.
  const item = parent.locator("#feed-list .feed-item", { hasText: title });
  await item.waitFor();
  await shot(parent, "feed-phone");
  await item.getByRole("button", { name: `Ознакомлен: ${title}` }).click();
  await item.locator(".ack-done").waitFor();

  // The administrator's statistics follow without a reload.
  await stat.locator(".ack-count", { hasText: /^Ознакомлены: 1 из \d+$/ }).waitFor();
  await stat.locator("summary").click();
  await stat.locator(".ack-acked li", { hasText: fam.parent.name }).waitFor();
  await shot(admin, "admin-publish");
  assert.deepEqual(admin.errors, []);
  assert.deepEqual(parent.errors, []);
  await admin.context().close();
  await parent.context().close();
});
