// One open chat: history as you scroll up, live messages, sending through the outbox, receipts, typing.

import { get, post } from '../api.js';
import { h, clear, formatTime, uid, toast } from '../ui.js';

const PAGE = 30;
const TYPING_EVERY_MS = 3000;
const TYPING_SHOW_MS = 5000;

/* Opens chat `id` in `pane`; returns {dispose(), refresh()}. */
export function openChat(pane, ctx, id) {
  const { me, live, outbox, chats: store } = ctx;
  const st = { byId: new Map(), pendingEls: new Map(), minSeq: null, maxSeq: 0, more: true,
    loadingOlder: false, readSent: 0, typingSent: 0, typingTimer: 0, disposed: false, offs: [] };
  const titleEl = h('h2', { class: 'chat-head-title', id: 'chat-title' }, 'Чат');
  const headExtra = h('div', { class: 'chat-head-extra' });
  const olderBtn = h('button', { type: 'button', class: 'btn btn-quiet older-btn', hidden: true,
    onclick: () => loadOlder() }, 'Показать более ранние сообщения');
  const log = h('ol', { class: 'msgs', id: 'msgs', role: 'log', 'aria-live': 'polite', 'aria-relevant': 'additions',
    'aria-labelledby': 'chat-title' });
  const scroller = h('div', { class: 'msgs-scroll', tabindex: '0', 'aria-label': 'История сообщений' }, olderBtn, log);
  const typingEl = h('p', { class: 'typing muted', 'aria-hidden': 'true' });
  const textId = uid('msg');
  const input = h('textarea', { id: textId, class: 'compose-input', rows: '2', maxlength: '4000',
    placeholder: 'Сообщение…', autocomplete: 'off' });
  const sendBtn = h('button', { type: 'submit', class: 'btn btn-primary send-btn' }, 'Отправить');
  const form = h('form', { class: 'compose' },
    h('label', { for: textId, class: 'sr-only' }, 'Текст сообщения'), input, sendBtn);
  pane.appendChild(h('div', { class: 'chat-view' },
    h('div', { class: 'chat-head' },
      h('a', { href: '#/chats', class: 'btn btn-icon back-link', 'aria-label': 'К списку чатов' }, '←'),
      titleEl, headExtra),
    scroller, typingEl, form));

  store.setOpen(id);
  scroller.addEventListener('scroll', () => { if (scroller.scrollTop < 40) loadOlder(); });
  form.addEventListener('submit', (e) => { e.preventDefault(); send(); });
  input.addEventListener('keydown', (e) => {
    if (e.key === 'Enter' && !e.shiftKey && !e.isComposing) { e.preventDefault(); send(); }
  });
  input.addEventListener('input', () => typing());
  const onVisible = () => { if (!document.hidden) markRead(); };
  document.addEventListener('visibilitychange', onVisible);

  st.offs.push(live.on('chat.message', (d, f) => { if (d.chat_id === id) addLive(d, f); }));
  st.offs.push(live.on('chat.typing', (d) => { if (d.chat_id === id && d.user_id !== me.id) showTyping(d.name); }));
  st.offs.push(store.on('read', (d) => { if (d.chat_id === id) updateReceipts(); }));
  st.offs.push(store.on('change', () => renderHead()));
  st.offs.push(store.on('member', (d) => { if (d.chat_id === id && (d.removed || []).includes(me.id)) leftChat(); }));
  st.offs.push(outbox.on('acked', (a) => { if (a.chat === id) acked(a); }));
  st.offs.push(outbox.on('failed', (it) => { if (it.chat === id) renderPending(it); }));
  st.offs.push(outbox.on('change', (it) => { if (it.chat === id) renderPending(it); }));
  st.offs.push(live.on('state', () => { for (const it of outbox.forChat(id)) renderPending(it); }));

  function chat() { return store.get(id); }

  function renderHead() {
    const c = chat();
    if (!c) return;
    titleEl.textContent = store.titleOf(c);
    clear(headExtra);
    if (c.kind === 'group') {
      const n = (c.members || []).length;
      headExtra.appendChild(h('a', { href: `#/chats/${id}/members`, class: 'btn btn-quiet' },
        ctx.isStaff ? `Участники (${n})` : `Участников: ${n}`));
    }
  }

  async function start() {
    if (!store.loaded) { try { await store.load(); } catch { /* shown by the list */ } }
    if (st.disposed) return;
    if (!chat()) { clear(log).appendChild(h('li', { class: 'muted' }, 'Чат не найден или недоступен.')); return; }
    renderHead();
    await loadLatest();
    for (const it of outbox.forChat(id)) renderPending(it);
    input.focus();
  }

  async function loadLatest() {
    try {
      const res = await get(`/api/chats/${id}/messages`, { limit: PAGE });
      if (st.disposed) return;
      const msgs = res.messages || [];
      if (st.minSeq === null) st.more = msgs.length >= PAGE;
      for (const m of msgs) insert(m);
      olderBtn.hidden = !st.more;
      if (st.maxSeq) live.seed(`chat:${id}`, st.maxSeq);
      scrollToEnd();
      markRead();
    } catch (e) {
      toast(e.message, 'error');
    }
  }

  async function loadOlder() {
    if (st.loadingOlder || !st.more || st.minSeq === null) return;
    st.loadingOlder = true;
    olderBtn.disabled = true;
    const before = scroller.scrollHeight;
    try {
      const res = await get(`/api/chats/${id}/messages`, { before: st.minSeq, limit: PAGE });
      const msgs = res.messages || [];
      st.more = msgs.length >= PAGE;
      for (const m of msgs) insert(m);
      scroller.scrollTop += scroller.scrollHeight - before;
    } catch (e) {
      toast(e.message, 'error');
    } finally {
      st.loadingOlder = false;
      olderBtn.disabled = false;
      olderBtn.hidden = !st.more;
    }
  }

  function nearEnd() {
    return scroller.scrollHeight - scroller.scrollTop - scroller.clientHeight < 80;
  }

  function scrollToEnd() { scroller.scrollTop = scroller.scrollHeight; }

  /* Adds a stored message in seq order unless already shown; replaces our pending copy by cid. */
  function insert(m) {
    if (!m || !Number.isInteger(m.id) || st.byId.has(m.id)) return;
    if (m.cid && st.pendingEls.has(m.cid)) { st.pendingEls.get(m.cid).remove(); st.pendingEls.delete(m.cid); }
    const el = messageEl(m);
    st.byId.set(m.id, { m, el });
    let after = null;
    for (let n = log.lastElementChild; n; n = n.previousElementSibling) {
      if (n.dataset.seq && Number(n.dataset.seq) < m.seq) { after = n; break; }
    }
    if (after) after.after(el);
    else {
      const firstStored = [...log.children].find((n) => n.dataset.seq);
      if (firstStored) firstStored.before(el); else log.prepend(el);
    }
    const pendings = [...log.querySelectorAll('li.is-pending')];
    for (const p of pendings) log.appendChild(p);
    if (st.minSeq === null || m.seq < st.minSeq) st.minSeq = m.seq;
    if (m.seq > st.maxSeq) st.maxSeq = m.seq;
  }

  function messageEl(m) {
    const mine = m.sender_id === me.id;
    const c = chat();
    return h('li', { class: `msg ${mine ? 'msg-mine' : 'msg-theirs'}`, dataset: { seq: String(m.seq), id: String(m.id) } },
      !mine && c && c.kind === 'group' ? h('span', { class: 'msg-author' }, m.sender_name || '') : null,
      h('span', { class: 'sr-only' }, mine ? 'Вы: ' : `${m.sender_name || 'Собеседник'}: `),
      h('p', { class: 'msg-text' }, m.text || ''),
      h('span', { class: 'msg-meta' }, h('time', { datetime: m.ts || '' }, formatTime(m.ts)),
        mine ? h('span', { class: 'msg-status' }, receiptText(m.seq)) : null));
  }

  function receiptText(seq) {
    const c = chat();
    if (!c) return '';
    const readers = Object.entries(c.reads || {}).filter(([u, s]) => Number(u) !== me.id && s >= seq).length;
    if (!readers) return ' · доставлено';
    return c.kind === 'group' ? ` · прочитали: ${readers}` : ' · прочитано';
  }

  function updateReceipts() {
    for (const { m, el } of st.byId.values()) {
      if (m.sender_id !== me.id) continue;
      const s = el.querySelector('.msg-status');
      if (s) s.textContent = receiptText(m.seq);
    }
  }

  function addLive(d, frame) {
    const stick = nearEnd() || d.sender_id === me.id;
    insert({ ...d, ts: frame.ts });
    if (stick) scrollToEnd();
    markRead();
  }

  function acked(a) {
    if (!Number.isInteger(a.id) || st.byId.has(a.id)) {
      const p = st.pendingEls.get(a.cid);
      if (p) { p.remove(); st.pendingEls.delete(a.cid); }
      return;
    }
    insert({ id: a.id, seq: a.seq, ts: a.ts, text: a.text, sender_id: me.id, sender_name: me.name, cid: a.cid });
    scrollToEnd();
  }

  function renderPending(it) {
    const old = st.pendingEls.get(it.cid);
    if (!outbox.forChat(id).some((x) => x.cid === it.cid)) { if (old) old.remove(); st.pendingEls.delete(it.cid); return; }
    const failed = it.state === 'failed';
    const waiting = live.state !== 'online';
    const status = failed ? `Не отправлено: ${it.error}` : waiting ? 'ожидает связи…' : 'отправляется…';
    const el = h('li', { class: `msg msg-mine is-pending${failed ? ' is-failed' : ''}`, dataset: { cid: it.cid } },
      h('span', { class: 'sr-only' }, 'Вы: '),
      h('p', { class: 'msg-text' }, it.text),
      h('span', { class: 'msg-meta', role: failed ? 'alert' : null }, status),
      failed ? h('span', { class: 'msg-actions' },
        h('button', { type: 'button', class: 'btn btn-quiet', onclick: () => outbox.retry(it.cid) }, 'Повторить'),
        h('button', { type: 'button', class: 'btn btn-quiet', onclick: () => editFailed(it) }, 'Изменить')) : null);
    if (old) old.replaceWith(el); else { log.appendChild(el); scrollToEnd(); }
    st.pendingEls.set(it.cid, el);
  }

  /* Removed from this chat: history stays readable, writing is closed. */
  function leftChat() {
    input.disabled = true;
    sendBtn.disabled = true;
    typingEl.textContent = '';
    form.replaceWith(h('p', { class: 'alert', role: 'alert' }, 'Вас исключили из этого чата: писать в него больше нельзя.'));
  }

  function editFailed(it) {
    outbox.discard(it.cid);
    const el = st.pendingEls.get(it.cid);
    if (el) el.remove();
    st.pendingEls.delete(it.cid);
    input.value = it.text;
    input.focus();
  }

  function send() {
    const text = input.value.trim();
    if (!text) { input.focus(); return; }
    const it = outbox.send(id, text);
    input.value = '';
    renderPending(it);
    input.focus();
  }

  function typing() {
    const now = Date.now();
    if (now - st.typingSent < TYPING_EVERY_MS || !input.value) return;
    if (live.send({ op: 'typing', chat: id })) st.typingSent = now;
  }

  function showTyping(name) {
    typingEl.textContent = `${name || 'Собеседник'} печатает…`;
    clearTimeout(st.typingTimer);
    st.typingTimer = setTimeout(() => { typingEl.textContent = ''; }, TYPING_SHOW_MS);
  }

  function markRead() {
    if (document.hidden || st.maxSeq <= st.readSent) return;
    const c = chat();
    if (c && (c.read_seq || 0) >= st.maxSeq) { st.readSent = st.maxSeq; return; }
    const seq = st.maxSeq;
    st.readSent = seq;
    if (!live.send({ op: 'read', chat: id, seq })) {
      post(`/api/chats/${id}/read`, { seq }).catch(() => { st.readSent = 0; });
    }
    store.setOpen(id);
  }

  start();

  return {
    refresh: () => loadLatest(),
    dispose: () => {
      st.disposed = true;
      st.offs.forEach((f) => f());
      clearTimeout(st.typingTimer);
      document.removeEventListener('visibilitychange', onVisible);
    }
  };
}
