// Chat sends that are not yet acknowledged: kept with their client id (cid) and retried until acked.

import { newCid } from './ui.js';

const OUTBOX_KEY = 'epos.outbox';
const RESEND_AFTER_MS = 10000;
const TRANSIENT = new Set(['rate_limited', 'unavailable']);

/*
 * Outbox: send(chatId, text) → item {cid, chat, text, state: 'pending'|'failed', error}.
 * Items stay until the hub acks them (op "ack", or our own chat.message with the cid);
 * a retry reuses the cid, so the hub stores the message once. Listeners: on('acked'|'failed'|'change').
 */
export class Outbox {
  constructor(live, myId) {
    this.live = live;
    this.myId = myId;
    this.items = load();
    this.handlers = new Map();
    this.offs = [
      live.on('ready', () => this.flush()),
      live.on('ack', (a) => this.settle(a.cid, a)),
      live.on('error', (e) => this.refused(e)),
      live.on('chat.message', (m, f) => { if (m.sender_id === this.myId) this.settle(m.cid, { ...m, ts: f.ts }); })
    ];
    this.timer = setInterval(() => this.resendStale(), RESEND_AFTER_MS / 2);
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

  send(chat, text) {
    const item = { cid: newCid(), chat, text, state: 'pending', error: '', sentAt: 0 };
    this.items.push(item);
    this.save();
    this.transmit(item);
    this.emit('change', item);
    return item;
  }

  transmit(item) {
    if (item.state !== 'pending') return;
    if (this.live.send({ op: 'send', chat: item.chat, text: item.text, cid: item.cid })) item.sentAt = Date.now();
  }

  flush() {
    for (const item of this.items) this.transmit(item);
  }

  resendStale() {
    const now = Date.now();
    for (const item of this.items) {
      if (item.state === 'pending' && now - item.sentAt > RESEND_AFTER_MS) this.transmit(item);
    }
  }

  settle(cid, ack) {
    if (!cid) return;
    const i = this.items.findIndex((x) => x.cid === cid);
    if (i < 0) return;
    const [item] = this.items.splice(i, 1);
    this.save();
    this.emit('acked', { ...ack, cid, chat: item.chat, text: item.text });
  }

  refused(e) {
    const item = e && e.cid ? this.items.find((x) => x.cid === e.cid) : null;
    if (!item) return;
    if (TRANSIENT.has(e.code)) {
      item.sentAt = Date.now(); /* resendStale tries again later */
      return;
    }
    item.state = 'failed';
    item.error = e.message || 'Сообщение не отправлено.';
    this.save();
    this.emit('failed', item);
  }

  retry(cid) {
    const item = this.items.find((x) => x.cid === cid);
    if (!item) return;
    item.state = 'pending';
    item.error = '';
    item.sentAt = 0;
    this.save();
    this.transmit(item);
    this.emit('change', item);
  }

  discard(cid) {
    this.items = this.items.filter((x) => x.cid !== cid);
    this.save();
  }

  forChat(chat) {
    return this.items.filter((x) => x.chat === chat);
  }

  dispose(forget) {
    this.offs.forEach((f) => f());
    clearInterval(this.timer);
    if (forget) {
      this.items = [];
      try { sessionStorage.removeItem(OUTBOX_KEY); } catch { /* ignore */ }
    }
  }

  save() {
    try {
      sessionStorage.setItem(OUTBOX_KEY, JSON.stringify(this.items.map(({ cid, chat, text, state, error }) =>
        ({ cid, chat, text, state, error }))));
    } catch { /* storage full or disabled: memory is enough */ }
  }
}

function load() {
  try {
    const arr = JSON.parse(sessionStorage.getItem(OUTBOX_KEY) || '[]');
    return Array.isArray(arr) ? arr.filter((x) => x && x.cid && x.chat && typeof x.text === 'string')
      .map((x) => ({ ...x, sentAt: 0 })) : [];
  } catch {
    return [];
  }
}
