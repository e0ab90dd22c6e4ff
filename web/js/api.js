// HTTP API client: bearer token (memory + sessionStorage), JSON bodies, errors in plain Russian.

const TOKEN_KEY = 'epos.token';
let token = null;
let onUnauthorized = null;

try { token = sessionStorage.getItem(TOKEN_KEY); } catch { token = null; }

/* Plain words for each error code of docs/PROTOCOL.md (used when the hub sends no message). */
const CODE_WORDS = {
  bad_request: 'Проверьте введённые данные.',
  unauthorized: 'Нужно войти заново.',
  forbidden: 'У вас нет прав на это действие.',
  not_found: 'Не найдено: возможно, запись удалена или недоступна вам.',
  conflict: 'Действие уже невозможно: данные изменились.',
  too_large: 'Слишком большой объём данных.',
  rate_limited: 'Слишком много попыток. Подождите немного и повторите.',
  unavailable: 'Сервис временно недоступен. Повторите через минуту.',
  unknown_op: 'Сервер не понял запрос. Обновите страницу.',
  internal: 'Ошибка на сервере. Повторите позже.',
  network: 'Нет связи с сервером. Проверьте подключение к интернету.',
  server: 'Ошибка на сервере. Повторите позже.'
};

const STATUS_CODES = {
  400: 'bad_request', 401: 'unauthorized', 403: 'forbidden', 404: 'not_found',
  409: 'conflict', 413: 'too_large', 429: 'rate_limited', 503: 'unavailable'
};

/* An API failure: .code (protocol code or "network"/"server"), .status (HTTP or 0), .message (Russian). */
export class ApiError extends Error {
  constructor(code, status, message) {
    super(message || CODE_WORDS[code] || CODE_WORDS.server);
    this.name = 'ApiError';
    this.code = code;
    this.status = status;
  }
}

/* The plain Russian words for an error code, for messages that come without text. */
export function errorWords(code, message) {
  if (message && /[А-Яа-яЁё]/.test(message)) return message;
  return CODE_WORDS[code] || CODE_WORDS.server;
}

export function getToken() { return token; }

/* Keeps the session token in memory and in sessionStorage (per tab); null forgets it. */
export function setToken(t) {
  token = t || null;
  try {
    if (token) sessionStorage.setItem(TOKEN_KEY, token);
    else sessionStorage.removeItem(TOKEN_KEY);
  } catch { /* storage may be disabled: memory is enough */ }
}

/* Registers the callback run when an authenticated call answers 401 (session gone). */
export function setUnauthorizedHandler(fn) { onUnauthorized = fn; }

function buildQuery(query) {
  if (!query) return '';
  const parts = [];
  for (const [k, v] of Object.entries(query)) {
    if (v === undefined || v === null || v === '') continue;
    parts.push(encodeURIComponent(k) + '=' + encodeURIComponent(String(v)));
  }
  return parts.length ? '?' + parts.join('&') : '';
}

/*
 * Calls the API: api('POST', '/api/chats', {with: 5}) → parsed JSON body.
 * Throws ApiError with Russian text on any failure; never resolves with an error body.
 * opts.query: object of query parameters; opts.anonymous: do not send the token
 * and do not treat 401 as a lost session (login); opts.noLogout: send the token but a 401
 * means a wrong password, not a lost session.
 */
export async function api(method, path, body, opts = {}) {
  const headers = { Accept: 'application/json' };
  const init = { method, headers, cache: 'no-store' };
  if (body !== undefined) {
    headers['Content-Type'] = 'application/json';
    init.body = JSON.stringify(body);
  }
  if (token && !opts.anonymous) headers.Authorization = 'Bearer ' + token;
  let res;
  try {
    res = await fetch(path + buildQuery(opts.query), init);
  } catch {
    throw new ApiError('network', 0);
  }
  let data = null;
  const text = await res.text().catch(() => '');
  if (text) {
    try { data = JSON.parse(text); } catch { data = null; }
  }
  if (res.ok) return data || {};
  const err = data && data.error ? data.error : {};
  const code = err.code || STATUS_CODES[res.status] || 'server';
  const apiErr = new ApiError(code, res.status, errorWords(code, err.message));
  if (res.status === 401 && !opts.anonymous && !opts.noLogout && onUnauthorized) onUnauthorized(apiErr);
  throw apiErr;
}

export const get = (path, query) => api('GET', path, undefined, { query });
export const post = (path, body) => api('POST', path, body === undefined ? {} : body);
export const put = (path, body) => api('PUT', path, body);
export const patch = (path, body) => api('PATCH', path, body);
export const del = (path) => api('DELETE', path);
