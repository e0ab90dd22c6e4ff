// Administrator: org settings (deadline, time zone, quiet hours) and the org calendar of days off.

import { get, patch, put } from '../api.js';
import { h, clear, field, errorBox, guarded, formatDate, toast } from '../ui.js';
import { createCalendar, overridesOf } from '../calendar.js';

const ZONES = ['Europe/Kaliningrad', 'Europe/Moscow', 'Europe/Samara', 'Asia/Yekaterinburg', 'Asia/Omsk',
  'Asia/Novosibirsk', 'Asia/Krasnoyarsk', 'Asia/Irkutsk', 'Asia/Yakutsk', 'Asia/Vladivostok',
  'Asia/Magadan', 'Asia/Kamchatka'];
const DAY_KINDS = [{ value: 'workday', label: 'Рабочий день' }, { value: 'holiday', label: 'Праздник (выходной)' },
  { value: 'vacation', label: 'Каникулы' }];

export function mountSettings(root, actx) {
  root.appendChild(h('div', { class: 'stack' }, settingsForm(actx), calendarCard(actx)));
  return {};
}

function settingsForm(actx) {
  const org = actx.org;
  const err = errorBox();
  const deadline = field('Срок сдачи табеля', 'input', { type: 'time', id: 'set-deadline',
    value: org.timesheet_deadline || '18:00', required: true });
  const zones = ZONES.includes(org.tz) || !org.tz ? ZONES : [org.tz, ...ZONES];
  const tz = field('Часовой пояс', 'select', { id: 'set-tz' },
    zones.map((z) => ({ value: z, label: z, selected: z === (org.tz || 'Asia/Yekaterinburg') })));
  const qh = org.quiet_hours || {};
  const qFrom = field('Тихие часы: с', 'input', { type: 'time', id: 'set-qfrom', value: qh.from || '20:00' });
  const qTo = field('Тихие часы: до', 'input', { type: 'time', id: 'set-qto', value: qh.to || '08:00' });
  const submit = h('button', { type: 'submit', class: 'btn btn-primary' }, 'Сохранить настройки');
  const form = h('form', { class: 'card', 'aria-labelledby': 'set-h', novalidate: true },
    h('h2', { id: 'set-h' }, 'Настройки организации'),
    h('div', { class: 'row' }, deadline.wrap, tz.wrap),
    h('div', { class: 'row' }, qFrom.wrap, qTo.wrap),
    h('p', { class: 'muted' }, 'В тихие часы обычные письма ждут утра; срочные уходят сразу.'),
    err, submit);
  form.addEventListener('submit', (e) => {
    e.preventDefault();
    const body = { timesheet_deadline: deadline.input.value, tz: tz.input.value,
      quiet_hours: { from: qFrom.input.value, to: qTo.input.value } };
    if (!body.timesheet_deadline) { err.show('Укажите срок сдачи табеля.'); return; }
    if (!body.quiet_hours.from || !body.quiet_hours.to) { err.show('Укажите начало и конец тихих часов.'); return; }
    guarded(submit, async () => {
      const res = await patch(`/api/orgs/${org.id}`, body);
      const fresh = res.org || res;
      Object.assign(org, {
        timesheet_deadline: fresh.timesheet_deadline || body.timesheet_deadline,
        tz: fresh.tz || body.tz,
        quiet_hours: fresh.quiet_hours || body.quiet_hours
      });
      const meOrg = (actx.me.orgs || []).find((o) => o.id === org.id);
      if (meOrg && meOrg !== org) Object.assign(meOrg, org);
      toast('Настройки сохранены.', 'ok');
    }, err);
  });
  return form;
}

function calendarCard(actx) {
  const org = actx.org;
  let overrides = new Map();
  const err = errorBox();
  const editor = h('div', { class: 'day-editor' });
  const cal = createCalendar({
    label: 'Календарь организации',
    marksFor: (date) => {
      const k = overrides.get(date);
      if (!k) return null;
      return { off: k !== 'workday', label: DAY_KINDS.find((x) => x.value === k)?.label.toLowerCase() };
    },
    onMonth: (y, m) => load(y, m),
    onPick: (date) => edit(date)
  });

  async function load(y, m) {
    const month = `${y}-${String(m + 1).padStart(2, '0')}`;
    try {
      const res = await get(`/api/orgs/${org.id}/calendar`, { month });
      overrides = overridesOf(res);
      cal.render();
    } catch (e) {
      err.show(e.message);
    }
  }

  function edit(date) {
    clear(editor);
    const weekend = [0, 6].includes(new Date(`${date}T12:00:00`).getDay());
    const current = overrides.get(date) || (weekend ? 'holiday' : 'workday');
    const kind = field(`Тип дня ${formatDate(date)}`, 'select', { id: 'day-kind' },
      DAY_KINDS.map((k) => ({ ...k, selected: k.value === current })));
    const save = h('button', { type: 'button', class: 'btn btn-primary' }, 'Сохранить день');
    save.addEventListener('click', () => guarded(save, async () => {
      const res = await put(`/api/orgs/${org.id}/calendar/${date}`, { kind: kind.input.value });
      if (res && res.override === false) overrides.delete(date); else overrides.set(date, kind.input.value);
      cal.render();
      toast(`${formatDate(date)}: ${DAY_KINDS.find((k) => k.value === kind.input.value).label.toLowerCase()}.`, 'ok');
    }, err));
    editor.appendChild(h('div', { class: 'row' }, kind.wrap, save));
  }

  const now = new Date();
  load(now.getFullYear(), now.getMonth());
  return h('section', { class: 'card', 'aria-labelledby': 'ocal-h' },
    h('h2', { id: 'ocal-h' }, 'Календарь: праздники и каникулы'),
    h('p', { class: 'muted' }, 'Суббота и воскресенье — выходные, если не отмечены рабочими. Выберите день, чтобы изменить его.'),
    cal.el, editor, err);
}
