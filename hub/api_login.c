/* api_login.c -- POST /api/login and POST /api/password: yescrypt on the
 * libuv thread pool (never on the loop), failed logins counted in Redis. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "epos/auth.h"
#include "epos/jsonx.h"
#include "epos/log.h"
#include "fanout.h"
#include "handlers.h"
#include "http.h"
#include "hub.h"

#define LOGIN_FAIL_WINDOW_S 900
#define PASSWORD_MIN 8
#define ADDR_FAIL_FACTOR 10
#define HASH_INFLIGHT_MAX 64 /* yescrypt jobs queued on the thread pool at once */
#define PASSWORD_MAX 128

/* A verify against this when the login is unknown keeps the timing the same. */
static const char dummy_hash[] =
    "$y$j9T$8iueDdR4j7/KyA1HmxdUX.$D1GW4zof4CyVyZRR2NES/NwJFn5dsOKXzBG6WWh7MuC";

typedef struct login_req {
    uv_work_t work;
    http_req *r;
    char *login, *password, *hash, *new_password;
    char newhash[256];
    int64_t uid;
    int ok, must_change;
    char keys[2][200]; /* Redis keys of the failure counters */
} login_req;

static void login_req_free(login_req *l)
{
    http_req_unref(l->r);
    free(l->login);
    free(l->password);
    free(l->hash);
    free(l->new_password);
    free(l);
}

/* Every attempt was counted before its verify (login_count): parallel
 * guesses cannot slip past the limit. A success gives its count back. */
static void login_fail(login_req *l)
{
    log_info("login failed for \"%s\" from %s", l->login, l->r->peer);
    http_reply_error(l->r, 401, "unauthorized", "Неверный логин или пароль");
}

static void session_created(PGresult *res, void *arg)
{
    login_req *l = arg;
    char token[256];
    json_error_t je;
    if (!pgq_ok(res) || PQntuples(res) != 1) {
        http_reply_pg_error(l->r, res);
        goto out;
    }
    int64_t sid = pgq_get_ll(res, 0, "sid", 0), exp = pgq_get_ll(res, 0, "expires_at", 0);
    const char *user_text = pgq_get(res, 0, "user_json");
    json_t *user = user_text ? json_loads(user_text, 0, &je) : NULL;
    if (!user ||
        auth_token_make(the_hub->cfg.token_secret, l->uid, sid, exp, token, sizeof(token)) != 0) {
        json_decref(user);
        http_reply_error(l->r, 500, "internal", "Не удалось создать сеанс");
        goto out;
    }
    rds_command(the_hub->redis, NULL, NULL, "DEL %s", l->keys[0]);
    rds_command(the_hub->redis, NULL, NULL, "DECR %s", l->keys[1]);
    http_reply_json(l->r, 200, json_pack("{s:s, s:o}", "token", token, "user", user));
out:
    login_req_free(l);
}

static void verify_work(uv_work_t *w)
{
    login_req *l = w->data;
    l->ok = auth_verify_password(l->password, l->hash ? l->hash : dummy_hash) && l->hash;
    if (l->ok && l->new_password)
        l->ok = auth_hash_password(l->new_password, l->newhash, sizeof(l->newhash)) == 0 ? 1 : -1;
}

static void login_verified(uv_work_t *w, int status)
{
    login_req *l = w->data;
    hub_hash_done();
    char uid[24], ttl[24];
    if (status != 0 || l->ok != 1) {
        login_fail(l);
        login_req_free(l);
        return;
    }
    snprintf(uid, sizeof(uid), "%" PRId64, l->uid);
    snprintf(ttl, sizeof(ttl), "%d", the_hub->cfg.token_ttl);
    const char *params[2] = {uid, ttl};
    if (pgq_exec_sql(the_hub->pg,
                     "SELECT sid, expires_at, user_json FROM epos_login_session($1, $2)", 2, params,
                     session_created, l) != 0) {
        http_reply_error(l->r, 503, "unavailable", "База данных недоступна, повторите позже");
        login_req_free(l);
    }
}

static void login_looked_up(PGresult *res, void *arg)
{
    login_req *l = arg;
    if (!pgq_ok(res)) {
        http_reply_pg_error(l->r, res);
        login_req_free(l);
        return;
    }
    const char *disabled = PQntuples(res) == 1 ? pgq_get(res, 0, "disabled") : "";
    if (!disabled) { /* a NULL where the lookup promises a boolean: an error, not a login */
        log_error("login lookup returned a NULL \"disabled\"");
        http_reply_error(l->r, 500, "internal", "Внутренняя ошибка");
        login_req_free(l);
        return;
    }
    if (PQntuples(res) == 1 && strcmp(disabled, "f") == 0) {
        l->uid = pgq_get_ll(res, 0, "uid", 0);
        const char *h = pgq_get(res, 0, "password_hash");
        l->hash = h ? strdup(h) : NULL;
    }
    l->work.data = l;
    if (hub_hash_queue(&l->work, verify_work, login_verified) != 0) {
        http_reply_error(l->r, 503, "unavailable", "Сервис перегружен, повторите позже");
        login_req_free(l);
    }
}

