// The user's chat list with unread counts and last messages, kept current from live events.

import { get } from './api.js';

/*
 * ChatStore: load() fetches GET /api/chats; live chat.message / chat.read / chat.member events
 * update it. list() → chats newest activity first; totalUnread(); setOpen(id) marks the chat
 * being read. on('change', fn), on('read', fn(data)), on('member', fn(data)).
 */
export class ChatStore {
  constructor(live, me) {
    this.live = live;
    this.me = me;
    this.chats = new Map();
    this.loaded = false;
    this.openId = null;
    this.handlers = new Map();
    this.offs = [
      live.on('chat.message', (d, f) => this.message(d, f)),
      live.on('chat.read', (d) => this.read(d)),
      live.on('chat.member', (d) => this.member(d))
    ];
  }

  on(name, fn) {
    if (!this.handlers.has(name)) this.handlers.set(name, new Set());
    this.handlers.get(name).add(fn);
    return () => this.handlers.get(name).delete(fn);
  }

  emit(name, arg) {
    for (const fn of [...(this.handlers.get(name) || [])]) {
      try { fn(arg); } catch (e) { console.error(e); }
    }
  }

  /* Fetches the list; calls made while one fetch runs share it. */
  load() {
    if (!this.loading) {
      this.loading = get('/api/chats').then((res) => {
        this.chats.clear();
        for (const c of res.chats || []) this.put(c);
        this.loaded = true;
        this.emit('change');
        return this.list();
      }).finally(() => { this.loading = null; });
    }
    return this.loading;
  }

  /* Adds or replaces a chat object from the API; seeds the resume position of its topic. */
  put(c) {
    if (!c || !Number.isInteger(c.id)) return null;
    const old = this.chats.get(c.id);
    const chat = { ...c, reads: old ? old.reads : {}, activity: activityOf(c) };
    for (const m of c.members || []) {
      if (Number.isInteger(m.read_seq)) chat.reads[m.id] = Math.max(chat.reads[m.id] || 0, m.read_seq);
    }
    if (chat.id === this.openId) chat.unread = 0;
    this.chats.set(c.id, chat);
    if (Number.isInteger(c.last_seq)) this.live.seed(`chat:${c.id}`, c.last_seq);
    return chat;
  }

  upsert(c) {
    const chat = this.put(c);
    this.emit('change');
    return chat;
  }

  get(id) { return this.chats.get(id) || null; }

  /* Marks that this user is creating a chat now (their own "added" event is no news to them). */
  noteCreating() { this.creatingAt = Date.now(); }

  createdByMeRecently() { return Date.now() - (this.creatingAt || 0) < 10000; }

  list() {
    return [...this.chats.values()].sort((a, b) => (b.activity || '').localeCompare(a.activity || '') || b.id - a.id);
  }

  totalUnread() {
    let n = 0;
    for (const c of this.chats.values()) n += c.unread || 0;
    return n;
  }

  setOpen(id) {
    this.openId = id;
    const c = id ? this.chats.get(id) : null;
    if (c && c.unread) { c.unread = 0; this.emit('change'); }
  }

  message(d, frame) {
    const c = this.chats.get(d.chat_id);
    if (!c) { if (this.loaded) this.load().catch(() => {}); return; }
    if (Number.isInteger(c.last_seq) && d.seq <= c.last_seq && c.last && c.last.seq >= d.seq) return;
    c.last = { seq: d.seq, text: d.text, sender_id: d.sender_id, sender_name: d.sender_name, ts: frame.ts };
    c.last_seq = Math.max(c.last_seq || 0, d.seq);
    c.activity = frame.ts || new Date().toISOString();
    if (d.sender_id !== this.me.id && c.id !== this.openId) c.unread = (c.unread || 0) + 1;
    this.emit('change');
  }

  read(d) {
    const c = this.chats.get(d.chat_id);
    if (!c) return;
    if (d.user_id === this.me.id) {
      c.read_seq = Math.max(c.read_seq || 0, d.seq);
      if (c.read_seq >= (c.last_seq || 0)) c.unread = 0;
      this.emit('change');
    } else {
      c.reads[d.user_id] = Math.max(c.reads[d.user_id] || 0, d.seq);
    }
    this.emit('read', d);
  }

  member(d) {
    this.emit('member', d);
    if (this.loaded) this.load().catch(() => {});
  }

  /* The display title: a group's title, or the other member's name for a direct chat. */
  titleOf(c) {
    if (!c) return '';
    if (c.kind === 'group') return c.title || 'Групповой чат';
    const other = (c.members || []).find((m) => m.id !== this.me.id);
    return (other && other.name) || c.title || 'Чат';
  }

  dispose() { this.offs.forEach((f) => f()); }
}

function activityOf(c) {
  return (c.last && c.last.ts) || c.updated_at || c.created_at || '';
}
