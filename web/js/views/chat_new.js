// New chat from contacts by category, group chat creation and member changes (staff).

import { get, post } from '../api.js';
import { h, clear, field, checkbox, errorBox, guarded, emptyNote, toast } from '../ui.js';

const CATEGORIES = [
  { key: 'teachers', label: 'Учителя' },
  { key: 'class_teachers', label: 'Классные руководители' },
  { key: 'administration', label: 'Администрация' },
  { key: 'parents', label: 'Родители' }
];

const CACHE_MS = 60000;
let cache = null;

/* GET /api/contacts, reused for a minute by the same user. */
function loadContacts(ctx) {
  if (cache && cache.user === ctx.me.id && Date.now() - cache.at < CACHE_MS) return cache.promise;
  const promise = get('/api/contacts').catch((e) => { cache = null; throw e; });
  cache = { user: ctx.me.id, at: Date.now(), promise };
  return promise;
}

function allContacts(contacts) {
  const seen = new Map();
  for (const c of CATEGORIES) for (const p of contacts[c.key] || []) if (!seen.has(p.id)) seen.set(p.id, p);
  return [...seen.values()].sort((a, b) => (a.name || '').localeCompare(b.name || '', 'ru'));
}

function describe(p) {
  const bits = [];
  if ((p.groups || []).length) bits.push(p.groups.join(', '));
  if ((p.children || []).length) bits.push('дети: ' + p.children.join(', '));
  return bits.join(' · ');
}

/* The contacts picker: a direct chat with one person; staff may also create a group chat. */
export function openNewChat(pane, ctx) {
  const err = errorBox();
  const tabs = h('div', { class: 'segmented', role: 'group', 'aria-label': 'Категория контактов' });
  const search = field('Поиск по имени', 'input', { type: 'search', autocomplete: 'off' });
  const list = h('ul', { class: 'contact-list', 'aria-live': 'polite' });
  const groupBox = h('div');
  let category = CATEGORIES[0].key;
  let contacts = null;
  pane.appendChild(h('div', { class: 'chat-new' },
    h('div', { class: 'chat-head' },
      h('a', { href: '#/chats', class: 'btn btn-icon back-link', 'aria-label': 'К списку чатов' }, '←'),
      h('h2', { class: 'chat-head-title' }, 'Новый чат')),
    tabs, search.wrap, err, list, groupBox));

  function renderTabs() {
    clear(tabs);
    for (const c of CATEGORIES) {
      const n = contacts ? (contacts[c.key] || []).length : 0;
      tabs.appendChild(h('button', { type: 'button', class: 'seg', 'aria-pressed': c.key === category ? 'true' : 'false',
        onclick: () => { category = c.key; renderTabs(); renderList(); } }, `${c.label} (${n})`));
    }
  }

  function renderList() {
    clear(list);
    if (!contacts) return;
    const q = search.input.value.trim().toLowerCase();
    /* A search looks through every category at once. */
    const pool = q ? allContacts(contacts) : (contacts[category] || []);
    const people = pool.filter((p) => !q || (p.name || '').toLowerCase().includes(q));
    if (!people.length) { list.appendChild(h('li', null, emptyNote('Никого не найдено.'))); return; }
    for (const p of people) {
      const btn = h('button', { type: 'button', class: 'btn', 'aria-label': `Написать: ${p.name}` }, 'Написать');
      btn.addEventListener('click', () => guarded(btn, async () => {
        ctx.chats.noteCreating(); /* the chat.member event of a new chat is no news to its starter */
        const res = await post('/api/chats', { with: p.id });
        const chat = ctx.chats.upsert(res.chat);
        if (chat) ctx.navigate(`/chats/${chat.id}`);
      }, err));
      list.appendChild(h('li', { class: 'contact' },
        h('span', { class: 'contact-name' }, p.name || ''),
        h('span', { class: 'muted contact-info' }, describe(p)), btn));
    }
  }

  search.input.addEventListener('input', renderList);
  loadContacts(ctx).then((c) => {
    contacts = c;
    renderTabs();
    renderList();
    if (ctx.isStaff) groupBox.appendChild(groupForm(ctx, allContacts(c)));
  }).catch((e) => err.show(e.message));
  renderTabs();
  return { dispose: () => {} };
}

