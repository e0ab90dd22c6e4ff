// 43-mail-text: the exact Russian text of each kind of mail as the SMTP server receives it, for a
// boy and a girl, a father and a mother, a woman teacher and a man: gender agreement («отмечена
// отсутствующей», «он пришёл»), names declined («от Михайловой Ольги Никитичны»), plurals.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";
import { demoUsers, demoUser, http, login, mailbox, psql, startHub, startWorker, until } from "./lib/harness.mjs";

const demo = demoUsers();
const KG = demo.orgs.find((o) => o.kind === "kindergarten");
const ADMIN = demoUser({ role: "admin", org_id: KG.id });
const parentsOf = (c) => demo.users.filter((u) => u.role === "parent" && u.child_ids.includes(c.id));
// A kindergarten group with a bound teacher and two children whose parents differ.
const GROUP = demo.groups.find((g) => g.org_id === KG.id &&
  demo.users.some((u) => u.role === "teacher" && u.group_ids.includes(g.id)) &&
  demo.children.filter((c) => c.group_id === g.id && parentsOf(c).length === 1).length >= 2);
const TEACHER = demoUser((u) => u.role === "teacher" && u.group_ids.includes(GROUP.id));
const [BOY, GIRL] = demo.children.filter((c) => c.group_id === GROUP.id && parentsOf(c).length === 1 &&
  parentsOf(c)[0].child_ids.length === 1);
const FATHER = parentsOf(BOY)[0];
const MOTHER = parentsOf(GIRL)[0];

// The names this file gives them (restored after), so the expected text is exact.
const NAMES = [
  ["users", TEACHER.id, "Михайлова Ольга Никитична"],
  ["users", ADMIN.id, "Кузнецов Сергей Петрович"],
  ["users", FATHER.id, "Петров Иван Сергеевич"],
  ["users", MOTHER.id, "Сидорова Анна Павловна"],
  ["children", BOY.id, "Петров Пётр Иванович"],
  ["children", GIRL.id, "Сидорова Мария Олеговна"],
];

let hub, worker, today, date, saved, savedQuiet;
const mail = mailbox();
const tok = {};

before(async () => {
  mail.ok();
  saved = [];
  for (const [table, id, name] of NAMES) {
    const [r] = await psql(`SELECT full_name FROM ${table} WHERE id = $1`, [id]);
    saved.push([table, id, r.full_name]);
    await psql(`UPDATE ${table} SET full_name = $2 WHERE id = $1`, [id, name]);
  }
  savedQuiet = await psql("SELECT id, quiet_from::text AS f, quiet_to::text AS t FROM orgs");
  await psql("UPDATE orgs SET quiet_from = '00:00', quiet_to = '00:00'");
  hub = await startHub();
  for (const u of [ADMIN, TEACHER, FATHER, MOTHER]) tok[u.id] = (await login(hub.url, u.login, u.password)).token;
  today = (await psql("SELECT epos_org_today($1)::text AS d", [KG.id]))[0].d;
  date = `${today.slice(8, 10)}.${today.slice(5, 7)}.${today.slice(0, 4)}`;
  const cal = await api("PUT", `/api/orgs/${KG.id}/calendar/${today}`, { kind: "workday" }, ADMIN);
  assert.equal(cal.status, 200, cal.text);
  for (const c of [BOY, GIRL]) {
    await psql("UPDATE absence_notices SET status = 'withdrawn' WHERE child_id = $1 AND status = 'active'", [c.id]);
    await psql("DELETE FROM attendance_marks WHERE child_id = $1 AND day = $2::date", [c.id, today]);
    await psql("DELETE FROM unexplained_sent WHERE child_id = $1 AND day = $2::date", [c.id, today]);
  }
  worker = await startWorker({ env: { EPOS_DIGEST_DELAY_S: "1", EPOS_JOB_BACKOFF_MS: "200" } });
});

