// Application shell: sign-in state, tabs by role, hash router, connection indicator, global notices.

import * as API from './api.js';
import { Live } from './ws.js';
import { Outbox } from './outbox.js';
import { ChatStore } from './chatstore.js';
import { h, clear, toast, formatDate, statusWord } from './ui.js';
import * as loginView from './views/login.js';
import * as setPasswordView from './views/set_password.js';
import * as feedView from './views/feed.js';
import * as chatsView from './views/chats.js';
import * as absencesView from './views/absences.js';
import * as timesheetView from './views/timesheet.js';
import * as adminView from './views/admin.js';

const STAFF_ROLES = ['admin', 'teacher', 'class_teacher'];

const TABS = [
  { name: 'feed', label: 'Лента', view: feedView, allowed: () => true },
  { name: 'chats', label: 'Сообщения', view: chatsView, allowed: () => true },
  { name: 'absences', label: 'Пропуски', view: absencesView,
    allowed: (me) => hasRole(me, 'parent') || (me.children || []).length > 0 },
  { name: 'timesheet', label: 'Табель', view: timesheetView,
    allowed: (me) => hasRole(me, 'teacher') || hasRole(me, 'class_teacher') || (me.groups || []).length > 0 },
  { name: 'admin', label: 'Управление', view: adminView, allowed: (me) => hasRole(me, 'admin') }
];

const CONN_WORDS = { online: 'В сети', connecting: 'Подключение…', offline: 'Нет связи' };

const el = {};
const app = { me: null, live: null, outbox: null, chats: null, current: null, scope: null, refreshTimer: 0,
  endReason: null };

/* All roles of the user: top-level and per org. */
export function rolesOf(me) {
  const set = new Set(me.roles || []);
  for (const o of me.orgs || []) for (const r of o.roles || []) set.add(r);
  return set;
}

function hasRole(me, role) { return rolesOf(me).has(role); }

function isStaff(me) { return STAFF_ROLES.some((r) => hasRole(me, r)); }

function start() {
  for (const id of ['main', 'tabs', 'conn', 'conn-text', 'who', 'who-name', 'logout', 'skip-link']) {
    el[id] = document.getElementById(id);
  }
  el['skip-link'].addEventListener('click', (e) => { e.preventDefault(); el.main.focus(); });
  el.logout.addEventListener('click', () => logout());
  API.setUnauthorizedHandler(() => sessionLost());
  window.addEventListener('hashchange', () => route());
  const linkToken = setPasswordView.tokenFromHash();
  if (linkToken) showSetPassword(linkToken);
  else boot();
}

/* The page of a one-time set-password link from a credentials mail. */
function showSetPassword(token) {
  teardown();
  API.setToken(null);
  document.title = 'Новый пароль — ЭПОС';
  setPasswordView.mount(clear(el.main), { token, onDone: () => boot(), onSignIn: () => showLogin() });
  el.main.focus();
}

async function boot() {
  if (!API.getToken()) { showLogin(); return; }
  try {
    const me = await API.get('/api/me');
    if (me.must_change_password) { showPasswordChange(me); return; }
    enter(me);
  } catch (e) {
    if (e.code === 'unauthorized') return; /* sessionLost() shows the login */
    clear(el.main).appendChild(h('div', { class: 'card' },
      h('p', { role: 'alert' }, e.message),
      h('button', { type: 'button', class: 'btn', onclick: () => boot() }, 'Повторить')));
  }
}

function showLogin(note) {
  teardown();
  document.title = 'Вход — ЭПОС';
  loginView.mountLogin(clear(el.main), {
    note,
    onSignedIn: (res, password) => {
      if (res.user && res.user.must_change_password) showPasswordChange(res.user, password);
      else boot();
    }
  });
  el.main.focus();
}

function showPasswordChange(user, oldPassword) {
  teardown();
  document.title = 'Смена пароля — ЭПОС';
  el.who.hidden = false;
  el['who-name'].textContent = user.name || '';
  loginView.mountPasswordChange(clear(el.main), { user, oldPassword, onDone: () => boot() });
}

function enter(me) {
  teardown();
  app.me = me;
  app.live = new Live(API.getToken);
  app.outbox = new Outbox(app.live, me.id);
  app.chats = new ChatStore(app.live, me);
  app.live.on('state', showConn);
  app.live.on('unauthorized', (code, reason) => checkSession(reason));
  app.live.on('reset', (topic) => scheduleRefresh(topic));
  app.live.on('ready', (r) => { if (r.reconnect && r.unknownTopics.length) scheduleRefresh(null); });
  app.chats.on('change', showUnread);
  listenGlobal();
  el.who.hidden = false;
  el['who-name'].textContent = me.name || me.login || '';
  el.conn.hidden = false;
  showConn(app.live.state);
  buildTabs();
  app.live.start();
  app.chats.load().catch(() => {});
  route();
}

