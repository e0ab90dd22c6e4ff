// 05-a11y: every main screen, on a phone and a desktop: each control in the browser's
// accessibility tree has a name, Tab reaches the main controls with a visible focus, toggles
// answer the keyboard; a screenshot of each screen is saved under tests/e2e/output/.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { launch, openToday, newPage, signIn, shot, family, servers, unnamedControls, tabWalk, PHONE, DESKTOP } from "./lib/browser.mjs";

let srv, browser, fam, closeDay;

before(async () => {
  srv = await servers();
  browser = await launch();
  fam = await family(srv.base, 4);
  closeDay = await openToday(srv.base, fam); // the board is today's; a day off takes no marks
});

after(async () => {
  if (closeDay) await closeDay();
  if (browser) await browser.close();
  if (srv) await srv.stop();
});

async function audit(page, name) {
  await shot(page, name);
  const bad = await unnamedControls(page);
  assert.deepEqual(bad, [], `${name}: controls without an accessible name`);
}

function reached(seen, pred, what) {
  assert.ok(seen.some(pred), `Tab never reached ${what}; reached: ${seen.map((s) => s.name || s.id || s.tag).join(" | ")}`);
}

function focusVisible(seen, where) {
  const hidden = seen.filter((s) => !s.outline);
  assert.deepEqual(hidden, [], `${where}: focus not drawn on some elements`);
}

for (const [kind, viewport] of [["desktop", DESKTOP], ["phone", PHONE]]) {
  test(`screens of a parent are labelled and keyboard-navigable (${kind})`, async () => {
    const page = await newPage(browser, { viewport });
    await page.goto(`${srv.base}/`);
    await page.getByLabel("Логин").waitFor();
    await audit(page, `login-${kind}`);
    let seen = await tabWalk(page, 8);
    reached(seen, (s) => s.name === "Логин", "the login field");
    reached(seen, (s) => s.tag === "button" && s.name === "Войти", "the sign-in button");
    focusVisible(seen, "login");

    await signIn(page, srv.base, fam.parent);
    await page.locator("#feed-list").waitFor({ state: "attached" });
    await page.locator(".feed-main [role=status]:not(:has-text('Загрузка'))").waitFor({ state: "attached" });
    const fold = page.getByRole("button", { name: "Показать календарь" });
    if (await fold.isVisible()) {
      await fold.focus();
      await page.keyboard.press("Enter");
      await page.getByRole("button", { name: "Скрыть календарь" }).waitFor();
    }
    await audit(page, `feed-${kind}`);
    seen = await tabWalk(page, 40);
    reached(seen, (s) => s.name.startsWith("Лента"), "the Лента tab");
    reached(seen, (s) => s.name.startsWith("Сообщения"), "the Сообщения tab");
    reached(seen, (s) => s.name === "Выйти", "the sign-out button");
    reached(seen, (s) => s.name === "Следующий месяц", "the calendar");
    focusVisible(seen, "feed");
    // The calendar answers the arrow keys.
    const day = page.locator(".cal-day[tabindex='0']");
    const before = await day.getAttribute("data-date");
    await day.focus();
    await page.keyboard.press("ArrowRight");
    const after = await page.locator(".cal-day[tabindex='0']").getAttribute("data-date");
    assert.notEqual(after, before, "ArrowRight moves the calendar selection");

    await page.getByRole("link", { name: /^Сообщения/ }).click();
    await page.locator("#chat-list").waitFor();
    await audit(page, `chats-${kind}`);
    await page.getByRole("link", { name: "Новый чат" }).click();
    await page.getByLabel("Поиск по имени").waitFor();
    await page.locator(".contact-list li").first().waitFor();
    await audit(page, `chat-contacts-${kind}`);
    await page.getByLabel("Поиск по имени").fill(fam.teacher.name);
    await page.getByRole("button", { name: `Написать: ${fam.teacher.name}` }).first().click();
    await page.getByLabel("Текст сообщения").waitFor();
    await audit(page, `chat-${kind}`);
    seen = await tabWalk(page, 60);
    reached(seen, (s) => s.name === "Текст сообщения", "the message box");
    reached(seen, (s) => s.name === "Отправить", "the send button");
    focusVisible(seen, "chat");

    await page.getByRole("link", { name: "Пропуски" }).click();
    await page.getByLabel("Причина").waitFor();
    await audit(page, `absences-${kind}`);
    seen = await tabWalk(page, 60);
    reached(seen, (s) => s.name === "Ребёнок", "the child picker");
    reached(seen, (s) => s.name === "Причина", "the reason box");
    reached(seen, (s) => s.name === "Отправить уведомление", "the submit button");
    focusVisible(seen, "absences");
    assert.deepEqual(page.errors, []);
    await page.context().close();
  });
}

test("the teacher's timesheet is labelled and toggles answer the keyboard", async () => {
  const page = await newPage(browser, { viewport: PHONE });
  await signIn(page, srv.base, fam.teacher);
  await page.getByRole("link", { name: "Табель" }).click();
  const rows = page.locator(".ts-board .ts-row");
  await rows.first().waitFor();
  await audit(page, "timesheet-phone");
  const seen = await tabWalk(page, 40);
  reached(seen, (s) => / присутствует$/.test(s.name), "a present toggle");
  reached(seen, (s) => / отсутствует$/.test(s.name), "an absent toggle");
  focusVisible(seen, "timesheet");

  // Space on a toggle marks the child (another child than the families' own).
  const row = page.locator(`.ts-board .ts-row:not([data-child="${fam.child.id}"])`).first();
  if (await row.count()) {
    const present = row.locator(".seg-present");
    await present.focus();
    await page.keyboard.press("Space");
    await row.locator(".seg-present[aria-pressed='true']").waitFor();
  }
  assert.deepEqual(page.errors, []);
  await page.context().close();
});

test("the administrator's screens are labelled and keyboard-navigable", async () => {
  const page = await newPage(browser);
  await signIn(page, srv.base, fam.admin);
  await page.getByRole("link", { name: "Управление" }).click();
  const orgPicker = page.locator("#admin-org");
  if (await orgPicker.count()) await orgPicker.selectOption(String(fam.child.org_id));
  for (const [name, ready] of [["Публикации", "#pub-title"], ["Табель сегодня", "#summary-rows tr"],
    ["Настройки", "#set-deadline"], ["Сотрудники", "#staff-rows tr"], ["Контингент", "#roster-groups section"]]) {
    await page.getByRole("link", { name, exact: true }).click();
    await page.locator(ready).first().waitFor();
    await audit(page, `admin-${name === "Табель сегодня" ? "summary" : name === "Публикации" ? "publish"
      : name === "Настройки" ? "settings" : name === "Контингент" ? "roster" : "staff"}`);
  }
  const seen = await tabWalk(page, 40);
  reached(seen, (s) => s.name === "Публикации", "the admin sections");
  focusVisible(seen, "admin");
  assert.deepEqual(page.errors, []);
  await page.context().close();
});
