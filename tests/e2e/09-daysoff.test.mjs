// 09-daysoff: a parent's notice for a day off stays on the teacher's board after a reload, said to
// be for a day off; the board takes no marks that day (no bulk «Остальные присутствуют»), and the
// parent's list says the notice is for a day off, not «учтено в табеле».
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";
import { http } from "../integration/lib/harness.mjs";
import { launch, newPage, signIn, shot, family, servers, unique, PHONE } from "./lib/browser.mjs";

let srv, browser, fam, today, kindBefore;

before(async () => {
  srv = await servers();
  browser = await launch();
  fam = await family(srv.base, 2);
  today = (await http("GET", `${srv.base}/api/timesheet?group_id=${fam.child.group_id}`, undefined, fam.tokens.teacher)).json.date;
  const month = await http("GET", `${srv.base}/api/orgs/${fam.child.org_id}/calendar?month=${today.slice(0, 7)}`,
    undefined, fam.tokens.admin);
  kindBefore = month.json.days.find((d) => d.date === today).kind;
});

after(async () => {
  if (kindBefore) {
    await http("PUT", `${srv.base}/api/orgs/${fam.child.org_id}/calendar/${today}`, { kind: kindBefore }, fam.tokens.admin);
  }
  if (browser) await browser.close();
  if (srv) await srv.stop();
});

test("a notice for a day off stays on the teacher's board after a reload, and the day takes no marks", async () => {
  const api = async (method, path, body, token) => {
    const r = await http(method, `${srv.base}${path}`, body, token);
    assert.ok(r.status >= 200 && r.status < 300, `${method} ${path}: ${r.status} ${r.text}`);
    return r.json;
  };
  // Today is a holiday of the org's calendar, and the child has no other active notice.
  await api("PUT", `/api/orgs/${fam.child.org_id}/calendar/${today}`, { kind: "holiday" }, fam.tokens.admin);
  const { absences } = await api("GET", `/api/absences?child_id=${fam.child.id}`, undefined, fam.tokens.parent);
  for (const a of absences) if (a.status === "active") await api("DELETE", `/api/absences/${a.id}`, undefined, fam.tokens.parent);
  const reason = unique("Болеет");
  await api("POST", "/api/absences", { child_id: fam.child.id, from: today, reason, cid: randomUUID() }, fam.tokens.parent);

  const teacher = await newPage(browser, { viewport: PHONE });
  await signIn(teacher, srv.base, fam.teacher);
  await teacher.getByRole("link", { name: "Табель" }).click();
  const board = teacher.locator(`.ts-board[data-group="${fam.child.group_id}"]`);
  const row = board.locator(`.ts-row[data-child="${fam.child.id}"]`);
  for (let i = 0; i < 2; i++) {
    if (i) await teacher.reload();
    await row.locator(".tag-parent", { hasText: "Уведомление родителя" }).waitFor();
    await row.getByText(reason).waitFor();
    await row.getByText("на выходной день").waitFor();
    await board.getByText("выходной день", { exact: true }).waitFor();
    assert.equal(await row.locator(".seg-present").isDisabled(), true, "no marks on a day off");
    assert.equal(await board.getByRole("button", { name: "Остальные присутствуют" }).isVisible(), false);
  }
  await shot(teacher, "timesheet-day-off-phone");

  const parent = await newPage(browser, { viewport: PHONE });
  await signIn(parent, srv.base, fam.parent);
  await parent.getByRole("link", { name: "Пропуски" }).click();
  const card = parent.locator("#absence-list .absence", { hasText: reason });
  await card.getByText("на выходной день").waitFor();
  assert.equal(await card.getByText("учтено в табеле").count(), 0);
  await shot(parent, "absences-day-off-phone");
  assert.deepEqual(teacher.errors, []);
  assert.deepEqual(parent.errors, []);
  await teacher.context().close();
  await parent.context().close();
});
