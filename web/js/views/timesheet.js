// Teacher: today's timesheet of each bound group — one-tap marks, parent notices, live updates, deadline.

import { get, put } from '../api.js';
import { h, clear, guarded, formatDate, todayIn, minutesNowIn, plural, emptyNote, toast, showFailure } from '../ui.js';

export function mount(root, ctx) {
  const groups = ctx.me.groups || [];
  const orgOf = (g) => (ctx.me.orgs || []).find((o) => o.id === g.org_id) || {};
  const boards = new Map();
  const wrap = h('div', { class: 'stack' }, h('h1', null, 'Табель посещаемости'));
  root.appendChild(wrap);
  if (!groups.length) {
    wrap.appendChild(h('div', { class: 'card' }, emptyNote('Вам пока не назначены группы. Обратитесь к администратору.')));
    return {};
  }
  if (groups.length > 1) {
    wrap.appendChild(h('nav', { class: 'jump', 'aria-label': 'Группы' }, h('ul', { class: 'inline' },
      groups.map((g) => h('li', null, h('a', { href: `#/timesheet`, onclick: (e) => {
        e.preventDefault();
        const b = boards.get(g.id);
        if (b) { b.el.scrollIntoView(); b.el.focus(); }
      } }, g.name))))));
  }
  for (const g of groups) {
    const b = board(ctx, g, orgOf(g));
    boards.set(g.id, b);
    wrap.appendChild(b.el);
  }
  ctx.scope.on('timesheet.mark', (d) => { const b = boards.get(d.group_id); if (b) b.mark(d); });
  ctx.scope.on('absence.notice', (d) => { const b = boards.get(d.group_id); if (b) b.notice(d); });
  ctx.scope.on('timesheet.reminder', (d) => { const b = boards.get(d.group_id); if (b) b.reminder(d); });
  ctx.scope.every(30000, () => { for (const b of boards.values()) b.tick(); });
  return { refresh: () => { for (const b of boards.values()) b.load(); } };
}