after(async () => {
  mail.ok();
  await worker?.stop();
  await hub?.stop();
  for (const [table, id, name] of saved ?? []) await psql(`UPDATE ${table} SET full_name = $2 WHERE id = $1`, [id, name]);
  for (const o of savedQuiet ?? []) {
    await psql("UPDATE orgs SET quiet_from = $2::time, quiet_to = $3::time WHERE id = $1", [o.id, o.f, o.t]);
  }
});

const api = (method, path, body, user) => http(method, `${hub.url}${path}`, body, tok[user.id]);
const text = (m) => m.text.replace(/\r\n/g, "\n");

async function mark(child, status) {
  const r = await api("PUT", "/api/timesheet", { group_id: GROUP.id, date: today, marks: [{ child_id: child.id, status }] },
    TEACHER);
  assert.equal(r.status, 200, r.text);
}

test("absent without a notice: «отмечен отсутствующим» to the father, «отмечена отсутствующей» to the mother", async () => {
  await mark(BOY, "absent");
  await mark(GIRL, "absent");
  const boy = await mail.waitFor({ messageId: `<absence.unexplained.${BOY.id}.${today}.${FATHER.id}@epos.local>` });
  const girl = await mail.waitFor({ messageId: `<absence.unexplained.${GIRL.id}.${today}.${MOTHER.id}@epos.local>` });
  const tail = "а уведомления об отсутствии от родителей нет.\n\n" +
    "Если ребёнок отсутствует по уважительной причине, подайте уведомление в ЭПОС, раздел «Пропуски».\n";
  assert.equal(boy.subject, `Петров Пётр Иванович: отсутствие без уведомления ${date}`);
  assert.equal(text(boy), `Здравствуйте!\n\n${date} Петров Пётр Иванович отмечен в табеле «${GROUP.name}» ` +
    `отсутствующим, ${tail}`);
  assert.equal(girl.subject, `Сидорова Мария Олеговна: отсутствие без уведомления ${date}`);
  assert.equal(text(girl), `Здравствуйте!\n\n${date} Сидорова Мария Олеговна отмечена в табеле «${GROUP.name}» ` +
    `отсутствующей, ${tail}`);
  assert.doesNotMatch(text(boy) + text(girl), /\((а|ей|ая)\)/, "no «отмечен(а)»");
});

test("a notice: «от <genitive>» to the teacher, the parent told; marked present: «он пришёл» / «она пришла»", async () => {
  for (const c of [BOY, GIRL]) await psql("DELETE FROM attendance_marks WHERE child_id = $1 AND day = $2::date", [c.id, today]);
  const file = async (child, parent, reason) => {
    const r = await api("POST", "/api/absences", { child_id: child.id, from: today, reason, cid: randomUUID() }, parent);
    assert.equal(r.status, 201, r.text);
    return r.json.absence.id;
  };
  const nb = await file(BOY, FATHER, "Простуда");
  const ng = await file(GIRL, MOTHER, "Семейные обстоятельства");

  const toTeacher = await mail.waitFor({ messageId: `<absence.notice.${ng}.${TEACHER.id}@epos.local>` });
  assert.equal(toTeacher.subject, `Уведомление об отсутствии: Сидорова Мария Олеговна, ${date}`);
  assert.equal(text(toTeacher), "Здравствуйте!\n\nУведомление об отсутствии от Сидоровой Анны Павловны: " +
    `Сидорова Мария Олеговна («${GROUP.name}») будет отсутствовать ${date}.\n` +
    "Причина: Семейные обстоятельства\n\nОтметка уже внесена в табель.\n");
  const fromFather = await mail.waitFor({ messageId: `<absence.notice.${nb}.${TEACHER.id}@epos.local>` });
  assert.match(text(fromFather), /^Здравствуйте!\n\nУведомление об отсутствии от Петрова Ивана Сергеевича: Петров Пётр Иванович/);

  const applied = await mail.waitFor({ messageId: `<absence.status.${nb}.applied.${FATHER.id}@epos.local>` });
  assert.equal(applied.subject, `Заявление об отсутствии получено: Петров Пётр Иванович, ${date}`);
  assert.equal(text(applied), "Здравствуйте!\n\nВаше заявление об отсутствии Петрова Петра Ивановича " +
    `(${date}) получено и отмечено в табеле.\nПричина: Простуда\n`);

  await mark(BOY, "present");
  await mark(GIRL, "present");
  const boy = await mail.waitFor({ messageId: `<absence.status.${nb}.${today}.corrected.${FATHER.id}@epos.local>` });
  const girl = await mail.waitFor({ messageId: `<absence.status.${ng}.${today}.corrected.${MOTHER.id}@epos.local>` });
  assert.equal(boy.subject, `Петров Пётр Иванович: отмечен присутствующим ${date}`);
  assert.equal(text(boy), `Здравствуйте!\n\nВы сообщали, что Петров Пётр Иванович будет отсутствовать ${date}. ` +
    "Воспитатель Михайлова Ольга Никитична отметила, что он пришёл.\nОтметка в табеле исправлена.\n");
  assert.equal(girl.subject, `Сидорова Мария Олеговна: отмечена присутствующей ${date}`);
  assert.equal(text(girl), `Здравствуйте!\n\nВы сообщали, что Сидорова Мария Олеговна будет отсутствовать ${date}. ` +
    "Воспитатель Михайлова Ольга Никитична отметила, что она пришла.\nОтметка в табеле исправлена.\n");
});