/* INCR both counters and set their window in one step; returns the counts. */
static const char login_count_lua[] =
    "local a = redis.call('INCR', KEYS[1]) redis.call('EXPIRE', KEYS[1], ARGV[1]) "
    "local b = redis.call('INCR', KEYS[2]) redis.call('EXPIRE', KEYS[2], ARGV[1]) "
    "return {a, b}";

static void login_counted(redisAsyncContext *c, void *reply, void *arg)
{
    login_req *l = arg;
    redisReply *rep = reply;
    /* Redis down: counting is best effort; the login itself goes on. */
    for (size_t i = 0; rep && rep->type == REDIS_REPLY_ARRAY && i < rep->elements; i++) {
        redisReply *e = rep->element[i];
        /* Many families share one address (a school's NAT): the address may
         * fail ten times as often as one login before it is refused. */
        long long max = (long long)the_hub->cfg.login_fail_max * (i == 0 ? 1 : ADDR_FAIL_FACTOR);
        if (e->type == REDIS_REPLY_INTEGER && e->integer > max) {
            http_reply_error(l->r, 429, "rate_limited",
                             "Слишком много неудачных попыток входа, попробуйте позже");
            login_req_free(l);
            return;
        }
    }
    const char *params[1] = {l->login};
    if (pgq_exec_sql(the_hub->pg, "SELECT uid, password_hash, disabled FROM epos_login_lookup($1)",
                     1, params, login_looked_up, l) != 0) {
        http_reply_error(l->r, 503, "unavailable", "База данных недоступна, повторите позже");
        login_req_free(l);
    }
}

/* Trim and lower-case as epos_login_lookup does, so "  Parent1 " shares
 * the counter of "parent1". */
static void login_normalize(char *login)
{
    size_t n = strlen(login), b = 0;
    while (b < n && (login[b] == ' ' || (login[b] >= '\t' && login[b] <= '\r')))
        b++;
    while (n > b && (login[n - 1] == ' ' || (login[n - 1] >= '\t' && login[n - 1] <= '\r')))
        n--;
    memmove(login, login + b, n - b);
    login[n - b] = '\0';
    for (char *p = login; *p; p++)
        if (*p >= 'A' && *p <= 'Z')
            *p = (char)(*p - 'A' + 'a');
}

static int hash_inflight;

int hub_hash_queue(uv_work_t *w, uv_work_cb work, uv_after_work_cb after)
{
    if (hash_inflight >= HASH_INFLIGHT_MAX || uv_queue_work(the_hub->loop, w, work, after) != 0)
        return -1;
    hash_inflight++;
    return 0;
}

void hub_hash_done(void)
{
    hash_inflight--;
}

void api_login(http_req *r, json_t *body)
{
    const char *login, *password;
    if (jsonx_str(body, "login", &login) != 0 || jsonx_str(body, "password", &password) != 0 ||
        !*login || strlen(login) > 100 || strlen(password) > PASSWORD_MAX) {
        http_reply_error(r, 400, "bad_request", "Нужны строковые поля login и password");
        return;
    }
    login_req *l = calloc(1, sizeof(*l));
    if (!l || !(l->login = strdup(login)) || !(l->password = strdup(password))) {
        if (l)
            free(l->login);
        free(l);
        http_reply_error(r, 500, "internal", "Нехватка памяти");
        return;
    }
    l->r = r;
    http_req_ref(r);
    login_normalize(l->login);
    snprintf(l->keys[0], sizeof(l->keys[0]), "epos:loginfail:login:%s", l->login);
    snprintf(l->keys[1], sizeof(l->keys[1]), "epos:loginfail:addr:%s", r->peer);
    char window[16];
    snprintf(window, sizeof(window), "%d", LOGIN_FAIL_WINDOW_S);
    if (rds_command(the_hub->redis, login_counted, l, "EVAL %s 2 %s %s %s", login_count_lua,
                    l->keys[0], l->keys[1], window) != 0)
        login_counted(NULL, NULL, l);
}

/* ---- POST /api/password ------------------------------------------------ */

static void password_stored(PGresult *res, void *arg)
{
    login_req *l = arg;
    if (!pgq_ok(res)) {
        http_reply_pg_error(l->r, res);
    } else {
        rds_command(the_hub->redis, NULL, NULL, "DEL %s", l->keys[0]);
        http_reply_json(l->r, 200, json_pack("{s:b}", "ok", 1));
        /* The user's other sessions were revoked: their sockets close (4401). */
        fanout_refresh_user(the_hub->fan, l->r->uid);
    }
    login_req_free(l);
}

