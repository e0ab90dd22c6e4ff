// Sign-in form and the first-login password change.

import { api, setToken } from '../api.js';
import { h, field, errorBox, guarded } from '../ui.js';

/* Renders the sign-in form; opts.onSignedIn(res, password) runs after a successful POST /api/login. */
export function mountLogin(root, opts) {
  const login = field('Логин', 'input', { name: 'login', autocomplete: 'username', required: true,
    autocapitalize: 'none', spellcheck: 'false' });
  const pass = field('Пароль', 'input', { name: 'password', type: 'password', autocomplete: 'current-password',
    required: true });
  const err = errorBox();
  const submit = h('button', { type: 'submit', class: 'btn btn-primary' }, 'Войти');
  const form = h('form', { class: 'card auth-card', 'aria-labelledby': 'login-title', novalidate: true },
    h('h1', { id: 'login-title' }, 'Вход в ЭПОС'),
    opts.note ? h('p', { class: 'muted', role: 'status' }, opts.note) : null,
    login.wrap, pass.wrap, err, submit);
  form.addEventListener('submit', (e) => {
    e.preventDefault();
    const l = login.input.value.trim();
    const p = pass.input.value;
    if (!l || !p) { err.show('Введите логин и пароль.'); (l ? pass : login).input.focus(); return; }
    guarded(submit, async () => {
      let res;
      try {
        res = await api('POST', '/api/login', { login: l, password: p }, { anonymous: true });
      } catch (e) {
        if (e.code === 'unauthorized') e.message = 'Неверный логин или пароль.';
        throw e;
      }
      setToken(res.token);
      opts.onSignedIn(res, p);
    }, err);
  });
  root.appendChild(h('div', { class: 'auth-wrap' }, form));
  login.input.focus();
}

/* Renders the first-login password change; opts.onDone() after POST /api/password succeeds. */
export function mountPasswordChange(root, opts) {
  const old = field('Текущий (временный) пароль', 'input', { type: 'password', autocomplete: 'current-password',
    required: true, value: opts.oldPassword || '' });
  const p1 = field('Новый пароль (не короче 8 символов)', 'input', { type: 'password',
    autocomplete: 'new-password', required: true, minlength: 8 });
  const p2 = field('Новый пароль ещё раз', 'input', { type: 'password', autocomplete: 'new-password',
    required: true, minlength: 8 });
  const err = errorBox();
  const submit = h('button', { type: 'submit', class: 'btn btn-primary' }, 'Сменить пароль');
  const form = h('form', { class: 'card auth-card', 'aria-labelledby': 'pw-title', novalidate: true },
    h('h1', { id: 'pw-title' }, 'Смена пароля'),
    h('p', null, 'Это первый вход: придумайте свой пароль. Временный пароль больше не понадобится.'),
    old.wrap, p1.wrap, p2.wrap, err, submit);
  form.addEventListener('submit', (e) => {
    e.preventDefault();
    if (p1.input.value.length < 8) { err.show('Новый пароль должен быть не короче 8 символов.'); p1.input.focus(); return; }
    if (p1.input.value !== p2.input.value) { err.show('Пароли не совпадают.'); p2.input.focus(); return; }
    if (p1.input.value === old.input.value) { err.show('Новый пароль должен отличаться от временного.'); return; }
    guarded(submit, async () => {
      try {
        await api('POST', '/api/password', { old_password: old.input.value, new_password: p1.input.value },
          { noLogout: true });
      } catch (e) {
        if (e.code === 'unauthorized' || e.code === 'forbidden') e.message = 'Текущий пароль введён неверно.';
        throw e;
      }
      opts.onDone();
    }, err);
  });
  root.appendChild(h('div', { class: 'auth-wrap' }, form));
  (opts.oldPassword ? p1 : old).input.focus();
}
