// WebSocket client of protocol epos.v1: auth first, resume per topic, de-duplication, reconnect with backoff.

const RESUME_KEY = 'epos.resume';
const PING_EVERY_MS = 25000;
const SILENCE_LIMIT_MS = 60000;
const RESUMED_WAIT_MS = 8000;
const BACKOFF_MS = [500, 1000, 2000, 4000, 8000, 15000];
const OPEN_LIMIT_MS = 15000;

/*
 * Live: one connection to /ws for the signed-in user.
 *   live.on(name, fn) → unsubscribe function. Names: 'state' (online|connecting|offline),
 *   'event' (frame), every event type ('chat.message', …: fn(data, frame)), 'ack', 'error',
 *   'hello', 'ready' ({reconnect, unknownTopics}), 'reset' (topic), 'unauthorized' (close code, reason:
 *   'revoked' | 'expired' | 'disabled' | null, from the hub's error just before its 4401).
 *   live.send(obj) → true when written to an authenticated socket.
 *   live.seed(topic, seq) raises the resume position of a topic to what HTTP data already showed.
 */
export class Live {
  constructor(getToken) {
    this.getToken = getToken;
    this.handlers = new Map();
    this.positions = loadPositions();
    this.state = 'offline';
    this.sock = null;
    this.ready = false;
    this.attempt = 0;
    this.connectedOnce = false;
    this.stopped = true;
    this.timers = {};
    this.lastHeard = 0;
    this.topics = [];
    this.onOnline = () => { if (!this.stopped) this.reconnectNow(); };
    this.onOffline = () => this.abandon('offline');
  }

  on(name, fn) {
    if (!this.handlers.has(name)) this.handlers.set(name, new Set());
    this.handlers.get(name).add(fn);
    return () => this.handlers.get(name).delete(fn);
  }

  emit(name, ...args) {
    const set = this.handlers.get(name);
    if (!set) return;
    for (const fn of [...set]) {
      try { fn(...args); } catch (e) { console.error('handler of', name, e); }
    }
  }

  setState(s) {
    if (this.state === s) return;
    this.state = s;
    this.emit('state', s);
  }

  start() {
    if (!this.stopped) return;
    this.stopped = false;
    window.addEventListener('online', this.onOnline);
    window.addEventListener('offline', this.onOffline);
    this.connect();
  }

  /* Closes for good (logout): forgets resume positions. */
  stop() {
    this.stopped = true;
    window.removeEventListener('online', this.onOnline);
    window.removeEventListener('offline', this.onOffline);
    this.clearTimers();
    if (this.sock) { this.sock.onclose = null; this.sock.close(1000, 'logout'); }
    this.sock = null;
    this.ready = false;
    this.positions = {};
    try { sessionStorage.removeItem(RESUME_KEY); } catch { /* ignore */ }
    this.setState('offline');
  }

  clearTimers() {
    for (const k of Object.keys(this.timers)) {
      clearTimeout(this.timers[k]);
      clearInterval(this.timers[k]);
    }
    this.timers = {};
  }

  reconnectNow() {
    clearTimeout(this.timers.retry);
    this.attempt = 0;
    if (!this.sock) this.connect();
  }

  connect() {
    if (this.stopped || this.sock) return;
    if (navigator.onLine === false) { this.setState('offline'); return; }
    const token = this.getToken();
    if (!token) { this.setState('offline'); return; }
    this.setState('connecting');
    const url = (location.protocol === 'https:' ? 'wss://' : 'ws://') + location.host + '/ws';
    let sock;
    try {
      sock = new WebSocket(url, 'epos.v1');
    } catch {
      this.scheduleRetry();
      return;
    }
    this.sock = sock;
    this.ready = false;
    this.endReason = null;
    this.resumeSent = {};
    sock.onopen = () => {
      this.lastHeard = Date.now();
      this.resumeSent = { ...this.positions };
      const auth = { op: 'auth', token };
      if (Object.keys(this.resumeSent).length) auth.resume = this.resumeSent;
      sock.send(JSON.stringify(auth));
      this.timers.ping = setInterval(() => this.heartbeat(), PING_EVERY_MS);
    };
    sock.onmessage = (ev) => this.receive(ev.data);
    sock.onclose = (ev) => this.closed(sock, ev.code);
    sock.onerror = () => { /* onclose follows */ };
    /* A handshake or hello that never comes (a dead network path) must not hang the client. */
    clearTimeout(this.timers.open);
    this.timers.open = setTimeout(() => { if (this.sock === sock && !this.ready) this.abandon('timeout'); }, OPEN_LIMIT_MS);
  }

  heartbeat() {
    if (!this.sock) return;
    if (Date.now() - this.lastHeard > SILENCE_LIMIT_MS) {
      this.abandon('silent');
      return;
    }
    this.sendRaw({ op: 'ping' });
  }

  closed(sock, code) {
    if (sock !== this.sock) return;
    this.sock = null;
    this.ready = false;
    clearInterval(this.timers.ping);
    clearTimeout(this.timers.resumed);
    clearTimeout(this.timers.open);
    if (this.stopped) return;
    if (code === 4401 || code === 4403) {
      this.setState('offline');
      this.emit('unauthorized', code, this.endReason);
      return;
    }
    /* Too many sockets of this user on the hub (other tabs): retry slowly. */
    if (code === 4429) this.attempt = Math.max(this.attempt, BACKOFF_MS.length - 1);
    this.scheduleRetry();
  }

