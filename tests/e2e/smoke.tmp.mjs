import { startHub, demoUsers } from "../integration/lib/harness.mjs";
import { launch, newPage, signIn, family, PHONE } from "./lib/browser.mjs";
const hub = await startHub();
const b = await launch();
try {
  const fam = await family(hub.url, 5);
  const t = await newPage(b);
  t.on('console', m => { if (m.type() === 'error') console.log('console', m.text()); });
  await signIn(t, hub.url, fam.teacher);
  await t.goto(hub.url + '/#/chats/new');
  await t.locator('.contact-list li').first().waitFor();
  await t.screenshot({ path: '/tmp/fake/real-contacts.png', fullPage: true });
  const boxes = t.locator('.group-form .checks input[type=checkbox]');
  console.log('checkboxes', await boxes.count());
  await t.getByLabel('Название группового чата').fill('Родители группы');
  await boxes.nth(0).check(); await boxes.nth(1).check();
  await t.getByRole('button', { name: 'Создать групповой чат' }).click();
  await t.getByLabel('Текст сообщения').waitFor();
  await t.getByLabel('Текст сообщения').fill('Добро пожаловать в чат группы');
  await t.keyboard.press('Enter');
  await t.locator('.msg-mine:not(.is-pending)').waitFor();
  await t.getByRole('link', { name: /Участники/ }).click();
  await t.locator('.chat-members .contact').first().waitFor();
  await t.screenshot({ path: '/tmp/fake/real-members.png', fullPage: true });
  const add = t.getByLabel('Добавить участника');
  const opts = await add.locator('option').count();
  console.log('addable', opts - 1);
  await add.selectOption({ index: 1 });
  await t.getByRole('button', { name: 'Добавить', exact: true }).click();
  await t.getByText('Состав чата изменён.').waitFor();
  const n1 = await t.locator('.chat-members .contact').count();
  await t.locator('.chat-members button', { hasText: 'Исключить' }).first().click();
  await t.waitForFunction((n) => document.querySelectorAll('.chat-members .contact').length === n - 1, n1);
  console.log('members', n1, '->', n1 - 1);
  const a = await newPage(b);
  await signIn(a, hub.url, fam.admin);
  for (const s of ['publish', 'summary', 'settings', 'staff']) { await a.goto(hub.url + '/#/admin/' + s); await a.waitForTimeout(800); await a.screenshot({ path: `/tmp/fake/real-admin-${s}.png`, fullPage: true }); }
  console.log('errors', t.errors, a.errors);
} finally { await b.close(); await hub.stop(); }