test("the chat digest: «N сообщений от <genitive>» of a woman and of a man", async () => {
  await psql("DELETE FROM digest_pending WHERE user_id = ANY($1::bigint[])", [[FATHER.id, MOTHER.id]]);
  const before = mail.snapshot();
  const send = async (from, to, texts) => {
    const chat = await api("POST", "/api/chats", { with: to.id }, from);
    assert.equal(chat.status, 200, chat.text);
    for (const t of texts) {
      const r = await api("POST", `/api/chats/${chat.json.chat.id}/messages`, { text: t, cid: randomUUID() }, from);
      assert.ok([200, 201].includes(r.status), r.text);
    }
  };
  const tag = randomUUID().slice(0, 8);
  await send(TEACHER, FATHER, [`Первое ${tag}`, `Второе ${tag}`]);
  await send(ADMIN, MOTHER, [`Одно ${tag}`]);
  const digest = (u, n) => mail.waitFor((m) => m.envelopeTo.length === 1 && m.subject === "Непрочитанные сообщения в ЭПОС" &&
    m.text.includes(tag) && m.text.split(tag).length - 1 === n && m.headers["x-epos-kind"]?.[0] === "chat.digest" &&
    u.some((x) => m.messageId.startsWith(`<chat.digest.${x}.`)), { exclude: before, timeoutMs: 30000 });
  const toFather = await digest([FATHER.id], 2);
  assert.match(text(toFather), new RegExp("^Здравствуйте!\n\nУ вас \\d+ непрочитанн"));
  assert.match(text(toFather), new RegExp(`\n\n2 сообщения от Михайловой Ольги Никитичны:\n` +
    `  Михайлова Ольга Никитична \\(\\d\\d\\.\\d\\d \\d\\d:\\d\\d\\): Первое ${tag}\n` +
    `  Михайлова Ольга Никитична \\(\\d\\d\\.\\d\\d \\d\\d:\\d\\d\\): Второе ${tag}\n`));
  const toMother = await digest([MOTHER.id], 1);
  assert.match(text(toMother), new RegExp(`\n\n1 сообщение от Кузнецова Сергея Петровича:\n` +
    `  Кузнецов Сергей Петрович \\(\\d\\d\\.\\d\\d \\d\\d:\\d\\d\\): Одно ${tag}\n`));
  assert.match(text(toMother), /\n\nПрочитать и ответить: \S+\n$/);
  await until(async () => (await psql("SELECT count(*)::int AS n FROM digest_pending WHERE user_id = ANY($1::bigint[])",
    [[FATHER.id, MOTHER.id]]))[0].n === 0, { what: "the digests collected" });
});
