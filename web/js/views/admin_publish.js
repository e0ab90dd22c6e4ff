// Administrator: publish news / calendar events to the org or chosen groups; live acknowledgement statistics.

import { get, post } from '../api.js';
import { h, clear, field, checkbox, errorBox, guarded, formatDate, formatTime, uid, emptyNote, toast, showFailure, newCid } from '../ui.js';

const STATS_EVERY_MS = 5000;
const WATCH_MAX = 15;

export function mountPublish(root, actx) {
  const stats = new Map();
  let items = [];
  const listEl = h('div', { class: 'pub-list', id: 'pub-list' });
  const listNote = h('p', { class: 'muted', role: 'status' }, 'Загрузка…');
  const form = publishForm(actx, (item) => { add(item); });
  root.appendChild(h('div', { class: 'stack' }, form,
    h('section', { class: 'card', 'aria-labelledby': 'pub-h' },
      h('h2', { id: 'pub-h' }, 'Ознакомление с публикациями'),
      h('p', { class: 'muted' }, 'Публикации организации, требующие ознакомления. Цифры обновляются сами.'),
      listNote, listEl)));

  function mine(it) {
    return it && it.require_ack && it.org_id === actx.org.id;
  }

  function add(it) {
    if (!mine(it)) return;
    if (!items.some((x) => x.id === it.id)) items.unshift(it);
    render();
    refreshStats(it.id);
  }

  async function load() {
    try {
      const res = await get('/api/feed', { limit: 50 });
      items = (res.items || []).filter(mine);
      render();
      for (const it of items.slice(0, WATCH_MAX)) refreshStats(it.id);
    } catch (e) {
      showFailure(listNote, e.message, load);
    }
  }

  async function refreshStats(id) {
    try {
      const res = await get(`/api/news/${id}/acks`);
      stats.set(id, { acked: res.acked || [], pending: res.pending || [], error: '' });
    } catch (e) {
      stats.set(id, { ...(stats.get(id) || { acked: [], pending: [] }), error: e.message });
    }
    const el = listEl.querySelector(`[data-id="${id}"]`);
    const it = items.find((x) => x.id === id);
    if (!el || !it) return;
    const oldDetails = el.querySelector('details');
    const fresh = card(it);
    const newDetails = fresh.querySelector('details');
    if (oldDetails && newDetails) newDetails.open = oldDetails.open;
    const hadFocus = el.contains(document.activeElement);
    el.replaceWith(fresh);
    if (hadFocus && newDetails) newDetails.querySelector('summary').focus();
  }

  function render() {
    clear(listEl);
    listNote.textContent = items.length ? '' : 'Нет публикаций, требующих ознакомления.';
    for (const it of items) listEl.appendChild(card(it));
  }

  function card(it) {
    const s = stats.get(it.id);
    const hid = `pub-${it.id}-h`;
    const total = s ? s.acked.length + s.pending.length : 0;
    return h('article', { class: 'pub-item', 'aria-labelledby': hid, dataset: { id: String(it.id) } },
      h('h3', { id: hid }, it.title || ''),
      h('p', { class: 'muted' }, [it.event_date ? `событие ${formatDate(it.event_date)}` : 'новость',
        formatTime(it.created_at)].join(' · ')),
      s ? h('p', { class: 'ack-stats' }, h('strong', { class: 'ack-count' }, `Ознакомлены: ${s.acked.length} из ${total}`),
        s.error ? h('span', { class: 'muted' }, ` (${s.error})`) : null) : h('p', { class: 'muted' }, 'Считаем…'),
      s && total ? h('details', null, h('summary', null, 'Кто ознакомлен'),
        h('div', { class: 'ack-cols' },
          h('div', null, h('h4', null, 'Ознакомлены'), s.acked.length ? h('ul', { class: 'plain ack-acked' },
            s.acked.map((a) => h('li', null, `${a.name} — ${formatTime(a.at)}`))) : emptyNote('Пока никто.')),
          h('div', null, h('h4', null, 'Ещё не ознакомлены'), s.pending.length ? h('ul', { class: 'plain' },
            s.pending.map((p) => h('li', null, p.name))) : emptyNote('Все ознакомлены.')))) : null);
  }

  actx.scope.on('news', add);
  actx.scope.on('calendar.event', add);
  /* Not in PROTOCOL.md yet: if the hub announces acknowledgements, refresh at once. */
  actx.scope.on('news.ack', (d) => { const id = d.news_id || d.id; if (items.some((x) => x.id === id)) refreshStats(id); });
  actx.scope.every(STATS_EVERY_MS, () => {
    if (document.hidden) return;
    for (const it of items.slice(0, WATCH_MAX)) refreshStats(it.id);
  });
  load();
  return { refresh: () => load() };
}

