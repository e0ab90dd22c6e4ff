// Month calendar widget: a keyboard-navigable grid of day buttons with marks (events, tests, days off).

import { h, clear, MONTHS, MONTHS_GEN, WEEKDAYS, localYmd } from './ui.js';

function ymd(y, m, d) {
  return `${y}-${String(m + 1).padStart(2, '0')}-${String(d).padStart(2, '0')}`;
}

/*
 * Creates a calendar: opts.marksFor(ymd) → {events: n, test: bool, off: bool, label: 'текст'} | null,
 * opts.onPick(ymd), opts.onMonth(year, month0) when the shown month changes, opts.label (heading).
 * Returns {el, render(), show(year, month0), selected()}.
 */
export function createCalendar(opts) {
  const today = localYmd();
  const now = new Date();
  const st = { year: now.getFullYear(), month: now.getMonth(), selected: today };
  const title = h('h3', { class: 'cal-title', 'aria-live': 'polite' });
  const prev = h('button', { type: 'button', class: 'btn btn-icon', 'aria-label': 'Предыдущий месяц',
    onclick: () => step(-1) }, '‹');
  const next = h('button', { type: 'button', class: 'btn btn-icon', 'aria-label': 'Следующий месяц',
    onclick: () => step(1) }, '›');
  const grid = h('table', { class: 'cal-grid', role: 'grid' });
  const el = h('div', { class: 'calendar', role: 'group', 'aria-label': opts.label || 'Календарь' },
    h('div', { class: 'cal-head' }, prev, title, next), grid);

  function step(delta) {
    let m = st.month + delta;
    let y = st.year;
    if (m < 0) { m = 11; y--; }
    if (m > 11) { m = 0; y++; }
    show(y, m);
  }

  function show(y, m) {
    st.year = y;
    st.month = m;
    if (!st.selected.startsWith(ymd(y, m, 1).slice(0, 8))) st.selected = ymd(y, m, 1);
    if (opts.onMonth) opts.onMonth(y, m);
    render();
  }

  function dayLabel(date, d, mark) {
    const parts = [`${d} ${MONTHS_GEN[st.month]}`];
    if (date === today) parts.push('сегодня');
    if (mark && mark.off) parts.push('выходной');
    if (mark && mark.test) parts.push('контрольная работа');
    if (mark && mark.events) parts.push(`событий: ${mark.events}`);
    if (mark && mark.label) parts.push(mark.label);
    return parts.join(', ');
  }

  function render() {
    title.textContent = `${MONTHS[st.month]} ${st.year}`;
    clear(grid);
    grid.appendChild(h('thead', null, h('tr', null, WEEKDAYS.map((w) => h('th', { scope: 'col', abbr: w }, w)))));
    const body = h('tbody');
    const first = new Date(st.year, st.month, 1);
    const lead = (first.getDay() + 6) % 7;
    const days = new Date(st.year, st.month + 1, 0).getDate();
    let row = h('tr');
    for (let i = 0; i < lead; i++) row.appendChild(h('td', { class: 'cal-pad' }));
    for (let d = 1; d <= days; d++) {
      const date = ymd(st.year, st.month, d);
      const mark = opts.marksFor ? opts.marksFor(date) : null;
      const weekend = (lead + d - 1) % 7 >= 5;
      const cls = ['cal-day'];
      if (date === today) cls.push('is-today');
      if (date === st.selected) cls.push('is-selected');
      if ((mark && mark.off) || (weekend && !(mark && mark.off === false))) cls.push('is-off');
      if (mark && mark.events) cls.push('has-events');
      const btn = h('button', { type: 'button', class: cls.join(' '), tabindex: date === st.selected ? '0' : '-1',
        'aria-label': dayLabel(date, d, mark), 'aria-pressed': date === st.selected ? 'true' : 'false',
        dataset: { date } },
      h('span', { class: 'cal-num', 'aria-hidden': 'true' }, String(d)),
      mark && mark.test ? h('span', { class: 'cal-test', 'aria-hidden': 'true' }, 'КР') : null,
      mark && mark.events && !mark.test ? h('span', { class: 'cal-dot', 'aria-hidden': 'true' }) : null);
      btn.addEventListener('click', () => pick(date));
      btn.addEventListener('keydown', (e) => keynav(e, d, days));
      row.appendChild(h('td', { role: 'gridcell' }, btn));
      if ((lead + d) % 7 === 0) { body.appendChild(row); row = h('tr'); }
    }
    if (row.children.length) body.appendChild(row);
    grid.appendChild(body);
  }

  function pick(date) {
    st.selected = date;
    render();
    focusDay(date);
    if (opts.onPick) opts.onPick(date);
  }

  function focusDay(date) {
    const b = grid.querySelector(`button[data-date="${date}"]`);
    if (b) b.focus();
  }

  function keynav(e, d, days) {
    const moves = { ArrowLeft: -1, ArrowRight: 1, ArrowUp: -7, ArrowDown: 7 };
    let target = null;
    if (e.key in moves) target = d + moves[e.key];
    else if (e.key === 'Home') target = 1;
    else if (e.key === 'End') target = days;
    else return;
    e.preventDefault();
    if (target < 1 || target > days) { step(target < 1 ? -1 : 1); focusDay(st.selected); return; }
    st.selected = ymd(st.year, st.month, target);
    render();
    focusDay(st.selected);
    if (opts.onPick) opts.onPick(st.selected);
  }

  render();
  return { el, render, show, selected: () => st.selected, month: () => ({ year: st.year, month: st.month }) };
}

/* The overridden days of GET /api/orgs/{id}/calendar ({days:[{date,kind,override}]}); also
 * accepts a list without "override" (every day listed counts) or a {date: kind} map. */
export function overridesOf(res) {
  const out = new Map();
  const arr = Array.isArray(res) ? res : res.days || res.calendar || null;
  if (arr) {
    for (const d of arr) {
      if (d && (d.date || d.day) && d.override !== false) out.set(d.date || d.day, d.kind);
    }
  } else if (res && typeof res === 'object') {
    for (const [k, v] of Object.entries(res)) if (/^\d{4}-\d{2}-\d{2}$/.test(k)) out.set(k, typeof v === 'string' ? v : v.kind);
  }
  return out;
}