function groupForm(ctx, people) {
  const err = errorBox();
  const title = field('Название группового чата', 'input', { maxlength: '200', required: true });
  const boxes = people.filter((p) => p.id !== ctx.me.id).map((p) => ({ p, cb: checkbox(`${p.name}${describe(p) ? ' — ' + describe(p) : ''}`, { value: String(p.id) }) }));
  const submit = h('button', { type: 'submit', class: 'btn btn-primary' }, 'Создать групповой чат');
  const form = h('form', { class: 'card group-form', 'aria-labelledby': 'grp-h' },
    h('h3', { id: 'grp-h' }, 'Групповой чат'),
    title.wrap,
    h('fieldset', { class: 'checks' }, h('legend', null, 'Участники'), boxes.map((b) => b.cb.wrap)),
    err, submit);
  form.addEventListener('submit', (e) => {
    e.preventDefault();
    const members = boxes.filter((b) => b.cb.input.checked).map((b) => b.p.id);
    if (!title.input.value.trim()) { err.show('Введите название чата.'); title.input.focus(); return; }
    if (!members.length) { err.show('Отметьте хотя бы одного участника.'); return; }
    guarded(submit, async () => {
      ctx.chats.noteCreating();
      const res = await post('/api/chats', { title: title.input.value.trim(), members });
      const chat = ctx.chats.upsert(res.chat);
      toast('Групповой чат создан.', 'ok', 3000);
      if (chat) ctx.navigate(`/chats/${chat.id}`);
    }, err);
  });
  return form;
}

/* Members of a group chat; staff members of it may add and remove people. */
export function openMembers(pane, ctx, id) {
  const err = errorBox();
  const body = h('div');
  pane.appendChild(h('div', { class: 'chat-members' },
    h('div', { class: 'chat-head' },
      h('a', { href: `#/chats/${id}`, class: 'btn btn-icon back-link', 'aria-label': 'Вернуться в чат' }, '←'),
      h('h2', { class: 'chat-head-title' }, 'Участники чата')),
    err, body));
  let people = [];
  const off = ctx.chats.on('change', () => render());

  function render() {
    clear(body);
    const chat = ctx.chats.get(id);
    if (!chat) { body.appendChild(emptyNote('Чат не найден.')); return; }
    const canEdit = ctx.isStaff && chat.kind === 'group';
    body.appendChild(h('p', null, `«${chat.title || 'Групповой чат'}»`));
    const ul = h('ul', { class: 'contact-list' });
    for (const m of chat.members || []) {
      const btn = canEdit && m.id !== ctx.me.id
        ? h('button', { type: 'button', class: 'btn btn-quiet', 'aria-label': `Исключить: ${m.name}` }, 'Исключить') : null;
      if (btn) btn.addEventListener('click', () => change(btn, { remove: [m.id] }));
      ul.appendChild(h('li', { class: 'contact' }, h('span', { class: 'contact-name' }, m.name || ''),
        m.id === ctx.me.id ? h('span', { class: 'muted' }, 'это вы') : null, btn));
    }
    body.appendChild(ul);
    if (!canEdit) return;
    const inChat = new Set((chat.members || []).map((m) => m.id));
    const candidates = people.filter((p) => !inChat.has(p.id));
    if (!candidates.length) return;
    const sel = field('Добавить участника', 'select', {}, [{ value: '', label: '— выберите —' },
      ...candidates.map((p) => ({ value: String(p.id), label: p.name }))]);
    const add = h('button', { type: 'button', class: 'btn btn-primary' }, 'Добавить');
    add.addEventListener('click', () => {
      const uidv = Number(sel.input.value);
      if (!uidv) { err.show('Выберите, кого добавить.'); return; }
      change(add, { add: [uidv] });
    });
    body.appendChild(h('div', { class: 'row' }, sel.wrap, add));
  }

  function change(btn, delta) {
    guarded(btn, async () => {
      const res = await post(`/api/chats/${id}/members`, { add: delta.add || [], remove: delta.remove || [] });
      ctx.chats.upsert(res.chat);
      toast('Состав чата изменён.', 'ok', 3000);
    }, err);
  }

  loadContacts(ctx).then((c) => { people = allContacts(c); render(); }).catch((e) => err.show(e.message));
  render();
  return { dispose: () => off() };
}
