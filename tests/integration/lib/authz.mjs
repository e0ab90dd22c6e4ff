// authz.mjs -- the world of the authorization matrix (50-authz-matrix): actors and the objects each
// stands in a given relation to, picked from the demo data, and a fingerprint of every table a
// refused write could touch.
import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";
import { spawn } from "node:child_process";
import { createInterface } from "node:readline";
import { PG_CONNINFO, ctl, demoUsers, http, login, psql } from "./harness.mjs";

// One long-lived psycopg2 connection answering a JSON line per JSON line: the matrix takes a
// fingerprint around every refused write, and a process per query would cost a second each.
const SESSION_PY = String.raw`
import sys, json, psycopg2
conn = psycopg2.connect(sys.argv[1])
conn.autocommit = True
for line in sys.stdin:
    cur = conn.cursor()
    try:
        cur.execute(json.loads(line)["sql"])
        print(json.dumps({"row": [str(v) for v in cur.fetchone()]}), flush=True)
    except psycopg2.Error as e:
        print(json.dumps({"error": str(e)}), flush=True)
`;

/** A query session: query(sql) resolves the first row's values as text. close() ends it. */
export function pgSession() {
  const proc = spawn("/usr/bin/python3", ["-c", SESSION_PY, PG_CONNINFO], { stdio: ["pipe", "pipe", "inherit"] });
  const waiting = [];
  createInterface({ input: proc.stdout }).on("line", (line) => {
    const { row, error } = JSON.parse(line);
    const w = waiting.shift();
    if (error) w.reject(new Error(error));
    else w.resolve(row);
  });
  return {
    query: (sql) => new Promise((resolve, reject) => {
      waiting.push({ resolve, reject });
      proc.stdin.write(JSON.stringify({ sql }) + "\n");
    }),
    close: () => new Promise((res) => {
      proc.on("close", res);
      proc.stdin.end();
    }),
  };
}

/** People who appear once in users.json (one role), so a cell tests one role only. */
function pure(demo) {
  const n = new Map();
  for (const u of demo.users) n.set(u.id, (n.get(u.id) || 0) + 1);
  return demo.users.filter((u) => n.get(u.id) === 1);
}

/**
 * Pick the actors and, for each, the objects of each relation:
 *   own          — theirs (their child, their bound group or class, their org, a chat they are in)
 *   other_family — another family's child in their group, a chat of another family of that group
 *   other_group  — a group of their org they have no tie to, and its child
 *   other_org    — the other org, its group, its child, a chat there
 * Chats and news the cells need are made here through the API.
 */
