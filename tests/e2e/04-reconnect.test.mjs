// 04-reconnect: a dropped connection recovers what was missed, once each: messages sent to
// the parent while offline appear after reconnecting (resume), and a message the parent
// typed while offline is delivered once when the connection is back; a hub restart is
// survived the same way.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { http, startHub } from "../integration/lib/harness.mjs";
import { launch, newPage, signIn, shot, family, servers, unique, PHONE } from "./lib/browser.mjs";

let srv, browser, fam;

before(async () => {
  srv = await servers();
  browser = await launch();
  fam = await family(srv.base, 3);
});

after(async () => {
  if (browser) await browser.close();
  if (srv) await srv.stop();
});

async function api(method, path, body, token, base = srv.base) {
  const r = await http(method, `${base}${path}`, body, token);
  assert.ok(r.status >= 200 && r.status < 300, `${method} ${path}: ${r.status} ${r.text}`);
  return r.json;
}

test("a dropped connection recovers missed messages, each exactly once", async () => {
  const { chat } = await api("POST", "/api/chats", { with: fam.teacher.id }, fam.tokens.parent);
  const parent = await newPage(browser, { viewport: PHONE });
  await signIn(parent, srv.base, fam.parent);
  await parent.goto(`${srv.base}/#/chats/${chat.id}`);
  const before = unique("до обрыва");
  await api("POST", `/api/chats/${chat.id}/messages`, { text: before, cid: crypto.randomUUID() }, fam.tokens.teacher);
  await parent.locator(".msg-theirs", { hasText: before }).waitFor();

  // The network goes away: the indicator says so.
  await parent.context().setOffline(true);
  await parent.locator("#conn.conn-offline").waitFor();
  await shot(parent, "chat-offline-phone");

  // Meanwhile the teacher writes three messages over HTTP and the parent types one.
  const missed = [unique("пропущенное 1"), unique("пропущенное 2"), unique("пропущенное 3")];
  for (const text of missed) {
    await api("POST", `/api/chats/${chat.id}/messages`, { text, cid: crypto.randomUUID() }, fam.tokens.teacher);
  }
  const offlineText = unique("написано без связи");
  await parent.getByLabel("Текст сообщения").fill(offlineText);
  await parent.getByLabel("Текст сообщения").press("Enter");
  await parent.locator(".msg.is-pending", { hasText: offlineText }).waitFor();

  // Back online: resume replays what was missed, the outbox delivers the pending send.
  await parent.context().setOffline(false);
  await parent.locator("#conn.conn-online").waitFor();
  for (const text of missed) await parent.locator(".msg-theirs", { hasText: text }).waitFor();
  await parent.locator(".msg-mine:not(.is-pending)", { hasText: offlineText }).waitFor();

  for (const text of [before, ...missed, offlineText]) {
    assert.equal(await parent.locator(".msg", { hasText: text }).count(), 1, `"${text}" shows once`);
  }
  const order = await parent.locator(".msg-theirs .msg-text").allTextContents();
  const idx = missed.map((t) => order.indexOf(t));
  assert.deepEqual([...idx].sort((a, b) => a - b), idx, "missed messages keep their order");

  // The hub stored the offline message once, whatever the retries.
  const { messages } = await api("GET", `/api/chats/${chat.id}/messages?limit=50`, undefined, fam.tokens.teacher);
  assert.equal(messages.filter((m) => m.text === offlineText).length, 1, "stored once");
  await shot(parent, "chat-recovered-phone");

  // The hub itself goes away and comes back on the same port (a restart): the client
  // reconnects with backoff and resumes; a message sent through another hub meanwhile arrives once.
  if (srv.hub) {
    const port = srv.hub.port;
    await srv.hub.stop();
    await parent.locator("#conn:not(.conn-online)").waitFor();
    const other = await startHub();
    const during = unique("пока хаб перезапускался");
    try {
      await api("POST", `/api/chats/${chat.id}/messages`, { text: during, cid: crypto.randomUUID() }, fam.tokens.teacher,
        other.url);
    } finally {
      await other.stop();
    }
    srv.hub = await startHub({ port });
    await parent.locator("#conn.conn-online").waitFor({ timeout: 60000 });
    await parent.locator(".msg-theirs", { hasText: during }).waitFor();
    assert.equal(await parent.locator(".msg", { hasText: during }).count(), 1);
  }
  assert.deepEqual(parent.errors, []);
  await parent.context().close();
});
