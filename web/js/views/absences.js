// Parent: file an absence notice for a child (day or range, lessons, reason), follow its status, withdraw it.

import { get, post, del } from '../api.js';
import { h, clear, field, checkbox, errorBox, guarded, formatDate, formatTime, todayIn, emptyNote,
  statusWord, toast, uid, showFailure } from '../ui.js';

const ANSWERS_KEY = 'epos.absence.answers';

function loadAnswers() {
  try { return JSON.parse(sessionStorage.getItem(ANSWERS_KEY) || '{}') || {}; } catch { return {}; }
}

function saveAnswers(a) {
  try { sessionStorage.setItem(ANSWERS_KEY, JSON.stringify(a)); } catch { /* ignore */ }
}

export function mount(root, ctx) {
  const children = ctx.me.children || [];
  const tzOf = (child) => ((ctx.me.orgs || []).find((o) => o.id === (child && child.org_id)) || {}).tz;
  const answers = loadAnswers();
  let absences = [];
  const alerts = h('div', { class: 'alerts' });
  const listEl = h('div', { class: 'absence-list', id: 'absence-list' });
  const listNote = h('p', { class: 'muted', role: 'status' }, 'Загрузка…');
  const form = noticeForm();
  root.appendChild(h('div', { class: 'stack' },
    h('h1', null, 'Пропуски'), alerts, form.el,
    h('section', { class: 'card', 'aria-labelledby': 'abs-list-h' },
      h('h2', { id: 'abs-list-h' }, 'Поданные уведомления'), listNote, listEl)));

  function childName(id) {
    const c = children.find((x) => x.id === id);
    return c ? c.name : `Ребёнок №${id}`;
  }

  function noticeForm() {
    const err = errorBox();
    const child = field('Ребёнок', 'select', { name: 'child', id: 'abs-child' },
      children.map((c) => ({ value: String(c.id), label: `${c.name} (${c.group_name || ''})` })));
    const rangeName = uid('range');
    const oneDay = h('input', { type: 'radio', name: rangeName, id: `${rangeName}-1`, value: 'day', checked: true });
    const range = h('input', { type: 'radio', name: rangeName, id: `${rangeName}-2`, value: 'range' });
    const from = field('Дата', 'input', { type: 'date', id: 'abs-from', required: true });
    const to = field('По какое число', 'input', { type: 'date', id: 'abs-to' });
    const lessonsBox = h('fieldset', { class: 'checks lessons', hidden: true });
    const reason = field('Причина', 'textarea', { id: 'abs-reason', rows: '2', maxlength: '500', required: true,
      placeholder: 'Например: болеет, семейные обстоятельства' });
    const submit = h('button', { type: 'submit', class: 'btn btn-primary', id: 'abs-submit' }, 'Отправить уведомление');
    const el = h('form', { class: 'card', 'aria-labelledby': 'abs-form-h', novalidate: true },
      h('h2', { id: 'abs-form-h' }, 'Сообщить об отсутствии'),
      child.wrap,
      h('fieldset', { class: 'radios' }, h('legend', null, 'Период'),
        h('span', { class: 'radio' }, oneDay, h('label', { for: oneDay.id }, 'Один день')),
        h('span', { class: 'radio' }, range, h('label', { for: range.id }, 'Несколько дней'))),
      h('div', { class: 'row' }, from.wrap, to.wrap), lessonsBox, reason.wrap, err, submit);

    function selected() { return children.find((c) => String(c.id) === child.input.value) || children[0]; }

    function sync() {
      const c = selected();
      const isRange = range.checked;
      to.wrap.hidden = !isRange;
      from.wrap.querySelector('label').textContent = isRange ? 'С какого числа' : 'Дата';
      if (!from.input.value) from.input.value = todayIn(tzOf(c));
      const n = c ? c.lessons_per_day || 0 : 0;
      clear(lessonsBox);
      lessonsBox.hidden = isRange || n <= 0;
      if (lessonsBox.hidden) return;
      lessonsBox.appendChild(h('legend', null, 'Уроки (не отмечайте ничего, если весь день)'));
      for (let i = 1; i <= n; i++) lessonsBox.appendChild(checkbox(`${i}-й урок`, { value: String(i), name: 'lesson' }).wrap);
    }

    child.input.addEventListener('change', sync);
    oneDay.addEventListener('change', sync);
    range.addEventListener('change', sync);
    el.addEventListener('submit', (e) => {
      e.preventDefault();
      const c = selected();
      const body = { child_id: c.id, from: from.input.value, to: range.checked ? to.input.value : from.input.value,
        reason: reason.input.value.trim() };
      const lessons = [...lessonsBox.querySelectorAll('input:checked')].map((x) => Number(x.value));
      if (lessons.length) body.lessons = lessons;
      if (!body.from) { err.show('Укажите дату.'); from.input.focus(); return; }
      if (!body.to) { err.show('Укажите, по какое число.'); to.input.focus(); return; }
      if (body.to < body.from) { err.show('Дата окончания раньше даты начала.'); to.input.focus(); return; }
      if (!body.reason) { err.show('Укажите причину.'); reason.input.focus(); return; }
      guarded(submit, async () => {
        const res = await post('/api/absences', body);
        if (res.absence) upsert(res.absence);
        reason.input.value = '';
        toast('Уведомление отправлено учителю.', 'ok');
      }, err);
    });
    sync();
    return { el, prefill: (childId, date) => {
      child.input.value = String(childId);
      oneDay.checked = true;
      from.input.value = date;
      sync();
      reason.input.focus();
    } };
  }

  function upsert(a) {
    const i = absences.findIndex((x) => x.id === a.id);
    if (i >= 0) absences[i] = { ...absences[i], ...a }; else absences.unshift(a);
    renderList();
  }

  function renderList() {
    clear(listEl);
    listNote.textContent = absences.length ? '' : 'Уведомлений пока нет.';
    const sorted = [...absences].sort((a, b) => (b.created_at || '').localeCompare(a.created_at || '') || b.id - a.id);
    for (const a of sorted) listEl.appendChild(absenceCard(a));
  }

  function period(a) {
    const d = a.from === a.to ? formatDate(a.from) : `${formatDate(a.from)} — ${formatDate(a.to)}`;
    const l = (a.lessons || []).length ? `, уроки: ${a.lessons.join(', ')}` : '';
    return d + l;
  }

  function absenceCard(a) {
    const withdrawn = a.status === 'withdrawn';
    const hid = `abs-${a.id}-h`;
    // The server's record first; answers heard live this session only when it lacks them.
    const known = new Set((a.answers || []).map((x) => `${x.date}|${x.status}`));
    const answersOf = [...(a.answers || []),
      ...(answers[a.id] || []).filter((x) => !known.has(`${x.date}|${x.status}`))];
    const child = children.find((c) => c.id === a.child_id);
    const canWithdraw = !withdrawn && a.to >= todayIn(tzOf(child));
    const btn = canWithdraw ? h('button', { type: 'button', class: 'btn', 'aria-label': `Отозвать уведомление: ${childName(a.child_id)}, ${period(a)}` }, 'Отозвать') : null;
    if (btn) btn.addEventListener('click', () => {
      if (!window.confirm('Отозвать уведомление об отсутствии?')) return;
      guarded(btn, async () => {
        const res = await del(`/api/absences/${a.id}`);
        upsert(res.absence || { ...a, status: 'withdrawn' });
        toast('Уведомление отозвано.', 'ok');
      });
    });
    return h('article', { class: `card absence${withdrawn ? ' is-withdrawn' : ''}`, 'aria-labelledby': hid,
      dataset: { id: String(a.id) } },
    h('h3', { id: hid }, `${childName(a.child_id)}: ${period(a)}`),
    h('p', null, h('span', { class: `tag tag-${a.status}` }, statusWord(a.status)), ' ',
      a.applied && !withdrawn ? h('span', { class: 'tag tag-holiday' }, statusWord('applied')) : null,
      !a.applied && a.day_off && !withdrawn ? h('span', { class: 'tag tag-dayoff' }, statusWord('day_off')) : null, ' ',
      h('span', { class: 'muted' }, `отправлено ${formatTime(a.created_at)}`)),
    a.reason ? h('p', { class: 'item-body' }, `Причина: ${a.reason}`) : null,
    answersOf.length ? h('ul', { class: 'answers' }, answersOf.map((r) => h('li', null,
      `${r.date ? formatDate(r.date) + ': ' : ''}${r.text || statusWord(r.status)}`))) : null,
    btn);
  }

  async function load() {
    try {
      const res = await get('/api/absences');
      absences = res.absences || [];
      renderList();
    } catch (e) {
      showFailure(listNote, e.message, load);
    }
  }

  ctx.scope.on('absence.status', (d) => {
    if (!d || !d.absence_id) return;
    answers[d.absence_id] = [...(answers[d.absence_id] || []), { date: d.date, status: d.status, text: d.text }];
    saveAnswers(answers);
    renderList();
    load(); /* the notice's own status may have changed too (applied, withdrawn elsewhere) */
  });
  ctx.scope.on('absence.unexplained', (d) => {
    const btn = h('button', { type: 'button', class: 'btn btn-primary' }, 'Подать уведомление');
    const box = h('div', { class: 'card alert', role: 'alert' },
      h('p', null, `${d.child_name || childName(d.child_id)} отмечен(а) отсутствующим ${formatDate(d.date)}, а уведомления нет.`), btn);
    btn.addEventListener('click', () => { box.remove(); form.prefill(d.child_id, d.date); });
    alerts.appendChild(box);
  });

  if (!children.length) {
    clear(root).appendChild(h('div', { class: 'card' }, h('h1', null, 'Пропуски'),
      emptyNote('К вашей учётной записи не привязаны дети. Обратитесь к администратору.')));
    return {};
  }
  load();
  return { refresh: () => load() };
}
