// Administrator screen: org picker and sub-sections (publications, timesheet today, settings, staff, roster).

import { get } from '../api.js';
import { h, clear, emptyNote } from '../ui.js';
import { mountPublish } from './admin_publish.js';
import { mountSummary } from './admin_summary.js';
import { mountSettings } from './admin_settings.js';
import { mountStaff } from './admin_staff.js';
import { mountRoster } from './admin_roster.js';

const SECTIONS = [
  { name: 'publish', label: 'Публикации', mount: mountPublish },
  { name: 'summary', label: 'Табель сегодня', mount: mountSummary },
  { name: 'settings', label: 'Настройки', mount: mountSettings },
  { name: 'staff', label: 'Сотрудники', mount: mountStaff },
  { name: 'roster', label: 'Контингент', mount: mountRoster }
];

const ORG_KEY = 'epos.admin.org';

export function mount(root, ctx) {
  const orgs = (ctx.me.orgs || []).filter((o) => (o.roles || []).includes('admin'));
  const list = orgs.length ? orgs : (ctx.me.orgs || []);
  if (!list.length) {
    root.appendChild(h('div', { class: 'card' }, h('h1', null, 'Управление'), emptyNote('Нет организаций для управления.')));
    return {};
  }
  let org = list.find((o) => String(o.id) === sessionStorage.getItem(ORG_KEY)) || list[0];
  const subnav = h('ul', { class: 'subnav' });
  const body = h('div', { class: 'admin-body' });
  const picker = list.length > 1 ? orgPicker(list, () => org, (o) => {
    org = o;
    try { sessionStorage.setItem(ORG_KEY, String(o.id)); } catch { /* ignore */ }
    groupsCache = null;
    show(section.name, true);
  }) : h('p', { class: 'muted org-name' }, org.name || '');
  root.appendChild(h('div', { class: 'stack' },
    h('h1', null, 'Управление'), picker,
    h('nav', { 'aria-label': 'Разделы управления' }, subnav), body));

  let section = SECTIONS[0];
  let handle = null;
  let scope = null;
  let groupsCache = null;

  /* The org's groups, taken from today's timesheet summary (every group of the org). */
  function orgGroups() {
    if (!groupsCache) {
      groupsCache = get('/api/timesheet/summary', { org_id: org.id })
        .then((r) => (r.groups || []).map((g) => ({ id: g.group_id, name: g.name })))
        .catch((e) => { groupsCache = null; throw e; });
    }
    return groupsCache;
  }

  function show(name, force) {
    const next = SECTIONS.find((s) => s.name === name) || SECTIONS[0];
    if (!force && handle && next === section) return;
    release();
    section = next;
    clear(subnav);
    for (const s of SECTIONS) {
      subnav.appendChild(h('li', null, h('a', { href: `#/admin/${s.name}`, class: 'subtab', id: `admin-${s.name}`,
        'aria-current': s === section ? 'page' : null }, s.label)));
    }
    clear(body);
    scope = subScope(ctx.live);
    handle = section.mount(body, { ...ctx, scope, org, orgGroups }) || {};
  }

  function release() {
    if (handle && handle.dispose) handle.dispose();
    if (scope) scope.dispose();
    handle = null;
    scope = null;
  }

  show(ctx.params[0]);
  return {
    update: (params) => show(params[0]),
    refresh: () => { if (handle && handle.refresh) handle.refresh(); },
    unmount: () => release()
  };
}

/* Live listeners and timers of one sub-section, released when another is shown. */
function subScope(live) {
  const offs = [];
  const timers = [];
  return {
    on(name, fn) { offs.push(live.on(name, fn)); },
    onStore(store, name, fn) { offs.push(store.on(name, fn)); },
    every(ms, fn) { timers.push(setInterval(fn, ms)); },
    dispose() { offs.forEach((f) => f()); timers.forEach((t) => clearInterval(t)); }
  };
}

function orgPicker(list, current, onChange) {
  const sel = h('select', { id: 'admin-org' }, list.map((o) => h('option', { value: String(o.id),
    selected: o.id === current().id }, o.name || `Организация ${o.id}`)));
  sel.addEventListener('change', () => onChange(list.find((o) => String(o.id) === sel.value)));
  return h('div', { class: 'field' }, h('label', { for: 'admin-org' }, 'Организация'), sel);
}