function publishForm(actx, onPublished) {
  const err = errorBox();
  const kindName = uid('kind');
  const isNews = h('input', { type: 'radio', name: kindName, id: `${kindName}-n`, value: 'news', checked: true });
  const isEvent = h('input', { type: 'radio', name: kindName, id: `${kindName}-e`, value: 'event' });
  const title = field('Заголовок', 'input', { id: 'pub-title', maxlength: '200', required: true });
  const body = field('Текст', 'textarea', { id: 'pub-body', rows: '4', maxlength: '10000' });
  const date = field('Дата события', 'input', { type: 'date', id: 'pub-date' });
  const evKind = field('Вид события', 'select', { id: 'pub-evkind' }, [
    { value: 'event', label: 'Событие' }, { value: 'test', label: 'Контрольная работа (КР)' },
    { value: 'holiday', label: 'Праздник / выходной' }]);
  const audName = uid('aud');
  const toOrg = h('input', { type: 'radio', name: audName, id: `${audName}-o`, value: 'org', checked: true });
  const toGroups = h('input', { type: 'radio', name: audName, id: `${audName}-g`, value: 'groups' });
  const groupsBox = h('fieldset', { class: 'checks', hidden: true }, h('legend', null, 'Группы и классы'));
  const ack = checkbox('Требует ознакомления («Ознакомлен»)', { id: 'pub-ack' });
  const submit = h('button', { type: 'submit', class: 'btn btn-primary', id: 'pub-submit' }, 'Опубликовать');
  const eventBox = h('div', { class: 'row', hidden: true }, date.wrap, evKind.wrap);
  const form = h('form', { class: 'card', 'aria-labelledby': 'pubf-h', novalidate: true },
    h('h2', { id: 'pubf-h' }, 'Новая публикация'),
    h('fieldset', { class: 'radios' }, h('legend', null, 'Что публикуем'),
      h('span', { class: 'radio' }, isNews, h('label', { for: isNews.id }, 'Новость')),
      h('span', { class: 'radio' }, isEvent, h('label', { for: isEvent.id }, 'Событие в календаре'))),
    title.wrap, body.wrap, eventBox,
    h('fieldset', { class: 'radios' }, h('legend', null, 'Кому'),
      h('span', { class: 'radio' }, toOrg, h('label', { for: toOrg.id }, 'Всей организации')),
      h('span', { class: 'radio' }, toGroups, h('label', { for: toGroups.id }, 'Выбранным группам'))),
    groupsBox, ack.wrap, err, submit);

  let groupsLoaded = false;
  let pending = null;
  function sync() {
    eventBox.hidden = !isEvent.checked;
    groupsBox.hidden = !toGroups.checked;
    if (toGroups.checked && !groupsLoaded) {
      groupsLoaded = true;
      actx.orgGroups().then((gs) => {
        if (!gs.length) groupsBox.appendChild(emptyNote('В организации нет групп.'));
        for (const g of gs) groupsBox.appendChild(checkbox(g.name, { value: String(g.id), name: 'group' }).wrap);
      }).catch((e) => { groupsLoaded = false; err.show(e.message); });
    }
  }
  for (const r of [isNews, isEvent, toOrg, toGroups]) r.addEventListener('change', sync);

  form.addEventListener('submit', (e) => {
    e.preventDefault();
    const payload = { org_id: actx.org.id, title: title.input.value.trim(), body: body.input.value.trim(),
      require_ack: ack.input.checked };
    if (!payload.title) { err.show('Введите заголовок.'); title.input.focus(); return; }
    if (toGroups.checked) {
      payload.group_ids = [...groupsBox.querySelectorAll('input:checked')].map((x) => Number(x.value));
      if (!payload.group_ids.length) { err.show('Отметьте хотя бы одну группу.'); return; }
    }
    if (isEvent.checked) {
      payload.event_date = date.input.value;
      payload.event_kind = evKind.input.value;
      if (!payload.event_date) { err.show('Укажите дату события.'); date.input.focus(); return; }
    }
    /* The same cid for retries of the same post: the hub stores it once. */
    const key = JSON.stringify(payload) + (isEvent.checked ? 'e' : 'n');
    if (!pending || pending.key !== key) pending = { key, cid: newCid() };
    payload.cid = pending.cid;
    guarded(submit, async () => {
      const res = await post(isEvent.checked ? '/api/events' : '/api/news', payload);
      pending = null;
      title.input.value = '';
      body.input.value = '';
      ack.input.checked = false;
      toast('Опубликовано.', 'ok');
      if (res.item) onPublished(res.item);
    }, err);
  });
  return form;
}