export async function buildWorld(base) {
  const demo = demoUsers();
  const one = pure(demo);
  const [KG, SCHOOL] = [demo.orgs.find((o) => o.kind === "kindergarten"), demo.orgs.find((o) => o.kind === "school")];
  const groupsOf = (org) => demo.groups.filter((g) => g.org_id === org.id);
  const childrenOf = (gid) => demo.children.filter((c) => c.group_id === gid);
  const parentsOf = (child) => demo.users.filter((u) => u.role === "parent" && u.child_ids.includes(child.id));
  const teachersOf = (gid) => one.filter((u) => u.role === "teacher" && u.group_ids.includes(gid));

  // A kindergarten parent whose child's group has a bound teacher and another family.
  const parent = one.find((u) => u.role === "parent" && u.org_id === KG.id && u.child_ids.length === 1 &&
    (() => {
      const c = demo.children.find((x) => x.id === u.child_ids[0]);
      return teachersOf(c.group_id).length >= 2 &&
        childrenOf(c.group_id).some((o) => !u.child_ids.includes(o.id) && parentsOf(o).some((p) => p.id !== u.id));
    })());
  assert.ok(parent, "a kindergarten parent with a bound teacher and another family in the group");
  const child = demo.children.find((c) => c.id === parent.child_ids[0]);
  const G = child.group_id;
  const [teacher, teacher2] = teachersOf(G);
  const admin = one.find((u) => u.role === "admin" && u.org_id === KG.id);
  const schoolAdmin = one.find((u) => u.role === "admin" && u.org_id === SCHOOL.id);
  const classTeacher = one.find((u) => u.role === "class_teacher" && u.org_id === SCHOOL.id &&
    childrenOf(u.group_ids[0]).filter((c) => parentsOf(c).length).length >= 2);
  assert.ok(admin && schoolAdmin && classTeacher, "admins of both orgs and a class teacher");
  const S = classTeacher.group_ids[0];

  const otherFamilyChild = childrenOf(G).find((c) => c.id !== child.id && parentsOf(c).some((p) => p.id !== parent.id));
  const otherFamilyParent = parentsOf(otherFamilyChild).find((p) => p.id !== parent.id);
  const kgOther = groupsOf(KG).find((g) => g.id !== G && !teacher.group_ids.includes(g.id) && childrenOf(g.id).length);
  const schoolOther = groupsOf(SCHOOL).find((g) => g.id !== S && !classTeacher.group_ids.includes(g.id) &&
    childrenOf(g.id).length);
  const classChild = childrenOf(S).find((c) => parentsOf(c).length);
  const classParent = parentsOf(classChild)[0];
  const schoolTeacher = one.find((u) => u.org_id === SCHOOL.id && u.role === "teacher");

  const tokens = {};
  for (const u of [parent, teacher, teacher2, admin, schoolAdmin, classTeacher, otherFamilyParent, classParent,
    schoolTeacher]) {
    tokens[u.id] = (await login(base, u.login, u.password)).token;
  }
  const as = (u) => (method, path, body) => http(method, `${base}${path}`, body, tokens[u.id]);
  const direct = async (a, b) => {
    const r = await as(a)("POST", "/api/chats", { with: b.id });
    assert.equal(r.status, 200, r.text);
    const id = r.json.chat.id;
    const m = await as(a)("POST", `/api/chats/${id}/messages`, { text: "Сообщение для проверки прав", cid: randomUUID() });
    assert.equal(m.status, 200, m.text);
    return id;
  };
  const chats = {
    parentTeacher: await direct(parent, teacher), // P, T
    adminTeacher: await direct(admin, teacher2), // A
    otherFamily: await direct(teacher2, otherFamilyParent), // nobody of the actors but T2
    classChat: await direct(classTeacher, classParent), // CT
    school: await direct(schoolAdmin, schoolTeacher), // the other org for KG actors
    kg: await direct(teacher2, otherFamilyParent),
  };
  // News that asks for acknowledgement in each org, by its admin.
  const news = async (author, org) => {
    const r = await as(author)("POST", "/api/news",
      { org_id: org.id, title: "Проверка прав: новость", require_ack: true, cid: randomUUID() });
    assert.equal(r.status, 201, r.text);
    return r.json.item.id;
  };
  const newsKG = await news(admin, KG);
  const newsSchool = await news(schoolAdmin, SCHOOL);
  // An active notice of another family (the parent may not withdraw it).
  const today = (await psql("SELECT epos_org_today($1)::text AS d", [KG.id]))[0].d;
  const far = (await psql("SELECT ($1::date + 150)::text AS d", [today]))[0].d;
  await psql("UPDATE absence_notices SET status = 'withdrawn' WHERE child_id = $1 AND status = 'active'",
    [otherFamilyChild.id]);
  const notice = await as(otherFamilyParent)("POST", "/api/absences",
    { child_id: otherFamilyChild.id, from: far, reason: "Проверка прав", cid: randomUUID() });
  assert.equal(notice.status, 201, notice.text);

  // A staff member of the kindergarten for the credentials cells that succeed.
  const name = `authz-staff-${process.pid}-${Date.now()}`;
  const add = await ctl(["user", "add", "--login", name, "--name", "Сотрудник Для Проверки", "--email",
    `${name}@example.test`, "--role", "teacher", "--org", String(KG.id)]);
  assert.equal(add.code, 0, add.output);
  const [fresh] = await psql("SELECT id FROM users WHERE login = $1", [name]);

  const kgG = { id: G }, kgO = { id: kgOther.id }, scS = { id: S }, scO = { id: schoolOther.id };
  const firstChild = (gid) => childrenOf(gid)[0];
  const parentOfGroup = (gid) => childrenOf(gid).flatMap(parentsOf).find((p) => p.id !== parent.id)?.id;
  // Each actor's objects per relation (null: the relation means nothing for this actor).
  const rel = {
    admin: {
      user: admin, org: KG, otherOrg: SCHOOL,
      child: { own: child, other_family: otherFamilyChild, other_group: firstChild(kgOther.id), other_org: firstChild(S) },
      group: { own: kgG, other_group: kgO, other_org: scS },
      chat: { own: chats.adminTeacher, other_family: chats.otherFamily, other_org: chats.school },
      news: { own: newsKG, other_org: newsSchool },
      staff: { own: Number(fresh.id), other_org: schoolTeacher.id },
      person: { own: teacher.id, other_family: otherFamilyParent.id, other_group: parentOfGroup(kgOther.id),
        other_org: classParent.id },
    },
    teacher: {
      user: teacher, org: KG, otherOrg: SCHOOL,
      child: { own: child, other_family: otherFamilyChild, other_group: firstChild(kgOther.id), other_org: firstChild(S) },
      group: { own: kgG, other_group: kgO, other_org: scS },
      chat: { own: chats.parentTeacher, other_family: chats.otherFamily, other_org: chats.school },
      news: { own: newsKG, other_org: newsSchool },
      staff: { own: teacher2.id, other_org: schoolTeacher.id },
      person: { own: parent.id, other_family: otherFamilyParent.id, other_group: teacher2.id,
        other_org: classParent.id },
    },
    class_teacher: {
      user: classTeacher, org: SCHOOL, otherOrg: KG,
      child: { own: classChild, other_family: childrenOf(S).find((c) => c.id !== classChild.id) || null,
        other_group: firstChild(schoolOther.id), other_org: child },
      group: { own: scS, other_group: scO, other_org: kgG },
      chat: { own: chats.classChat, other_family: chats.school, other_org: chats.kg },
      news: { own: newsSchool, other_org: newsKG },
      staff: { own: schoolTeacher.id, other_org: teacher2.id },
      person: { own: classParent.id, other_family: schoolAdmin.id, other_group: schoolTeacher.id,
        other_org: otherFamilyParent.id },
    },
    parent: {
      user: parent, org: KG, otherOrg: SCHOOL,
      child: { own: child, other_family: otherFamilyChild, other_group: firstChild(kgOther.id), other_org: firstChild(S) },
      group: { own: kgG, other_group: kgO, other_org: scS },
      chat: { own: chats.parentTeacher, other_family: chats.otherFamily, other_org: chats.school },
      news: { own: newsKG, other_org: newsSchool },
      staff: { own: teacher.id, other_org: schoolTeacher.id },
      person: { own: teacher.id, other_family: otherFamilyParent.id, other_group: parentOfGroup(kgOther.id),
        other_org: classTeacher.id },
    },
  };
  return { demo, KG, SCHOOL, tokens, as, rel, today, far, notice: notice.json.absence.id, chats,
    teachersOf: (gid) => demo.users.filter((u) => u.role !== "parent" && u.group_ids.includes(gid)).map((u) => u.id) };
}