function teardown() {
  if (app.current) unmountCurrent();
  if (app.live) app.live.stop();
  if (app.outbox) app.outbox.dispose(false);
  if (app.chats) app.chats.dispose();
  app.live = app.outbox = app.chats = app.me = null;
  el.tabs.hidden = true;
  el.conn.hidden = true;
  el.who.hidden = true;
}

async function logout() {
  if (app.live) app.live.stop();
  if (app.outbox) app.outbox.dispose(true);
  try { await API.post('/api/logout'); } catch { /* the session ends here anyway */ }
  API.setToken(null);
  showLogin('Вы вышли из системы.');
}

const END_NOTES = {
  revoked: 'Сеанс завершён: выполнен выход на другом устройстве. Войдите снова.',
  expired: 'Сеанс истёк. Войдите снова.',
  disabled: 'Учётная запись отключена. Обратитесь к администратору.'
};

/* The token's own expiry (its third field, unix seconds) has passed. */
function tokenExpired() {
  const exp = Number((API.getToken() || '').split('.')[2]);
  return Number.isFinite(exp) && exp > 0 && exp * 1000 <= Date.now();
}

function sessionLost() {
  if (!API.getToken()) return;
  const reason = app.endReason || (tokenExpired() ? 'expired' : null);
  app.endReason = null;
  if (app.outbox) app.outbox.dispose(false);
  API.setToken(null);
  showLogin(END_NOTES[reason] || 'Сеанс завершён. Войдите снова.');
}

/* The socket was refused (4401/4403): ask the API whether the session is still valid;
 * reason is what the hub said before closing, shown on the sign-in page. */
async function checkSession(reason) {
  app.endReason = reason || null;
  try {
    await API.get('/api/me');
    if (app.live) app.live.reconnectNow();
  } catch (e) {
    if (e.code !== 'unauthorized' && app.live) setTimeout(() => app.live && app.live.reconnectNow(), 5000);
  }
}

function showConn(state) {
  el.conn.className = `conn conn-${state}`;
  el['conn-text'].textContent = CONN_WORDS[state] || state;
  el.conn.setAttribute('aria-label', `Соединение: ${CONN_WORDS[state] || state}`);
}

function allowedTabs() {
  return TABS.filter((t) => t.allowed(app.me));
}

function buildTabs() {
  clear(el.tabs);
  const list = h('ul', { class: 'tabs-list' });
  for (const t of allowedTabs()) {
    const badge = t.name === 'chats' ? h('span', { class: 'badge', id: 'unread-badge', hidden: true }) : null;
    list.appendChild(h('li', null, h('a', { href: `#/${t.name}`, class: 'tab', id: `tab-${t.name}` },
      h('span', null, t.label), badge)));
  }
  el.tabs.appendChild(list);
  el.tabs.hidden = false;
}

function showUnread() {
  const badge = document.getElementById('unread-badge');
  if (!badge || !app.chats) return;
  const n = app.chats.totalUnread();
  badge.hidden = n === 0;
  badge.textContent = n > 99 ? '99+' : String(n);
  document.title = document.title.replace(/^\(\d+\+?\) /, '');
  if (n) document.title = `(${n > 99 ? '99+' : n}) ${document.title}`;
  const tab = document.getElementById('tab-chats');
  if (tab) tab.setAttribute('aria-label', n ? `Сообщения, непрочитанных: ${n}` : 'Сообщения');
}

function parseHash() {
  const raw = location.hash.startsWith('#/') ? location.hash.slice(2) : '';
  const parts = raw.split('/').filter(Boolean).map(decodeURIComponent);
  return { name: parts[0] || '', params: parts.slice(1) };
}

/* Navigates to '#/name/param…' (no reload). */
export function navigate(path) {
  if (location.hash === '#' + path) route();
  else location.hash = path;
}

function route() {
  if (!app.me) return;
  const { name, params } = parseHash();
  const tabs = allowedTabs();
  const tab = tabs.find((t) => t.name === name) || tabs[0];
  if (tab.name !== name) { history.replaceState(null, '', `#/${tab.name}`); }
  for (const t of tabs) {
    const a = document.getElementById(`tab-${t.name}`);
    if (a) { if (t === tab) a.setAttribute('aria-current', 'page'); else a.removeAttribute('aria-current'); }
  }
  document.title = `${tab.label} — ЭПОС`;
  showUnread();
  if (app.current && app.current.tab === tab && app.current.handle.update) {
    app.current.handle.update(params);
    return;
  }
  if (app.current) unmountCurrent();
  const scope = makeScope();
  const ctx = { me: app.me, live: app.live, outbox: app.outbox, chats: app.chats, scope, params,
    navigate, isStaff: isStaff(app.me), hasRole: (r) => hasRole(app.me, r) };
  const root = clear(el.main);
  const handle = tab.view.mount(root, ctx) || {};
  app.current = { tab, handle, scope };
}

function unmountCurrent() {
  const cur = app.current;
  app.current = null;
  cur.scope.dispose();
  if (cur.handle.unmount) cur.handle.unmount();
}