static void password_verified(uv_work_t *w, int status)
{
    login_req *l = w->data;
    hub_hash_done();
    char uid[24], sid[24];
    if (status != 0 || l->ok != 1) {
        http_reply_error(l->r, l->ok < 0 ? 500 : 403, l->ok < 0 ? "internal" : "forbidden",
                         "Текущий пароль введён неверно");
        login_req_free(l);
        return;
    }
    snprintf(uid, sizeof(uid), "%" PRId64, l->r->uid);
    snprintf(sid, sizeof(sid), "%" PRId64, l->r->sid);
    const char *params[3] = {uid, sid, l->newhash};
    if (pgq_exec_sql(the_hub->pg, "SELECT epos_password_set($1, $2, $3)", 3, params,
                     password_stored, l) != 0) {
        http_reply_error(l->r, 503, "unavailable", "База данных недоступна, повторите позже");
        login_req_free(l);
    }
}

static void password_hash_loaded(PGresult *res, void *arg)
{
    login_req *l = arg;
    const char *h = pgq_ok(res) && PQntuples(res) == 1 ? pgq_get(res, 0, "hash") : NULL;
    if (!h) {
        const char *code = "unauthorized", *msg = "Сеанс истёк, войдите снова";
        int status = !pgq_ok(res) ? pg_error_map(res, &code, &msg) : 401;
        http_reply_error(l->r, status, code, msg);
        login_req_free(l);
        return;
    }
    l->hash = strdup(h);
    l->work.data = l;
    if (!l->hash || hub_hash_queue(&l->work, verify_work, password_verified) != 0) {
        http_reply_error(l->r, 503, "unavailable", "Сервис перегружен, повторите позже");
        login_req_free(l);
    }
}

/* INCR one counter and set its window; returns the count. */
static const char password_count_lua[] =
    "local a = redis.call('INCR', KEYS[1]) redis.call('EXPIRE', KEYS[1], ARGV[1]) return a";

/* Guesses of the old password are counted per user like failed logins
 * (login_fail_max per window), before the hash is loaded; without Redis the
 * counter cannot be kept, so the change is refused (fail closed). */
static void password_counted(redisAsyncContext *c, void *reply, void *arg)
{
    login_req *l = arg;
    redisReply *rep = reply;
    char uid[24], sid[24];
    if (!rep || rep->type != REDIS_REPLY_INTEGER) {
        http_reply_error(l->r, 503, "unavailable", "Сервис временно недоступен, повторите позже");
        login_req_free(l);
        return;
    }
    if (rep->integer > (long long)the_hub->cfg.login_fail_max) {
        http_reply_error(l->r, 429, "rate_limited",
                         "Слишком много неверных паролей, попробуйте позже");
        login_req_free(l);
        return;
    }
    snprintf(uid, sizeof(uid), "%" PRId64, l->r->uid);
    snprintf(sid, sizeof(sid), "%" PRId64, l->r->sid);
    const char *params[2] = {sid, uid};
    /* epos_require_session first: a revoked session cannot change a password. */
    if (pgq_exec_sql(the_hub->pg,
                     "SELECT epos_password_hash_of(v.uid) AS hash FROM "
                     "(SELECT $2::bigint AS uid, epos_require_session($1, $2)) v",
                     2, params, password_hash_loaded, l) != 0) {
        http_reply_error(l->r, 503, "unavailable", "База данных недоступна, повторите позже");
        login_req_free(l);
    }
}

void api_password(http_req *r, json_t *body)
{
    const char *oldp, *newp;
    if (jsonx_str(body, "old_password", &oldp) != 0 ||
        jsonx_str(body, "new_password", &newp) != 0) {
        http_reply_error(r, 400, "bad_request", "Нужны строковые поля old_password и new_password");
        return;
    }
    size_t n = jsonx_utf8_len(newp, strlen(newp));
    if (n < PASSWORD_MIN || strlen(newp) > PASSWORD_MAX) {
        http_reply_error(r, 400, "bad_request", "Новый пароль: от 8 до 128 символов");
        return;
    }
    login_req *l = calloc(1, sizeof(*l));
    if (!l || !(l->password = strdup(oldp)) || !(l->new_password = strdup(newp))) {
        if (l)
            free(l->password);
        free(l);
        http_reply_error(r, 500, "internal", "Нехватка памяти");
        return;
    }
    l->r = r;
    http_req_ref(r);
    snprintf(l->keys[0], sizeof(l->keys[0]), "epos:pwfail:%" PRId64, r->uid);
    char window[16];
    snprintf(window, sizeof(window), "%d", LOGIN_FAIL_WINDOW_S);
    if (rds_command(the_hub->redis, password_counted, l, "EVAL %s 1 %s %s", password_count_lua,
                    l->keys[0], window) != 0)
        password_counted(NULL, NULL, l);
}
