// First sign-in from a credentials mail: the one-time link's page where a staff member chooses a password.

import { api, setToken } from '../api.js';
import { h, field, errorBox, guarded } from '../ui.js';

const LINK = /^#\/set-password\?(?:.*&)?t=([A-Za-z0-9_-]+)/;

/* The token of a set-password link in the address (location.hash), or null. */
export function tokenFromHash(hash = location.hash) {
  const m = LINK.exec(hash || '');
  return m ? m[1] : null;
}

/*
 * Renders the set-password form for the link's token. The token leaves the address bar at once
 * (it is kept in memory only, so it stays out of the history). opts.onDone(res) runs after
 * POST /api/password/set succeeded and the session token is stored; opts.onSignIn() opens the
 * ordinary sign-in form.
 */
export function mount(root, opts) {
  const token = opts.token;
  history.replaceState(null, '', location.pathname + location.search);
  const p1 = field('Новый пароль (не короче 8 символов)', 'input', { type: 'password',
    autocomplete: 'new-password', required: true, minlength: 8 });
  const p2 = field('Новый пароль ещё раз', 'input', { type: 'password', autocomplete: 'new-password',
    required: true, minlength: 8 });
  const err = errorBox();
  const submit = h('button', { type: 'submit', class: 'btn btn-primary' }, 'Сохранить пароль и войти');
  const toLogin = h('button', { type: 'button', class: 'btn', onclick: () => opts.onSignIn() }, 'Перейти ко входу');
  const form = h('form', { class: 'card auth-card', 'aria-labelledby': 'setpw-title', novalidate: true },
    h('h1', { id: 'setpw-title' }, 'Придумайте пароль'),
    h('p', null, 'Это первый вход в ЭПОС по ссылке из письма. Ссылка работает один раз.'),
    p1.wrap, p2.wrap, err, submit, ' ', toLogin);
  form.addEventListener('submit', (e) => {
    e.preventDefault();
    if (p1.input.value.length < 8) { err.show('Пароль должен быть не короче 8 символов.'); p1.input.focus(); return; }
    if (p1.input.value !== p2.input.value) { err.show('Пароли не совпадают.'); p2.input.focus(); return; }
    guarded(submit, async () => {
      const res = await api('POST', '/api/password/set', { token, password: p1.input.value }, { anonymous: true });
      setToken(res.token);
      opts.onDone(res);
    }, err);
  });
  root.appendChild(h('div', { class: 'auth-wrap' }, form));
  p1.input.focus();
}
