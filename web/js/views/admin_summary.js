// Administrator: live timesheet completion of every group of the org today.

import { get } from '../api.js';
import { h, clear, formatDate, emptyNote, showFailure } from '../ui.js';

export function mountSummary(root, actx) {
  const org = actx.org;
  let data = null;
  const overdue = new Set();
  const head = h('p', { class: 'ts-state', role: 'status' }, 'Загрузка…');
  const tbody = h('tbody', { id: 'summary-rows' });
  const table = h('table', { class: 'table' },
    h('caption', { class: 'sr-only' }, 'Заполнение табеля по группам'),
    h('thead', null, h('tr', null, ['Группа', 'Отмечено', 'Отсутствуют', 'Состояние'].map((t) => h('th', { scope: 'col' }, t)))),
    tbody);
  const alertBox = h('div');
  root.appendChild(h('section', { class: 'card', 'aria-labelledby': 'sum-h' },
    h('h2', { id: 'sum-h' }, 'Табель сегодня'), head, alertBox, h('div', { class: 'table-wrap' }, table)));

  async function load() {
    try {
      data = await get('/api/timesheet/summary', { org_id: org.id });
      render();
    } catch (e) {
      showFailure(head, e.message, load);
    }
  }

  function render() {
    if (!data) return;
    const groups = data.groups || [];
    const done = groups.filter((g) => g.complete).length;
    head.textContent = `${formatDate(data.date)}: табель заполнен в ${done} из ${groups.length} групп.`;
    clear(tbody);
    if (!groups.length) tbody.appendChild(h('tr', null, h('td', { colspan: '4' }, emptyNote('Групп нет.'))));
    for (const g of [...groups].sort((a, b) => Number(a.complete) - Number(b.complete) || (a.name || '').localeCompare(b.name || '', 'ru'))) {
      const late = overdue.has(g.group_id) && !g.complete;
      tbody.appendChild(h('tr', { class: g.complete ? 'is-complete' : late ? 'is-late' : '', dataset: { group: String(g.group_id) } },
        h('th', { scope: 'row' }, g.name || ''),
        h('td', null, `${g.marked ?? 0} из ${g.total ?? 0}`),
        h('td', null, g.absent === undefined ? '—' : String(g.absent)),
        h('td', null, g.complete ? '✓ заполнен' : late ? 'срок прошёл' : 'не заполнен')));
    }
  }

  actx.scope.on('timesheet.summary', (d) => {
    if (!data || d.org_id !== org.id || (d.date && d.date !== data.date)) return;
    const g = (data.groups || []).find((x) => x.group_id === d.group_id);
    if (!g) { load(); return; }
    for (const k of ['total', 'marked', 'complete', 'absent']) if (d[k] !== undefined) g[k] = d[k];
    render();
  });
  actx.scope.on('timesheet.overdue', (d) => {
    if (d.org_id !== org.id) return;
    for (const g of d.groups || []) overdue.add(g.group_id);
    clear(alertBox).appendChild(h('p', { class: 'alert', role: 'alert' },
      `Срок сдачи табеля прошёл. Не заполнены: ${(d.groups || []).map((g) => g.name).join(', ')}.`));
    render();
  });
  load();
  return { refresh: () => load() };
}
