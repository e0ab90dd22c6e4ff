// 08-live-entitlements: the open timesheet board follows the administrator at once — a teacher
// unbound from her group loses its board, bound again gets it back, and a new deadline shows
// without a reload.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { http } from "../integration/lib/harness.mjs";
import { launch, newPage, signIn, family, servers } from "./lib/browser.mjs";

let srv, browser, fam;

before(async () => {
  srv = await servers();
  browser = await launch();
  // A teacher bound by teacher_groups only (a class teacher keeps her class when unbound).
  for (let n = 4; n < 40 && (!fam || fam.teacher.role !== "teacher"); n++) fam = await family(srv.base, n);
  assert.equal(fam.teacher.role, "teacher");
});

after(async () => {
  if (browser) await browser.close();
  if (srv) await srv.stop();
});

test("unbind, bind again and a new deadline reach the teacher's open board", async () => {
  const gid = fam.child.group_id;
  const org = fam.child.org_id;
  const admin = fam.tokens.admin;
  const staff = (await http("GET", `${srv.base}/api/orgs/${org}/staff`, undefined, admin)).json;
  const teachers = staff.groups.find((g) => g.id === gid).teacher_ids;
  const me = (await http("GET", `${srv.base}/api/me`, undefined, admin)).json;
  const deadline = me.orgs.find((o) => o.id === org).timesheet_deadline;
  const put = async (ids) => {
    const r = await http("PUT", `${srv.base}/api/groups/${gid}/teachers`, { user_ids: ids }, admin);
    assert.equal(r.status, 200, r.text);
  };

  const page = await newPage(browser);
  await signIn(page, srv.base, fam.teacher);
  await page.goto(`${srv.base}/#/timesheet`);
  const board = page.getByRole("heading", { name: fam.group.name, exact: true });
  await board.waitFor();
  try {
    await put(teachers.filter((id) => id !== fam.teacher.id));
    await board.waitFor({ state: "detached" });
    await put(teachers);
    await board.waitFor();
    const r = await http("PATCH", `${srv.base}/api/orgs/${org}`, { timesheet_deadline: "16:35" }, admin);
    assert.equal(r.status, 200, r.text);
    await page.getByText("16:35").first().waitFor();
  } finally {
    await put(teachers);
    await http("PATCH", `${srv.base}/api/orgs/${org}`, { timesheet_deadline: deadline }, admin);
  }
  assert.deepEqual(page.errors, []);
  await page.context().close();
});