/** A fingerprint of everything a refused request could have written (one row of text). */
export function fingerprint(session) {
  return session.query(`
    SELECT (SELECT count(*) FROM events) AS events,
           (SELECT count(*) FROM outbox) AS outbox,
           (SELECT count(*) FROM chat_messages) AS messages,
           (SELECT md5(string_agg(chat_id || ':' || user_id || ':' || read_seq, ',' ORDER BY chat_id, user_id))
              FROM chat_members) AS members,
           (SELECT count(*) FROM chats) AS chats,
           (SELECT md5(coalesce(string_agg(id || ':' || status, ',' ORDER BY id), '')) FROM absence_notices) AS notices,
           (SELECT md5(coalesce(string_agg(child_id || ':' || day || ':' || status, ',' ORDER BY child_id, day), ''))
              FROM attendance_marks) AS marks,
           (SELECT count(*) FROM news) AS news,
           (SELECT count(*) FROM news_acks) AS acks,
           (SELECT md5(string_agg(concat_ws(':', id, tz, timesheet_deadline, quiet_from, quiet_to), ',' ORDER BY id))
              FROM orgs) AS orgs,
           (SELECT md5(coalesce(string_agg(org_id || ':' || day || ':' || kind, ',' ORDER BY org_id, day), ''))
              FROM org_calendar) AS calendar,
           (SELECT md5(coalesce(string_agg(user_id || ':' || group_id, ',' ORDER BY user_id, group_id), ''))
              FROM teacher_groups) AS bindings,
           (SELECT count(*) FROM credential_grants) AS grants,
           (SELECT md5(string_agg(id || ':' || coalesce(password_hash, '-'), ',' ORDER BY id)) FROM users) AS passwords,
           (SELECT count(*) FILTER (WHERE revoked_at IS NOT NULL) FROM sessions) AS revoked`);
}
