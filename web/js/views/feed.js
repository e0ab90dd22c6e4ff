// Feed: news and calendar events newest first, live additions, acknowledgements, month calendar.

import { get, post } from '../api.js';
import { h, clear, guarded, formatDate, formatTime, emptyNote, toast, showFailure } from '../ui.js';
import { createCalendar, overridesOf } from '../calendar.js';

const PAGE = 20;
const KIND_WORDS = { test: 'Контрольная работа', holiday: 'Праздник', event: 'Событие' };

export function mount(root, ctx) {
  const items = new Map();
  let oldestId = null;
  let exhausted = false;
  const list = h('div', { class: 'feed-list', id: 'feed-list' });
  const status = h('p', { class: 'muted', role: 'status' }, 'Загрузка ленты…');
  const more = h('button', { type: 'button', class: 'btn', hidden: true, onclick: () => loadMore() },
    'Показать ещё');
  const dayList = h('div', { class: 'day-events', 'aria-live': 'polite' });
  const daysOff = new Map();
  const cal = createCalendar({
    label: 'Календарь событий',
    marksFor: (date) => marksFor(date),
    onPick: (date) => showDay(date),
    onMonth: (y, m) => loadDaysOff(y, m)
  });

  /* Holidays and vacations of my orgs' calendars (readable by every member of an org). */
  async function loadDaysOff(y, m) {
    const month = `${y}-${String(m + 1).padStart(2, '0')}`;
    for (const o of ctx.me.orgs || []) {
      try {
        const res = await get(`/api/orgs/${o.id}/calendar`, { month });
        for (const [date, kind] of overridesOf(res)) daysOff.set(date, kind);
      } catch { /* the calendar is a nicety: the feed works without it */ }
    }
    cal.render();
  }

  /* On a phone the calendar folds away under its heading; on a desktop it is always shown. */
  const calToggle = h('button', { type: 'button', class: 'btn btn-quiet side-toggle', 'aria-expanded': 'false',
    'aria-controls': 'cal-body' }, 'Показать календарь');
  calToggle.addEventListener('click', () => {
    const open = calToggle.getAttribute('aria-expanded') !== 'true';
    calToggle.setAttribute('aria-expanded', String(open));
    calToggle.textContent = open ? 'Скрыть календарь' : 'Показать календарь';
    calToggle.closest('.feed-side').classList.toggle('is-collapsed', !open);
  });
  root.appendChild(h('div', { class: 'feed-layout' },
    h('section', { class: 'feed-main', 'aria-labelledby': 'feed-h' },
      h('h1', { id: 'feed-h' }, 'Лента'), status, list, more),
    h('aside', { class: 'feed-side card is-collapsed', 'aria-labelledby': 'cal-h', id: 'feed-side' },
      h('div', { class: 'side-head' }, h('h2', { id: 'cal-h' }, 'Календарь'), calToggle),
      h('div', { class: 'side-body', id: 'cal-body' }, cal.el,
        h('p', { class: 'muted cal-legend' }, h('span', { class: 'cal-test' }, 'КР'), ' — контрольная работа; ',
          h('span', { class: 'cal-dot' }), ' — событие'),
        dayList))));

  function marksFor(date) {
    let events = 0;
    let test = false;
    const kind = daysOff.get(date);
    let off = kind === undefined ? undefined : kind !== 'workday';
    for (const it of items.values()) {
      if (it.event_date !== date) continue;
      events++;
      if (it.event_kind === 'test') test = true;
      if (it.event_kind === 'holiday') off = true;
    }
    const label = kind === 'vacation' ? 'каникулы' : kind === 'holiday' ? 'праздник' : '';
    return events || off !== undefined ? { events, test, off, label } : null;
  }

  function showDay(date) {
    clear(dayList);
    const evs = [...items.values()].filter((it) => it.event_date === date);
    dayList.appendChild(h('h3', null, formatDate(date)));
    if (!evs.length) { dayList.appendChild(emptyNote('Событий нет.')); return; }
    dayList.appendChild(h('ul', { class: 'plain' }, evs.map((it) => h('li', null,
      it.event_kind === 'test' ? h('span', { class: 'tag tag-test' }, 'КР') : null, ' ',
      h('a', { href: `#/feed`, onclick: (e) => { e.preventDefault(); focusItem(it.id); } }, it.title || '')))));
  }

  function focusItem(id) {
    const art = list.querySelector(`[data-id="${id}"]`);
    if (art) { art.scrollIntoView({ block: 'center' }); art.focus(); }
  }

  function render() {
    clear(list);
    const sorted = [...items.values()].sort((a, b) => b.id - a.id);
    for (const it of sorted) list.appendChild(card(it));
    status.textContent = sorted.length ? '' : 'Пока нет новостей и событий.';
    more.hidden = exhausted || !sorted.length;
    cal.render();
  }

  function card(it) {
    const isEvent = it.kind === 'event' || !!it.event_date;
    const hid = `item-${it.id}-h`;
    const tag = isEvent ? h('span', { class: `tag tag-${it.event_kind || 'event'}` },
      it.event_kind === 'test' ? 'КР' : KIND_WORDS[it.event_kind] || 'Событие') : h('span', { class: 'tag' }, 'Новость');
    const art = h('article', { class: 'card feed-item', 'aria-labelledby': hid, tabindex: '-1',
      dataset: { id: String(it.id) } },
    h('div', { class: 'item-meta' }, tag,
      isEvent && it.event_date ? h('strong', { class: 'item-date' }, formatDate(it.event_date)) : null,
      h('span', { class: 'muted' }, [it.author && it.author.name, formatTime(it.created_at)].filter(Boolean).join(' · '))),
    h('h2', { id: hid, class: 'item-title' }, it.title || ''),
    it.body ? h('p', { class: 'item-body' }, it.body) : null,
    ackPart(it));
    return art;
  }

  function ackPart(it) {
    if (!it.require_ack) return null;
    if (it.author && it.author.id === ctx.me.id) {
      return h('p', { class: 'muted' }, 'Требует ознакомления. Статистика — в разделе «Управление».');
    }
    if (it.acked) return h('p', { class: 'ack-done' }, '✓ Вы ознакомлены');
    const btn = h('button', { type: 'button', class: 'btn btn-primary ack-btn',
      'aria-label': `Ознакомлен: ${it.title || ''}` }, 'Ознакомлен');
    btn.addEventListener('click', () => guarded(btn, async () => {
      await post(`/api/news/${it.id}/ack`);
      it.acked = true;
      const el = list.querySelector(`[data-id="${it.id}"]`);
      if (el) el.replaceWith(card(it));
      toast('Отмечено: вы ознакомлены.', 'ok', 3000);
    }));
    return h('div', { class: 'ack-row' }, h('span', { class: 'muted' }, 'Требуется подтвердить ознакомление.'), btn);
  }

  async function loadFirst() {
    try {
      const res = await get('/api/feed', { limit: PAGE });
      items.clear();
      oldestId = null;
      add(res.items || []);
      exhausted = (res.items || []).length < PAGE;
      render();
    } catch (e) {
      showFailure(status, e.message, loadFirst);
    }
  }

  function add(arr) {
    for (const it of arr) {
      if (!it || !Number.isInteger(it.id)) continue;
      items.set(it.id, { ...(items.get(it.id) || {}), ...it });
      if (oldestId === null || it.id < oldestId) oldestId = it.id;
    }
  }

  async function loadMore() {
    await guarded(more, async () => {
      const res = await get('/api/feed', { limit: PAGE, before: oldestId });
      add(res.items || []);
      exhausted = (res.items || []).length < PAGE;
      render();
    });
  }

  function live(d) {
    if (!d || !Number.isInteger(d.id)) return;
    const fresh = !items.has(d.id);
    add([d]);
    render();
    if (fresh) {
      const el = list.querySelector(`[data-id="${d.id}"]`);
      if (el) el.classList.add('is-new');
      toast(`Новая публикация: ${d.title || ''}`, 'info', 4000);
    }
  }

  const now = new Date();
  loadDaysOff(now.getFullYear(), now.getMonth());
  ctx.scope.on('news', live);
  ctx.scope.on('calendar.event', live);
  loadFirst();
  return { refresh: () => loadFirst() };
}
