/* api_credentials.c -- POST /api/password/set: a staff member's first password, chosen
 * through the one-time link of a credentials mail; the link is consumed and a session opens.
 *
 * The link's token never reaches PostgreSQL: the hub sends its SHA-256
 * (auth_secret_digest), the only form stored. The link is checked before
 * the yescrypt work, so a dead or made-up link costs no hashing. Issuing
 * the credentials is a plain SQL route (epos_api_staff_credentials). */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>

#include "epos/auth.h"
#include "epos/jsonx.h"
#include "epos/log.h"
#include "fanout.h"
#include "handlers.h"
#include "http.h"
#include "hub.h"

#define LINK_PASSWORD_MIN 8
#define LINK_PASSWORD_MAX 128
#define LINK_TOKEN_MAX 128

typedef struct link_req {
    uv_work_t work;
    http_req *r;
    char digest[65]; /* SHA-256 hex of the link's token */
    char *password;
    char hash[256];
    int ok;
} link_req;

static void link_free(link_req *l)
{
    http_req_unref(l->r);
    if (l->password) {
        OPENSSL_cleanse(l->password, strlen(l->password));
        free(l->password);
    }
    free(l);
}

/* The session is open: answer {token,user} as POST /api/login does. */
static void link_used(PGresult *res, void *arg)
{
    link_req *l = arg;
    char token[256];
    json_error_t je;
    if (!pgq_ok(res) || PQntuples(res) != 1) {
        http_reply_pg_error(l->r, res);
        goto out;
    }
    const char *user_text = pgq_get(res, 0, "user_json");
    json_t *user = user_text ? json_loads(user_text, 0, &je) : NULL; /* NULL: answered 500 below */
    int64_t uid = json_integer_value(json_object_get(user, "id"));
    int64_t sid = pgq_get_ll(res, 0, "sid", 0), exp = pgq_get_ll(res, 0, "expires_at", 0);
    if (!user || uid <= 0 ||
        auth_token_make(the_hub->cfg.token_secret, uid, sid, exp, token, sizeof(token)) != 0) {
        json_decref(user);
        http_reply_error(l->r, 500, "internal", "Не удалось создать сеанс");
        goto out;
    }
    log_info("user=%" PRId64 " set a password through a credentials link", uid);
    /* Sessions opened before the link (if any) were ended: their sockets close. */
    fanout_refresh_user(the_hub->fan, uid);
    http_reply_json(l->r, 200, json_pack("{s:s, s:o}", "token", token, "user", user));
out:
    link_free(l);
}

static void link_work(uv_work_t *w)
{
    link_req *l = w->data;
    l->ok = auth_hash_password(l->password, l->hash, sizeof(l->hash)) == 0;
}

static void link_hashed(uv_work_t *w, int status)
{
    link_req *l = w->data;
    hub_hash_done();
    char ttl[24];
    if (status != 0 || !l->ok) {
        http_reply_error(l->r, 500, "internal", "Не удалось сохранить пароль");
        link_free(l);
        return;
    }
    snprintf(ttl, sizeof(ttl), "%d", the_hub->cfg.token_ttl);
    const char *params[3] = {l->digest, l->hash, ttl};
    if (pgq_exec_sql(the_hub->pg,
                     "SELECT sid, expires_at, user_json FROM epos_password_link_use($1, $2, $3)", 3,
                     params, link_used, l) != 0) {
        http_reply_error(l->r, 503, "unavailable", "База данных недоступна, повторите позже");
        link_free(l);
    }
}

/* The link is live: now hash the chosen password. */
static void link_checked(PGresult *res, void *arg)
{
    link_req *l = arg;
    if (!pgq_ok(res)) {
        http_reply_pg_error(l->r, res);
        link_free(l);
        return;
    }
    l->work.data = l;
    if (hub_hash_queue(&l->work, link_work, link_hashed) != 0) {
        http_reply_error(l->r, 503, "unavailable", "Сервис перегружен, повторите позже");
        link_free(l);
    }
}

/* A link token is base64url text (auth_random_text). */
static int link_token_valid(const char *t)
{
    size_t n = strlen(t);
    if (n == 0 || n > LINK_TOKEN_MAX)
        return 0;
    return strspn(t, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_") == n;
}

void api_password_link(http_req *r, json_t *body)
{
    const char *token, *password;
    if (jsonx_str(body, "token", &token) != 0 || jsonx_str(body, "password", &password) != 0) {
        http_reply_error(r, 400, "bad_request", "Нужны строковые поля token и password");
        return;
    }
    if (!link_token_valid(token)) {
        http_reply_error(r, 404, "not_found", "Ссылка недействительна");
        return;
    }
    size_t n = jsonx_utf8_len(password, strlen(password));
    if (n < LINK_PASSWORD_MIN || strlen(password) > LINK_PASSWORD_MAX) {
        http_reply_error(r, 400, "bad_request", "Пароль: от 8 до 128 символов");
        return;
    }
    link_req *l = calloc(1, sizeof(*l));
    if (!l || !(l->password = strdup(password)) ||
        auth_secret_digest(token, l->digest, sizeof(l->digest)) != 0) {
        if (l)
            free(l->password);
        free(l);
        http_reply_error(r, 500, "internal", "Нехватка памяти");
        return;
    }
    l->r = r;
    http_req_ref(r);
    const char *params[1] = {l->digest};
    if (pgq_exec_sql(the_hub->pg, "SELECT epos_password_link_check($1)", 1, params, link_checked,
                     l) != 0) {
        http_reply_error(r, 503, "unavailable", "База данных недоступна, повторите позже");
        link_free(l);
    }
}
