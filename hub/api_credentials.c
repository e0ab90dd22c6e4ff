/* api_credentials.c -- POST /api/staff/{id}/credentials: an administrator
 * issues a first-login password, hashed on the thread pool and emailed. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>

#include "epos/auth.h"
#include "epos/log.h"
#include "fanout.h"
#include "handlers.h"
#include "http.h"
#include "hub.h"

#define CRED_PASSWORD_LEN 12

typedef struct cred_req {
    uv_work_t work;
    http_req *r;
    int64_t staff;
    int ok;
    char password[CRED_PASSWORD_LEN + 1];
    char hash[256];
} cred_req;

static void cred_free(cred_req *c)
{
    http_req_unref(c->r);
    /* The password must not linger in freed memory. */
    OPENSSL_cleanse(c->password, sizeof(c->password));
    free(c);
}

static void cred_work(uv_work_t *w)
{
    cred_req *c = w->data;
    c->ok = auth_random_text(c->password, CRED_PASSWORD_LEN) == 0 &&
            auth_hash_password(c->password, c->hash, sizeof(c->hash)) == 0;
}

static void cred_stored(PGresult *res, void *arg)
{
    cred_req *c = arg;
    if (!pgq_ok(res)) {
        http_reply_pg_error(c->r, res);
    } else {
        json_error_t je;
        json_t *out = json_loads(pgq_get(res, 0, "result"), 0, &je);
        http_reply_json(c->r, 200, json_incref(json_object_get(out, "body")));
        json_decref(out);
        log_info("user=%" PRId64 " issued credentials for user=%" PRId64, c->r->uid, c->staff);
        fanout_refresh_user(the_hub->fan, c->staff); /* their sessions were revoked */
    }
    cred_free(c);
}

static void cred_hashed(uv_work_t *w, int status)
{
    cred_req *c = w->data;
    hub_hash_done();
    char uid[24], sid[24], staff[24];
    if (status != 0 || !c->ok) {
        http_reply_error(c->r, 500, "internal", "Не удалось создать пароль");
        cred_free(c);
        return;
    }
    snprintf(uid, sizeof(uid), "%" PRId64, c->r->uid);
    snprintf(sid, sizeof(sid), "%" PRId64, c->r->sid);
    snprintf(staff, sizeof(staff), "%" PRId64, c->staff);
    const char *params[6] = {uid, sid, staff, c->hash, c->password, the_hub->cfg.public_url};
    if (pgq_exec_sql(the_hub->pg,
                     "SELECT epos_staff_credentials($1, $2, $3, $4, $5, $6)::text AS result", 6,
                     params, cred_stored, c) != 0) {
        http_reply_error(c->r, 503, "unavailable", "База данных недоступна, повторите позже");
        cred_free(c);
    }
}

/* Authorized: now make and hash the password. */
static void cred_checked(PGresult *res, void *arg)
{
    cred_req *c = arg;
    if (!pgq_ok(res)) {
        http_reply_pg_error(c->r, res);
        cred_free(c);
        return;
    }
    if (hub_hash_queue(&c->work, cred_work, cred_hashed) != 0) {
        http_reply_error(c->r, 503, "unavailable", "Сервис перегружен, повторите позже");
        cred_free(c);
    }
}

void api_credentials(http_req *r, json_t *body, long long id)
{
    char uid[24], sid[24], staff[24];
    cred_req *c = calloc(1, sizeof(*c));
    if (!c) {
        http_reply_error(r, 500, "internal", "Нехватка памяти");
        return;
    }
    c->r = r;
    c->staff = id;
    c->work.data = c;
    http_req_ref(r);
    snprintf(uid, sizeof(uid), "%" PRId64, r->uid);
    snprintf(sid, sizeof(sid), "%" PRId64, r->sid);
    snprintf(staff, sizeof(staff), "%lld", id);
    const char *params[3] = {uid, sid, staff};
    if (pgq_exec_sql(the_hub->pg, "SELECT epos_staff_credentials_check($1, $2, $3)", 3, params,
                     cred_checked, c) != 0) {
        http_reply_error(r, 503, "unavailable", "База данных недоступна, повторите позже");
        cred_free(c);
    }
}
