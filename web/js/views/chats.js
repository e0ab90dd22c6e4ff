// Chats screen: the chat list (unread counts, last message) beside the open chat or the new-chat picker.

import { h, clear, formatTime, emptyNote, showFailure } from '../ui.js';
import { openChat } from './chat_view.js';
import { openNewChat, openMembers } from './chat_new.js';

export function mount(root, ctx) {
  const store = ctx.chats;
  const listEl = h('ul', { class: 'chat-list', id: 'chat-list' });
  const listNote = h('p', { class: 'muted', role: 'status' }, 'Загрузка чатов…');
  const pane = h('section', { class: 'chat-pane', id: 'chat-pane', 'aria-label': 'Открытый чат' });
  const layout = h('div', { class: 'chats-layout', dataset: { mode: 'list' } },
    h('section', { class: 'chat-list-pane', 'aria-labelledby': 'chats-h' },
      h('div', { class: 'pane-head' }, h('h1', { id: 'chats-h' }, 'Сообщения'),
        h('a', { class: 'btn btn-primary', href: '#/chats/new', id: 'new-chat' }, 'Новый чат')),
      listNote, listEl),
    pane);
  root.appendChild(layout);
  let openHandle = null;
  let current = [];

  function renderList() {
    clear(listEl);
    const chats = store.list();
    listNote.textContent = store.loaded ? (chats.length ? '' : 'Чатов пока нет. Начните новый.') : listNote.textContent;
    const openId = store.openId;
    for (const c of chats) listEl.appendChild(listItem(c, c.id === openId));
  }

  function listItem(c, active) {
    const title = store.titleOf(c);
    const last = c.last;
    const who = last ? (last.sender_id === ctx.me.id ? 'Вы: ' : (c.kind === 'group' && last.sender_name ? `${last.sender_name}: ` : '')) : '';
    const preview = last ? who + (last.text || '') : 'Сообщений пока нет';
    return h('li', null, h('a', { href: `#/chats/${c.id}`, class: `chat-link${active ? ' is-active' : ''}${c.unread ? ' has-unread' : ''}`,
      'aria-current': active ? 'true' : null, dataset: { chat: String(c.id) } },
    h('span', { class: 'chat-title' }, title, c.kind === 'group' ? h('span', { class: 'tag' }, 'группа') : null),
    h('span', { class: 'chat-preview' }, preview),
    h('span', { class: 'chat-time' }, last ? formatTime(last.ts) : ''),
    c.unread ? h('span', { class: 'badge' }, h('span', { class: 'sr-only' }, 'непрочитанных: '), String(c.unread)) : null));
  }

  function closeOpen() {
    if (openHandle && openHandle.dispose) openHandle.dispose();
    openHandle = null;
    store.setOpen(null);
  }

  function show(params) {
    current = params || [];
    closeOpen();
    clear(pane);
    const [first, second] = current;
    if (!first) {
      layout.dataset.mode = 'list';
      pane.appendChild(h('div', { class: 'pane-empty' }, emptyNote('Выберите чат слева или начните новый.')));
    } else if (first === 'new') {
      layout.dataset.mode = 'chat';
      openHandle = openNewChat(pane, ctx);
    } else {
      const id = Number(first);
      layout.dataset.mode = 'chat';
      if (!Number.isInteger(id)) { pane.appendChild(emptyNote('Чат не найден.')); return; }
      if (second === 'members') openHandle = openMembers(pane, ctx, id);
      else openHandle = openChat(pane, ctx, id);
    }
    renderList();
  }

  ctx.scope.onStore(store, 'change', renderList);
  if (!store.loaded) {
    const retry = () => store.load().catch((e) => showFailure(listNote, e.message, retry));
    retry();
  }
  show(ctx.params);

  return {
    update: (params) => show(params),
    refresh: () => {
      store.load().catch(() => {});
      if (openHandle && openHandle.refresh) openHandle.refresh();
    },
    unmount: () => closeOpen()
  };
}
