// 02-absence: a parent's absence notice appears in the teacher's open timesheet without a reload;
// the parent sees it in their list and can withdraw it.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { http } from "../integration/lib/harness.mjs";
import { launch, newPage, signIn, shot, family, servers, unique, PHONE } from "./lib/browser.mjs";

let srv, browser, fam;

before(async () => {
  srv = await servers();
  browser = await launch();
  fam = await family(srv.base, 1);
});

after(async () => {
  if (browser) await browser.close();
  if (srv) await srv.stop();
});

test("a parent's absence notice appears in the teacher's open timesheet live", async () => {
  // Earlier tests may have left an active notice for the child: one per day is allowed.
  const list = await http("GET", `${srv.base}/api/absences?child_id=${fam.child.id}`, undefined, fam.tokens.parent);
  for (const a of (list.json && list.json.absences) || []) {
    if (a.status === "active") await http("DELETE", `${srv.base}/api/absences/${a.id}`, undefined, fam.tokens.parent);
  }
  const teacher = await newPage(browser);
  const parent = await newPage(browser, { viewport: PHONE });
  await signIn(teacher, srv.base, fam.teacher);
  await teacher.getByRole("link", { name: "Табель" }).click();
  const row = teacher.locator(`.ts-board .ts-row[data-child="${fam.child.id}"]`).first();
  await row.waitFor();
  await shot(teacher, "timesheet");

  await signIn(parent, srv.base, fam.parent);
  await parent.getByRole("link", { name: "Пропуски" }).click();
  await parent.getByLabel("Ребёнок").selectOption(String(fam.child.id));
  const reason = unique("Болеет, температура");
  await parent.getByLabel("Причина").fill(reason);
  await parent.getByRole("button", { name: "Отправить уведомление" }).click();
  const card = parent.locator("#absence-list .absence", { hasText: reason });
  await card.waitFor();

  // The teacher's page was not reloaded: the notice arrives over the live connection.
  await row.locator(".tag-parent", { hasText: "Уведомление родителя" }).waitFor();
  await row.getByText(reason).waitFor();
  await shot(teacher, "timesheet-notice");
  await shot(parent, "absences-phone");

  // Withdrawing it is visible to the parent right away.
  parent.once("dialog", (d) => d.accept());
  await card.getByRole("button", { name: /^Отозвать/ }).click();
  await parent.locator("#absence-list .absence.is-withdrawn", { hasText: reason }).waitFor();
  assert.deepEqual(teacher.errors, []);
  assert.deepEqual(parent.errors, []);
  await teacher.context().close();
  await parent.context().close();
});
