// Administrator: the org's roster, read-only — groups, their children and guardians, bound
// staff, and where each row came from (the registry or made here) and when it was last synced.

import { get } from '../api.js';
import { h, clear, emptyNote, section, showFailure, formatTime } from '../ui.js';

const ROLE_WORDS = { teacher: 'учитель', class_teacher: 'классный руководитель' };

/* «из реестра, 05.12 14:10» or «вручную». */
function origin(row) {
  if (row.source !== 'registry') return 'вручную';
  return row.synced_at ? `из реестра, ${formatTime(row.synced_at)}` : 'из реестра';
}

function childRow(c) {
  const parents = (c.guardians || []).map((g) => `${g.name} (${origin(g)})`).join('; ') || '—';
  return h('tr', null,
    h('th', { scope: 'row' }, c.name),
    h('td', { 'data-label': 'Родители' }, parents),
    h('td', { 'data-label': 'Источник' }, origin(c)));
}

function groupCard(g) {
  const staff = (g.staff || []).map((s) => `${s.name} — ${ROLE_WORDS[s.role] || s.role} (${origin(s)})`);
  const title = g.ended_at ? `${g.name} (закрыта)` : g.name;
  return section(title,
    h('p', { class: 'muted' }, `Группа: ${origin(g)}`),
    h('p', null, 'Педагоги: ', staff.length ? staff.join('; ') : 'не назначены'),
    (g.children || []).length
      ? h('div', { class: 'table-wrap' }, h('table', { class: 'table table-cards' },
        h('caption', { class: 'sr-only' }, `Дети группы «${g.name}»`),
        h('thead', null, h('tr', null, ['Ребёнок', 'Родители', 'Источник'].map((t) => h('th', { scope: 'col' }, t)))),
        h('tbody', null, g.children.map(childRow))))
      : emptyNote('Детей в группе нет.'));
}

export function mountRoster(root, actx) {
  const note = h('p', { class: 'muted', role: 'status' }, 'Загрузка…');
  const body = h('div', { class: 'stack', id: 'roster-groups' });
  root.appendChild(h('div', { class: 'stack' }, h('h2', null, 'Контингент'), note, body));

  async function load() {
    try {
      const r = await get(`/api/orgs/${actx.org.id}/roster`);
      clear(body);
      note.textContent = r.org.last_sync
        ? `Данные реестра; последняя синхронизация ${formatTime(r.org.last_sync)}. Изменения вносятся в реестре.`
        : 'Синхронизации с реестром ещё не было.';
      if (!r.groups.length) body.appendChild(emptyNote('В организации нет групп.'));
      for (const g of r.groups) body.appendChild(groupCard(g));
    } catch (e) {
      showFailure(note, e.message, load);
    }
  }

  load();
  return { refresh: () => load() };
}
