// DOM helpers, toasts, date formatting and guarded actions shared by every view (no innerHTML with data).

/*
 * h('button', {class: 'btn', type: 'button', onclick: fn, 'aria-label': 'Закрыть'}, 'текст', childNode)
 * Strings and numbers become text nodes; null/false children are skipped.
 * Prop keys: class, text, dataset (object), on<event> (function), value/checked/disabled/hidden
 * (properties), everything else → attribute (skipped when null/false).
 */
export function h(tag, props, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(props || {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k === 'class') el.className = v;
    else if (k === 'text') el.textContent = String(v);
    else if (k === 'dataset') Object.assign(el.dataset, v);
    else if (k.startsWith('on') && typeof v === 'function') el.addEventListener(k.slice(2), v);
    else if (k === 'value' || k === 'checked' || k === 'disabled' || k === 'hidden' || k === 'selected') el[k] = v;
    else el.setAttribute(k, v === true ? '' : String(v));
  }
  append(el, children);
  return el;
}

function append(el, children) {
  for (const c of children) {
    if (c === null || c === undefined || c === false) continue;
    if (Array.isArray(c)) append(el, c);
    else if (c instanceof Node) el.appendChild(c);
    else el.appendChild(document.createTextNode(String(c)));
  }
}

export function clear(el) {
  while (el.firstChild) el.removeChild(el.firstChild);
  return el;
}

/* A random client id (cid) for a request that may be retried; randomUUID needs a secure
 * context (https or localhost), getRandomValues works everywhere. */
export function newCid() {
  if (window.crypto && crypto.randomUUID && window.isSecureContext) return crypto.randomUUID();
  const b = crypto.getRandomValues(new Uint8Array(16));
  return [...b].map((x) => x.toString(16).padStart(2, '0')).join('');
}

let idCounter = 0;
/* A unique element id for label/for pairs. */
export function uid(prefix = 'f') {
  idCounter++;
  return `${prefix}-${idCounter}`;
}

/* A labelled form field: returns {wrap, input}. kind: 'input' | 'textarea' | 'select'. */
export function field(label, kind = 'input', props = {}, options = []) {
  const id = props.id || uid();
  const input = h(kind, { ...props, id });
  for (const o of options) input.appendChild(h('option', { value: o.value, selected: o.selected }, o.label));
  const wrap = h('div', { class: 'field' }, h('label', { for: id }, label), input);
  return { wrap, input };
}

/* A labelled checkbox: returns {wrap, input}. */
export function checkbox(label, props = {}) {
  const id = props.id || uid('c');
  const input = h('input', { ...props, id, type: 'checkbox' });
  const wrap = h('div', { class: 'check' }, input, h('label', { for: id }, label));
  return { wrap, input };
}

/* Shows a short message in the polite live region (kind: 'info' | 'error' | 'ok'). */
export function toast(text, kind = 'info', ms = 6000) {
  const region = document.getElementById('toasts');
  if (!region) return;
  const item = h('div', { class: `toast toast-${kind}`, role: kind === 'error' ? 'alert' : 'status' },
    h('span', { class: 'toast-text' }, text),
    h('button', { type: 'button', class: 'toast-close', 'aria-label': 'Закрыть уведомление',
      onclick: () => item.remove() }, '×'));
  region.appendChild(item);
  while (region.children.length > 4) region.firstChild.remove();
  if (ms > 0) setTimeout(() => item.remove(), ms);
}

/* A visible inline error box (role=alert) with plain words; empty text hides it. */
export function errorBox() {
  const el = h('p', { class: 'form-error', role: 'alert', hidden: true });
  el.show = (text) => { el.textContent = text || ''; el.hidden = !text; };
  return el;
}

/*
 * Runs an async action with the button disabled and marked busy; on failure shows
 * the error (in errBox if given, else a toast) and returns undefined. Never double-submits.
 */
export async function guarded(button, fn, errBox) {
  if (button && button.dataset.busy === '1') return undefined;
  if (button) {
    button.dataset.busy = '1';
    button.disabled = true;
    button.setAttribute('aria-busy', 'true');
  }
  if (errBox) errBox.show('');
  try {
    return await fn();
  } catch (e) {
    const text = e && e.message ? e.message : 'Не получилось. Повторите.';
    if (errBox) errBox.show(text); else toast(text, 'error');
    return undefined;
  } finally {
    if (button) {
      delete button.dataset.busy;
      button.disabled = false;
      button.removeAttribute('aria-busy');
    }
  }
}

