// Administrator: staff list, teacher↔group bindings, first-login credentials.

import { get, post, put } from '../api.js';
import { h, clear, field, checkbox, errorBox, guarded, emptyNote, toast, showFailure } from '../ui.js';

const ROLE_WORDS = { admin: 'администратор', teacher: 'учитель', class_teacher: 'классный руководитель' };

/* Accepts {staff:[…]} or an array; groups as [{id,name}] or [names]. */
function staffOf(res) {
  const arr = Array.isArray(res) ? res : res.staff || res.users || [];
  return arr.filter((s) => s && Number.isInteger(s.id));
}

function groupIds(s) {
  return (s.groups || []).map((g) => (typeof g === 'object' ? g.id ?? g.group_id : null)).filter(Number.isInteger);
}

function groupNames(s) {
  return (s.groups || []).map((g) => (typeof g === 'object' ? g.name : g)).filter(Boolean);
}

export function mountStaff(root, actx) {
  const org = actx.org;
  let staff = [];
  let groups = [];
  const note = h('p', { class: 'muted', role: 'status' }, 'Загрузка…');
  const creds = h('div', { class: 'creds', 'aria-live': 'polite' });
  const tbody = h('tbody', { id: 'staff-rows' });
  const bindBox = h('div');
  const err = errorBox();
  root.appendChild(h('div', { class: 'stack' },
    h('section', { class: 'card', 'aria-labelledby': 'staff-h' },
      h('h2', { id: 'staff-h' }, 'Сотрудники'), note, err, creds,
      h('div', { class: 'table-wrap' }, h('table', { class: 'table table-cards' },
        h('caption', { class: 'sr-only' }, 'Сотрудники организации'),
        h('thead', null, h('tr', null, ['Сотрудник', 'Роли', 'Группы', 'Вход'].map((t) => h('th', { scope: 'col' }, t)))),
        tbody))),
    h('section', { class: 'card', 'aria-labelledby': 'bind-h' },
      h('h2', { id: 'bind-h' }, 'Привязка учителей к группам'), bindBox)));

  async function load() {
    try {
      const [s, g] = await Promise.all([get(`/api/orgs/${org.id}/staff`), actx.orgGroups()]);
      staff = staffOf(s).sort((a, b) => (a.name || '').localeCompare(b.name || '', 'ru'));
      groups = g;
      note.textContent = staff.length ? '' : 'Сотрудников нет.';
      renderTable();
      renderBind();
    } catch (e) {
      showFailure(note, e.message, load);
    }
  }

  function renderTable() {
    clear(tbody);
    for (const s of staff) {
      const btn = h('button', { type: 'button', class: 'btn', 'aria-label': `Выдать данные для входа: ${s.name}` },
        'Выдать данные для входа');
      btn.addEventListener('click', () => guarded(btn, async () => {
        const res = await post(`/api/staff/${s.id}/credentials`);
        const to = res.sent_to || 'почту сотрудника';
        const text = res.repeated
          ? `${s.name}: логин ${res.login || '—'}; ссылка для первого входа уже отправлена на ${to} несколько минут назад.`
          : `${s.name}: логин ${res.login || '—'}; ссылка для первого входа отправлена на ${to}` +
            ` (действует ${res.expires_in_hours || 72} ч; прежний пароль больше не действует).`;
        clear(creds).appendChild(h('p', { class: 'ok-box' }, text));
        toast(res.repeated ? 'Письмо уже отправлено.' : 'Ссылка для входа отправлена.', 'ok');
      }, err));
      tbody.appendChild(h('tr', null,
        h('th', { scope: 'row' }, s.name || '', s.login ? h('span', { class: 'muted' }, ` (${s.login})`) : null),
        h('td', { 'data-label': 'Роли' }, (s.roles || []).map((r) => ROLE_WORDS[r] || r).join(', ')),
        h('td', { 'data-label': 'Группы' }, groupNames(s).join(', ') || '—'),
        h('td', null, btn)));
    }
  }

  function renderBind() {
    clear(bindBox);
    if (!groups.length) { bindBox.appendChild(emptyNote('В организации нет групп.')); return; }
    const sel = field('Группа', 'select', { id: 'bind-group' }, groups.map((g) => ({ value: String(g.id), label: g.name })));
    const list = h('fieldset', { class: 'checks' });
    const bErr = errorBox();
    const save = h('button', { type: 'button', class: 'btn btn-primary', id: 'bind-save' }, 'Сохранить привязку');
    const teachers = staff.filter((s) => !(s.roles || []).length ||
      (s.roles || []).some((r) => r === 'teacher' || r === 'class_teacher'));
    function fill() {
      clear(list);
      const gid = Number(sel.input.value);
      const gname = (groups.find((g) => g.id === gid) || {}).name || '';
      list.appendChild(h('legend', null, `Учителя группы «${gname}»`));
      if (!teachers.length) list.appendChild(emptyNote('Нет учителей.'));
      for (const t of teachers) {
        const bound = groupIds(t).includes(gid) || groupNames(t).includes(gname);
        list.appendChild(checkbox(t.name, { value: String(t.id), checked: bound }).wrap);
      }
    }
    sel.input.addEventListener('change', fill);
    save.addEventListener('click', () => guarded(save, async () => {
      const gid = Number(sel.input.value);
      const ids = [...list.querySelectorAll('input:checked')].map((x) => Number(x.value));
      await put(`/api/groups/${gid}/teachers`, { user_ids: ids });
      toast('Привязка сохранена.', 'ok');
      const keep = sel.input.value;
      await load();
      const s2 = document.getElementById('bind-group');
      if (s2) { s2.value = keep; s2.dispatchEvent(new Event('change')); }
    }, bErr));
    fill();
    bindBox.append(sel.wrap, list, bErr, save);
  }

  load();
  return { refresh: () => load() };
}
