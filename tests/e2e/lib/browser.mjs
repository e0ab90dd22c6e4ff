// browser.mjs -- e2e helpers: headless Chromium via playwright-core, sign-in, screenshots,
// the accessibility-tree audit, Tab walks, and picking a demo family (parent, teacher, admin).
import { mkdirSync } from "node:fs";
import { join } from "node:path";
import { chromium } from "playwright-core";
import { ROOT, demoUsers, http, login, openDay } from "../../integration/lib/harness.mjs";

export const CHROMIUM = process.env.EPOS_CHROMIUM || "/usr/bin/chromium";
export const OUT = join(ROOT, "tests/e2e/output");
export const PHONE = { width: 390, height: 844 };
export const DESKTOP = { width: 1280, height: 860 };
/** How long a UI state may take to appear (a generous bound, not a timing assertion). */
export const WAIT = 20000;

const ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
  "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-quic"];

/** Launch Debian's Chromium headless. */
export function launch() {
  return chromium.launch({ executablePath: CHROMIUM, args: ARGS });
}

/** A fresh context (own cookies and sessionStorage) and page, Russian locale; page.errors
 *  collects uncaught page errors so a test can assert there were none. */
export async function newPage(browser, { viewport = DESKTOP, tz = "Asia/Yekaterinburg" } = {}) {
  const context = await browser.newContext({ viewport, locale: "ru-RU", timezoneId: tz });
  context.setDefaultTimeout(WAIT);
  const page = await context.newPage();
  page.errors = [];
  page.on("pageerror", (e) => page.errors.push(e.message));
  return page;
}

/** Sign in through the login form and wait until the live connection is up. */
export async function signIn(page, base, user) {
  await page.goto(`${base}/`);
  await page.getByLabel("Логин").fill(user.login);
  await page.getByLabel("Пароль", { exact: true }).fill(user.password);
  await page.getByRole("button", { name: "Войти" }).click();
  await page.locator("#conn.conn-online").waitFor();
}

/** Save a screenshot under tests/e2e/output/NAME.png. */
export async function shot(page, name) {
  mkdirSync(OUT, { recursive: true });
  await page.screenshot({ path: join(OUT, `${name}.png`), fullPage: true });
}

const CONTROL_ROLES = new Set(["button", "textbox", "checkbox", "radio", "combobox", "searchbox",
  "link", "switch", "menuitem", "tab", "listbox", "slider"]);

/** Every control in the browser's accessibility tree with an empty name: [{role, node}]. */
export async function unnamedControls(page) {
  const cdp = await page.context().newCDPSession(page);
  try {
    await cdp.send("Accessibility.enable");
    const { nodes } = await cdp.send("Accessibility.getFullAXTree");
    const bad = [];
    for (const n of nodes) {
      if (n.ignored) continue;
      const role = n.role && n.role.value;
      if (!CONTROL_ROLES.has(role)) continue;
      const name = n.name && typeof n.name.value === "string" ? n.name.value.trim() : "";
      if (name) continue;
      let node = `#${n.backendDOMNodeId}`;
      if (n.backendDOMNodeId) {
        const d = await cdp.send("DOM.describeNode", { backendNodeId: n.backendDOMNodeId }).catch(() => null);
        if (d) node = `<${d.node.localName} ${(d.node.attributes || []).join(" ")}>`;
      }
      bad.push({ role, node });
    }
    return bad;
  } finally {
    await cdp.detach().catch(() => {});
  }
}

/** Press Tab from the top of the page up to max times; returns what got focus each time:
 *  {id, tag, name, outline} where outline tells whether the focus is visibly drawn. */
export async function tabWalk(page, max = 60) {
  // Move the sequential focus starting point to the top of the document.
  await page.evaluate(() => {
    window.scrollTo(0, 0);
    const start = document.createElement("span");
    start.tabIndex = -1;
    document.body.prepend(start);
    start.focus();
    start.remove();
  });
  const seen = [];
  for (let i = 0; i < max; i++) {
    await page.keyboard.press("Tab");
    seen.push(await page.evaluate(() => {
      const e = document.activeElement;
      if (!e || e === document.body) return null;
      const cs = getComputedStyle(e);
      const label = e.getAttribute("aria-label") || (e.labels && e.labels[0] && e.labels[0].textContent) ||
        e.textContent || "";
      // Focus inside a built-in control's own parts (a date field's picker button) is drawn
      // by the browser itself: the element then does not match :focus.
      const own = e.matches(":focus");
      return { id: e.id, tag: e.tagName.toLowerCase(), name: label.trim().replace(/\s+/g, " ").slice(0, 80),
        outline: !own || (cs.outlineStyle !== "none" && parseFloat(cs.outlineWidth) > 0) };
    }));
  }
  return seen.filter(Boolean);
}

/** Signs in over HTTP; a demo account still flagged for a first-login password change is
 *  changed away and back, so the browser sees the ordinary screens with users.json's password. */