/* Listeners and timers tied to one mounted view, all released on unmount. */
function makeScope() {
  const offs = [];
  const timers = [];
  return {
    on(name, fn) { offs.push(app.live.on(name, fn)); },
    onStore(store, name, fn) { offs.push(store.on(name, fn)); },
    every(ms, fn) { timers.push(setInterval(fn, ms)); },
    dispose() { offs.forEach((f) => f()); timers.forEach((t) => clearInterval(t)); }
  };
}

/* After a reset (history beyond the replay window) or a reconnect with unknown topics: reload. */
function scheduleRefresh(topic) {
  clearTimeout(app.refreshTimer);
  app.refreshTimer = setTimeout(() => {
    if (app.chats && (!topic || topic.startsWith('chat:') || topic.startsWith('user:'))) app.chats.load().catch(() => {});
    if (app.current && app.current.handle.refresh) app.current.handle.refresh(topic);
  }, 300);
}

function currentTab() { return app.current ? app.current.tab.name : ''; }

const KNOWN_TYPES = new Set(['chat.message', 'chat.member', 'chat.read', 'chat.typing', 'news', 'calendar.event',
  'news.ack', 'timesheet.mark', 'timesheet.summary', 'timesheet.reminder', 'timesheet.overdue', 'absence.notice',
  'absence.status', 'absence.unexplained', 'entitlements.changed', 'org.settings', 'org.calendar']);

/* Events other EPOS subsystems publish (POST /api/publish) with types of their own: a short notice. */
function otherEvent(frame) {
  if (KNOWN_TYPES.has(frame.type)) return;
  const d = frame.data && typeof frame.data === 'object' ? frame.data : {};
  const text = [d.title, d.text || d.message || d.body].filter((x) => typeof x === 'string' && x).join(': ');
  toast(text || 'Новое уведомление ЭПОС', 'info', 10000);
}

/* What the user may see, or the org's deadline or calendar, changed while a screen is open: load
 * /api/me again, rebuild the tabs and mount the current screen afresh (an unbound teacher loses
 * the board, a new deadline shows at once). Changes in a burst are taken once. */
function reloadEntitlements() {
  clearTimeout(app.meTimer);
  app.meTimer = setTimeout(async () => {
    const live = app.live;
    try {
      const me = await API.get('/api/me');
      if (!app.live || app.live !== live) return;
      app.me = me;
      buildTabs();
      if (app.current) unmountCurrent();
      route();
    } catch { /* a 401 signs out; otherwise the next change or a reload catches up */ }
  }, 200);
}

function listenGlobal() {
  const live = app.live;
  live.on('entitlements.changed', reloadEntitlements);
  live.on('org.settings', reloadEntitlements);
  live.on('org.calendar', reloadEntitlements);
  live.on('event', otherEvent);
  live.on('chat.message', (d) => {
    if (d.sender_id === app.me.id) return;
    if (currentTab() === 'chats' && app.chats.openId === d.chat_id && !document.hidden) return;
    toast(`Новое сообщение от ${d.sender_name || 'собеседника'}`, 'info', 4000);
  });
  live.on('news', (d) => { if (currentTab() !== 'feed') toast(`Новость: ${d.title || ''}`, 'info'); });
  live.on('calendar.event', (d) => {
    if (currentTab() !== 'feed') toast(`Событие ${formatDate(d.event_date)}: ${d.title || ''}`, 'info');
  });
  live.on('timesheet.reminder', (d) => {
    toast(`Напоминание: табель группы «${d.group_name || ''}» за сегодня не заполнен` +
      (Number.isInteger(d.unmarked) ? ` (не отмечено: ${d.unmarked})` : '') + '.', 'error', 0);
  });
  live.on('timesheet.overdue', (d) => {
    const names = (d.groups || []).map((g) => g.name).join(', ');
    toast(`Не сдан табель за ${formatDate(d.date)}: ${names}`, 'error', 0);
  });
  live.on('absence.status', (d) => {
    toast(`Пропуск ${formatDate(d.date)}: ${d.text || statusWord(d.status)}`, 'info', 10000);
  });
  live.on('absence.unexplained', (d) => {
    toast(`${d.child_name || 'Ребёнок'} отмечен(а) отсутствующим ${formatDate(d.date)} без уведомления. ` +
      'Подайте уведомление в разделе «Пропуски».', 'error', 0);
  });
  live.on('chat.member', (d) => {
    const me = app.me.id;
    if ((d.removed || []).includes(me)) toast(d.title ? `Вас исключили из чата «${d.title}»` : 'Вас исключили из чата', 'info');
    if (!(d.added || []).includes(me) || app.chats.get(d.chat_id) || app.chats.createdByMeRecently()) return;
    if (d.title) { toast(`Вас добавили в чат «${d.title}»`, 'info'); return; }
    /* A direct chat has no title: name the one who started it once the chat list knows them. */
    const chats = app.chats;
    chats.load().then(() => {
      const c = chats.get(d.chat_id);
      const other = c && (c.members || []).find((m) => m.id !== me);
      if (other && other.name && app.chats === chats) toast(`${other.name} начал(а) с вами чат`, 'info');
    }).catch(() => {});
  });
}

start();