  scheduleRetry() {
    this.sock = null;
    this.setState(navigator.onLine === false ? 'offline' : 'connecting');
    if (navigator.onLine === false) return; /* the 'online' event reconnects */
    const base = BACKOFF_MS[Math.min(this.attempt, BACKOFF_MS.length - 1)];
    this.attempt++;
    const delay = base / 2 + Math.random() * base / 2;
    if (this.attempt > 2) this.setState('offline');
    clearTimeout(this.timers.retry);
    this.timers.retry = setTimeout(() => this.connect(), delay);
  }

  receive(data) {
    this.lastHeard = Date.now();
    if (typeof data !== 'string') return;
    for (const line of data.split('\n')) {
      if (!line.trim()) continue;
      let msg;
      try { msg = JSON.parse(line); } catch { continue; }
      if (msg && typeof msg === 'object') this.dispatch(msg);
    }
  }

  dispatch(msg) {
    switch (msg.op) {
      case 'hello': return this.hello(msg);
      case 'resumed': return this.becomeReady();
      case 'reset': return this.reset(msg.topic);
      case 'event': return this.event(msg);
      case 'ack': return this.emit('ack', msg);
      case 'error':
        /* The hub says why before it closes 4401 (session revoked or expired). */
        if (msg.code === 'unauthorized' && typeof msg.reason === 'string') this.endReason = msg.reason;
        return this.emit('error', msg);
      case 'pong': case 'ok': return undefined;
      default: return undefined;
    }
  }

  hello(msg) {
    const topics = msg.topics;
    if (Array.isArray(topics)) {
      this.topics = topics.filter((t) => typeof t === 'string');
    } else if (topics && typeof topics === 'object') {
      /* {topic: current seq}: a topic never seen can then be resumed too. */
      this.topics = Object.keys(topics);
      for (const [t, seq] of Object.entries(topics)) this.seedIfUnknown(t, seq);
    } else {
      this.topics = [];
    }
    this.emit('hello', msg);
    if (Object.keys(this.resumeSent).length === 0) {
      this.becomeReady();
    } else {
      this.timers.resumed = setTimeout(() => this.becomeReady(), RESUMED_WAIT_MS);
    }
  }

  becomeReady() {
    clearTimeout(this.timers.resumed);
    clearTimeout(this.timers.open);
    if (this.ready || !this.sock) return;
    this.ready = true;
    this.attempt = 0;
    this.setState('online');
    const reconnect = this.connectedOnce;
    this.connectedOnce = true;
    const unknownTopics = this.topics.filter((t) => !(t in this.resumeSent));
    this.emit('ready', { reconnect, unknownTopics });
  }

  reset(topic) {
    if (!topic) return;
    delete this.positions[topic];
    this.savePositions();
    this.emit('reset', topic);
  }

  event(msg) {
    if (typeof msg.topic !== 'string' || typeof msg.type !== 'string') return;
    if (Number.isInteger(msg.seq)) {
      const last = this.positions[msg.topic];
      if (last !== undefined && msg.seq <= last) return; /* already delivered */
      this.positions[msg.topic] = msg.seq;
      this.savePositions();
    }
    this.emit('event', msg);
    this.emit(msg.type, msg.data || {}, msg);
  }

  /* Raises the resume position of a topic (HTTP data already showed events up to seq). */
  seed(topic, seq) {
    if (!Number.isInteger(seq) || seq < 0) return;
    const last = this.positions[topic];
    if (last === undefined || seq > last) {
      this.positions[topic] = seq;
      this.savePositions();
    }
  }

  seedIfUnknown(topic, seq) {
    if (this.positions[topic] === undefined) this.seed(topic, seq);
  }

  savePositions() {
    clearTimeout(this.timers.save);
    this.timers.save = setTimeout(() => {
      try { sessionStorage.setItem(RESUME_KEY, JSON.stringify(this.positions)); } catch { /* ignore */ }
    }, 200);
  }

  sendRaw(obj) {
    if (!this.sock || this.sock.readyState !== WebSocket.OPEN) return false;
    this.sock.send(JSON.stringify(obj));
    return true;
  }

  /* Sends a request on an authenticated connection; false if not connected right now. */
  send(obj) {
    if (!this.ready) return false;
    return this.sendRaw(obj);
  }

  /* Drops the socket at once as if the network failed (offline event, silence, tests); retries follow. */
  drop() {
    this.abandon('drop');
  }

  abandon(reason) {
    const sock = this.sock;
    if (!sock) return;
    sock.onclose = null;
    sock.onmessage = null;
    try { sock.close(4000, reason); } catch { /* already closing */ }
    this.closed(sock, 4000);
  }
}

function loadPositions() {
  try {
    const p = JSON.parse(sessionStorage.getItem(RESUME_KEY) || '{}');
    const out = {};
    for (const [k, v] of Object.entries(p || {})) if (Number.isInteger(v)) out[k] = v;
    return out;
  } catch {
    return {};
  }
}