export async function usable(base, user) {
  const r = await login(base, user.login, user.password);
  if (r.user && r.user.must_change_password) {
    const tmp = `${user.password}-tmp-${Date.now()}`;
    let x = await http("POST", `${base}/api/password`, { old_password: user.password, new_password: tmp }, r.token);
    if (x.status !== 200) throw new Error(`password change for ${user.login}: ${x.status} ${x.text}`);
    const r2 = await login(base, user.login, tmp);
    x = await http("POST", `${base}/api/password`, { old_password: tmp, new_password: user.password }, r2.token);
    if (x.status !== 200) throw new Error(`password restore for ${user.login}: ${x.status} ${x.text}`);
    return login(base, user.login, user.password);
  }
  return r;
}

/** Demo families: a parent, one of their children, a teacher bound to the child's group and
 *  an administrator of the child's org, each {user, token} ready to use. n-th one that works. */
export async function family(base, n = 0) {
  const d = demoUsers();
  const users = d.users || [];
  const found = [];
  for (const parent of users.filter((u) => u.role === "parent")) {
    for (const childId of parent.child_ids || []) {
      const child = (d.children || []).find((c) => c.id === childId);
      if (!child) continue;
      const teacher = users.find((u) => (u.role === "teacher" || u.role === "class_teacher") &&
        (u.group_ids || []).includes(child.group_id) && u.login !== parent.login);
      const admin = users.find((u) => u.role === "admin" && u.org_id === child.org_id);
      if (teacher && admin) found.push({ parent, child, teacher, admin });
    }
  }
  if (!found.length) throw new Error("users.json has no parent/teacher/admin family");
  const start = n % found.length;
  let lastErr;
  for (let i = 0; i < found.length; i++) {
    const f = found[(start + i) % found.length];
    try {
      const [p, t, a] = [await usable(base, f.parent), await usable(base, f.teacher), await usable(base, f.admin)];
      await stillRelated(base, f, p.token, t.token, a.token);
      return { ...f, tokens: { parent: p.token, teacher: t.token, admin: a.token },
        group: (d.groups || []).find((g) => g.id === f.child.group_id) };
    } catch (e) {
      lastErr = e;
    }
  }
  throw lastErr;
}

/** Throws unless the relations users.json describes still hold in the database (tests that
 *  ran before may have rebound teachers): the parent sees the child, the teacher is bound to
 *  the child's group, the administrator administers the child's org. */
async function stillRelated(base, f, parentToken, teacherToken, adminToken) {
  const me = async (token) => {
    const r = await http("GET", `${base}/api/me`, undefined, token);
    if (r.status !== 200) throw new Error(`GET /api/me: ${r.status}`);
    return r.json;
  };
  const [p, t, a] = [await me(parentToken), await me(teacherToken), await me(adminToken)];
  if (!(p.children || []).some((c) => c.id === f.child.id && c.group_id === f.child.group_id)) {
    throw new Error(`${f.parent.login} no longer has child ${f.child.id} in group ${f.child.group_id}`);
  }
  if (!(t.groups || []).some((g) => g.id === f.child.group_id)) {
    throw new Error(`${f.teacher.login} is no longer bound to group ${f.child.group_id}`);
  }
  if (!(a.orgs || []).some((o) => o.id === f.child.org_id && (o.roles || []).includes("admin"))) {
    throw new Error(`${f.admin.login} no longer administers org ${f.child.org_id}`);
  }
}

/** A unique text for this run, so assertions never match leftovers of earlier runs. */
export function unique(prefix) {
  return `${prefix} ${Date.now().toString(36)}${Math.floor(Math.random() * 1e4)}`;
}

/** A hub and a worker of the test stack (scripts/test), or an already running hub when
 *  EPOS_E2E_URL is set (e.g. scripts/demo at http://127.0.0.1:8080 with EPOS_DEMO_USERS). */
export async function servers() {
  if (process.env.EPOS_E2E_URL) {
    return { base: process.env.EPOS_E2E_URL.replace(/\/$/, ""), stop: async () => {} };
  }
  const { startHub, startWorker } = await import("../../integration/lib/harness.mjs");
  const hub = await startHub();
  let worker;
  try {
    worker = await startWorker();
  } catch (e) {
    await hub.stop().catch(() => {});
    throw e;
  }
  return {
    base: hub.url, hub, worker,
    /* A test may replace .hub (a restart on the same port): stop what is current. */
    async stop() {
      await this.worker.stop();
      await this.hub.stop();
    },
  };
}

/** The family's administrator opens today of the child's org for marks (a day off takes
 *  none; the teacher's board is today's). Resolves a function putting the day back. */
export async function openToday(base, fam) {
  const r = await http("GET", `${base}/api/timesheet?group_id=${fam.child.group_id}`, undefined, fam.tokens.teacher);
  if (r.status !== 200) throw new Error(`GET /api/timesheet: ${r.status} ${r.text}`);
  return openDay(base, fam.child.org_id, r.json.date, fam.tokens.admin);
}