export const MONTHS_GEN = ['января', 'февраля', 'марта', 'апреля', 'мая', 'июня', 'июля',
  'августа', 'сентября', 'октября', 'ноября', 'декабря'];
export const MONTHS = ['Январь', 'Февраль', 'Март', 'Апрель', 'Май', 'Июнь', 'Июль',
  'Август', 'Сентябрь', 'Октябрь', 'Ноябрь', 'Декабрь'];
export const WEEKDAYS = ['Пн', 'Вт', 'Ср', 'Чт', 'Пт', 'Сб', 'Вс'];

/* 'YYYY-MM-DD' → '5 марта 2026' (year omitted when current). */
export function formatDate(ymd) {
  if (!ymd || typeof ymd !== 'string') return '';
  const [y, m, d] = ymd.split('-').map(Number);
  if (!y || !m || !d) return ymd;
  const year = y === new Date().getFullYear() ? '' : ` ${y}`;
  return `${d} ${MONTHS_GEN[m - 1]}${year}`;
}

/* ISO timestamp → 'HH:MM' today, else '5 марта, HH:MM'. */
export function formatTime(iso) {
  if (!iso) return '';
  const t = new Date(iso);
  if (Number.isNaN(t.getTime())) return '';
  const hm = t.toLocaleTimeString('ru-RU', { hour: '2-digit', minute: '2-digit' });
  const now = new Date();
  if (t.toDateString() === now.toDateString()) return hm;
  return `${formatDate(localYmd(t))}, ${hm}`;
}

/* Date → local 'YYYY-MM-DD'. */
export function localYmd(d = new Date()) {
  const p = (n) => String(n).padStart(2, '0');
  return `${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())}`;
}

/* Today's date 'YYYY-MM-DD' in a time zone (the org's), falling back to local. */
export function todayIn(tz) {
  try {
    return new Intl.DateTimeFormat('en-CA', { timeZone: tz || undefined, year: 'numeric',
      month: '2-digit', day: '2-digit' }).format(new Date());
  } catch {
    return localYmd();
  }
}

/* Minutes since midnight now in a time zone. */
export function minutesNowIn(tz) {
  try {
    const parts = new Intl.DateTimeFormat('en-GB', { timeZone: tz || undefined, hour: '2-digit',
      minute: '2-digit', hourCycle: 'h23' }).formatToParts(new Date());
    const hh = Number(parts.find((p) => p.type === 'hour').value);
    const mm = Number(parts.find((p) => p.type === 'minute').value);
    return hh * 60 + mm;
  } catch {
    const d = new Date();
    return d.getHours() * 60 + d.getMinutes();
  }
}

/* Russian plural: plural(3, ['ребёнок', 'ребёнка', 'детей']). */
export function plural(n, forms) {
  const a = Math.abs(n) % 100;
  const b = a % 10;
  if (a > 10 && a < 20) return forms[2];
  if (b > 1 && b < 5) return forms[1];
  if (b === 1) return forms[0];
  return forms[2];
}

/* A section heading + container used by views. */
export function section(title, ...children) {
  const hid = uid('h');
  return h('section', { class: 'card', 'aria-labelledby': hid }, h('h2', { id: hid }, title), ...children);
}

export function emptyNote(text) {
  return h('p', { class: 'muted' }, text);
}

/* Plain words for an absence notice status (API status or a teacher's answer). */
export function statusWord(status) {
  return {
    active: 'подано', withdrawn: 'отозвано', confirmed: 'подтверждено учителем',
    corrected: 'исправлено учителем', applied: 'учтено в табеле',
    day_off: 'на выходной день: в табель не вносится', received: 'получено',
    present: 'ребёнок отмечен присутствующим', absent: 'отсутствие отмечено'
  }[status] || status || '';
}

/* Shows a failed load in `box` in plain words, with a «Повторить» button calling retry(). */
export function showFailure(box, message, retry) {
  clear(box);
  box.appendChild(h('span', { class: 'form-error', role: 'alert' }, message || 'Не удалось загрузить.'));
  if (retry) {
    box.append(' ');
    box.appendChild(h('button', { type: 'button', class: 'btn btn-quiet', onclick: () => { clear(box).append('Загрузка…'); retry(); } },
      'Повторить'));
  }
}
