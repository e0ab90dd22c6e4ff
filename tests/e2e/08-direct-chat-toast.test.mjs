// 08-direct-chat-toast: a new direct chat tells the other person who started it («… начал(а) с
// вами чат»), never the empty «Вас добавили в чат «»», and tells the starter nothing.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { psql } from "../integration/lib/harness.mjs";
import { launch, newPage, signIn, family, servers } from "./lib/browser.mjs";

let srv, browser, fam;

before(async () => {
  srv = await servers();
  browser = await launch();
  fam = await family(srv.base, 2);
  // Retire an earlier direct chat of the pair (other tests may have made one): the next is new.
  const key = [fam.parent.id, fam.teacher.id].sort((a, b) => a - b).join(":");
  await psql("UPDATE chats SET direct_key = '9' || id || '000:0' WHERE direct_key = $1 RETURNING id", [key]);
});

after(async () => {
  if (browser) await browser.close();
  if (srv) await srv.stop();
});

test("the teacher is told who started a direct chat; the parent who started it is told nothing", async () => {
  const teacher = await newPage(browser);
  await signIn(teacher, srv.base, fam.teacher);
  const parent = await newPage(browser);
  await signIn(parent, srv.base, fam.parent);

  await parent.getByRole("link", { name: /^Сообщения/ }).click();
  await parent.getByRole("link", { name: "Новый чат" }).click();
  await parent.getByLabel("Поиск по имени").fill(fam.teacher.name);
  await parent.getByRole("button", { name: `Написать: ${fam.teacher.name}` }).first().click();
  await parent.getByLabel("Текст сообщения").waitFor();

  await teacher.locator(".toast", { hasText: `${fam.parent.name} начал(а) с вами чат` }).waitFor();
  // The parent's page has loaded the same event by now (it reached the teacher over the same hub).
  await parent.locator(".msg, .empty, .chat-view").first().waitFor().catch(() => {});
  for (const page of [teacher, parent]) {
    const texts = await page.locator(".toast").allTextContents();
    assert.ok(!texts.some((t) => t.includes("«»")), `no empty chat title: ${JSON.stringify(texts)}`);
  }
  const parentToasts = await parent.locator(".toast").allTextContents();
  assert.ok(!parentToasts.some((t) => /чат/.test(t)), `the starter gets no chat notice: ${JSON.stringify(parentToasts)}`);
  assert.deepEqual(teacher.errors, []);
  assert.deepEqual(parent.errors, []);
});