/* One group's board for today. */
function board(ctx, g, org) {
  const st = { ts: null, notices: new Map(), busy: new Set() };
  const hid = `ts-${g.id}-h`;
  const head = h('p', { class: 'ts-state', role: 'status' }, 'Загрузка…');
  const countdown = h('p', { class: 'ts-countdown muted' });
  const alertBox = h('div');
  const rows = h('ul', { class: 'ts-rows', 'aria-labelledby': hid });
  const allBtn = h('button', { type: 'button', class: 'btn', hidden: true }, 'Остальные присутствуют');
  const el = h('section', { class: 'card ts-board', 'aria-labelledby': hid, tabindex: '-1', dataset: { group: String(g.id) } },
    h('h2', { id: hid }, g.name), head, countdown, alertBox, rows, allBtn);
  allBtn.addEventListener('click', () => {
    if (!st.ts) return;
    /* A child with a parent's notice for the day is never marked present in bulk;
     * the hub skips such children too (bulk: true), whatever this board knows. */
    const marks = bulkChildren().map((c) => ({ child_id: c.child_id, status: 'present' }));
    if (marks.length) guarded(allBtn, () => save(marks, true));
  });

  const tz = () => (st.ts && st.ts.tz) || org.tz || 'Asia/Yekaterinburg';
  const date = () => (st.ts && st.ts.date) || todayIn(tz());

  async function load() {
    try {
      /* Without a date the hub answers for today in the org's time zone. */
      const ts = await get('/api/timesheet', { group_id: g.id });
      st.ts = normalize(ts);
      render();
    } catch (e) {
      showFailure(head, e.message, load);
    }
  }

  function normalize(ts) {
    /* The hub lists each child's active notice for the day, marked or not (a
     * day off takes no marks): the board shows it after a reload too. */
    st.notices = new Map((ts.children || []).filter((c) => c.notice).map((c) => [c.child_id, c.notice]));
    return { ...ts, children: (ts.children || []).map((c) => ({ ...c })) };
  }

  function bulkChildren() {
    return st.ts.children.filter((c) => c.status === 'unmarked' && !st.notices.has(c.child_id));
  }

  async function save(marks, bulk = false) {
    for (const m of marks) st.busy.add(m.child_id);
    render();
    try {
      const ts = await put('/api/timesheet', { group_id: g.id, date: date(), marks, ...(bulk ? { bulk: true } : {}) });
      st.ts = normalize(ts);
    } finally {
      for (const m of marks) st.busy.delete(m.child_id);
      render();
    }
  }

  function setMark(child, status) {
    if (st.busy.has(child.child_id) || child.status === status) return;
    save([{ child_id: child.child_id, status }]).catch((e) => toast(`${child.name}: ${e.message}`, 'error'));
  }

  function render() {
    const ts = st.ts;
    if (!ts) return;
    const total = ts.children.length;
    const marked = ts.children.filter((c) => c.status !== 'unmarked').length;
    const absent = ts.children.filter((c) => c.status === 'absent').length;
    const complete = total > 0 && marked === total;
    el.classList.toggle('is-complete', complete);
    clear(head);
    head.append(`${formatDate(ts.date || date())}: отмечено ${marked} из ${total}` +
      (absent ? `, отсутствуют ${absent}` : ''));
    if (complete) head.append(' ', h('strong', { class: 'ts-done' }, '✓ Табель заполнен'));
    if (ts.workday === false) {
      head.append(' ', h('span', { class: 'tag' }, 'выходной день'), ' ',
        h('span', { class: 'muted ts-dayoff' }, 'По календарю организации группа сегодня не работает: отметки не ставятся. ' +
          'Сделать день рабочим может администратор.'));
    }
    allBtn.hidden = complete || ts.workday === false || !bulkChildren().length;
    clear(rows);
    if (!total) rows.appendChild(h('li', null, emptyNote('В группе нет детей.')));
    for (const c of ts.children) rows.appendChild(row(c));
    tick();
  }

  function row(c) {
    const notice = st.notices.get(c.child_id);
    const fromParent = c.source === 'parent' || (notice && c.status !== 'present');
    const busy = st.busy.has(c.child_id) || st.ts.workday === false;
    const nameId = `ts-${g.id}-c${c.child_id}`;
    const btn = (status, label) => h('button', { type: 'button', class: `seg seg-${status}`,
      'aria-pressed': c.status === status ? 'true' : 'false', disabled: busy,
      'aria-label': `${c.name}: ${label.toLowerCase()}`, onclick: () => setMark(c, status) }, label);
    const reason = c.reason || (notice && c.status !== 'present' ? notice.reason : null);
    return h('li', { class: `ts-row ts-${c.status}`, dataset: { child: String(c.child_id) } },
      h('span', { class: 'ts-name', id: nameId }, c.name || ''),
      h('span', { class: 'ts-info' },
        fromParent ? h('span', { class: 'tag tag-parent' }, 'Уведомление родителя') : null,
        reason ? h('span', { class: 'muted' }, ` ${reason}`) : null,
        (c.lessons || []).length ? h('span', { class: 'muted' }, ` (уроки: ${c.lessons.join(', ')})`) : null,
        c.status === 'unmarked' && !notice ? h('span', { class: 'muted' }, 'не отмечен') : null,
        c.status === 'unmarked' && notice && st.ts.workday === false
          ? h('span', { class: 'muted' }, ' (на выходной день — в табель не вносится)') : null),
      h('span', { class: 'segmented', role: 'group', 'aria-labelledby': nameId },
        btn('present', 'Присутствует'), btn('absent', 'Отсутствует')));
  }

  function tick() {
    const ts = st.ts;
    if (!ts) return;
    const deadline = ts.deadline || org.timesheet_deadline || '18:00';
    const [hh, mm] = deadline.split(':').map(Number);
    const left = hh * 60 + mm - minutesNowIn(tz());
    const complete = ts.children.length > 0 && ts.children.every((c) => c.status !== 'unmarked');
    countdown.classList.toggle('is-late', left <= 0 && !complete);
    if (ts.date && ts.date !== todayIn(tz())) {
      countdown.textContent = '';
      if (!st.reloading) { st.reloading = true; load().finally(() => { st.reloading = false; }); }
      return;
    }
    if (complete) countdown.textContent = `Срок сдачи — ${deadline}.`;
    else if (left > 0) {
      const hrs = Math.floor(left / 60);
      const mins = left % 60;
      countdown.textContent = `До срока сдачи (${deadline}) осталось ` +
        (hrs ? `${hrs} ${plural(hrs, ['час', 'часа', 'часов'])} ` : '') + `${mins} ${plural(mins, ['минута', 'минуты', 'минут'])}.`;
    } else countdown.textContent = `Срок сдачи табеля (${deadline}) прошёл — заполните табель.`;
  }

  function mark(d) {
    if (!st.ts || (d.date && d.date !== st.ts.date)) return;
    const c = st.ts.children.find((x) => x.child_id === d.child_id);
    if (!c) { load(); return; }
    c.status = d.status || c.status;
    c.source = d.source === undefined ? c.source : d.source;
    c.reason = d.reason === undefined ? c.reason : d.reason;
    c.lessons = d.lessons === undefined ? c.lessons : d.lessons;
    render();
  }

  function notice(d) {
    const day = date();
    const child = d.child_id;
    if (d.action === 'withdrawn') {
      st.notices.delete(child);
      toast(`Родитель отозвал уведомление: ${d.child_name || ''}`, 'info');
      load();
      return;
    }
    if (!(d.from <= day && day <= (d.to || d.from))) {
      toast(`Уведомление об отсутствии: ${d.child_name || ''}, ${formatDate(d.from)}`, 'info');
      return;
    }
    st.notices.set(child, { id: d.id, reason: d.reason, lessons: d.lessons });
    const c = st.ts && st.ts.children.find((x) => x.child_id === child);
    if (c) { c.reason = d.reason; c.notice_id = d.id; c.lessons = d.lessons; }
    toast(`Уведомление об отсутствии сегодня: ${d.child_name || ''}`, 'info');
    render();
  }

  function reminder(d) {
    clear(alertBox).appendChild(h('p', { class: 'alert', role: 'alert' },
      `Напоминание: табель за ${formatDate(d.date)} не заполнен` +
      (Number.isInteger(d.unmarked_count) ? `, не отмечено: ${d.unmarked_count}` : '') +
      (Array.isArray(d.unmarked) && d.unmarked.length ? ` (${d.unmarked.join(', ')})` : '') + '.'));
  }

  load();
  return { el, load, mark, notice, reminder, tick };
}
