// 01-chat: a parent and a teacher, each in their own browser, chat both ways live:
// new chat from contacts, unread count, live delivery, read receipt, typing indicator;
// history as you scroll up; a group chat made by the teacher, membership changed live.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { launch, newPage, signIn, shot, family, servers, unique, PHONE } from "./lib/browser.mjs";

let srv, browser, fam;

before(async () => {
  srv = await servers();
  browser = await launch();
  fam = await family(srv.base, 0);
});

after(async () => {
  if (browser) await browser.close();
  if (srv) await srv.stop();
});

test("a parent and a teacher chat both ways live", async () => {
  const parent = await newPage(browser, { viewport: PHONE });
  const teacher = await newPage(browser);
  await signIn(parent, srv.base, fam.parent);
  await signIn(teacher, srv.base, fam.teacher);

  // The teacher watches the chat list; the parent starts a chat from contacts.
  await teacher.getByRole("link", { name: /^Сообщения/ }).click();
  await teacher.locator("#chat-list").waitFor();
  await parent.getByRole("link", { name: /^Сообщения/ }).click();
  await parent.getByRole("link", { name: "Новый чат" }).click();
  await parent.getByLabel("Поиск по имени").fill(fam.teacher.name);
  await parent.getByRole("button", { name: `Написать: ${fam.teacher.name}` }).first().click();
  await parent.getByLabel("Текст сообщения").waitFor();
  await shot(parent, "chat-new-phone");

  const hello = unique("Здравствуйте, это родитель");
  await parent.getByLabel("Текст сообщения").fill(hello);
  await parent.getByRole("button", { name: "Отправить" }).click();
  const mine = parent.locator(".msg-mine", { hasText: hello });
  await mine.locator(".msg-status").waitFor();
  assert.equal(await parent.getByLabel("Текст сообщения").inputValue(), "", "the compose box is cleared after sending");

  // The teacher's list shows the chat with an unread count and the last message, live.
  const link = teacher.locator(".chat-link", { hasText: hello });
  await link.locator(".badge").waitFor();
  await shot(teacher, "chat-list-unread");
  await link.click();
  await teacher.locator(".msg-theirs", { hasText: hello }).waitFor();

  // Read receipt reaches the parent once the teacher has the chat open.
  await mine.locator(".msg-status", { hasText: "прочитано" }).waitFor();

  // Typing indicator, then the reply arrives live on the parent's phone.
  const reply = unique("Добрый день, это учитель");
  await teacher.getByLabel("Текст сообщения").pressSequentially("Добрый", { delay: 20 });
  await parent.locator(".typing", { hasText: "печатает" }).waitFor();
  await teacher.getByLabel("Текст сообщения").fill(reply);
  await teacher.getByLabel("Текст сообщения").press("Enter");
  await parent.locator(".msg-theirs", { hasText: reply }).waitFor();
  await teacher.locator(".msg-mine", { hasText: reply }).locator(".msg-status").waitFor();

  assert.equal(await parent.locator(".msg", { hasText: hello }).count(), 1, "the parent's message shows once");
  assert.equal(await teacher.locator(".msg", { hasText: reply }).count(), 1, "the reply shows once");
  await shot(parent, "chat-view-phone");
  await shot(teacher, "chat-view-desktop");
  assert.deepEqual(parent.errors, []);
  assert.deepEqual(teacher.errors, []);
  await parent.context().close();
  await teacher.context().close();
});

test("a long history loads as you scroll up, in order, without repeats", async () => {
  const { http } = await import("../integration/lib/harness.mjs");
  const post = async (path, body, token) => {
    const r = await http("POST", `${srv.base}${path}`, body, token);
    assert.ok(r.status >= 200 && r.status < 300, `POST ${path}: ${r.status} ${r.text}`);
    return r.json;
  };
  const { chat } = await post("/api/chats", { with: fam.teacher.id }, fam.tokens.parent);
  const tag = unique("история");
  const texts = [];
  for (let i = 1; i <= 75; i++) {
    const text = `${tag} №${String(i).padStart(2, "0")}`;
    texts.push(text);
    await post(`/api/chats/${chat.id}/messages`, { text, cid: crypto.randomUUID() }, fam.tokens.teacher);
  }
  const parent = await newPage(browser);
  await signIn(parent, srv.base, fam.parent);
  await parent.goto(`${srv.base}/#/chats/${chat.id}`);
  await parent.locator(".msg-theirs", { hasText: texts[74] }).waitFor();
  const scroller = parent.locator(".msgs-scroll");
  // Scroll to the top until the first message of the run has been loaded.
  for (let i = 0; i < 20 && !(await parent.locator(".msg", { hasText: texts[0] }).count()); i++) {
    const before = await parent.locator(".msg").count();
    await scroller.evaluate((el) => { el.scrollTop = 0; el.dispatchEvent(new Event("scroll")); });
    await parent.waitForFunction((n) => document.querySelectorAll(".msg").length > n ||
      document.querySelector(".older-btn").hidden, before);
  }
  const shown = (await parent.locator(".msg-theirs .msg-text").allTextContents()).filter((t) => t.startsWith(tag));
  assert.deepEqual(shown, texts, "every message once, oldest first");
  assert.deepEqual(parent.errors, []);
  await parent.context().close();
});

test("a teacher's group chat reaches the parent live; removing them closes it", async () => {
  const teacher = await newPage(browser);
  const parent = await newPage(browser, { viewport: PHONE });
  await signIn(parent, srv.base, fam.parent);
  await parent.getByRole("link", { name: /^Сообщения/ }).click();
  await parent.locator("#chat-list").waitFor({ state: "attached" });
  await signIn(teacher, srv.base, fam.teacher);
  await teacher.getByRole("link", { name: /^Сообщения/ }).click();
  await teacher.getByRole("link", { name: "Новый чат" }).click();
  const title = unique("Родители группы");
  await teacher.getByLabel("Название группового чата").fill(title);
  await teacher.locator(".group-form .check", { hasText: fam.parent.name }).first().locator("input").check();
  await teacher.getByRole("button", { name: "Создать групповой чат" }).click();
  const note = unique("Завтра экскурсия");
  await teacher.getByLabel("Текст сообщения").fill(note);
  await teacher.getByLabel("Текст сообщения").press("Enter");
  await teacher.locator(".msg-mine:not(.is-pending)", { hasText: note }).waitFor();

  // The parent was added live: the chat shows up in their list and the message arrives.
  const link = parent.locator(".chat-link", { hasText: title });
  await link.waitFor();
  await link.click();
  await parent.locator(".msg-theirs", { hasText: note }).waitFor();
  await shot(parent, "chat-group-phone");

  // The teacher removes the parent; the parent's open chat closes for writing.
  await teacher.getByRole("link", { name: /^Участники/ }).click();
  await teacher.getByRole("button", { name: `Исключить: ${fam.parent.name}` }).click();
  await parent.getByRole("alert").filter({ hasText: "Вас исключили из этого чата" }).waitFor();
  await shot(teacher, "chat-members");
  assert.deepEqual(teacher.errors, []);
  assert.deepEqual(parent.errors, []);
  await teacher.context().close();
  await parent.context().close();
});
